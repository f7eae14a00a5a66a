/**
 * plugsock: a fast, secure Unix-domain-socket transport for plugin hosts and plugins.
 *
 * @module plugsock
 */
export { UnixSocketTransport } from './transport';
export type { UnixSocketTransportOptions, ListenOptions, ConnectOptions, PeerSocket, PeerFdStream } from './transport';
export type { CloseOptions, HandOffOptions, TakeOverOptions } from './transport/options';
export { DEFAULT_GRACEFUL_TIMEOUT_MS } from './transport/options';
export { FdStream, MAX_FDS_PER_CALL } from './fd-stream';
export type { FdStreamOptions, FdsTruncatedError } from './fd-stream';
export { fdKind, closeFds, fdToSocket, fdToServer, fdToReadStream, fdToWriteStream, fdToFileHandle, memfdCreate } from './fd-helpers';
export type { FdKind } from './fd-helpers';
export { normalizeUnixPath, normalizeEndpoint, SUN_PATH_MAX } from './path';
export { type FromSystemdOptions, type HandOffToSystemdOptions, notify } from './systemd';
export { TransportError, ConnectionTimeoutError, AbortError, ErrorCodes } from './errors';
export type { ErrorCode } from './errors';
export type { PeerCredentials, PeerPolicy } from './peer';
export type {
  PeerCredentialsMessage,
  ListenMessage,
  ConnectMessage,
  ConnectionMessage,
  PeerRejectedMessage,
  PeerRejectedCode,
  FdsMessage,
  FdsReceivedMessage,
  PluginStartMessage,
} from './diagnostics';
export { capabilities } from './capabilities';
export type { Capabilities } from './capabilities';
