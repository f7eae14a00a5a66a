/**
 * Ctrl-C and friends: the command cleans up (the listener's socket file and private directory
 * go) and exits with 128 + the signal's number, as a shell reports a process the signal
 * killed (130 for Ctrl-C, socat's too). A second signal during the clean-up exits at once.
 */
import { Exit } from './exit';

const CODES = { SIGINT: Exit.SIGINT, SIGTERM: Exit.SIGTERM, SIGHUP: Exit.SIGHUP } as const;
/** The clean-up gets this long; then the process exits regardless. */
const CLEANUP_MS = 2000;

/** Installs the handlers; returns their removal. */
export function exitOnSignals(cleanup: () => Promise<unknown>): () => void {
  let exiting = false;
  const handlers = Object.entries(CODES).map(([signal, code]) => {
    const handler = () => {
      if (exiting) process.exit(code);
      exiting = true;
      const timer = setTimeout(() => process.exit(code), CLEANUP_MS);
      const exit = () => {
        clearTimeout(timer);
        process.exit(code);
      };
      cleanup().then(exit, exit);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}
