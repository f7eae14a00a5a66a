#!/usr/bin/env node
/**
 * plugsock CLI: what a person reaches for instead of `socat` / `nc -U`.
 *
 *   plugsock listen [endpoint]   serve; print the endpoint and each connection's peer; pipe stdio
 *   plugsock connect <endpoint>  connect; pipe stdio
 *   plugsock info                addon status, capabilities, platform
 *   plugsock demo                two processes, end to end
 */
import { spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { capabilities } from './capabilities';
import { ErrorCodes, TransportError } from './errors';
import type { PeerCredentials, PeerPolicy } from './peer';
import { UnixSocketTransport, type PeerSocket } from './transport';

const USAGE = `Usage:
  plugsock listen [endpoint] [--mode 660] [--allow-uid N]... [--allow-gid N]... [--same-user] [--once] [--native auto|require|off]
  plugsock connect <endpoint> [--timeout ms] [--native auto|require|off]
  plugsock info [--json]
  plugsock demo

Endpoints: /abs/path, unix:/abs/path, unix://abs/path. Without one, listen picks a private path.
Connection details go to stderr; stdout carries only the data, so it can be piped.`;

function log(message: string): void {
  process.stderr.write(`plugsock: ${message}\n`);
}

function describePeer(peer: PeerCredentials | null): string {
  if (!peer) return 'peer unknown (fallback mode: no native addon)';
  const cmd = peer.commandLine();
  return `pid=${peer.pid} uid=${peer.uid} gid=${peer.gid}${peer.groups?.length ? ` groups=${peer.groups.join(',')}` : ''}${cmd ? ` cmd=${JSON.stringify(cmd)}` : ''}`;
}

function nativeOption(value: string | undefined): 'auto' | 'require' | 'off' {
  if (value === undefined) return 'auto';
  if (value === 'auto' || value === 'require' || value === 'off') return value;
  throw new TransportError(ErrorCodes.INVALID_OPTION, `--native must be auto, require or off (got ${value}).`);
}

function ids(values: string[] | undefined, flag: string): number[] | undefined {
  if (!values?.length) return undefined;
  return values.map((v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new TransportError(ErrorCodes.INVALID_OPTION, `${flag} takes a numeric id, got ${v}.`);
    return n;
  });
}

/**
 * `--mode`: octal permission bits, with or without `0o` (660, 0660, 0o660). Anything else
 * (8 or 9 digits, other prefixes, signs, spaces, over 777) is refused before a socket exists.
 */
function parseMode(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(?:0[oO])?([0-7]{1,4})$/.exec(value);
  if (!m) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, `--mode takes an octal mode such as 660, 0660 or 0o660, got ${JSON.stringify(value)}.`);
  }
  const mode = parseInt(m[1]!, 8);
  if (mode > 0o777) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, `--mode takes permission bits up to 777, got ${JSON.stringify(value)}.`);
  }
  return mode;
}

