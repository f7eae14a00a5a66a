// fd passing benchmark (issue #4), one run:
//  1. fds/s of the C reference (bench/fdpass.c: sendmsg/recvmsg loop, one fd + 1 byte per
//     message, receiver closes each), compiled here with cc;
//  2. fds/s of plugsock: two Node processes, FdStream.sendFds() -> 'fds' listener that closes
//     them with closeFds();
//  3. throughput of an FdStream (fdPassing connection) beside plain net, same two processes.
// Each figure is measured in --reps interleaved repetitions (default 5, --quick 2; --runs is an
// alias): C and plugsock (then net and the fdPassing stream) alternate, the order swapped every
// repetition, so rep i of each is a pair. Cells are medians; the ratio is the median of the
// per-repetition ratios with a bootstrap 95 % interval (lib/stats.mjs ratioFields).
// Prints a table, then JSON on the last line.
// Usage: node bench/fdpass.mjs [--quick] [--reps N] [--fds N] [--mb N]
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmtNum, ratioFields, summarize } from './lib/stats.mjs';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const common = require('../test/fixtures/fd-common.js');
const { FdStream } = common.loadFdStream();
// Received fds are closed with plugsock's closeFds(), which its docs recommend over fs.closeSync.
const { closeFds } = common.loadHelpers();

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};

// ---- child roles ----------------------------------------------------------------------------
if (process.argv[2] === 'child') {
  const [, , , role, sockPath, amount] = process.argv;
  const total = Number(amount);
  if (role === 'fds') {
    const stream = new FdStream(common.connectFd(sockPath), { allowHalfOpen: true });
    let n = 0;
    stream.on('fds', (fds) => {
      closeFds(fds);
      n += fds.length;
      if (n === total) stream.end('A');
    });
    stream.resume();
  } else {
    const stream =
      role === 'fdstream' ? new FdStream(common.connectFd(sockPath), { allowHalfOpen: true }) : net.connect({ path: sockPath, allowHalfOpen: true });
    let n = 0;
    stream.on('data', (d) => {
      n += d.length;
      if (n === total) stream.end('A');
    });
  }
} else {
  await main();
}

async function accept(kind, sockPath) {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ pauseOnConnect: kind !== 'net', allowHalfOpen: true }, (socket) => {
      server.close();
      if (kind === 'net') return resolve(socket);
      const fd = common.binding().fdDup(socket._handle.fd);
      socket.destroy();
      resolve(new FdStream(fd, { allowHalfOpen: true }));
    });
    server.once('error', reject);
    server.listen(sockPath);
  });
}

/** Spawns a receiver child, runs `drive(stream)` on the accepted connection, times until ack. */
async function run(kind, role, amount, drive) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plugsock-bench-'));
  const sockPath = path.join(dir, 's');
  const accepted = accept(kind, sockPath);
  await new Promise((r) => setTimeout(r, 10));
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'child', role, sockPath, String(amount)], {
    stdio: 'inherit',
  });
  const exited = new Promise((r) => child.on('exit', r));
  const stream = await accepted;
  const acked = new Promise((r) => stream.once('data', r));
  const t0 = process.hrtime.bigint();
  await drive(stream);
  await acked;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  stream.end();
  await exited;
  fs.rmSync(dir, { recursive: true, force: true });
  return secs;
}

