/**
 * `plugsock demo`: two processes, end to end (a script, read top to bottom): the exact mode, a
 * reply, a second server refused, a stale socket after kill -9 recovered, the file removed.
 */
import { spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capabilities } from '../capabilities';
import type { TransportError } from '../errors';
import { type PeerSocket, UnixSocketTransport } from '../transport';
import { DEMO, commandHelp } from './commands';
import { Exit } from './exit';
import { describePeer } from './output';
import { parseCommand } from './parse';

/** The entry point (dist/cli.js), which the demo starts again as its server process. */
const ENTRY = join(__dirname, '..', 'cli.js');

/** The demo's server process: listens, echoes in upper case, reports peers on stdout. */
export async function demoServer(path: string): Promise<number> {
  const transport = new UnixSocketTransport({ path });
  transport.on('connection', (socket: PeerSocket) => {
    process.stdout.write(`server: connection from ${describePeer(socket.peer)}\n`);
    socket.on('error', () => {});
    socket.on('data', (d) => socket.write(String(d).toUpperCase()));
  });
  await transport.listen();
  process.stdout.write(`READY ${process.pid}\n`);
  process.stdin.on('end', () => void transport.close()).resume();
  return Exit.OK;
}

async function runDemo(): Promise<void> {
  const say = (s: string) => process.stdout.write(`${s}\n`);
  const caps = capabilities();
  say(`plugsock demo (${caps.native ? 'native addon loaded' : `fallback mode: ${caps.reason}`})\n`);

  const dir = mkdtempSync(join(tmpdir(), 'plugsock-demo-'));
  const path = join(dir, 'plugin.sock');
  const startServer = () => {
    const child = spawn(process.execPath, [ENTRY, '__demo-server', path], { stdio: ['pipe', 'pipe', 'inherit'] });
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

export async function demo(args: string[]): Promise<number> {
  const parsed = parseCommand(DEMO, args, 0);
  if (parsed === 'help') {
    process.stdout.write(commandHelp(DEMO));
    return Exit.OK;
  }
  await runDemo();
  return Exit.OK;
}