async function listen(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      mode: { type: 'string' },
      'allow-uid': { type: 'string', multiple: true },
      'allow-gid': { type: 'string', multiple: true },
      'same-user': { type: 'boolean' },
      once: { type: 'boolean' },
      native: { type: 'string' },
    },
  });
  const uids = ids(values['allow-uid'], '--allow-uid');
  const gids = ids(values['allow-gid'], '--allow-gid');
  const peer: PeerPolicy | undefined = uids || gids || values['same-user'] ? { uids, gids, sameUser: values['same-user'] } : undefined;
  const transport = new UnixSocketTransport({
    path: positionals[0],
    mode: parseMode(values.mode),
    native: nativeOption(values.native),
    peer,
  });
  const sockets = new Set<Socket>();
  transport.on('connection', (socket: PeerSocket) => {
    log(`connection from ${describePeer(socket.peer)}`);
    sockets.add(socket);
    socket.pipe(process.stdout, { end: false });
    socket.on('error', (err) => log(`connection error: ${err.message}`));
    socket.on('close', () => {
      sockets.delete(socket);
      log('connection closed');
      if (values.once) void transport.close();
    });
  });
  transport.on('peerRejected', (cred, reason) => log(`rejected ${describePeer(cred)}: ${reason}`));
  // Like nc -lU: stdin is read only once someone is connected, so nothing typed early is lost.
  let stdinEnded = false;
  const startStdin = () => {
    if (process.stdin.listenerCount('data') > 0) return;
    process.stdin.on('data', (chunk) => {
      for (const s of sockets) s.write(chunk);
    });
    process.stdin.on('end', () => {
      stdinEnded = true;
      for (const s of sockets) s.end();
    });
  };
  transport.on('connection', (socket) => {
    if (stdinEnded) socket.end();
    else startStdin();
  });
  const stop = () => void transport.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  transport.once('close', () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    process.stdin.destroy();
  });
  const endpoint = await transport.listen();
  // The endpoint on stdout's first line lets scripts capture it; everything else is stderr.
  log(`listening on ${endpoint} (mode ${(lstatSync(transport.path).mode & 0o777).toString(8)}, ${transport.socketMaker} sockets)`);
  process.stdout.write(`${endpoint}\n`);
}

async function connect(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { timeout: { type: 'string' }, native: { type: 'string' } },
  });
  if (!positionals[0]) throw new TransportError(ErrorCodes.INVALID_PATH, 'connect needs an endpoint, e.g. plugsock connect unix:/tmp/app.sock');
  const transport = new UnixSocketTransport({
    native: nativeOption(values.native),
    connectTimeoutMs: values.timeout === undefined ? undefined : Number(values.timeout),
  });
  const socket = await transport.connect(positionals[0]);
  log(`connected to ${transport.endpoint}, server ${describePeer(socket.peer)}`);
  // The server may go away at any moment (ECONNRESET when it closes with our data unread, EPIPE
  // when we write after it closed): one line and exit status 1, where a clean EOF gives 0.
  let failed = false;
  const fail = (what: string, err: NodeJS.ErrnoException) => {
    if (failed) return;
    failed = true;
    log(`${what}: ${err.code ? `${err.code}: ` : ''}${err.message}`);
    process.exitCode = 1;
    socket.destroy();
  };
  socket.on('error', (err) => fail('connection lost', err));
  // The server's EOF ends the session (exit 0): what stdin still brings is not sent, rather
  // than written after the end (EPIPE).
  socket.on('end', () => process.stdin.unpipe(socket));
  process.stdout.on('error', (err) => fail('cannot write to stdout', err));
  process.stdin.on('error', (err) => fail('cannot read stdin', err));
  process.stdin.pipe(socket);
  socket.pipe(process.stdout);
  socket.on('close', () => {
    process.stdin.unpipe(socket);
    process.stdin.destroy();
    void transport.close();
  });
}

