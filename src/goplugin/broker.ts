/**
 * Plugin side: go-plugin's GRPCBroker, non-multiplexed. The host announces on the broker stream
 * where it serves a brokered service (a unix socket per service id); the plugin dials it with the
 * same peer check and AutoMTLS as its own socket. Knocks (multiplexed sub-connections) are
 * refused.
 */
// biome-ignore lint/suspicious/noTsIgnore: in the published .d.ts; @ts-expect-error would fail wherever grpc-js is installed
/** @ts-ignore grpc-js is an optional peer: without it (a Terraform provider needs none) these types are `any` rather than an error. */
import type * as grpc from '@grpc/grpc-js';
import { TransportError } from '../errors';
import type { PeerPolicy } from '../peer';
import { UnixSocketTransport } from '../transport';
import type { MutualTlsOptions } from './channel';
import { grpcJs } from './grpc-js';
import { messageSizeOptions } from './message-size';
import { GoPluginErrorCodes } from './errors';
import type { PluginMtls } from './mtls';
import type { ConnInfo } from './proto';

/** The plugin's side of go-plugin's GRPCBroker (non-multiplexed). */
export interface PluginBroker {
  /**
   * Opens a grpc-js channel to a service the host serves through the broker under `id` (the host
   * passes the id in an RPC, as go-plugin's `broker.NextId()` + `AcceptAndServe`). Waits up to
   * `timeoutMs` (default 5000, as go-plugin's Dial) for the host's connection info. The
   * connection gets the same peer check (only the parent, by default) and AutoMTLS as the
   * plugin's own socket. Rejects with ERR_BROKER.
   */
  dial(id: number, options?: { timeoutMs?: number; channelOptions?: grpc.ChannelOptions }): Promise<grpc.Channel>;
  /** What the host announced so far (service id -> where the host serves it). */
  readonly info: ReadonlyMap<number, ConnInfo>;
}

export class Broker {
  /** Messages the host sent on the broker stream (service id -> where the host serves it). */
  readonly info = new Map<number, ConnInfo>();
  /** What the plugin's code is given: dial() and info. */
  readonly pluginBroker: PluginBroker;
  readonly #waiters = new Map<number, Set<(info: ConnInfo) => void>>();
  readonly #channels = new Set<grpc.Channel>();
  readonly #calls = new Set<grpc.ServerDuplexStream<ConnInfo, ConnInfo>>();
  readonly #connector = new UnixSocketTransport({ connectTimeoutMs: 5000 });

  constructor(
    private readonly peer: PeerPolicy | null,
    private readonly mtls: PluginMtls | null,
  ) {
    const broker = this;
    this.pluginBroker = {
      info: this.info,
      dial(id, o = {}) {
        return broker.#dial(id, o);
      },
    };
  }

  /**
   * GRPCBroker.StartStream. A minimal broker: remember where the host serves brokered services;
   * refuse knocks (multiplexed sub-connections), which this plugin does not implement.
   */
  serveStream(call: grpc.ServerDuplexStream<ConnInfo, ConnInfo>): void {
    this.#calls.add(call);
    call.on('data', (info: ConnInfo) => {
      if (info.knock?.knock && !info.knock.ack) {
        call.write({
          serviceId: info.serviceId,
          network: '',
          address: '',
          knock: { knock: true, ack: false, error: 'plugsock: brokered sub-connections are not supported' },
        });
        return;
      }
      this.info.set(info.serviceId, info);
      for (const w of [...(this.#waiters.get(info.serviceId) ?? [])]) w(info);
    });
    call.on('end', () => {
      this.#calls.delete(call);
      call.end();
    });
    call.on('error', () => this.#calls.delete(call));
  }

  /** Ends the broker streams. */
  endStreams(): void {
    for (const c of this.#calls) c.end();
  }

  /** Closes the channels dialed and the connector. */
  async close(): Promise<void> {
    for (const ch of this.#channels) ch.close();
    await this.#connector.close().catch(() => {});
  }

  async #dial(id: number, o: { timeoutMs?: number; channelOptions?: grpc.ChannelOptions }): Promise<grpc.Channel> {
    const timeoutMs = o.timeoutMs ?? 5000;
    const info = this.info.get(id) ?? (await this.#announced(id, timeoutMs));
    if (!info) {
      throw new TransportError(GoPluginErrorCodes.BROKER, `broker: the host announced no service with id ${id} within ${timeoutMs} ms.`);
    }
    if (info.network !== 'unix' || !info.address.startsWith('/')) {
      throw new TransportError(
        GoPluginErrorCodes.BROKER,
        `broker: service ${id} is at ${info.network} ${JSON.stringify(info.address)}; only unix sockets are supported.`,
      );
    }
    const mtls = this.mtls;
    const tlsOptions: MutualTlsOptions | null = mtls ? { serverCertPem: mtls.hostCertPem, certPem: mtls.certPem, keyPem: mtls.keyPem } : null;
    // channel.ts extends grpc-js's classes: loaded here, by the plugins that dial, not at start-up.
    const { VerifiedUnixCredentials } = await import('./channel');
    const creds = new VerifiedUnixCredentials(() => this.#connector.connect(info.address, { peer: this.peer }), tlsOptions);
    const ch = new (grpcJs().Channel)(`unix:${info.address}`, creds, { ...messageSizeOptions(), ...o.channelOptions });
    this.#channels.add(ch);
    return ch;
  }

  /** Waits (at most `timeoutMs`) for the host to announce service `id`. */
  #announced(id: number, timeoutMs: number): Promise<ConnInfo | null> {
    return new Promise<ConnInfo | null>((resolve) => {
      const set = this.#waiters.get(id) ?? new Set();
      this.#waiters.set(id, set);
      const done = (i: ConnInfo | null) => {
        clearTimeout(timer);
        set.delete(done);
        resolve(i);
      };
      const timer = setTimeout(() => done(null), timeoutMs);
      set.add(done);
    });
  }
}
