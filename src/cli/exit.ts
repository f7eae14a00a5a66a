/**
 * How the CLI ends: its exit codes, the two errors it throws (wrong usage, a failure), and the
 * translation of the library's errors into the command line's words (an option the user typed,
 * never an API option such as connectTimeoutMs).
 */
import { ConnectionTimeoutError, ErrorCodes, NATIVE_OFF, TransportError } from '../errors';

/**
 * Exit codes. 1 and 2 follow the POSIX utilities (2: the command line is wrong, nothing was
 * tried); 3 lets a script tell a refusal from a failure; 128 + n for signal n, as a shell shows.
 */
export const Exit = {
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  REFUSED: 3,
  SIGHUP: 129,
  SIGINT: 130,
  SIGTERM: 143,
} as const;

/** A failure with its exit code and, when the library reported it, the library's error code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = Exit.ERROR,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** The command line cannot work (unknown option, bad value, missing endpoint): exit 2 with a hint. */
export class UsageError extends CliError {
  constructor(
    message: string,
    /** The command whose `--help` the hint names; null: the program's. */
    readonly command: string | null,
  ) {
    super(message, Exit.USAGE);
  }
}

/** One status line on stderr: stdout carries the data only. */
export function status(message: string): void {
  process.stderr.write(`plugsock: ${message}\n`);
}

/** Reports an error as the CLI does: one line (two for usage: the hint), and the exit code. */
export function report(err: unknown): number {
  if (err instanceof UsageError) {
    status(err.message);
    status(`try 'plugsock ${err.command ? `${err.command} ` : ''}--help'`);
    return err.exitCode;
  }
  if (err instanceof CliError) {
    status(err.code ? `${err.message} (${err.code})` : err.message);
    return err.exitCode;
  }
  const e = err as { code?: string; message?: string };
  status(`${e.message ?? String(err)}${e.code ? ` (${e.code})` : ''}`);
  return Exit.ERROR;
}

/** What `connect` was doing when the library failed: words for the message. */
export interface ConnectContext {
  path: string;
  timeoutMs: number;
}

/** A library error of `connect`, in the CLI's words. */
export function connectError(err: unknown, { path, timeoutMs }: ConnectContext): CliError {
  if (err instanceof ConnectionTimeoutError) {
    const seen: Record<string, string> = {
      missing: 'there is no socket at that path',
      refused: 'the socket file is there but nobody listens on it',
      busy: "the server's backlog is full",
    };
    return new CliError(
      `no server to connect to at ${path} within ${timeoutMs} ms: ${seen[err.lastSeen] ?? err.lastSeen}. ` +
        `Start the listener first (plugsock listen ${path}), or wait longer with --timeout MS.`,
      Exit.ERROR,
      err.code,
    );
  }
  if (err instanceof TransportError && err.code === ErrorCodes.PEER_REJECTED) {
    // The library's message ends with advice in its own terms; keep what it found.
    const found = /rejected by the peer policy: (.*?)\. Check that/.exec(err.message)?.[1] ?? err.message;
    return new CliError(`refused the server at ${path}: it fails --allow-uid/--allow-gid/--same-user (${found}). Nothing was sent.`, Exit.REFUSED, err.code);
  }
  return libraryError(err, `cannot connect to ${path}`);
}

/** Any other library error: what was being done, the library's own explanation, its code. */
export function libraryError(err: unknown, doing: string): CliError {
  if (err instanceof CliError) return err;
  const e = err as { code?: string; message?: string };
  // The library says why in its API's terms where they are the command line's too, but one.
  const message = (e.message ?? String(err)).replace(NATIVE_OFF, 'the command was given --native off');
  return new CliError(`${doing}: ${message}`, Exit.ERROR, e.code);
}
