#!/usr/bin/env node
// A go-plugin compatible KV plugin written in Node. Any go-plugin host (Go, or Node's
// startPlugin) can launch it: it checks the magic cookie, negotiates the protocol version,
// listens on a Unix socket only its parent may connect to, prints the handshake line and serves
// gRPC. The service is examples/kv.proto (the same one test/interop's Go host and plugin use).
//
//   PLUGSOCK_INTEROP_COOKIE=kv-3b1f9e node examples/kv-plugin.mjs   # prints 1|1|unix|/tmp/...|grpc|
//
// In your own project import from the package instead of ../dist.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { servePlugin } = require(join(here, '..', 'dist', 'goplugin', 'index.js'));

const kvProto = grpc.loadPackageDefinition(protoLoader.loadSync(join(here, 'kv.proto'), { keepCase: false, defaults: true })).kv;

const brokerProto = grpc.loadPackageDefinition(protoLoader.loadSync(join(here, 'broker.proto'), { keepCase: false, defaults: true, longs: Number })).brokertest;

const store = new Map();

const kvService = {
  Get({ request }, callback) {
    const value = store.get(request.key);
    callback(null, { value: value ?? Buffer.alloc(0), found: value !== undefined });
  },
  Put({ request }, callback) {
    store.set(request.key, Buffer.from(request.value));
    if (process.env.KV_PLUGIN_QUIET !== '1') {
      // Both reach a go-plugin >= 1.3 host: stdout over GRPCStdio, stderr over the stderr pipe
      // (or GRPCStdio too with KV_CAPTURE_STDERR=1).
      console.log(`kv-plugin(node): put ${request.key}`);
      console.error(`kv-plugin(node): put-err ${request.key}`);
    }
    callback(null, {});
  },
  List(call) {
    const keys = [...store.keys()].filter((k) => k.startsWith(call.request.prefix)).sort();
    for (const key of keys) call.write({ key, value: store.get(key) });
    call.end();
  },
};

// Adder.Add calls back into the host through go-plugin's broker (when broker_id is set): the host
// serves brokertest.Callback under that id; broker.dial() connects to it.
const adderService = (broker) => ({
  async Add({ request }, callback) {
    try {
      let said = '';
      if (request.brokerId) {
        const channel = await broker.dial(request.brokerId);
        const cb = new brokerProto.Callback('unused', grpc.credentials.createInsecure(), { channelOverride: channel });
        said = await new Promise((resolve, reject) =>
          cb.Note({ text: `node plugin adds ${request.a}+${request.b}` }, (err, res) => (err ? reject(err) : resolve(res.reply))),
        );
        channel.close();
      }
      callback(null, { sum: Number(request.a) + Number(request.b), callbackSaid: said });
    } catch (err) {
      callback({ code: grpc.status.INTERNAL, details: String(err?.message ?? err) });
    }
  },
});

await servePlugin({
  magicCookieKey: process.env.KV_COOKIE_KEY ?? 'PLUGSOCK_INTEROP_COOKIE',
  magicCookieValue: process.env.KV_COOKIE_VALUE ?? 'kv-3b1f9e',
  versions: {
    // Version numbers this plugin speaks; the host's PLUGIN_PROTOCOL_VERSIONS picks one.
    [Number(process.env.KV_PLUGIN_VERSION ?? 1)]: (server, _version, { broker }) => {
      server.addService(kvProto.KV.service, kvService);
      server.addService(brokerProto.Adder.service, adderService(broker));
    },
  },
  captureStderr: process.env.KV_CAPTURE_STDERR === '1',
});
process.stderr.write('kv-plugin (node): serving\n');
// After the handshake, stdout is carried to the host by go-plugin's GRPCStdio stream.
console.log('kv-plugin (node): hello over GRPCStdio');
