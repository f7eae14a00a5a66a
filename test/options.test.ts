/**
 * Strict options (issue 13, "a typo must never widen access"): every options object the package
 * takes rejects unknown keys with ERR_INVALID_OPTION, naming the key by its path and the nearest
 * valid key; a peer policy that restricts nothing is an error; listen('/some/path') is refused.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { addon } from '../src/addon';
import * as gp from '../src/goplugin/index';
import * as options from '../src/options';
import { FdStream, type FdStreamOptions, UnixSocketTransport } from '../src/index';
import { COOKIE, NODE_PLUGIN } from './interop/peers';
import { runNode, transportsPerTest, waitForLine } from './kit';

// The options are checked in this process: src/ is imported directly, no build needed. Two tests
// start another process on the built package (a hand-off's old side, examples/kv-plugin.mjs).
type Transport = InstanceType<typeof UnixSocketTransport>;

/** Options of the wrong shape, on purpose: the tests feed what TypeScript users cannot. */
const loose = <T>(value: unknown) => value as T;

/** Runs `f` and returns the ERR_INVALID_OPTION it throws (or rejects with); fails otherwise. */
async function invalidOption(f: () => unknown, message: RegExp): Promise<void> {
  let result: unknown;
  try {
    result = await f();
  } catch (err) {
    const e = err as Error & { code?: string };
    expect(e.code, e.message).toBe('ERR_INVALID_OPTION');
    expect(e.message).toMatch(message);
    return;
  }
  // It was accepted: release whatever it made, then fail.
  const made = result as { shutdown?: () => unknown; close?: () => unknown; kill?: () => unknown; destroy?: () => unknown } | undefined;
  await (made?.shutdown ?? made?.kill ?? made?.close ?? made?.destroy)?.call(made);
  throw new Error(`expected ERR_INVALID_OPTION matching ${message}, but it was accepted`);
}

const { dir, make, track } = transportsPerTest({}, { prefix: 'plugsock-options-', Transport: UnixSocketTransport });

describe('the shared helper', () => {
  it('suggests only a close key, ignoring case', () => {
    const { nearestKey } = options;
    const keys = ['uids', 'gids', 'pids', 'sameUser', 'verify'];
    expect(nearestKey('samUser', keys)).toBe('sameUser');
    expect(nearestKey('uid', keys)).toBe('uids');
    expect(nearestKey('sameuser', keys)).toBe('sameUser');
    expect(nearestKey('vreify', keys)).toBe('verify'); // two neighbours swapped: one edit
    expect(nearestKey('allow', keys)).toBeNull();
    expect(nearestKey('x', keys)).toBeNull();
  });

  it('names the key by its path, and lists the known keys when none is close', () => {
    const { checkOptionKeys } = options;
    expect(() => checkOptionKeys({ samUser: true }, ['sameUser'], 'peer')).toThrow(/^unknown option peer\.samUser; did you mean sameUser\?$/);
    expect(() => checkOptionKeys({ bogus: 1 }, ['path', 'mode'], '')).toThrow(/^unknown option bogus; the known options are path, mode\.$/);
    expect(() => checkOptionKeys([], ['path'], '')).toThrow(/options must be an object, got an array/);
    expect(() => checkOptionKeys({ path: 'x' }, ['path'], '')).not.toThrow();
  });
});