function info(args: string[]): void {
  const caps = capabilities();
  if (args.includes('--json')) {
    process.stdout.write(`${JSON.stringify(caps, null, 2)}\n`);
    return;
  }
  const lines = [
    `plugsock ${require('../package.json').version} on Node ${process.version} (${caps.platform}-${caps.arch})`,
    `native addon: ${caps.native ? `loaded (sources ${caps.addonSourceHash?.slice(0, 12)})` : `not loaded: ${caps.reason}`}`,
    ...Object.entries(caps.features).map(([name, on]) => `  ${on ? 'yes' : 'no '} ${name}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** The demo's server process: listens, echoes in upper case, reports peers on stdout. */
async function demoServer(path: string): Promise<void> {
  const transport = new UnixSocketTransport({ path });
  transport.on('connection', (socket: PeerSocket) => {
    process.stdout.write(`server: connection from ${describePeer(socket.peer)}\n`);
    socket.on('error', () => {});
    socket.on('data', (d) => socket.write(String(d).toUpperCase()));
  });
  await transport.listen();
  process.stdout.write(`READY ${process.pid}\n`);
  process.stdin.on('end', () => void transport.close()).resume();
}

async function demo(): Promise<void> {
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const caps = capabilities();
  say(`plugsock demo (${caps.native ? 'native addon loaded' : `fallback mode: ${caps.reason}`})\n`);

  const dir = mkdtempSync(join(tmpdir(), 'plugsock-demo-'));
  const path = join(dir, 'plugin.sock');
  const startServer = () => {
    const child = spawn(process.execPath, [__filename, '__demo-server', path], { stdio: ['pipe', 'pipe', 'inherit'] });
    const ready = new Promise<number>((resolve, reject) => {
      let buf = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        for (const line of buf.split('\n')) {
          const m = line.match(/^READY (\d+)/);
          if (m) resolve(Number(m[1]));
          else if (line.startsWith('server:')) say(`  ${line}`);
        }
        buf = buf.slice(buf.lastIndexOf('\n') + 1);
      });
      child.once('exit', (code) => reject(new Error(`demo server exited with ${code}`)));
    });
    return { child, ready };
  };
  const run = (cmd: string) => say(`\n$ ${cmd}`);

  run(`server process: listen on ${path}`);
  let server = startServer();
  const serverPid = await server.ready;
  const st = lstatSync(path);
  say(`  server pid ${serverPid} is listening; socket file mode ${(st.mode & 0o777).toString(8)} (exactly 0660, whatever the umask)`);

  run('client (this process): connect, send "hello plugin", read the reply');
  const client = new UnixSocketTransport();
  const socket = await client.connect(path);
  say(`  connected; the server process is ${describePeer(socket.peer)}`);
  const reply = await new Promise<string>((resolve) => {
    socket.once('data', (d) => resolve(String(d)));
    socket.write('hello plugin');
  });
  // Let the server's stdout report the connection before we go on.
  await new Promise((r) => setTimeout(r, 50));
  say(`  reply: ${JSON.stringify(reply)}`);
  await client.close();

  run('a second server on the same path while the first is alive');
  const intruder = new UnixSocketTransport({ path });
  try {
    await intruder.listen();
    say('  unexpected: it listened');
  } catch (err) {
    say(`  refused: ${(err as TransportError).code} (the live socket was not touched)`);
  }
  await intruder.close();

  run(`kill -9 ${serverPid} (leaves a stale socket file behind)`);
  server.child.kill('SIGKILL');
  await new Promise((r) => server.child.once('exit', r));
  say(`  socket file still there: ${lstatSync(path, { throwIfNoEntry: false })?.isSocket() ? 'yes' : 'no'}`);

  run('start the server again on the same path');
  server = startServer();
  const secondPid = await server.ready;
  say(`  server pid ${secondPid} detected the stale file, removed it, and listens`);

  run('client connects again');
  const again = new UnixSocketTransport();
  const s2 = await again.connect(path);
  const reply2 = await new Promise<string>((resolve) => {
    s2.once('data', (d) => resolve(String(d)));
    s2.write('still there?');
  });
  say(`  reply: ${JSON.stringify(reply2)}`);
  await again.close();

  run('server closes');
  server.child.stdin!.end();
  await new Promise((r) => server.child.once('exit', r));
  say(`  socket file removed: ${lstatSync(path, { throwIfNoEntry: false }) ? 'no' : 'yes'}`);
  rmdirSync(dir);
  say('\nDone. Try it yourself: plugsock listen   (in one terminal)   plugsock connect <endpoint>   (in another)');
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'listen':
      return listen(rest);
    case 'connect':
      return connect(rest);
    case 'info':
      return info(rest);
    case 'demo':
      return demo();
    case '__demo-server':
      return demoServer(rest[0]);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      throw new TransportError(ErrorCodes.INVALID_OPTION, `unknown command ${JSON.stringify(command)}.\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const e = err as { code?: string; message?: string };
  log(`${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`);
  process.exitCode = 1;
});
