// `await using` and `using` with plugsock's disposables (issue 17), compiled by
// test/transport-dispose.test.ts against dist/ with tsconfig.disposable.json: TypeScript 5.2+
// with lib esnext.disposable, the set-up a user of `await using` has.
import { type FdStream, UnixSocketTransport } from 'plugsock';

export async function scoped(): Promise<string> {
  await using server = new UnixSocketTransport();
  const endpoint = await server.listen();
  await using client = new UnixSocketTransport();
  const socket = await client.connect(endpoint);
  socket.destroy();
  return endpoint;
}

export async function scopedStream(make: () => Promise<FdStream>): Promise<void> {
  await using stream = await make();
  stream.write('x');
}

export function syncStream(stream: FdStream): number {
  using owned = stream;
  return owned.fd;
}

// The transport is an AsyncDisposable and a stream a Disposable, as lib esnext.disposable types them.
export const asDisposable = (t: UnixSocketTransport, s: FdStream): [AsyncDisposable, Disposable, AsyncDisposable] => [t, s, s];
