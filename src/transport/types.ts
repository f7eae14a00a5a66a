/**
 * What a transport hands out: connections that know their peer.
 */
import type * as net from 'node:net';
import type { FdStream } from '../fd-stream';
import type { PeerCredentials } from '../peer';

/** A connection handed out by the transport: a `net.Socket` that knows its peer. */
export type PeerSocket = net.Socket & {
  /** The process on the other end, or null in fallback mode (no addon). */
  peer: PeerCredentials | null;
};

/** An `fdPassing` connection: a Duplex whose reads the addon owns, with `sendFds()` and `'fds'`. */
export type PeerFdStream = FdStream<PeerCredentials>;
