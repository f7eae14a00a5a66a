/**
 * `plugsock listen [endpoint]`: nc -lU with half-close (nc -N). By default one connection is
 * served and the command exits with its outcome; `--keep-open` serves them one after another
 * (nc -k), `--fork` all at once (socat's fork, without a process per connection), until a
 * signal ends it.
 */
import { lstatSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { ErrorCodes, TransportError } from '../errors';
import type { PeerCredentials } from '../peer';
import { UnixSocketTransport } from '../transport';
import { LISTEN, commandHelp } from './commands';
import { Exit, UsageError, libraryError, status } from './exit';
import { describePeer } from './output';
import { accountId, nativeMode, octalMode, parseCommand, policyOf, type Values } from './parse';
import { needsAddon, type Stdio, stdio } from './requirements';
import { cutShort, runSession, type SessionEnd } from './session';
import { exitOnSignals } from './signals';

type Serving = 'once' | 'keep-open' | 'fork';

/** --keep-open: connections waiting behind the one served; more are refused. */
const MAX_WAITING = 64;
/** --fork: connections served at once; more are refused. */
const MAX_OPEN = 64;

export async function listen(args: string[]): Promise<number> {
  const parsed = parseCommand(LISTEN, args, 1);
  if (parsed === 'help') {
    process.stdout.write(commandHelp(LISTEN));
    return Exit.OK;
  }
  const { values, positionals } = parsed;
  const serving = servingOf(values);
  const mode = octalMode(values.mode as string | undefined);
  const group = values.group === undefined ? undefined : accountId('listen', '--group', values.group as string, '/etc/group');
  const policy = policyOf('listen', values);
  const fdPassing = values['fd-passing'] === true;
  const native = nativeMode('listen', values.native as string | undefined);
  needsAddon('listen', native, { '--allow-uid/--allow-gid/--same-user': policy !== undefined, '--fd-passing': fdPassing });

  let transport: UnixSocketTransport;
  try {
    transport = new UnixSocketTransport({ path: positionals[0], mode, group, native, allowHalfOpen: true, fdPassing, ...(policy && { peer: policy }) });
  } catch (err) {
    if (err instanceof TransportError && err.code === ErrorCodes.INVALID_PATH) throw new UsageError(`listen: ${err.message}`, 'listen');
    throw libraryError(err, 'listen');
  }
  const removeSignals = exitOnSignals(() => transport.close());
  try {
    let finished!: (code: number) => void;
    const done = new Promise<number>((resolve) => (finished = resolve));
    const server = new Server(serving, values.verbose === true, finished);
    transport.on('connection', (conn: Duplex & { peer: PeerCredentials | null }) => server.accept(conn));
    transport.on('peerRejected', (cred: PeerCredentials | null, reason: string) => status(`refused ${cred ? describePeer(cred) : 'a client'}: ${reason}`));
    transport.on('error', (err: Error) => status(`accepting failed: ${err.message}`));
    let endpoint: string;
    try {
      endpoint = await transport.listen();
    } catch (err) {
      throw libraryError(err, `cannot listen on ${positionals[0] ?? 'a private path'}`);
    }
    status(`listening on ${endpoint} (${describeListener(transport, serving)})`);
    const code = await done;
    server.io.feed.stop();
    return code;
  } finally {
    await transport.close();
    removeSignals();
  }
}

function servingOf(values: Values): Serving {
  const given = (['once', 'keep-open', 'fork'] as const).filter((name) => values[name] === true);
  if (given.length > 1) throw new UsageError(`listen: ${given.map((g) => `--${g}`).join(' and ')} exclude each other`, 'listen');
  return given[0] ?? 'once';
}

function describeListener(transport: UnixSocketTransport, serving: Serving): string {
  let mode = '';
  try {
    mode = `mode ${(lstatSync(transport.path).mode & 0o777).toString(8)}, `;
  } catch {
    // No file to show (an abstract address).
  }
  const how = { once: 'one connection', 'keep-open': 'connections one at a time', fork: 'connections concurrently' }[serving];
  return `${mode}${transport.socketMaker} sockets, ${how}`;
}

interface Waiting {
  conn: Duplex;
  id: number;
}

/** The connections of one listener: which is served, which waits, which is refused. */
class Server {
  readonly io: Stdio;
  #next = 1;
  readonly #active = new Set<Duplex>();
  readonly #waiting: Waiting[] = [];

  constructor(
    private readonly serving: Serving,
    private readonly verbose: boolean,
    private readonly finished: (code: number) => void,
  ) {
    this.io = stdio(() => {
      // Nothing more can be relayed: every connection is broken (not ended), and the command exits.
      for (const conn of this.#active) conn.destroy();
      for (const { conn } of this.#waiting.splice(0)) conn.destroy();
      finished(Exit.ERROR);
    });
  }

  accept(conn: Duplex & { peer: PeerCredentials | null }): void {
    const id = this.#next++;
    // A session records its errors; one that waits must not crash the process with them.
    conn.on('error', () => {});
    status(`#${id} connection from ${describePeer(conn.peer)}`);
    const busy = this.#active.size > 0 || this.#waiting.length > 0;
    if (this.serving === 'fork') {
      if (this.#active.size >= MAX_OPEN) this.#refuse(conn, id, `already serving ${MAX_OPEN} connections, the most --fork serves at once`);
      else void this.#serve(conn, id);
    } else if (!busy) {
      void this.#serve(conn, id);
    } else if (this.serving === 'once') {
      this.#refuse(conn, id, 'already serving one connection (--keep-open or --fork serve more)');
    } else if (this.#waiting.length >= MAX_WAITING) {
      this.#refuse(conn, id, `${MAX_WAITING} connections wait already`);
    } else {
      conn.pause();
      const entry = { conn, id };
      this.#waiting.push(entry);
      conn.once('close', () => {
        const at = this.#waiting.indexOf(entry);
        if (at >= 0) this.#waiting.splice(at, 1);
      });
      if (this.verbose) status(`#${id} waits its turn (${this.#waiting.length} waiting)`);
    }
  }

  #refuse(conn: Duplex, id: number, why: string): void {
    status(`#${id} refused: ${why}`);
    conn.destroy();
  }

  async #serve(conn: Duplex, id: number): Promise<void> {
    this.#active.add(conn);
    const { io, verbose } = this;
    const ended = await runSession(conn, { id, peerName: 'client', verbose, feed: io.feed, out: process.stdout, interactive: io.interactive });
    this.#active.delete(conn);
    // Served one after another, what stdin still holds goes to the next connection.
    const end = this.serving === 'once' ? await cutShort(ended, io.feed, 'client') : ended;
    // A connection that closed before anything was exchanged either way (a liveness probe, a
    // client whose own policy refuses this server) is not the one a plain listen waits for.
    const counted = !(end.outcome === 'refused' && end.received === 0 && end.sent === 0);
    if (end.outcome !== 'done') status(`#${id} ${end.message}${counted ? '' : '; still listening'}`);
    else if (!verbose) status(`#${id} closed`);
    if (this.serving === 'once') {
      if (counted) this.finished(exitCodeOf(end, io));
      return;
    }
    if (this.serving === 'keep-open') this.#serveNext();
  }

  #serveNext(): void {
    for (let next = this.#waiting.shift(); next; next = this.#waiting.shift()) {
      if (next.conn.destroyed) continue;
      void this.#serve(next.conn, next.id);
      return;
    }
  }
}

/** A served connection: 0 when all was relayed, 1 when something was lost on the way. */
function exitCodeOf(end: SessionEnd, io: Stdio): number {
  if (io.failed()) return Exit.ERROR;
  return end.outcome === 'done' || end.outcome === 'closed' ? Exit.OK : Exit.ERROR;
}
