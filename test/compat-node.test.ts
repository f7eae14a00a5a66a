// Which Node runs the suite. .ci/run runs it on Node 20, 22 and 24 (scripts/node-versions.sh)
// with PLUGSOCK_EXPECT_NODE=<major>: this proves vitest itself, and the children the tests
// spawn, ran on that Node, not on the machine's default one.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { plugsock } from './kit';

const { capabilities } = plugsock;

describe('Node version under test', () => {
  it('is the one CI asked for, in vitest and in spawned children', () => {
    const expected = process.env.PLUGSOCK_EXPECT_NODE;
    const major = process.versions.node.split('.')[0];
    console.log(`node ${process.version} (${process.execPath}), N-API ${process.versions.napi}`);
    if (expected) expect(major).toBe(expected);
    const child = spawnSync('node', ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' });
    expect(child.stdout.trim(), 'the `node` on PATH differs from the one running vitest').toBe(major);
    expect(Number(major)).toBeGreaterThanOrEqual(20);
  });

  it('loads the one N-API prebuild/build (NAPI_VERSION 8) on this Node', () => {
    expect(Number(process.versions.napi)).toBeGreaterThanOrEqual(8);
    const caps = capabilities();
    if (process.env.CI === 'true') expect(caps.reason).toBeNull();
    console.log(`native ${caps.native}${caps.reason ? ` (${caps.reason})` : ''}`);
  });
});