async function main() {
  const quick = process.argv.includes('--quick');
  const fdCount = arg('--fds', quick ? 20_000 : 200_000);
  const mb = arg('--mb', quick ? 128 : 1024);
  const reps = arg('--reps', arg('--runs', quick ? 2 : 5));
  const log = (...a) => console.error('[fdpass]', ...a);

  const exe = path.join(os.tmpdir(), `plugsock-fdpass-${process.pid}`);
  execFileSync('cc', ['-O2', '-o', exe, path.join(here, 'fdpass.c')]);
  const passed = fs.openSync('/dev/null', 'r');
  // C and plugsock runs alternate, first one then the other, swapping the order every
  // repetition, so a burst of outside load hits both alike; rep i of each is a pair.
  const measureFds = {
    c: () =>
      Number(
        execFileSync(exe, [String(fdCount)])
          .toString()
          .trim(),
      ),
    plugsock: async () => {
      const secs = await run('fdstream', 'fds', fdCount, async (stream) => {
        // Like the C sender, which blocks only while the socket is full: go on at once while
        // sends complete on the spot, wait for the one that had to queue.
        for (let k = 0; k < fdCount; k++) {
          const sent = stream.sendFds([passed]);
          if (stream.writableLength > 0) await sent;
        }
      });
      return fdCount / secs;
    },
  };
  const fdsPerSec = { c: [], plugsock: [] };
  for (let i = 0; i < reps; i++) {
    for (const who of i % 2 ? ['plugsock', 'c'] : ['c', 'plugsock']) fdsPerSec[who][i] = await measureFds[who]();
    log(`fds/s rep ${i + 1}/${reps}: C ${fmtNum(fdsPerSec.c[i])}, plugsock ${fmtNum(fdsPerSec.plugsock[i])}`);
  }
  fs.closeSync(passed);
  fs.rmSync(exe, { force: true });

  const bytes = mb * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 1);
  const pump = async (stream) => {
    for (let sent = 0; sent < bytes; sent += chunk.length) {
      if (!stream.write(chunk)) await new Promise((r) => stream.once('drain', r));
    }
  };
  const MBps = { net: [], fdstream: [] };
  for (let i = 0; i < reps; i++) {
    for (const kind of i % 2 ? ['fdstream', 'net'] : ['net', 'fdstream']) MBps[kind][i] = mb / (await run(kind, kind, bytes, pump));
    log(`MB/s rep ${i + 1}/${reps}: net ${fmtNum(MBps.net[i])}, fdPassing stream ${fmtNum(MBps.fdstream[i])}`);
  }

  const fdsRow = {
    name: 'fds passed/s (1 fd + 1 byte per message, receiver closes each)',
    unit: 'fds/s',
    better: 'higher',
    target: 0.8,
    native: summarize(fdsPerSec.plugsock),
    fallback: 'n/a (needs the addon)',
    net: summarize(fdsPerSec.c),
    ref: 'C sendmsg/recvmsg',
    ...ratioFields(fdsPerSec.plugsock, fdsPerSec.c, { target: 0.8 }),
  };
  const streamRow = {
    name: `fdPassing stream throughput (${mb} MB, 64 KiB writes)`,
    unit: 'MB/s',
    better: 'higher',
    target: 0.9,
    native: summarize(MBps.fdstream),
    fallback: 'n/a (needs the addon)',
    net: summarize(MBps.net),
    ...ratioFields(MBps.fdstream, MBps.net, { target: 0.9 }),
  };
  const ci = (r) => (r.ratioCI ? ` [${r.ratioCI.map((x) => x.toFixed(2)).join(', ')}]` : '');
  const spr = (c) => (c.spread ? ` ±${Math.round(c.spread * 100)}%` : '');
  console.log(`fd passing (1 fd + 1 byte per message, receiver closes each), ${fdCount} fds, median of ${reps} interleaved repetitions`);
  console.log(`  C reference        ${fmtNum(fdsRow.net.median)} fds/s${spr(fdsRow.net)}`);
  console.log(
    `  plugsock FdStream  ${fmtNum(fdsRow.native.median)} fds/s${spr(fdsRow.native)}  (${fdsRow.ratio.toFixed(2)}x C${ci(fdsRow)}; target >= ${fdsRow.target}x)`,
  );
  console.log(`stream throughput, ${mb} MB in 64 KiB writes`);
  console.log(`  plain net          ${fmtNum(streamRow.net.median)} MB/s${spr(streamRow.net)}`);
  console.log(
    `  fdPassing stream   ${fmtNum(streamRow.native.median)} MB/s${spr(streamRow.native)}  (${streamRow.ratio.toFixed(2)}x net${ci(streamRow)}; target >= ${streamRow.target}x)`,
  );
  // The last line is what bench/run.mjs reads (row format: bench/README.md).
  console.log(
    JSON.stringify({
      rows: [fdsRow, streamRow],
      params: { fds: fdCount, megabytes: mb, reps, node: process.version, cpus: os.cpus().length },
      notes: [
        `fdpass: ${reps} interleaved repetitions (order swapped every repetition), ${fdCount} fds and ${mb} MB per repetition; ` +
          'cells are medians, ratio = median of per-repetition ratios, interval = bootstrap 95 % over the repetitions.',
      ],
    }),
  );
}
