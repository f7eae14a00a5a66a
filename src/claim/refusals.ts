/**
 * Why a claim did not take a name, in the words a user can act on: one table for both claim
 * protocols (native.ts and path.ts see the same situations).
 */
import { dirname } from 'node:path';
import { ErrorCodes, TransportError } from '../errors';

/** What stood in the way of a claim (not-a-socket has its own error: notASocketError). */
export type Refusal = 'live' | 'busy' | 'wrongtype' | 'denied' | 'insecure' | 'racing';

export function refusalError(refusal: Refusal, path: string): TransportError {
  switch (refusal) {
    case 'live':
    case 'busy':
      return new TransportError(
        ErrorCodes.ADDRESS_IN_USE,
        `A server is already listening on ${path}. Stop it, or choose another path; plugsock never removes a live socket.`,
        { path },
      );
    case 'wrongtype':
      return new TransportError(
        ErrorCodes.ADDRESS_IN_USE,
        `A live socket of another type (datagram or seqpacket) is at ${path}; plugsock leaves it alone. Choose another path.`,
        { path },
      );
    case 'denied':
      return new TransportError(
        ErrorCodes.PERMISSION,
        `A socket at ${path} exists that this process may not connect to (or, if it is dead, remove), so it was left alone. Remove it yourself if it is stale, or choose another path.`,
        { path },
      );
    case 'insecure':
      return new TransportError(
        ErrorCodes.INSECURE_DIRECTORY,
        `The directory ${dirname(path)} is writable by everyone and has no sticky bit, so any user could replace ${path}. Use a private directory (or one with the sticky bit, like /tmp).`,
        { path },
      );
    case 'racing':
      return new TransportError(
        ErrorCodes.ADDRESS_IN_USE,
        `Could not claim ${path}: other processes kept replacing the file there. Choose a path of your own.`,
        {
          path,
        },
      );
  }
}
