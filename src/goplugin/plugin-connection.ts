/**
 * Host side: the connection to the plugin's socket. Every connection (the probe at start and
 * each one grpc-js makes) must be served by the plugin (a launched plugin: it or one of its
 * descendants; an attached one: exactly its pid), and with AutoMTLS talk TLS pinned to the
 * plugin's certificate; all clients share one channel.
 */
import type { Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { ErrorCodes, TransportError } from '../errors';
import type { PeerCredentials } from '../peer';
import { UnixSocketTransport } from '../transport';
import { abortError, onAbort, raceAbort } from './abort';
import { VerifiedUnixCredentials, wrapMutualTls, type MutualTlsOptions } from './channel';
import { messageSizeOptions } from './message-size';
import { GoPluginErrorCodes } from './errors';

/** The process that must serve the socket (a launched child, or the pid of a reattach config). */
export interface ServerPeer {
  readonly pid: number;
  /** Whether a connection whose SO_PEERCRED pid is `pid` is served by the plugin. */
  isOwn(pid: number): boolean;
  /** Told the pid seen serving the socket at start (a launched plugin ends it in kill()). */
  pinServer?(pid: number): void;
}

export interface PluginConnectionOptions {
  /** What the messages call the plugin: `plugin <command>`. */
  what: string;
  /** Where the address came from, for the messages: `the handshake of plugin <command>`. */
  source: string;
  /** Whether to check the peer of every connection (SO_PEERCRED). */
  verifyPeer: boolean;
  tls: MutualTlsOptions | null;
  channelOptions?: grpc.ChannelOptions;
  /** Ends the probe at once (retries stop, its connection is destroyed): open() throws the AbortError. */
  signal?: AbortSignal;
  /**
   * The probe's time limit (connect, peer check, AutoMTLS handshake): past `ms` it ends as by
   * `signal`, and open() throws ERR_HANDSHAKE_TIMEOUT naming the phase it was in and `name`
   * (what the limit is, for the message: `startTimeoutMs (…)`). Without it only connect's own
   * 5 s bounds the probe: a TLS handshake the plugin never answers would wait for `signal`.
   */
  timeLimit?: { ms: number; name: string };
}

/** Where the probe is: connecting (and checking the peer), or in the AutoMTLS handshake. */
type ProbePhase = { now: 'connect' | 'tls' };

export class PluginConnection {
  /** grpc-js target for the socket, `unix:/abs/path`. */
  readonly target: string;
  readonly credentials: grpc.ChannelCredentials;
  /** The shared channel. */
  readonly channel: grpc.Channel;
  /** Whether connections use AutoMTLS. */
  readonly tls: boolean;

  private constructor(
    private readonly connector: UnixSocketTransport,
    connectVerified: () => Promise<Socket>,
    address: string,
    o: PluginConnectionOptions,
  ) {
    this.credentials = new VerifiedUnixCredentials(connectVerified, o.tls);
    this.target = `unix:${address}`;
    this.tls = o.tls !== null;
    this.channel = new grpc.Channel(this.target, this.credentials, { ...messageSizeOptions(), ...o.channelOptions });
  }

  /**
   * Probes the plugin's socket at `address` (peer check, AutoMTLS handshake) and pins the
   * process that serves it on `child`. Throws a TransportError naming the plugin, or the
   * AbortError when `o.signal` fires first (then nothing of the probe is left).
   */
  static async open(child: ServerPeer, address: string, o: PluginConnectionOptions): Promise<PluginConnection> {
    const childPid = child.pid;
    // Peer verification: every connection (this probe and each grpc-js makes) must be served by
    // the plugin.
    const connector = new UnixSocketTransport({ connectTimeoutMs: 5000 });
    const peerPolicy = o.verifyPeer ? { verify: (cred: PeerCredentials) => child.isOwn(cred.pid) } : null;
    const connectVerified = async (): Promise<Socket> => {
      try {
        return await connector.connect(address, { peer: peerPolicy });
      } catch (err) {
        if (err instanceof TransportError && err.code === ErrorCodes.PEER_REJECTED) {
          throw new TransportError(
            GoPluginErrorCodes.PEER_MISMATCH,
            `The socket ${address} named in ${o.source} (pid ${childPid}) is served by another process ` + `(${err.message}); refusing to talk to it.`,
            { cause: err },
          );
        }
        throw err;
      }
    };
    // Closing the connector stops connect()'s retries and destroys the probe's connection.
    const aborting = onAbort(o.signal, () => void connector.close());
    const phase: ProbePhase = { now: 'connect' };
    const limit = deadline(o.timeLimit, () => void connector.close());
    try {
      if (o.signal?.aborted) throw abortError(o.signal, `connecting to ${o.what}`);
      await raceAbort(limit.race(probe(child, connectVerified, address, o.tls, phase)), o.signal, `connecting to ${o.what}`);
    } catch (err) {
      await connector.close();
      if (o.signal?.aborted) throw abortError(o.signal, `connecting to ${o.what}`);
      if (limit.expired) throw probeTimeout(phase, address, o);
      const e = err as TransportError;
      throw new TransportError(e.code ?? ErrorCodes.TRANSPORT, `${o.what}: ${e.message}`, { cause: err });
    } finally {
      aborting.dispose();
      limit.dispose();
    }
    return new PluginConnection(connector, connectVerified, address, o);
  }

  /** A client of a service on the shared channel. */
  client<T extends grpc.Client>(ctor: any): T {
    return new ctor(this.target, this.credentials, { channelOverride: this.channel }) as T;
  }

  async close(): Promise<void> {
    // Clients share `channel` (channelOverride): closing it closes them all.
    this.channel.close();
    await this.connector.close();
  }
}

/**
 * The probe's time limit: `race(p)` settles as `p`, or rejects once `limit.ms` have passed (then
 * `expired` is true and `onExpire` has cut the probe short). Without a limit it is `p` itself.
 */
function deadline(limit: PluginConnectionOptions['timeLimit'], onExpire: () => void) {
  if (!limit) return { expired: false, race: <T>(p: Promise<T>) => p, dispose() {} };
  let timer: NodeJS.Timeout | undefined;
  const state = {
    expired: false,
    race: <T>(p: Promise<T>): Promise<T> =>
      Promise.race([
        p,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            state.expired = true;
            onExpire();
            reject(new Error('probe time limit'));
          }, limit.ms);
        }),
      ]),
    // A probe that settled in time must not leave the timer holding the host's event loop.
    dispose: () => clearTimeout(timer),
  };
  return state;
}

