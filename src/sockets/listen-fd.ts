/**
 * A net.Server listening on a socket fd this process already holds (bound, and in listen()).
 *
 * Not through server.listen({ fd }): every listen() goes through net's cluster routing, which
 * loads node:cluster on first use (~1 ms of every plugin's start, a go-plugin host's wait), and
 * in a cluster worker sends the fd's number to the primary to listen on, where it is not this
 * socket (bind EINVAL). `_listen2` is the step listen() ends in for a primary (net keeps that
 * name for code that wraps it, Node 0.x to 24); where it is missing, listen() is used.
 */
import { tracingChannel } from 'node:diagnostics_channel';
import type * as net from 'node:net';

/** net's own step that makes a server listen on a handle it creates: (address, port, type, backlog, fd). */
type ListenOnHandle = (address: null, port: null, addressType: null, backlog: number | undefined, fd: number) => void;

/** Node's trace of listen(): listen() publishes asyncStart, its last step (`_listen2`) asyncEnd or error. */
const listenTrace = tracingChannel<'net.server.listen', { server: net.Server; options?: object }>('net.server.listen');

/**
 * Makes `server` listen on `fd`; emits 'listening' or 'error' as listen() does, and Node's
 * `net.server.listen` trace sees the same start and end. `backlog` is passed along (undefined:
 * net's 511), as listen()'s second argument would be: net ignores one in an { fd } object.
 */
export function listenOnFd(server: net.Server, fd: number, backlog?: number): void {
  const listen2 = (server as net.Server & { _listen2?: ListenOnHandle })._listen2;
  if (typeof listen2 !== 'function') {
    server.listen({ fd }, backlog);
    return;
  }
  // What listen() would have published first, so a tracer sees the start of the end it gets.
  if (listenTrace.asyncStart.hasSubscribers) listenTrace.asyncStart.publish({ server, options: { fd, backlog } });
  listen2.call(server, null, null, null, backlog, fd);
}
