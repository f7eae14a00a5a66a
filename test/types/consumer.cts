// CommonJS consumer (nodenext): `import x = require()` of the "require" entry.
import plugsock = require('plugsock');

const transport = new plugsock.UnixSocketTransport({ path: '/tmp/x.sock' });
const e = new plugsock.TransportError(plugsock.ErrorCodes.INVALID_PATH, 'bad');
export const code: string = e.code;
export const endpoint: string | null = transport.endpoint;
