// systemd without systemd: test/fixtures/systemd-standin.py makes the sockets, passes them as
// LISTEN_FDS, receives on a NOTIFY_SOCKET of its own (the fd store included) and restarts the
// service (test/fixtures/systemd-service.js, on the built package) as systemd would.
import { closeSync, lstatSync, openSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Binding, loadAddon } from '../src/addon';
import { cannotRun, distPath, expectCode, hasPython, plugsock, root, runNode, start, tempDirEach, until, waitForLine } from './kit';

const STANDIN = join(root, 'test', 'fixtures', 'systemd-standin.py');
const SERVICE = join(root, 'test', 'fixtures', 'systemd-service.js');
const uid = process.getuid!();

type Event = Record<string, any>;

interface ServiceConfig {
  mode: 'activate' | 'listen';
  from?: Record<string, unknown>;
  path?: string;
  store?: string;
  notify?: boolean;
}

const service = (config: ServiceConfig): string[] => [process.execPath, SERVICE, distPath('index.js'), JSON.stringify(config)];

const running: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

/** Starts the stand-in with `spec`; its events (its own and the service's JSON lines) as they come. */
function standin(spec: Record<string, unknown>) {
  const proc = start('python3', [STANDIN, JSON.stringify(spec)], { timeoutMs: 40_000 });
  const events: Event[] = [];
  let partial = '';
  const waiters = new Set<() => void>();
  proc.child.stdout!.on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      try {
        if (line.trim()) events.push(JSON.parse(line));
      } catch {
        events.push({ unparsed: line });
      }
    }
    for (const w of waiters) w();
  });
  const handle = {
    events,
    /** The first event (seen or to come) that matches, within `timeoutMs`. */
    next(match: (e: Event) => boolean, timeoutMs = 10_000): Promise<Event> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(match);
          if (!found) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching event within ${timeoutMs} ms; events: ${JSON.stringify(events)}; stderr: ${proc.stderr()}`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    service: (event: string) => handle.next((e) => e.service === event || e.service === 'error'),
    async stop() {
      proc.child.stdin!.end();
      await proc.done;
    },
  };
  running.push(handle);
  return handle;
}

/** One plain net connection: what it read before it closed (the serving process's pid), or the error code. */
function ask(path: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    let got = '';
    s.on('data', (d) => (got += d));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code}`));
    s.on('close', () => resolve(got.trim()));
  });
}