/** ERR_HANDSHAKE_TIMEOUT: the probe did not finish within its time limit, saying where it stood. */
function probeTimeout(phase: ProbePhase, address: string, o: PluginConnectionOptions): TransportError {
  const within = `within ${o.timeLimit!.name}`;
  const message =
    phase.now === 'tls'
      ? `the plugin accepted the connection to ${address} but did not complete the AutoMTLS (TLS) handshake ${within}. ` +
        'A plugin that does not speak TLS on its socket does not support AutoMTLS: start it without autoMTLS; if it is only slow, raise startTimeoutMs.'
      : `the plugin printed its handshake line, but no verified connection to ${address} was made ${within}. ` +
        'Check that the plugin serves the socket it names; if it is only slow, raise startTimeoutMs.';
  return new TransportError(GoPluginErrorCodes.HANDSHAKE_TIMEOUT, `${o.what}: ${message}`);
}

/** One verified connection, and with AutoMTLS one TLS handshake, to see that both work. */
async function probe(
  child: ServerPeer,
  connectVerified: () => Promise<Socket>,
  address: string,
  tls: MutualTlsOptions | null,
  phase: ProbePhase,
): Promise<void> {
  const socket = await connectVerified();
  // Pin the process that serves the socket (verified: the child or a descendant), so kill()
  // ends it even if it left the child's process group.
  const servedBy = (socket as Socket & { peer?: PeerCredentials | null }).peer;
  if (servedBy) child.pinServer?.(servedBy.pid);
  if (!tls) {
    socket.destroy();
    return;
  }
  phase.now = 'tls';
  try {
    (await wrapMutualTls(socket, tls)).destroy();
  } catch (err) {
    socket.destroy();
    const e = err as Error & { code?: string };
    throw e.code === GoPluginErrorCodes.TLS_PEER
      ? e
      : new TransportError(GoPluginErrorCodes.TLS_PEER, `AutoMTLS handshake with ${address} failed: ${e.message}`, { cause: err });
  }
}