describe('UnixSocketTransport constructor', () => {
  it('rejects an unknown key in the peer policy, naming it and the nearest valid key', async () => {
    await invalidOption(() => make({ peer: loose({ samUser: true }) }), /unknown option peer\.samUser; did you mean sameUser\?/);
  });

  it('rejects { uid: [0] } (the field is uids), which today admits everyone', async () => {
    await invalidOption(() => make({ peer: loose({ uid: [0] }) }), /unknown option peer\.uid; did you mean uids\?/);
  });

  it('rejects an unknown top-level key', async () => {
    await invalidOption(() => make(loose({ pth: join(dir(), 'a.sock') })), /unknown option pth; did you mean path\?/);
    await invalidOption(() => make(loose({ fdpassing: true })), /unknown option fdpassing; did you mean fdPassing\?/);
    await invalidOption(() => make(loose({ bogus: 1 })), /unknown option bogus; the known options are path, mode, connectTimeoutMs, /);
  });

  it('rejects a policy that restricts nothing, and says what to pass instead', async () => {
    await invalidOption(() => make({ peer: {} }), /peer is a policy that restricts nothing.*\{ sameUser: true \}.*or leave peer out/);
    await invalidOption(() => make({ peer: { sameUser: false } }), /restricts nothing/);
    await invalidOption(() => make({ peer: { uids: undefined } }), /restricts nothing/);
  });

  it('rejects wrong-typed values that used to be accepted', async () => {
    await invalidOption(() => make({ peer: loose([]) }), /peer must be an object/);
    await invalidOption(() => make({ peer: loose([{ uids: [0] }]) }), /peer must be an object/);
    await invalidOption(() => make({ allowHalfOpen: loose('yes') }), /allowHalfOpen must be a boolean/);
  });

  // Each test here fails on the code before strict options; the valid cases ride along.
  it('still accepts a valid object, and its policy still works, while a typo next to it does not', async () => {
    await invalidOption(() => make({ path: join(dir(), 'ok.sock'), peer: loose({ sameUser: true, pid: [process.pid] }) }), /peer\.pid; did you mean pids\?/);
    const server = make({ path: join(dir(), 'ok.sock'), mode: 0o600, peer: { sameUser: true, uids: [process.getuid!()] }, allowHalfOpen: false });
    const endpoint = await server.listen();
    const socket = await make({ connectTimeoutMs: 1000 }).connect(endpoint, { peer: { pids: [process.pid] } });
    expect(socket.peer?.pid).toBe(process.pid);
    socket.destroy();
  });
});

describe('listen()', () => {
  it("refuses listen('/some/path') (the net habit) instead of listening on another path", async () => {
    const wanted = join(dir(), 'x.sock');
    const t = make();
    await invalidOption(() => t.listen(loose(wanted)), /listen\(\) takes an options object.*not a path.*new UnixSocketTransport\(\{ path: ".*x\.sock" \}\)/);
    expect(t.endpoint).toBeNull();
    expect(existsSync(wanted)).toBe(false);
    expect(existsSync(t.path)).toBe(false);
    // Nothing was started: the transport can still listen, on its own path.
    expect(await t.listen()).toBe(`unix:${t.path}`);
  });

  it('refuses any other non-object argument, pointing at the constructor path', async () => {
    await invalidOption(() => make().listen(loose(42)), /listen\(\) takes an options object.*pass \{ path \} there/);
    await invalidOption(() => make().listen(loose(null)), /listen\(\) takes an options object/);
  });

  it('rejects unknown keys, in the options and in the policy', async () => {
    await invalidOption(() => make().listen(loose({ fdpasing: true })), /unknown option fdpasing; did you mean fdPassing\?/);
    await invalidOption(() => make().listen({ peer: loose({ samUser: true }) }), /unknown option peer\.samUser; did you mean sameUser\?/);
    await invalidOption(() => make().listen({ peer: {} }), /peer is a policy that restricts nothing/);
    await invalidOption(() => make().listen({ fdPassing: loose('yes') }), /fdPassing must be a boolean/);
  });

  it('still accepts a valid object, while a typo next to it does not', async () => {
    const t = make({ path: join(dir(), 'l.sock') });
    await invalidOption(
      () => t.listen(loose({ peer: { sameUser: true }, fdPassing: false, backlog: 5 })),
      /unknown option backlog; the known options are peer, fdPassing, signal\./,
    );
    await t.listen({ peer: { sameUser: true }, fdPassing: false });
    const s = await make().connect(t.path);
    s.destroy();
  });
});

