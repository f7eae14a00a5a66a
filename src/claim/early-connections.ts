/**
 * Connections a listener accepts before anyone listens for them. The fallback claim publishes
 * its socket (a link) and then still awaits the staging directory's removal: a client that
 * connects in those turns of the event loop is accepted by libuv and emitted as 'connection' to
 * nobody, then sits paused and unread for good, its client waiting on it. So a claimed server
 * holds such connections (paused, as pauseOnConnect leaves them) until Acceptor.serve() takes
 * them. They are bounded by what the kernel queued (the backlog) in those few turns.
 */
import type * as net from 'node:net';

const held = new WeakMap<net.Server, { sockets: Set<net.Socket>; hold: (socket: net.Socket) => void }>();

/** From now until takeEarlyConnections(server), `server`'s connections are kept, not lost. */
export function holdEarlyConnections(server: net.Server): void {
  const sockets = new Set<net.Socket>();
  const hold = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  held.set(server, { sockets, hold });
  server.on('connection', hold);
}

/** Stops holding; returns what was held (still open), oldest first. */
export function takeEarlyConnections(server: net.Server): net.Socket[] {
  const entry = held.get(server);
  if (!entry) return [];
  held.delete(server);
  server.off('connection', entry.hold);
  return [...entry.sockets];
}

/** The claim failed: the held connections are destroyed with their server. */
export function dropEarlyConnections(server: net.Server): void {
  for (const socket of takeEarlyConnections(server)) socket.destroy();
}
