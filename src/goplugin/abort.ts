/**
 * AbortSignal support for startPlugin and attachPlugin: the error (the library's AbortError,
 * shaped as Node's), the check of the option, and waits that end when the signal fires.
 */
import { AbortError, ErrorCodes, TransportError, abortError as transportAbortError } from '../errors';

/**
 * The AbortError (src/errors.ts: Node's shape, name `AbortError`, code `ABORT_ERR`, `cause` the
 * signal's reason) of `what`, e.g. `startPlugin of plugin ./my-plugin`, cut short by `signal`.
 */
export function abortError(signal: AbortSignal, what: string): AbortError {
  return transportAbortError(signal, what);
}

/** Whether `err` is an AbortError of this library. */
export function isAbortError(err: unknown): err is AbortError {
  return err instanceof AbortError;
}

/**
 * The `signal` option, checked: undefined, or an AbortSignal (from this realm or another: what
 * Node's own validation takes, an object with `aborted` and the listener methods).
 */
export function checkSignal(signal: unknown, caller: string): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  const s = signal as Partial<AbortSignal> | null;
  if (
    signal instanceof AbortSignal ||
    (typeof s === 'object' &&
      s !== null &&
      typeof s.aborted === 'boolean' &&
      typeof s.addEventListener === 'function' &&
      typeof s.removeEventListener === 'function')
  ) {
    return signal as AbortSignal;
  }
  const got = signal === null ? 'null' : typeof signal;
  throw new TransportError(
    ErrorCodes.INVALID_OPTION,
    `${caller}: signal must be an AbortSignal (new AbortController().signal, AbortSignal.timeout(ms)), got ${got}.`,
  );
}

/**
 * Runs `onAbort` once if `signal` fires before dispose(); dispose() removes the listener (a
 * start that completed leaves nothing on the caller's signal). Without a signal it does nothing.
 */
export function onAbort(signal: AbortSignal | undefined, onAbort: () => void): { dispose(): void } {
  if (!signal) return { dispose() {} };
  signal.addEventListener('abort', onAbort, { once: true });
  return { dispose: () => signal.removeEventListener('abort', onAbort) };
}

/**
 * Settles as `promise`, or rejects with the AbortError as soon as `signal` fires (the promise
 * is then left to settle on its own: the caller's abort handling ends what it waits for).
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortError(signal, what));
  }
  return new Promise<T>((resolve, reject) => {
    const watch = onAbort(signal, () => {
      promise.catch(() => {});
      reject(abortError(signal, what));
    });
    promise.then(
      (v) => {
        watch.dispose();
        resolve(v);
      },
      (err) => {
        watch.dispose();
        reject(err);
      },
    );
  });
}
