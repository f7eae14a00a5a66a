#!/usr/bin/env node
// Prints the sha256 of the addon's sources. binding.gyp compiles it into the addon
// (PLUGSOCK_SOURCE_HASH) and a test recomputes it, so a stale committed prebuild is caught.
'use strict';
const { createHash } = require('node:crypto');
const { readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

function sourceHash(root = join(__dirname, '..')) {
  const nativeDir = join(root, 'native');
  const files = readdirSync(nativeDir)
    .filter((f) => /\.(cc|h)$/.test(f))
    .sort()
    .map((f) => join('native', f));
  files.push('binding.gyp');
  const hash = createHash('sha256');
  for (const rel of files) {
    hash.update(rel + '\0');
    // Line endings normalised so a checkout with CRLF hashes the same.
    hash.update(readFileSync(join(root, rel), 'utf8').replace(/\r\n/g, '\n'));
    hash.update('\0');
  }
  return hash.digest('hex');
}

module.exports = { sourceHash };
if (require.main === module) process.stdout.write(sourceHash());