describe('connect()', () => {
  let server: Transport;
  beforeEach(async () => {
    server = make({ path: join(dir(), 'c.sock') });
    await server.listen();
  });

  it('rejects unknown keys, in the options, the policy and onread', async () => {
    const client = make();
    await invalidOption(() => client.connect(server.path, loose({ timeout: 100 })), /unknown option timeout; did you mean timeoutMs\?/);
    await invalidOption(() => client.connect(server.path, { peer: loose({ samUser: true }) }), /unknown option peer\.samUser; did you mean sameUser\?/);
    await invalidOption(() => client.connect(server.path, { peer: loose({ pid: [process.pid] }) }), /unknown option peer\.pid; did you mean pids\?/);
    await invalidOption(() => client.connect(server.path, { peer: {} }), /peer is a policy that restricts nothing/);
    await invalidOption(
      () => client.connect(server.path, { onread: loose({ buffer: Buffer.alloc(64), callback: () => true, bufer: 1 }) }),
      /unknown option onread\.bufer; did you mean buffer\?/,
    );
    await invalidOption(() => client.connect(server.path, { fdPassing: loose(1) }), /fdPassing must be a boolean/);
    expect(client.connectionCount).toBe(0);
  });

  it('still accepts a valid object, while a typo next to it does not', async () => {
    await invalidOption(() => make().connect(server.path, loose({ peer: { sameUser: true }, timeoutMs: 1000, fdpassing: false })), /did you mean fdPassing\?/);
    const socket = await make().connect(server.path, { peer: { sameUser: true }, timeoutMs: 1000 });
    socket.destroy();
  });
});

describe('handOff() and takeOver()', () => {
  it('handOff() checks its options first, the policy included', async () => {
    const idle = make({ path: join(dir(), 'h.sock') });
    const control = join(dir(), 'h.control');
    await invalidOption(() => idle.handOff(control, loose({ moed: 0o600 })), /unknown option moed; did you mean mode\?/);
    await invalidOption(() => idle.handOff(control, { peer: loose({ samUser: true }) }), /unknown option peer\.samUser; did you mean sameUser\?/);
    await invalidOption(() => idle.handOff(control, { peer: {} }), /peer is a policy that restricts nothing/);
    expect(existsSync(control)).toBe(false);
  });

  it('takeOver() checks its options before connecting, path and mode included', async () => {
    const control = join(dir(), 'nobody.control');
    const T = UnixSocketTransport;
    await invalidOption(
      () => T.takeOver(control, loose({ handOffPer: { sameUser: true }, connectTimeoutMs: 100 })),
      /unknown option handOffPer; did you mean handOffPeer\?/,
    );
    await invalidOption(() => T.takeOver(control, loose({ path: join(dir(), 'p.sock'), connectTimeoutMs: 100 })), /unknown option path; the known options are/);
    await invalidOption(
      () => T.takeOver(control, { handOffPeer: loose({ samUser: true }), connectTimeoutMs: 100 }),
      /unknown option handOffPeer\.samUser; did you mean sameUser\?/,
    );
    await invalidOption(() => T.takeOver(control, { handOffPeer: {}, connectTimeoutMs: 100 }), /handOffPeer is a policy that restricts nothing/);
    await invalidOption(() => T.takeOver(control, { peer: loose({ uid: [0] }), connectTimeoutMs: 100 }), /unknown option peer\.uid; did you mean uids\?/);
  });

  it('still accept valid objects (a hand-off from another process), while typos next to them do not', async () => {
    const control = join(dir(), 'app.control');
    await invalidOption(
      () => UnixSocketTransport.takeOver(control, loose({ handOffPeer: { sameUser: true }, connectTimeoutMs: 100, mode: 0o600 })),
      /unknown option mode; the known options are/,
    );
    const listening = make({ path: join(dir(), 'mine.sock') });
    await listening.listen();
    await invalidOption(
      () => listening.handOff(control, loose({ peer: { sameUser: true }, mode: 0o600, handOffPeer: { sameUser: true } })),
      /unknown option handOffPeer; the known options are peer, mode, signal\./,
    );
    expect(existsSync(control)).toBe(false);

    const path = join(dir(), 'app.sock');
    const old = runNode(`
      const t = new plugsock.UnixSocketTransport({ path: ${JSON.stringify(path)} });
      t.listen().then(async () => {
        console.log('LISTENING');
        await t.handOff(${JSON.stringify(control)}, { peer: { sameUser: true }, mode: 0o600 });
        console.log('HANDED OFF');
      }, (e) => console.log('FAILED ' + e.code + ' ' + e.message));`);
    await waitForLine(old.child, /^LISTENING/);
    const successor = await UnixSocketTransport.takeOver(control, {
      handOffPeer: { pids: [old.child.pid!] },
      peer: { sameUser: true },
      connectTimeoutMs: 5000,
    });
    track(successor);
    expect((await old.done).stdout).toMatch(/HANDED OFF/);
    expect(successor.path).toBe(path);
    const s = await make().connect(path);
    s.destroy();
  });
});

