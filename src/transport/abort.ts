/**
 * Waiting that a caller's AbortSignal (or the transport's close()) cuts short, and leaves
 * nothing behind once it is over: no timer, no listener on either signal. Node's own
 * `timers/promises` takes one signal; connect()'s retries need two.
 */

/** How a wait ended. */
export type WaitEnd = 'done' | 'stopped' | 'aborted';

/**
 * Waits for `promise` (settles as it does) or `ms` (if given) to pass, whichever first; or ends
 * with `'stopped'` when `stop` fires (close()) or `'aborted'` when `signal` does (the caller's).
 * A signal that has fired already ends it at once.
 */
export function waitUnless<T>(
  what: { promise?: Promise<T>; ms?: number },
  stop: AbortSignal,
  signal: AbortSignal | undefined,
): Promise<{ end: 'done'; value: T | undefined } | { end: 'stopped' } | { end: 'aborted' }> {
  if (stop.aborted) return Promise.resolve({ end: 'stopped' });
  if (signal?.aborted) return Promise.resolve({ end: 'aborted' });
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
      signal?.removeEventListener('abort', onAbort);
    };
    const onStop = (): void => {
      finish();
      resolve({ end: 'stopped' });
    };
    const onAbort = (): void => {
      finish();
      resolve({ end: 'aborted' });
    };
    stop.addEventListener('abort', onStop, { once: true });
    signal?.addEventListener('abort', onAbort, { once: true });
    if (what.ms !== undefined) {
      timer = setTimeout(() => {
        finish();
        resolve({ end: 'done', value: undefined });
      }, what.ms);
    }
    what.promise?.then(
      (value) => {
        finish();
        resolve({ end: 'done', value });
      },
      (err: unknown) => {
        finish();
        reject(err);
      },
    );
  });
}
