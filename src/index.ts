/**
 * plugsock: a fast, secure Unix-domain-socket transport for plugin hosts and plugins.
 */
export { UnixSocketTransport } from './transport';
export type { UnixSocketTransportOptions, ListenOptions, ConnectOptions, PeerSocket } from './transport';
export { normalizeUnixPath, SUN_PATH_MAX } from './path';
export { TransportError, ConnectionTimeoutError, ErrorCodes } from './errors';
export type { ErrorCode } from './errors';
export type { PeerCredentials, PeerPolicy } from './peer';
export { capabilities } from './capabilities';
export type { Capabilities } from './capabilities';