describe('FdStream', () => {
  it('rejects an unknown key (and the caller keeps the fd), accepts a valid object', async () => {
    const server = make({ path: join(dir(), 'f.sock'), fdPassing: true });
    await server.listen();
    const binding = addon()!;
    const fd = binding.socketConnect(server.path);
    // Accepted by mistake, the stream is destroyed (closing fd) before the test fails.
    await invalidOption(() => new FdStream(fd, loose<FdStreamOptions>({ allowHalfopen: true })), /unknown option allowHalfopen; did you mean allowHalfOpen\?/);
    const stream = new FdStream(fd, { allowHalfOpen: true, readableHighWaterMark: 1024 });
    expect(stream.fd).toBe(fd);
    stream.destroy();
  });
});

describe('servePlugin() and startPlugin()', () => {
  const env = { ...process.env, [COOKIE.magicCookieKey]: COOKIE.magicCookieValue };
  const serve = (extra: object) =>
    gp.servePlugin({
      ...COOKIE,
      register: () => {},
      ownProcess: false,
      env,
      handshakeOut: { write: () => true },
      captureStdout: false,
      ...extra,
    } as Parameters<typeof gp.servePlugin>[0]);

  it('servePlugin() rejects unknown keys, in the options and in the policy', async () => {
    await invalidOption(() => serve({ autoMtls: false }), /unknown option autoMtls; did you mean autoMTLS\?/);
    await invalidOption(() => serve({ peer: { samUser: true } }), /unknown option peer\.samUser; did you mean sameUser\?/);
    await invalidOption(() => serve({ peer: { pid: [process.ppid] } }), /unknown option peer\.pid; did you mean pids\?/);
    await invalidOption(() => serve({ peer: {} }), /peer is a policy that restricts nothing/);
  });

  it('servePlugin() still accepts a valid object, while a typo next to it does not', async () => {
    await invalidOption(() => serve({ peer: { sameUser: true }, autoMTLS: false, mode: 0o600, captureStdErr: false }), /did you mean captureStderr\?/);
    const served = await serve({ peer: { sameUser: true }, autoMTLS: false, mode: 0o600 });
    expect(existsSync(served.address)).toBe(true);
    await served.shutdown();
  });

  it('startPlugin() rejects an unknown key before starting anything', async () => {
    await invalidOption(
      () => gp.startPlugin(loose({ command: '/bin/false', ...COOKIE, verifyPer: false, startTimeoutMs: 2000 })),
      /unknown option verifyPer; did you mean verifyPeer\?/,
    );
  });

  it('startPlugin() still accepts a valid object, while a typo next to it does not', async () => {
    await invalidOption(
      () => gp.startPlugin(loose({ command: '/bin/false', ...COOKIE, verifyPeer: true, startTimeoutMs: 2000, killGrace: 100 })),
      /did you mean killGraceMs\?/,
    );
    const plugin = await gp.startPlugin({ command: process.execPath, args: [NODE_PLUGIN], ...COOKIE, verifyPeer: true, startTimeoutMs: 20_000 });
    expect(plugin.pid).toBeGreaterThan(0);
    await plugin.kill();
  });
});
