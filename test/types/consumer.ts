// A consumer of plugsock's published declarations, compiled with `strict` (and stricter) options
// by test/compat-types.test.ts, here against the repo's dist/ (package self-reference through
// "exports") and, by test/compat-pack.test.ts, against the packed and installed package.
// Module-format neutral: compiled as CommonJS (node10, nodenext) and as an ES module (bundler).
import {
  UnixSocketTransport,
  TransportError,
  ConnectionTimeoutError,
  ErrorCodes,
  capabilities,
  normalizeUnixPath,
  SUN_PATH_MAX,
  type UnixSocketTransportOptions,
  type ListenOptions,
  type ConnectOptions,
  type PeerSocket,
  type PeerCredentials,
  type PeerPolicy,
  type Capabilities,
  type ErrorCode,
} from 'plugsock';

const policy: PeerPolicy = {
  sameUser: true,
  uids: [0],
  verify: async (cred: PeerCredentials) => cred.pid > 0 && cred.isAlive() !== false,
};

const options: UnixSocketTransportOptions = { path: 'unix:/tmp/plugsock-types.sock', mode: 0o600, native: 'auto', peer: policy };
const listenOptions: ListenOptions = { peer: null };
const connectOptions: ConnectOptions = { timeoutMs: 100 };

export async function roundTrip(): Promise<string> {
  const caps: Capabilities = capabilities();
  const why: string | null = caps.reason;
  const native: boolean = caps.native && caps.features.peerCredentials;
  void why;
  void native;

  const server = new UnixSocketTransport(options);
  server.on('connection', (socket: PeerSocket) => {
    const peer: PeerCredentials | null = socket.peer;
    const groups: readonly number[] | null = peer ? peer.groups : null;
    void groups;
    socket.end('hi');
  });
  server.on('peerRejected', (cred, reason) => {
    const uid: number = cred.uid;
    const text: string = reason;
    void uid;
    void text;
  });
  server.on('error', (err: Error) => void err);
  const endpoint: string = await server.listen(listenOptions);
  const path: string = normalizeUnixPath(endpoint);
  const limit: number = SUN_PATH_MAX;
  void path;
  void limit;

  try {
    const socket: PeerSocket = await new UnixSocketTransport().connect(endpoint, connectOptions);
    const chunks: Buffer[] = [];
    for await (const chunk of socket) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  } catch (err: unknown) {
    if (err instanceof ConnectionTimeoutError) {
      const ms: number = err.timeoutMs;
      return `timeout ${ms} ${err.lastSeen}`;
    }
    if (err instanceof TransportError) {
      const code: ErrorCode = err.code;
      if (code === ErrorCodes.PEER_REJECTED) return 'rejected';
      return err.path ?? code;
    }
    throw err;
  } finally {
    await server.close();
  }
}

// Misuse must not compile: these lines are checked to be errors (see compat-types.test.ts).
// @ts-expect-error mode is a number
new UnixSocketTransport({ mode: '0600' });
// @ts-expect-error native is 'auto' | 'require' | 'off'
new UnixSocketTransport({ native: true });
// @ts-expect-error a peer policy is an object
void new UnixSocketTransport().listen({ peer: 1000 });
// @ts-expect-error error codes are strings
void new TransportError(42, 'no');
