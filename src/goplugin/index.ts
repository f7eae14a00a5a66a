/**
 * HashiCorp go-plugin compatibility: launch go-plugin plugins from Node (`startPlugin`), attach
 * to running ones (`attachPlugin`), and serve Node plugins to go-plugin hosts (`servePlugin`,
 * with hclog logging: `createPluginLogger`). See docs/go-plugin.md.
 *
 * @module plugsock/goplugin
 */
export { GoPluginErrorCodes } from './errors';
export { CORE_PROTOCOL_VERSION, CERT_MIN_LENGTH, buildHandshakeLine, parseHandshakeLine } from './handshake';
export type { Handshake, Network, RpcProtocol, ParseHandshakeOptions, BuildHandshakeInput } from './handshake';
export {
  ENV as GO_PLUGIN_ENV,
  MAGIC_COOKIE_MESSAGE,
  parseProtocolVersions,
  negotiateVersion,
  checkMagicCookie,
  parsePortRange,
  resolveGroup,
  readPluginEnv,
  buildHostEnv,
} from './env';
export type { PluginEnv, HostEnvOptions } from './env';
export { parseGoBool } from './strconv';
export { servePlugin } from './serve';
export type { ServePluginOptions, ServedPlugin, RegisterServices, ShutdownReason } from './serve';
export { Http2GrpcServer, ServerCall } from './http2-server';
export type { Http2GrpcServerOptions, GrpcServiceHost, GrpcError } from './http2-server';
export { attachPlugin } from './attach';
export type { AttachPluginOptions } from './attach';
export { reattachEnv, parseReattachEnv, checkReattachConfig } from './reattach';
export type { ReattachConfig } from './reattach';
export { createPluginLogger, formatLogLine, goTimestamp, levelFromString, LOG_LEVELS, MAX_LOG_LINE_BYTES } from './log';
export type { PluginLogger, PluginLoggerOptions, LogLevel, LogFields } from './log';
export { DEFAULT_MAX_MESSAGE_BYTES } from './message-size';
export type { PluginBroker } from './broker';
export { generateAutoMtlsCert, toHandshakeField, parseHandshakeCert, parseClientCertPem } from './mtls';
export type { AutoMtlsCert, AutoMtlsCurve } from './mtls';
export { VerifiedUnixCredentials, wrapMutualTls } from './channel';
export type { MutualTlsOptions } from './channel';
export { startPlugin } from './launch';
export type { StartPluginOptions } from './launch';
export type { PluginProcess } from './plugin-process';
export { isSameOrDescendant } from './proc';
export { goPluginServices, HEALTH_SERVICE_NAME } from './proto';
export type { StdioData, ConnInfo, GoPluginClients } from './proto';
