/**
 * HashiCorp go-plugin compatibility: launch go-plugin plugins from Node (`startPlugin`) and
 * serve Node plugins to go-plugin hosts (`servePlugin`). See docs/go-plugin.md.
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
export type { ServePluginOptions, ServedPlugin, RegisterServices } from './serve';
export type { PluginBroker } from './broker';
export { generateAutoMtlsCert, toHandshakeField, parseHandshakeCert, parseClientCertPem } from './mtls';
export type { AutoMtlsCert } from './mtls';
export { VerifiedUnixCredentials, wrapMutualTls } from './channel';
export type { MutualTlsOptions } from './channel';
export { startPlugin } from './launch';
export type { StartPluginOptions } from './launch';
export type { PluginProcess } from './plugin-process';
export { isSameOrDescendant } from './proc';
export { goPluginServices, HEALTH_SERVICE_NAME } from './proto';
export type { StdioData, ConnInfo } from './proto';
