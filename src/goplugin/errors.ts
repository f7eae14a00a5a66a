/**
 * The go-plugin layer's error codes: the `code` of the TransportErrors (../errors) that only
 * this layer throws, beside the transport's own `ErrorCodes`.
 */

/** Error codes of the go-plugin layer. */
export const GoPluginErrorCodes = {
  /**
   * The plugin did not print a handshake line within startTimeoutMs, or its first connection (the
   * peer check, the AutoMTLS handshake) did not complete in what was left of it.
   */
  HANDSHAKE_TIMEOUT: 'ERR_HANDSHAKE_TIMEOUT',
  /** The first stdout line is not a valid handshake line. */
  HANDSHAKE_INVALID: 'ERR_HANDSHAKE_INVALID',
  /** The plugin exited (or closed stdout) before a handshake line. */
  PLUGIN_EXITED: 'ERR_PLUGIN_EXITED',
  /** Core or app protocol version not supported by this side. */
  UNSUPPORTED_VERSION: 'ERR_UNSUPPORTED_VERSION',
  /** A valid protocol this side does not speak (netrpc). */
  UNSUPPORTED_PROTOCOL: 'ERR_UNSUPPORTED_PROTOCOL',
  /** The socket in the handshake is served by a process that is not the plugin (or its child). */
  PEER_MISMATCH: 'ERR_PEER_MISMATCH',
  /** The magic cookie is missing or wrong (plugin side). */
  BAD_COOKIE: 'ERR_MAGIC_COOKIE',
  /** A go-plugin environment variable has an invalid value. */
  INVALID_ENV: 'ERR_INVALID_ENV',
  /** A call to the plugin (Shutdown, health) failed. */
  PLUGIN_CALL: 'ERR_PLUGIN_CALL',
  /** AutoMTLS: the peer's TLS certificate is not the one exchanged at start-up. */
  TLS_PEER: 'ERR_TLS_PEER',
  /** Broker: no connection info for a service id in time, or an unsupported kind of it. */
  BROKER: 'ERR_BROKER',
  /** Plugin side: the host the plugin serves (pinned at start) has exited. */
  HOST_GONE: 'ERR_PLUGIN_HOST_GONE',
  /** Plugin side: no admitted host connected within hostConnectTimeoutMs. */
  HOST_TIMEOUT: 'ERR_PLUGIN_HOST_TIMEOUT',
  /** Plugin side: the onShutdown hook threw or did not finish within shutdownTimeoutMs. */
  SHUTDOWN_HOOK: 'ERR_PLUGIN_SHUTDOWN_HOOK',
} as const;

/** One of the go-plugin layer's codes. */
export type GoPluginErrorCode = (typeof GoPluginErrorCodes)[keyof typeof GoPluginErrorCodes];
