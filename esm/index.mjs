// The ES module entry re-exports the CommonJS build, so `import` and `require` share one
// implementation (and `instanceof TransportError` holds across them).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const plugsock = require('../dist/index.js');

export const {
  UnixSocketTransport,
  normalizeUnixPath,
  normalizeEndpoint,
  SUN_PATH_MAX,
  notify,
  DEFAULT_GRACEFUL_TIMEOUT_MS,
  TransportError,
  ConnectionTimeoutError,
  AbortError,
  ErrorCodes,
  capabilities,
  FdStream,
  MAX_FDS_PER_CALL,
  fdKind,
  closeFds,
  fdToSocket,
  fdToServer,
  fdToReadStream,
  fdToWriteStream,
  fdToFileHandle,
  memfdCreate,
} = plugsock;
export default plugsock;