describe.skipIf(!hasPython() && cannotRun('python3 is needed for the systemd stand-in'))('systemd', () => {
  const dir = tempDirEach();

  describe('fromSystemd (socket activation)', () => {
    it('serves the passed socket with the policy and fdPassing, unsets the variables, and close() leaves the file', async () => {
      const path = join(dir(), 'app.sock');
      const sd = standin({
        sockets: [{ kind: 'stream', path }],
        names: ['app'],
        command: service({ mode: 'activate', from: { name: 'app', peer: { uids: [uid] }, fdPassing: true } }),
      });
      const started = await sd.next((e) => e.event === 'started');
      const ready = await sd.service('ready');
      expect(ready.service).toBe('ready');
      expect(ready.pid).toBe(started.pid);
      expect(ready.before).toEqual({ LISTEN_PID: String(started.pid), LISTEN_FDS: '1', LISTEN_FDNAMES: 'app' });
      expect(ready.after).toEqual({});
      expect(ready.fd3Leaks).toBe(false);
      expect(ready.path).toBe(path);
      expect(ready.endpoint).toBe(`unix:${path}`);
      expect(ready.notified).toBe(false); // no NOTIFY_SOCKET: notify() resolves false

      expect(await ask(path)).toBe(String(started.pid));
      const connection = await sd.service('connection');
      expect(connection).toMatchObject({ fdStream: true, uid });

      const ino = lstatSync(path).ino;
      process.kill(started.pid, 'SIGTERM');
      expect(await sd.service('closed')).toMatchObject({ fileExists: true });
      expect(lstatSync(path).isSocket()).toBe(true);
      expect(lstatSync(path).ino).toBe(ino);
    });

    it("refuses a peer the transport's policy does not admit", async () => {
      const path = join(dir(), 'app.sock');
      const sd = standin({ sockets: [{ kind: 'stream', path }], names: null, command: service({ mode: 'activate', from: { peer: { uids: [uid + 4242] } } }) });
      await sd.service('ready');
      expect(await ask(path)).toBe('');
      const rejected = await sd.service('rejected');
      expect(rejected).toMatchObject({ uid });
      expect(rejected.reason).toMatch(/not in the allowed uids/);
    });

    const refusals: Array<[string, (d: string) => Record<string, unknown>, RegExp]> = [
      ['a TCP listener', () => ({ kind: 'tcp' }), /fd 3 \("unknown"\) is an IPv4 \(stream\) socket, not a Unix-domain one/],
      ['a Unix datagram socket', (d) => ({ kind: 'dgram', path: join(d, 'dgram.sock') }), /is a Unix dgram socket \(ListenDatagram=\), not a stream socket/],
      ['a connected Unix stream socket', () => ({ kind: 'connected' }), /does not listen \(a connection: the \.socket unit has Accept=yes\?\)/],
      ['a regular file', (d) => ({ kind: 'file', path: join(d, 'plain') }), /fd 3 \("unknown"\) is a regular file, not a socket/],
    ];
    it.each(refusals)('refuses %s with ERR_SYSTEMD_SOCKET', async (_what, socket, message) => {
      const sd = standin({ sockets: [socket(dir())], names: null, command: service({ mode: 'activate' }) });
      const error = await sd.service('error');
      expect(error).toMatchObject({ service: 'error', code: 'ERR_SYSTEMD_SOCKET' });
      expect(error.message).toMatch(message);
    });

    it('takes no fd meant for another process (LISTEN_PID), as sd_listen_fds', async () => {
      const sd = standin({
        sockets: [{ kind: 'stream', path: join(dir(), 'a.sock') }],
        names: null,
        listen_pid: 'parent',
        command: service({ mode: 'activate' }),
      });
      const error = await sd.service('error');
      expect(error.code).toBe('ERR_SYSTEMD_SOCKET');
      expect(error.message).toMatch(/LISTEN_PID=\d+ is another process \(this one is \d+\)/);
    });

    it('picks a socket by name, and needs one when several are passed', async () => {
      const a = join(dir(), 'a.sock');
      const b = join(dir(), 'b.sock');
      const sockets = [
        { kind: 'stream', path: a },
        { kind: 'stream', path: b },
      ];
      const unnamed = standin({ sockets, names: ['alpha', 'beta'], command: service({ mode: 'activate' }) });
      const error = await unnamed.service('error');
      expect(error.code).toBe('ERR_INVALID_OPTION');
      expect(error.message).toMatch(/systemd passed 2 fds \(named "alpha", "beta"\); say which to serve with \{ name \}/);
      const missing = standin({ sockets, names: ['alpha', 'beta'], command: service({ mode: 'activate', from: { name: 'gamma' } }) });
      expect((await missing.service('error')).message).toMatch(/no socket named "gamma"; the names passed are "alpha", "beta"/);

      const named = standin({ sockets, names: ['alpha', 'beta'], command: service({ mode: 'activate', from: { name: 'beta' } }) });
      const ready = await named.service('ready');
      expect(ready.path).toBe(b);
      expect(await ask(b)).toBe(String(ready.pid));
    });

    it('serves an abstract socket only with a peer policy', async () => {
      const name = `plugsock-test-${process.pid}-${Date.now()}`;
      const without = standin({ sockets: [{ kind: 'stream', abstract: name }], names: null, command: service({ mode: 'activate' }) });
      const error = await without.service('error');
      expect(error.code).toBe('ERR_INVALID_OPTION');
      expect(error.message).toMatch(new RegExp(`@${name} is an abstract socket address: it has no file and no mode, so without a peer policy`));

      const withPolicy = standin({
        sockets: [{ kind: 'stream', abstract: name }],
        names: null,
        command: service({ mode: 'activate', from: { peer: { uids: [uid] } } }),
      });
      const ready = await withPolicy.service('ready');
      expect(ready.endpoint).toBe(`unix:@${name}`);
      const client = new plugsock.UnixSocketTransport({ peer: { uids: [uid] } });
      try {
        const socket = await client.connect(`unix:@${name}`);
        let got = '';
        for await (const chunk of socket) got += chunk;
        expect(got.trim()).toBe(String(ready.pid));
      } finally {
        await client.close();
      }
    });

    it('rejects with ERR_SYSTEMD_SOCKET when this process was not socket-activated', async () => {
      const err = await expectCode(plugsock.UnixSocketTransport.fromSystemd(), 'ERR_SYSTEMD_SOCKET');
      expect(err.message).toMatch(/LISTEN_PID and LISTEN_FDS are not set: this process was not started by systemd socket activation/);
      await expectCode(plugsock.UnixSocketTransport.fromSystemd({ name: 'a:b' }), 'ERR_INVALID_OPTION');
      await expectCode(plugsock.UnixSocketTransport.fromSystemd({ mode: 0o600 } as never), 'ERR_INVALID_OPTION');
    });
  });

  describe('notify and the fd store', () => {
    it('sends READY=1 and STATUS=, and hands the listening fd to the store under its name', async () => {
      const path = join(dir(), 'app.sock');
      const sd = standin({
        sockets: [{ kind: 'stream', path }],
        names: ['app'],
        notify: join(dir(), 'notify'),
        command: service({ mode: 'activate', from: { name: 'app' }, notify: true, store: 'web' }),
      });
      const made = await sd.next((e) => e.event === 'ready');
      const ready = await sd.service('ready');
      expect(ready.notified).toBe(true);
      expect((await sd.next((e) => e.event === 'notify')).message).toBe(`READY=1\nSTATUS=serving on unix:${path}`);

      process.kill(ready.pid, 'SIGTERM');
      expect(await sd.service('stored')).toMatchObject({ sent: true });
      const stored = await sd.next((e) => e.event === 'notify' && e.message.startsWith('FDSTORE'));
      expect(stored.message).toBe('FDSTORE=1\nFDNAME=web');
      // The very socket systemd passed (same inode), still listening: AF_UNIX (1), SOCK_STREAM (1).
      expect(stored.fds).toEqual([{ fd: expect.any(Number), socket: true, family: 1, type: 1, listening: true, name: path, ino: made.fds[0].ino }]);
      expect((await sd.next((e) => e.event === 'notify' && e.message === 'STOPPING=1')).fds).toBe(0);
      expect(await sd.service('closed')).toMatchObject({ fileExists: true });
    });

    it('notify() reaches an abstract NOTIFY_SOCKET, resolves false without one, and says what is wrong', async () => {
      const name = `plugsock-notify-${process.pid}-${Date.now()}`;
      const sd = standin({ notify: `@${name}` });
      await sd.next((e) => e.event === 'ready');
      const script = (notifySocket: string | undefined, state: string) => `
        ${notifySocket === undefined ? 'delete process.env.NOTIFY_SOCKET;' : `process.env.NOTIFY_SOCKET = ${JSON.stringify(notifySocket)};`}
        plugsock.notify(${JSON.stringify(state)}).then((r) => console.log('RESULT ' + r), (e) => console.log('ERROR ' + e.code + ' ' + e.message));
      `;
      const outcome = async (notifySocket: string | undefined, state: string) => {
        const child = runNode(script(notifySocket, state));
        const [, line] = await waitForLine(child.child, /^(RESULT .*|ERROR .*)$/);
        await child.done;
        return line;
      };
      expect(await outcome(`@${name}`, 'STATUS=half way\nREADY=1')).toBe('RESULT true');
      expect((await sd.next((e) => e.event === 'notify')).message).toBe('STATUS=half way\nREADY=1');
      expect(await outcome(undefined, 'READY=1')).toBe('RESULT false');
      expect(await outcome(`@${name}-nobody`, 'READY=1')).toMatch(
        /^ERROR ERR_SYSTEMD_NOTIFY Cannot send to systemd at NOTIFY_SOCKET=@.*-nobody: nothing receives there \(ECONNREFUSED\)/,
      );
      expect(await outcome('vsock:2:1234', 'READY=1')).toMatch(/^ERROR ERR_SYSTEMD_NOTIFY .*not an absolute path or an @abstract name/);
      expect(await outcome(`@${name}`, 'READY')).toMatch(/^ERROR ERR_INVALID_OPTION notify\(\): the state has the line "READY", not KEY=VALUE/);
      expect(await outcome(`@${name}`, `STATUS=${'x'.repeat(4096)}`)).toMatch(/^ERROR ERR_INVALID_OPTION .*over the 4096 systemd reads/);
    });

    it('handOffToSystemd() needs a listening transport and a valid name, and resolves false without NOTIFY_SOCKET', async () => {
      const t = new plugsock.UnixSocketTransport({ path: join(dir(), 'h.sock') });
      try {
        await expectCode(t.handOffToSystemd({ name: 'web' }), 'ERR_INVALID_STATE');
        await t.listen();
        await expectCode(t.handOffToSystemd({ name: 'a:b' }), 'ERR_INVALID_OPTION');
        await expectCode(t.handOffToSystemd({ name: 'x'.repeat(256) }), 'ERR_INVALID_OPTION');
        await expectCode(t.handOffToSystemd({ nmae: 'web' } as never), 'ERR_INVALID_OPTION');
        const saved = process.env.NOTIFY_SOCKET;
        delete process.env.NOTIFY_SOCKET;
        try {
          expect(await t.handOffToSystemd({ name: 'web' })).toBe(false);
        } finally {
          if (saved !== undefined) process.env.NOTIFY_SOCKET = saved;
        }
      } finally {
        await t.close();
      }
      // Nothing was stored, so close() removed the file as usual.
      expect(() => lstatSync(join(dir(), 'h.sock'))).toThrow(/ENOENT/);
    });

    it('restarts a server through the fd store while clients loop, and no client is refused', async () => {
      const path = join(dir(), 'app.sock');
      const sd = standin({
        notify: join(dir(), 'notify'),
        restarts: 1,
        command: service({ mode: 'listen', path, store: 'web' }),
        restart_command: service({ mode: 'activate', from: { name: 'web', path } }),
      });
      const first = await sd.service('ready');
      expect(first.service).toBe('ready');
      const loop = runNode(`
        const net = require('net');
        const seen = {}; const errors = []; let stop = false;
        process.stdin.on('data', () => { stop = true; }).resume();
        (async function run() {
          while (!stop) {
            await new Promise((resolve) => {
              const s = net.connect(${JSON.stringify(path)});
              let got = '';
              s.on('data', (d) => (got += d));
              s.on('error', (e) => { errors.push(e.code); });
              s.on('close', () => {
                const who = got.trim();
                if (who && !seen[who]) console.log('SEEN ' + who); // the first answer from each server
                if (who) seen[who] = (seen[who] || 0) + 1; else if (!errors.length) errors.push('EMPTY');
                resolve();
              });
            });
          }
          console.log('RESULT ' + JSON.stringify({ seen, errors }));
        })();
      `);
      // The loop is served by the first server before it is restarted (however long the loop's
      // process takes to start on a loaded machine).
      await until(() => loop.stdout().includes(`SEEN ${first.pid}\n`));
      process.kill(first.pid, 'SIGTERM');
      expect(await sd.next((e) => e.event === 'notify' && e.message === 'FDSTORE=1\nFDNAME=web')).toBeTruthy();
      await sd.next((e) => e.event === 'exited' && e.pid === first.pid);
      const second = await sd.next((e) => e.service === 'ready' && e.pid !== first.pid);
      expect(second.path).toBe(path);
      await until(() => loop.stdout().includes(`SEEN ${second.pid}\n`));
      loop.child.stdin!.end('stop\n');
      const [, json] = await waitForLine(loop.child, /^RESULT (.*)$/);
      await loop.done;
      const result = JSON.parse(json) as { seen: Record<string, number>; errors: string[] };
      expect(result.errors).toEqual([]);
      expect(Object.keys(result.seen).sort()).toEqual([String(first.pid), String(second.pid)].sort());
      process.kill(second.pid, 'SIGTERM');
      expect(await sd.next((e) => e.service === 'closed' && e.pid === second.pid)).toMatchObject({ fileExists: true });
    });
  });
});

