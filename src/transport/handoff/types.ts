/**
 * What the hand-off and the transport know of each other. The transport hands itself in (a
 * maker, the old side's `Handing`, the successor's `Successor`); the hand-off never imports it.
 */
import type * as net from 'node:net';
import type { PeerCredentials, PeerPolicy } from '../../peer';
import type { UnixSocketTransportOptions } from '../options';
import type { PeerFdStream } from '../types';

/** The part of a UnixSocketTransport the hand-off uses. */
export interface HandOffTransport {
  readonly socketMaker: 'native' | 'net';
  listen(): Promise<string>;
  connect(endpoint: string, options: { fdPassing: true; peer: PeerPolicy; signal?: AbortSignal | undefined }): Promise<PeerFdStream>;
  close(): Promise<void>;
  on(event: 'connection', listener: (stream: PeerFdStream) => void): unknown;
}

/** Makes the transports that carry the hand-off (the control socket, its client, the successor). */
export type MakeTransport<T extends HandOffTransport = HandOffTransport> = (options: UnixSocketTransportOptions) => T;

/** What the old side hands over, and how it lets go. */
export interface Handing {
  path: string;
  mode: number;
  dev: bigint;
  ino: bigint;
  server: net.Server;
  /**
   * Called once, when a successor has answered `ok`: stop accepting and give the name up.
   * Resolves when the connections accepted here have all closed.
   */
  letGo(): Promise<void>;
}

/** What takeOver() may do to the transport it makes (private to UnixSocketTransport). */
export interface Successor {
  /** Serve on the received listening fd (owned from here on), removing no file on close. */
  adopt(fd: number): Promise<void>;
  /** The file at the transport's path is proved to be (dev, ino) of this socket: remove it on close. */
  own(dev: bigint, ino: bigint): void;
  /** Accepted connections for which `filter` returns true are closed unseen; null: none. */
  filterAccepted(filter: ((peer: PeerCredentials) => boolean) | null): void;
}
