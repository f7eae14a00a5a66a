/**
 * The claim of an abstract address (Linux): there is no file, so there is nothing to publish,
 * chmod, sweep or remove. The addon makes the socket, binds it to the exact name and listens
 * (native/abstract.cc); release() has nothing to undo, as the name goes with the last fd.
 * Who may connect is the peer policy's alone (the transport refuses an abstract address
 * without one, src/transport/abstract.ts).
 */
import type { Binding } from '../addon';
import { ErrorCodes, NATIVE_OFF, TransportError, errnoKind, nativeRequired, systemToTransport } from '../errors';
import { showAddress } from '../path';
import type { NativeSocketMaker } from '../sockets/native';
import type { Claim, ClaimRequest } from './types';

const nothing = (): void => {};

/** Binds and listens on `request.path` (`'\0name'`); rejects with a TransportError. */
export async function claimAbstract(request: ClaimRequest, binding: Binding | null, maker: NativeSocketMaker | null): Promise<Claim> {
  const { path, backlog } = request;
  const shown = showAddress(path);
  if (!binding?.socketListenAbstract || !maker) {
    const unused = !binding || !maker ? NATIVE_OFF : 'this build of it has no socketListenAbstract: rebuild it';
    throw nativeRequired(`The abstract socket address ${shown}`, { unused, instead: 'use a file path', path: shown });
  }
  let fd: number;
  try {
    fd = binding.socketListenAbstract(path, backlog);
  } catch (err) {
    if (errnoKind(err) === 'in-use') {
      throw new TransportError(
        ErrorCodes.ADDRESS_IN_USE,
        `The abstract address ${shown} is bound already by another socket of this network namespace (any user's: abstract names have no owner). Choose another name.`,
        { path: shown, cause: err },
      );
    }
    throw systemToTransport(err, shown, 'bind');
  }
  try {
    // adopt() closes the fd when libuv could not take it.
    const server = await maker.adopt(fd, backlog);
    return { server, dev: 0n, ino: 0n, release: nothing, forget: nothing };
  } catch (err) {
    throw systemToTransport(err, shown, 'listen');
  }
}
