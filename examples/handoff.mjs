#!/usr/bin/env node
// Zero-downtime restart: run this once to start a server, run it again to replace the running
// one. The new process takes the listening socket over from the old one through a control
// socket; no client is refused or reset, and the old process exits once its own connections
// are done.
//
//   node examples/handoff.mjs /tmp/app.sock /tmp/app.control     # start
//   node examples/handoff.mjs /tmp/app.sock /tmp/app.control     # later: replace it
//
// Each connection gets one line back per line it sends: the pid of the process serving it.
import plugsock from '../esm/index.mjs';

const { UnixSocketTransport } = plugsock;
const [path, control] = process.argv.slice(2);
if (!path || !control) {
  console.error('usage: node examples/handoff.mjs <socket-path> <control-path>');
  process.exit(2);
}

let transport;
try {
  transport = await UnixSocketTransport.takeOver(control, { connectTimeoutMs: 300 });
  console.log(`TOOK OVER ${transport.endpoint} pid ${process.pid}`);
} catch (err) {
  if (err.code !== 'ERR_CONNECT_TIMEOUT') throw err;
  transport = new UnixSocketTransport({ path });
  await transport.listen();
  console.log(`LISTENING ${transport.endpoint} pid ${process.pid}`);
}

transport.on('connection', (socket) => {
  socket.on('error', () => {});
  let buffered = '';
  socket.on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      buffered = buffered.slice(nl + 1);
      socket.write(`${process.pid}\n`);
    }
  });
});
process.once('SIGTERM', () => transport.close());

// Serve until a newer process asks for the listener, then let it go and exit. A would-be
// successor that fails (or a peer that connects and hangs up) changes nothing: handOff() keeps
// serving and waits for the next one. close() (SIGTERM here) ends the wait with
// ERR_TRANSPORT_CLOSED.
try {
  await transport.handOff(control);
  console.log(`HANDED OFF pid ${process.pid}`);
} catch (err) {
  if (err.code !== 'ERR_TRANSPORT_CLOSED') throw err;
}
await transport.close();
process.exit(0);
