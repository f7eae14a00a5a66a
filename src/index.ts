/**
 * plugsock: a fast, secure Unix-domain-socket transport for plugin hosts and plugins.
 */
export { UnixSocketTransport } from './transport';
export type { UnixSocketTransportOptions, ListenOptions, ConnectOptions, PeerSocket, PeerFdStream } from './transport';
export { FdStream, MAX_FDS_PER_CALL } from './fd-stream';
export type { FdStreamOptions, FdsTruncatedError } from './fd-stream';
export { fdKind, closeFds, fdToSocket, fdToServer, fdToReadStream, fdToWriteStream, fdToFileHandle, memfdCreate } from './fd-helpers';
export type { FdKind } from './fd-helpers';
export { normalizeUnixPath, SUN_PATH_MAX } from './path';
export { TransportError, ConnectionTimeoutError, ErrorCodes } from './errors';
export type { ErrorCode } from './errors';
export type { PeerCredentials, PeerPolicy } from './peer';
export { capabilities } from './capabilities';
export type { Capabilities } from './capabilities';
