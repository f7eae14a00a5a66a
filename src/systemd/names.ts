/**
 * fd names, as systemd checks them (fdname_is_valid): what `FileDescriptorName=` and `FDNAME=`
 * may be, because LISTEN_FDNAMES joins them with ':'.
 */
import { ErrorCodes, TransportError } from '../errors';

/** systemd's FDNAME_MAX. */
export const FD_NAME_MAX = 255;

/** Throws ERR_INVALID_OPTION unless `name` is 1 to 255 printable ASCII characters without ':'. */
export function checkFdName(name: unknown, label: string): asserts name is string {
  let problem: string | null = null;
  if (typeof name !== 'string') problem = `must be a string, got ${name === null ? 'null' : typeof name}`;
  else if (name.length === 0) problem = 'is empty';
  else if (name.length > FD_NAME_MAX) problem = `is ${name.length} characters, over systemd's ${FD_NAME_MAX}`;
  else if (name.includes(':')) problem = "contains ':', which separates the names in LISTEN_FDNAMES";
  else if (!/^[\x20-\x7e]+$/.test(name)) problem = 'must be printable ASCII (no control characters, no non-ASCII)';
  if (problem !== null) {
    throw new TransportError(
      ErrorCodes.INVALID_OPTION,
      `${label} ${typeof name === 'string' ? `${JSON.stringify(name.slice(0, 300))} ` : ''}${problem}: systemd's fd names are 1 to 255 printable ASCII characters other than ':'.`,
    );
  }
}
