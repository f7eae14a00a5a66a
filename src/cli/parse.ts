/**
 * The command line, read strictly: node:util's parseArgs over the option tables of
 * ./commands.ts, with its errors and every value check said in the CLI's words (a UsageError
 * that names the option), before anything is opened.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { nearestKey } from '../options';
import type { PeerPolicy } from '../peer';
import type { CommandSpec } from './commands';
import { UsageError } from './exit';

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Parsed {
  values: Values;
  positionals: string[];
}

/**
 * The command's options and positionals, or 'help' when `-h`/`--help` comes before any `--`
 * (help wins over every other mistake on the line). At most `maxPositionals` positionals.
 */
export function parseCommand(spec: CommandSpec, args: string[], maxPositionals: number): Parsed | 'help' {
  const end = args.indexOf('--');
  if ((end < 0 ? args : args.slice(0, end)).some((a) => a === '-h' || a === '--help')) return 'help';
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args, options: spec.options, strict: true, allowPositionals: true }) as Parsed;
  } catch (err) {
    throw usageOf(spec, err as Error & { code?: string });
  }
  if (parsed.positionals.length > maxPositionals) {
    const extra = parsed.positionals[maxPositionals];
    throw new UsageError(`${spec.name}: unexpected argument ${JSON.stringify(extra)} (it takes ${maxPositionals === 0 ? 'none' : `one endpoint`})`, spec.name);
  }
  return parsed;
}

/** parseArgs' errors ("Unknown option '--mod'...") as the CLI says them. */
function usageOf(spec: CommandSpec, err: Error & { code?: string }): UsageError {
  const named = /'(-[^' ]+)/.exec(err.message)?.[1] ?? '';
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const near = named.startsWith('--') ? nearestKey(named.slice(2), Object.keys(spec.options)) : null;
    return new UsageError(`${spec.name}: unknown option ${named}${near ? `; did you mean --${near}?` : ''}`, spec.name);
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const name = named.replace(/^-+/, '');
    const option = spec.options[name] ?? Object.entries(spec.options).find(([, o]) => o.short === name)?.[1];
    if (option?.type === 'boolean') return new UsageError(`${spec.name}: ${named} takes no value`, spec.name);
    return new UsageError(`${spec.name}: ${named} needs a value${option?.value ? ` (${option.value})` : ''}`, spec.name);
  }
  return new UsageError(`${spec.name}: ${err.message}`, spec.name);
}

/**
 * `--mode`: octal permission bits, with or without `0o` (660, 0660, 0o660). Anything else
 * (8 or 9 digits, other prefixes, signs, spaces, over 777) is refused before a socket exists.
 */
export function octalMode(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(?:0[oO])?([0-7]{1,4})$/.exec(value);
  const mode = m ? parseInt(m[1]!, 8) : -1;
  if (mode < 0 || mode > 0o777) {
    throw new UsageError(`listen: --mode takes an octal mode from 0 to 777 such as 660, 0660 or 0o660, got ${JSON.stringify(value)}`, 'listen');
  }
  return mode;
}

/** The longest wait a timer can hold (2^31 - 1 ms, ~24.8 days). */
const MAX_MS = 2 ** 31 - 1;

/** A whole number of milliseconds for `flag`, bounded by what a timer can hold. */
export function milliseconds(command: string, flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d{1,10}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n <= MAX_MS)) throw new UsageError(`${command}: ${flag} takes milliseconds, a whole number from 0 to ${MAX_MS}, got ${JSON.stringify(value)}`, command);
  return n;
}

/** The largest uid or gid taken (the transport's bound for a group: 2^31 - 1). */
const MAX_ID = 2 ** 31 - 1;

/** A uid or gid: a number, or a name from /etc/passwd or /etc/group. */
export function accountId(command: string, flag: string, value: string, database: '/etc/passwd' | '/etc/group'): number {
  if (/^\d{1,10}$/.test(value) && Number(value) <= MAX_ID) return Number(value);
  const what = database === '/etc/passwd' ? 'user' : 'group';
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*\$?$/.test(value)) {
    throw new UsageError(`${command}: ${flag} takes a ${what} id (0 to ${MAX_ID}) or a ${what} name, got ${JSON.stringify(value)}`, command);
  }
  const id = lookUp(database, value);
  if (id === null) throw new UsageError(`${command}: ${flag}: no ${what} named ${JSON.stringify(value)} in ${database} (give its number instead)`, command);
  return id;
}

function lookUp(database: string, name: string): number | null {
  let text: string;
  try {
    text = readFileSync(database, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && /^\d+$/.test(fields[2] ?? '')) return Number(fields[2]);
  }
  return null;
}

/** `--allow-uid`, `--allow-gid`, `--same-user` as a peer policy (undefined: none given). */
export function policyOf(command: string, values: Values): PeerPolicy | undefined {
  const uids = (values['allow-uid'] as string[] | undefined)?.map((v) => accountId(command, '--allow-uid', v, '/etc/passwd'));
  const gids = (values['allow-gid'] as string[] | undefined)?.map((v) => accountId(command, '--allow-gid', v, '/etc/group'));
  const sameUser = values['same-user'] === true ? true : undefined;
  if (!uids && !gids && !sameUser) return undefined;
  return { ...(uids && { uids }), ...(gids && { gids }), ...(sameUser && { sameUser }) };
}

export type NativeMode = 'auto' | 'require' | 'off';

/** `--native`. */
export function nativeMode(command: string, value: string | undefined): NativeMode {
  if (value === undefined) return 'auto';
  if (value === 'auto' || value === 'require' || value === 'off') return value;
  throw new UsageError(`${command}: --native takes auto, require or off, got ${JSON.stringify(value)}`, command);
}