describe.skipIf(process.platform !== 'linux')('the addon: socketInspect, fdSetCloexec, notifySend', () => {
  const dir = tempDirEach();
  const binding = () => loadAddon().binding as Binding;
  const fdOf = (server: net.Server) => (server as unknown as { _handle: { fd: number } })._handle.fd;
  const listening = (server: net.Server, ...args: unknown[]) => new Promise<void>((resolve) => server.listen(...(args as []), () => resolve()));

  it('socketInspect tells a Unix listener, a TCP listener, a connection and a file apart', async () => {
    const unix = net.createServer();
    const tcp = net.createServer();
    const path = join(dir(), 'i.sock');
    await listening(unix, path);
    await listening(tcp, 0, '127.0.0.1');
    try {
      expect(binding().socketInspect!(fdOf(unix))).toEqual({ domain: 'unix', type: 'stream', listening: true, path });
      expect(binding().socketInspect!(fdOf(tcp))).toEqual({ domain: 'inet', type: 'stream', listening: true, path: null });
      const client = binding().socketConnect(path);
      expect(binding().socketInspect!(client)).toEqual({ domain: 'unix', type: 'stream', listening: false, path: '' });
      binding().fdClose(client);
    } finally {
      unix.close();
      tcp.close();
    }
    const file = openSync(__filename, 'r');
    expect(binding().socketInspect!(file)).toBeNull();
    closeSync(file);
    expect(() => binding().socketInspect!(file)).toThrow(/^fstat EBADF/);
  });

  it('fdSetCloexec sets FD_CLOEXEC; notifySend checks its arguments and says where it could not send', () => {
    const b = binding();
    const fd = b.memfdCreate('cloexec');
    const flags = () => Number.parseInt(/flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1], 8);
    b.fdSetCloexec!(fd);
    expect(flags() & 0o2000000).toBe(0o2000000);
    b.fdClose(fd);
    expect(() => b.fdSetCloexec!(fd)).toThrow(/^fcntl EBADF/);
    expect(() => b.notifySend!(join(dir(), 'nobody'), 'READY=1', [])).toThrow(/^connect ENOENT .*nobody/);
    expect(() => b.notifySend!('\0plugsock-nobody-here', 'READY=1', [])).toThrow(/^connect ECONNREFUSED @plugsock-nobody-here/);
    expect(() => b.notifySend!('/x', 'x'.repeat(4097), [])).toThrow(/1 to 4096 bytes/);
    expect(() => b.notifySend!('/x', 'READY=1', new Array(254).fill(0))).toThrow(/more than 253/);
    expect(() => b.notifySend!('/x', 'READY=1', [-1])).toThrow(/non-negative integers/);
  });
});
