/**
 * Message sizes between a Node host (startPlugin, and attachPlugin's channel) and a Node plugin
 * (servePlugin): 256 MiB each way by default on both sides (grpc-js alone receives 4 MiB), so 64
 * MiB goes both ways; 257 MiB is refused by whichever side's limit it meets first, each with
 * RESOURCE_EXHAUSTED naming the limit; serverOptions / channelOptions override the defaults.
 * The service is examples/kv.proto's KV in the fixture plugin (Get `big:<n>` answers n bytes).
 * Drives the built package (dist/).
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterEach, describe, expect, it } from 'vitest';
import { goplugin as gp, root } from './kit';

const FIXTURE = join(root, 'test', 'fixtures', 'goplugin-node-plugin.mjs');
const COOKIE = { magicCookieKey: 'PLUGSOCK_INTEROP_COOKIE', magicCookieValue: 'kv-3b1f9e' };
const MiB = 1024 * 1024;
const kv = (grpc.loadPackageDefinition(protoLoader.loadSync(join(root, 'examples', 'kv.proto'), { defaults: true })) as any).kv;

type Plugin = import('../src/goplugin/index').PluginProcess;
const plugins: Plugin[] = [];
afterEach(async () => {
  for (const p of plugins.splice(0)) await p.kill();
});

async function start(fixture: object = {}, channelOptions?: grpc.ChannelOptions): Promise<Plugin> {
  const p = await gp.startPlugin({
    command: process.execPath,
    args: [FIXTURE, JSON.stringify(fixture)],
    ...COOKIE,
    ...(channelOptions ? { channelOptions } : {}),
  });
  plugins.push(p);
  return p;
}

const call = <T>(c: any, method: string, req: object): Promise<T> =>
  new Promise((resolve, reject) => c[method](req, (e: Error | null, r: T) => (e ? reject(e) : resolve(r))));

async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}

describe('message sizes, Node host <-> Node plugin', () => {
  it('the default is 256 MiB each way, on both sides', () => {
    expect(gp.DEFAULT_MAX_MESSAGE_BYTES).toBe(256 * MiB);
  });

  it('64 MiB goes to the plugin and 64 MiB comes back (grpc-js alone would refuse anything over 4 MiB)', async () => {
    const p = await start();
    const c = p.client(kv.KV);
    const value = Buffer.alloc(64 * MiB);
    for (let i = 0; i < value.length; i += 4096) value.writeUInt32LE(i, i);
    await call(c, 'Put', { key: 'big', value });
    const got = await call<{ value: Buffer; found: boolean }>(c, 'Get', { key: 'big' });
    expect(got.found).toBe(true);
    expect(got.value.length).toBe(64 * MiB);
    expect(got.value.equals(value)).toBe(true);
  }, 60_000);

  it('257 MiB is refused by the host’s send limit and by the plugin’s send limit, with RESOURCE_EXHAUSTED naming the limit', async () => {
    const p = await start();
    const c = p.client(kv.KV);
    const up = await failure(call(c, 'Put', { key: 'too-big', value: Buffer.alloc(257 * MiB) }));
    expect(up.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(up.details).toBe('Attempted to send message with a size larger than 268435456');
    const down = await failure(call(c, 'Get', { key: `big:${257 * MiB}` }));
    expect(down.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(down.details).toMatch(/268435456/);
    // The plugin is unharmed.
    await p.ping();
  }, 60_000);

  it('with the senders’ limits raised, 257 MiB is refused by the receivers’ limits (plugin, then host)', async () => {
    const raised = { 'grpc.max_send_message_length': 300 * MiB };
    const p = await start({ serverOptions: raised }, raised);
    const c = p.client(kv.KV);
    const up = await failure(call(c, 'Put', { key: 'too-big', value: Buffer.alloc(257 * MiB) }));
    expect(up.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(up.details).toMatch(/^Received message larger than max \(\d+ vs 268435456\)$/);
    const down = await failure(call(c, 'Get', { key: `big:${257 * MiB}` }));
    expect(down.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(down.details).toMatch(/^Received message larger than max \(\d+ vs 268435456\)$/);
    await p.ping();
  }, 60_000);

  it('channelOptions lower the host’s limit (and the same limits apply to an attached plugin’s channel)', async () => {
    const p = await start({}, { 'grpc.max_receive_message_length': 1 * MiB });
    const small = await failure(call(p.client(kv.KV), 'Get', { key: `big:${2 * MiB}` }));
    expect(small.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // attachPlugin's channel: a debug plugin served in this process.
    const served = await gp.servePlugin({ ...COOKIE, versions: { 1: (s) => s.addService(kv.KV.service, bigGet) }, debug: true, ownProcess: false, env: {} });
    try {
      const a = await gp.attachPlugin(served.reattachConfig);
      const got = await call<{ value: Buffer }>(a.client(kv.KV), 'Get', { key: `big:${64 * MiB}` });
      expect(got.value.length).toBe(64 * MiB);
      expect((await failure(call(a.client(kv.KV), 'Get', { key: `big:${257 * MiB}` }))).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      await a.kill();
    } finally {
      await served.shutdown();
    }
  }, 60_000);
});

/** Get `big:<n>` answers n bytes, in this process. */
const bigGet = {
  Get({ request }: any, cb: any) {
    cb(null, { value: Buffer.alloc(Number(request.key.slice(4)), 0x62), found: true });
  },
  Put(_: any, cb: any) {
    cb(null, {});
  },
  List(call: any) {
    call.end();
  },
};
