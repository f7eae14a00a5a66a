/**
 * Strict option objects. Every options object plugsock takes rejects keys it does not know with
 * `ERR_INVALID_OPTION`: a misspelt key (`peer: { samUser: true }`) would otherwise be ignored,
 * and when the ignored key was a restriction, the typo silently widens access.
 *
 * Each options interface keeps its allowed keys next to it, made with `optionKeys<Interface>()`,
 * which the compiler checks against the interface in both directions (a key added to the
 * interface but not to the list, or listed but not in the interface, is a compile error). Each
 * call site is then one line: `checkOptionKeys(options, LISTEN_OPTION_KEYS, '')`.
 */
import { ErrorCodes, TransportError } from './errors';

/** Every key of `T`, optional ones included, each mapped to `true`. */
export type KeyRecord<T> = { readonly [K in keyof T]-?: true };

/**
 * The allowed keys of the options interface `T`, as a frozen list for `checkOptionKeys`.
 *
 * Pass every key of `T` as `{ key: true, … }` with `T` spelt out:
 * `optionKeys<ListenOptions>({ peer: true, fdPassing: true })`. A key of `T` left out is a
 * compile error ("Property 'fdPassing' is missing"), and so is a key `T` does not have (excess
 * property check), so the list cannot drift from the interface.
 */
export function optionKeys<T>(keys: KeyRecord<T>): readonly (keyof T & string)[] {
  return Object.freeze(Object.keys(keys)) as readonly (keyof T & string)[];
}

/**
 * Throws `ERR_INVALID_OPTION` unless `value` is a non-array object whose own enumerable string
 * keys are all in `allowedKeys`.
 *
 * `label` is where the object sits in what the caller passed, used to name a key by its path:
 * `''` for a top-level options object (`unknown option fdPasing; …`), `'peer'` for the policy
 * inside it (`unknown option peer.samUser; did you mean sameUser?`). The message suggests the
 * nearest allowed key when one is close (`nearestKey`), else lists the allowed keys.
 *
 * Keys whose value is `undefined` are checked too: `{ samUser: undefined }` is still a typo.
 * Inherited and symbol keys are not looked at (plugsock never reads them).
 */
export function checkOptionKeys(value: unknown, allowedKeys: readonly string[], label: string): void {
  const name = label === '' ? 'options' : label;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    throw new TransportError(ErrorCodes.INVALID_OPTION, `${name} must be an object, got ${got}.`);
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key) || allowedKeys.includes(key)) continue;
    const path = label === '' ? key : `${label}.${key}`;
    const near = nearestKey(key, allowedKeys);
    throw new TransportError(
      ErrorCodes.INVALID_OPTION,
      near === null
        ? `unknown option ${path}; the known ${label === '' ? 'options' : `keys of ${label}`} are ${allowedKeys.join(', ')}.`
        : `unknown option ${path}; did you mean ${near}?`,
    );
  }
}

/**
 * The candidate closest to `key` by edit distance (optimal string alignment: insertions,
 * deletions, substitutions and swaps of two neighbours; letter case ignored), or null when none
 * is close enough to be a likely typo: at most 1 edit for keys of up to 4 characters, at most 2
 * beyond. Ties go to the earlier candidate.
 */
export function nearestKey(key: string, candidates: readonly string[]): string | null {
  const limit = key.length <= 4 ? 1 : 2;
  let best: string | null = null;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal-string-alignment distance between `a` and `b` (Levenshtein plus adjacent swaps). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[(i - 1) * cols + j] + 1, d[i * cols + j - 1] + 1, d[(i - 1) * cols + j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[(i - 2) * cols + j - 2] + 1);
      d[i * cols + j] = v;
    }
  }
  return d[rows * cols - 1];
}
