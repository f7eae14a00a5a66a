/**
 * Go's strconv as go-plugin reads numbers and booleans, in the handshake line and in the
 * environment alike.
 */

const INT_RE = /^[+-]?\d+$/; // what Go's strconv.Atoi accepts (decimal, optional sign)

/** Go's strconv.Atoi, limited to safe integers; null where Go would fail. */
export function parseIntField(s: string): number | null {
  if (!INT_RE.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

/** Go's strconv.ParseBool. */
export function parseGoBool(s: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return null;
}
