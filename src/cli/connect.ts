/**
 * `plugsock connect <endpoint>`: nc -U with half-close (nc -N). Exit 0 when both directions
 * ended, 1 when the connection broke or stdio failed, 3 when refused (see ./session.ts).
 */
import { ErrorCodes, TransportError } from '../errors';
import { normalizeUnixPath } from '../path';
import { UnixSocketTransport } from '../transport';
import { CONNECT, commandHelp } from './commands';
import { CliError, Exit, UsageError, connectError, libraryError, status } from './exit';
import { describePeer } from './output';
import { milliseconds, nativeMode, parseCommand, policyOf } from './parse';
import { needsAddon, stdio } from './requirements';
import { cutShort, runSession } from './session';
import { exitOnSignals } from './signals';

const DEFAULT_TIMEOUT_MS = 5000;

export async function connect(args: string[]): Promise<number> {
  const parsed = parseCommand(CONNECT, args, 1);
  if (parsed === 'help') {
    process.stdout.write(commandHelp(CONNECT));
    return Exit.OK;
  }
  const { values, positionals } = parsed;
  const endpoint = positionals[0];
  if (endpoint === undefined) throw new UsageError('connect: needs an endpoint, e.g. plugsock connect unix:/tmp/app.sock', 'connect');
  checkEndpoint(endpoint);
  const timeoutMs = milliseconds('connect', '--timeout', values.timeout as string | undefined) ?? DEFAULT_TIMEOUT_MS;
  const policy = policyOf('connect', values);
  const fdPassing = values['fd-passing'] === true;
  const native = nativeMode('connect', values.native as string | undefined);
  needsAddon('connect', native, { '--allow-uid/--allow-gid/--same-user': policy !== undefined, '--fd-passing': fdPassing });
  const verbose = values.verbose === true;

  let transport: UnixSocketTransport;
  try {
    transport = new UnixSocketTransport({ native, connectTimeoutMs: timeoutMs, allowHalfOpen: true, ...(policy && { peer: policy }) });
  } catch (err) {
    throw libraryError(err, 'connect');
  }
  const removeSignals = exitOnSignals(() => transport.close());
  // After the signal handlers: from this line on, Ctrl-C is the command's (exit 130).
  if (verbose) status(`connecting to ${endpoint} (waiting up to ${timeoutMs} ms for a server)`);
  try {
    let conn: Awaited<ReturnType<UnixSocketTransport['connect']>>;
    try {
      conn = await transport.connect(endpoint, fdPassing ? { fdPassing } : undefined);
    } catch (err) {
      throw connectError(err, { path: endpoint, timeoutMs });
    }
    if (verbose) status(`connected to ${transport.endpoint ?? endpoint}: server ${describePeer(conn.peer)}`);
    const io = stdio(() => conn.destroy());
    const ended = await runSession(conn, { id: null, peerName: 'server', verbose, feed: io.feed, out: process.stdout, interactive: io.interactive });
    const end = await cutShort(ended, io.feed, 'server');
    io.feed.stop();
    if (end.outcome !== 'done') status(end.message);
    if (end.outcome === 'refused') return Exit.REFUSED;
    if (end.outcome === 'failed' || io.failed()) return Exit.ERROR;
    return Exit.OK;
  } finally {
    await transport.close();
    removeSignals();
  }
}

/**
 * A malformed endpoint is the command line's mistake (exit 2), found before any waiting. An
 * abstract address (`unix:@name`) is the transport's to judge.
 */
function checkEndpoint(endpoint: string): void {
  if (/^(unix:)?@/.test(endpoint)) return;
  try {
    normalizeUnixPath(endpoint);
  } catch (err) {
    if (err instanceof TransportError && err.code === ErrorCodes.INVALID_PATH) throw new UsageError(`connect: ${err.message}`, 'connect');
    throw err instanceof CliError ? err : libraryError(err, 'connect');
  }
}
