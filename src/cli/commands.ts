/**
 * What each command accepts and says about itself: the option tables that the parser
 * (./parse.ts) reads and `--help` prints, so the two cannot disagree.
 */

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** The value's placeholder in help (string options). */
  value?: string;
  help: string;
}

export interface CommandSpec {
  name: string;
  /** After `plugsock <name>` in the usage line. */
  synopsis: string;
  /** One line, in the program's command list. */
  summary: string;
  options: Record<string, OptionSpec>;
  /** Paragraphs after the usage line. */
  details: string;
}

const HELP: OptionSpec = { type: 'boolean', short: 'h', help: 'show this help' };
const VERBOSE: OptionSpec = {
  type: 'boolean',
  short: 'v',
  help: 'more on stderr: peer credentials, byte counts, a hex dump of the data (> sent, < received)',
};
const NATIVE: OptionSpec = { type: 'string', value: 'auto|require|off', help: 'use the native addon: when it loads (auto, the default), always, or never' };
const FD_PASSING: OptionSpec = { type: 'boolean', help: 'accept file descriptors (SCM_RIGHTS): each is described on stderr, then closed' };
const POLICY = (side: string): Record<string, OptionSpec> => ({
  'allow-uid': { type: 'string', multiple: true, value: 'UID', help: `only a ${side} running as this user (number or name; repeatable)` },
  'allow-gid': { type: 'string', multiple: true, value: 'GID', help: `only a ${side} in this group, primary or supplementary (number or name; repeatable)` },
  'same-user': { type: 'boolean', help: `only a ${side} running as the user this command runs as` },
});

export const LISTEN: CommandSpec = {
  name: 'listen',
  synopsis: '[options] [endpoint]',
  summary: 'serve a Unix socket: stdin to the connection, the connection to stdout',
  details: `Listens on endpoint (a private path when none is given) and prints it on stderr:
  plugsock: listening on unix:/path (mode 660, native sockets)
then pipes stdin to the connection and the connection to stdout, as nc -lU and socat's
UNIX-LISTEN do. When stdin ends, the sending side is shut down and the connection's data is
still read to its end; the command exits when both directions are done (nc -N). Without
--keep-open or --fork it serves one connection and refuses others meanwhile.

A connection the peer policy refuses is closed unread, reported on stderr, and does not
count: the listener waits for the next.`,
  options: {
    mode: { type: 'string', value: 'MODE', help: 'octal mode of the socket file, exactly (default 660): 600, 0660, 0o666' },
    group: { type: 'string', value: 'GROUP', help: 'group of the socket file (number or name; you must be allowed to give it)' },
    ...POLICY('client'),
    once: { type: 'boolean', help: 'serve one connection, then exit (the default)' },
    'keep-open': { type: 'boolean', short: 'k', help: 'keep listening: serve connections one at a time, in order (nc -k)' },
    fork: { type: 'boolean', help: "keep listening: serve connections at once, stdin to each (socat's fork, in one process)" },
    'fd-passing': FD_PASSING,
    native: NATIVE,
    verbose: VERBOSE,
    help: HELP,
  },
};

export const CONNECT: CommandSpec = {
  name: 'connect',
  synopsis: '[options] <endpoint>',
  summary: 'connect to a Unix socket: stdin to the server, the server to stdout',
  details: `Connects to endpoint (waiting while the socket is missing or refusing, up to --timeout),
then pipes stdin to the server and the server to stdout, as nc -U does. When stdin ends, the
sending side is shut down and the server's data is still read to its end; the command exits
when both directions are done (nc -N).

Exit 3 means refused: the server fails --allow-uid/--allow-gid/--same-user (nothing was
sent), or it closed the connection before sending anything and without reading what we sent
(ECONNRESET, EPIPE) or before either side sent a byte, which is what a listener whose peer
policy refuses us does. A client that sent nothing and had already ended its side cannot tell
a refusal from a server with nothing to say: that is exit 0.`,
  options: {
    timeout: { type: 'string', value: 'MS', help: 'how long to wait for the server, in milliseconds (default 5000)' },
    ...POLICY('server'),
    'fd-passing': FD_PASSING,
    native: NATIVE,
    verbose: VERBOSE,
    help: HELP,
  },
};

export const INFO: CommandSpec = {
  name: 'info',
  synopsis: '[--json]',
  summary: 'addon status, capabilities, platform',
  details: 'Prints whether the native addon loaded (and why not), and which features it offers here.',
  options: { json: { type: 'boolean', help: 'as JSON (capabilities())' }, help: HELP },
};

export const DEMO: CommandSpec = {
  name: 'demo',
  synopsis: '',
  summary: 'two processes, end to end: modes, a refused second server, a stale socket',
  details: 'Runs a server process and a client, and shows what plugsock does at each step.',
  options: { help: HELP },
};

export const COMMANDS: readonly CommandSpec[] = [LISTEN, CONNECT, INFO, DEMO];

/** `plugsock --help`. */
export function programHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${synopsisArgs(c)}`.length));
  const rows = COMMANDS.map((c) => `  ${`${c.name} ${synopsisArgs(c)}`.padEnd(width)}  ${c.summary}`);
  return `Usage: plugsock <command> [options]

Commands:
${rows.join('\n')}

Options:
  -h, --help     this help; plugsock <command> --help for a command's
  --version      plugsock's version

Endpoints: /abs/path, unix:/abs/path, unix://abs/path.
Status lines go to stderr; stdout carries only the data.
Exit status: 0 done, 1 error, 2 wrong usage, 3 refused (peer policy), 128+n on signal n
(130: Ctrl-C, 143: SIGTERM).
`;
}

/** `plugsock <command> --help`. */
export function commandHelp(spec: CommandSpec): string {
  const labels = Object.entries(spec.options).map(([name, o]) => {
    const long = `--${name}${o.value ? ` ${o.value}` : ''}`;
    return [o.short ? `-${o.short}, ${long}` : `    ${long}`, o.help] as const;
  });
  const width = Math.max(...labels.map(([l]) => l.length));
  return `Usage: plugsock ${spec.name}${spec.synopsis ? ` ${spec.synopsis}` : ''}

${spec.details}

Options:
${labels.map(([l, h]) => `  ${l.padEnd(width)}  ${h}`).join('\n')}
`;
}

/** The positional part of a synopsis, for the command list. */
function synopsisArgs(spec: CommandSpec): string {
  return spec.synopsis.replace('[options]', '').trim();
}
