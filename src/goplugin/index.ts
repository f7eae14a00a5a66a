/**
 * HashiCorp go-plugin compatibility: launch go-plugin plugins from Node (`startPlugin`) and
 * serve Node plugins to go-plugin hosts (`servePlugin`). See docs/go-plugin.md.
 */
export {
  CORE_PROTOCOL_VERSION,
  CERT_MIN_LENGTH,
  ENV as GO_PLUGIN_ENV,
  GoPluginErrorCodes,
  MAGIC_COOKIE_MESSAGE,
  buildHandshakeLine,
  parseHandshakeLine,
  parseProtocolVersions,
  negotiateVersion,
  checkMagicCookie,
  parsePortRange,
  resolveGroup,
  readPluginEnv,
  buildHostEnv,
  parseGoBool,
} from './handshake';
export type {
  Handshake,
  Network,
  RpcProtocol,
  ParseHandshakeOptions,
  BuildHandshakeInput,
  PluginEnv,
  HostEnvOptions,
} from './handshake';
export { servePlugin } from './serve';
export type { ServePluginOptions, ServedPlugin, RegisterServices, PluginBroker } from './serve';
export { generateAutoMtlsCert, toHandshakeField, parseHandshakeCert, parseClientCertPem } from './mtls';
export type { AutoMtlsCert } from './mtls';
export { VerifiedUnixCredentials, wrapMutualTls } from './channel';
export type { MutualTlsOptions } from './channel';
export { startPlugin, isSameOrDescendant } from './launch';
export type { StartPluginOptions, PluginProcess } from './launch';
export { goPluginServices, HEALTH_SERVICE_NAME } from './proto';
export type { StdioData, ConnInfo } from './proto';
