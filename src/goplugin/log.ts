/**
 * Plugin side: logging the way go-plugin hosts read it. A go-plugin host (v1.8 `logStderr`,
 * Terraform included) reads the plugin's stderr line by line and parses each line as hclog
 * JSON: `@message` and `@level` are taken, `@timestamp` must parse with Go's layout
 * `2006-01-02T15:04:05.000000Z07:00` (exactly six fractional digits, or the whole line is not
 * JSON to it and is logged raw at debug level), every other key becomes a key/value pair, and the
 * entry is logged at its level under the host's logger for the plugin. A line longer than the
 * host's read buffer (64 KiB by default) is logged raw at debug level, in pieces.
 */
import { ErrorCodes, TransportError } from '../errors';
import { checkOptionKeys, optionKeys } from '../options';
import { writeUncaptured } from './stdio';

/** hclog's levels, lowest first. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
/** One of hclog's levels: `'trace'`, `'debug'`, `'info'`, `'warn'`, `'error'`. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Key/value pairs of a log line; errors become their message, as hclog writes them. */
export type LogFields = Record<string, unknown>;

/** go-plugin's default read buffer for plugin stderr lines (`PluginLogBufferSize`), newline included. */
export const MAX_LOG_LINE_BYTES = 64 * 1024;
/** The keys hclog's JSON format owns; a field of the same name is written as `_<key>`. */
const RESERVED = new Set(['@level', '@message', '@module', '@timestamp']);

/** Options of `createPluginLogger(options)`; unknown keys are ERR_INVALID_OPTION. */
export interface PluginLoggerOptions {
  /** `@module` of each line (hclog's logger name); omitted when empty. Default: none. */
  name?: string;
  /**
   * The lowest level written (`'off'`: none). Default: the level named by `levelEnv`, else
   * `'trace'`: everything, as go-plugin's own plugin-side logger and terraform-plugin-log's
   * provider logger do, since the host filters by its own level (Terraform: TF_LOG /
   * TF_LOG_PROVIDER).
   */
  level?: LogLevel | 'off';
  /**
   * An environment variable to read the level from when `level` is not given, e.g.
   * `TF_LOG_PROVIDER_EXAMPLE` as terraform-plugin-go does for a provider named `example`. Its
   * value is read as hclog does (case and surrounding spaces ignored; `off` too); an unset or
   * unknown value means the default, `'trace'`.
   */
  levelEnv?: string;
  /** Environment `levelEnv` is read from. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /**
   * Where lines go. Default: the process's stderr pipe, which go-plugin hosts parse, even while
   * servePlugin's `captureStderr` routes `process.stderr` into GRPCStdio (which hosts do not
   * parse as log lines).
   */
  out?: {
    /** Called with each line, newline included. */
    write(line: string): unknown;
  };
}

/** Every key of `PluginLoggerOptions`; others are errors. */
export const PLUGIN_LOGGER_OPTION_KEYS = optionKeys<PluginLoggerOptions>({ name: true, level: true, levelEnv: true, env: true, out: true });

/** Writes hclog JSON lines (see createPluginLogger). */
export interface PluginLogger {
  /** `@module` of its lines ('' for none). */
  readonly name: string;
  /** The lowest level it writes, or 'off'. */
  readonly level: LogLevel | 'off';
  /** Whether a line at `level` would be written. */
  enabled(level: LogLevel): boolean;
  /** Writes one line at `level` with `fields` as key/value pairs, if the level is enabled. */
  log(level: LogLevel, message: string, fields?: LogFields): void;
  /** `log('trace', ...)`. */
  trace(message: string, fields?: LogFields): void;
  /** `log('debug', ...)`. */
  debug(message: string, fields?: LogFields): void;
  /** `log('info', ...)`. */
  info(message: string, fields?: LogFields): void;
  /** `log('warn', ...)`. */
  warn(message: string, fields?: LogFields): void;
  /** `log('error', ...)`. */
  error(message: string, fields?: LogFields): void;
  /** A logger whose module is `<name>.<sub>` (hclog's `Named`), same level and output. */
  named(sub: string): PluginLogger;
}

/**
 * A logger that writes one hclog JSON line per call to stderr, which a go-plugin host logs at
 * the line's level:
 * `{"@level":"info","@message":"...","@module":"<name>","@timestamp":"2026-12-07T13:33:00.123456Z","key":"value"}`.
 * Timestamps have microseconds (see `goTimestamp`); field values are made JSON-safe (errors
 * become their message, bigints strings, cycles `"[Circular]"`); a line that would exceed 64 KiB
 * is cut (fields dropped, message shortened, `log_truncated_bytes` says how long it was).
 * Throws ERR_INVALID_OPTION for unknown options or an invalid `level`.
 */
export function createPluginLogger(options: PluginLoggerOptions = {}): PluginLogger {
  checkOptionKeys(options, PLUGIN_LOGGER_OPTION_KEYS, '');
  const { name = '', levelEnv, out } = options;
  if (typeof name !== 'string') throw new TransportError(ErrorCodes.INVALID_OPTION, `createPluginLogger: name must be a string, got ${typeof name}.`);
  if (options.level !== undefined && !isLevel(options.level) && options.level !== 'off') {
    throw new TransportError(
      ErrorCodes.INVALID_OPTION,
      `createPluginLogger: level must be one of ${LOG_LEVELS.join(', ')} or off, got ${JSON.stringify(options.level)}.`,
    );
  }
  if (levelEnv !== undefined && (typeof levelEnv !== 'string' || levelEnv === '')) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, 'createPluginLogger: levelEnv must be the name of an environment variable.');
  }
  if (out !== undefined && typeof out?.write !== 'function') {
    throw new TransportError(ErrorCodes.INVALID_OPTION, 'createPluginLogger: out must have a write(line) method.');
  }
  const level = options.level ?? levelFromString(levelEnv ? (options.env ?? process.env)[levelEnv] : undefined) ?? 'trace';
  const write = out ? (line: string) => out.write(line) : (line: string) => writeUncaptured(process.stderr, line);
  return makeLogger(name, level, write);
}

function makeLogger(name: string, level: LogLevel | 'off', write: (line: string) => unknown): PluginLogger {
  const min = level === 'off' ? LOG_LEVELS.length : LOG_LEVELS.indexOf(level);
  const enabled = (l: LogLevel) => LOG_LEVELS.indexOf(l) >= min;
  const log = (l: LogLevel, message: string, fields?: LogFields) => {
    if (!enabled(l)) return;
    try {
      write(formatLogLine(l, message, fields, name));
    } catch {
      // stderr closed: there is no one left to tell.
    }
  };
  return {
    name,
    level,
    enabled,
    log,
    trace: (m, f) => log('trace', m, f),
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
    named: (sub) => makeLogger(name ? `${name}.${sub}` : String(sub), level, write),
  };
}

function isLevel(v: unknown): v is LogLevel {
  return (LOG_LEVELS as readonly unknown[]).includes(v);
}

/** hclog's `LevelFromString`: case and surrounding spaces ignored; null for anything else. */
export function levelFromString(s: string | undefined): LogLevel | 'off' | null {
  const v = (s ?? '').trim().toLowerCase();
  return isLevel(v) || v === 'off' ? v : null;
}

let lastMicros = 0;

// The wall clock when this module loaded, and the monotonic clock then (process.hrtime, not
// perf_hooks' performance: loading perf_hooks cost every plugin's start ~0.7 ms).
const originMicros = Date.now() * 1000;
const originNanos = process.hrtime.bigint();

/**
 * Now, in microseconds since the epoch: the wall clock at load plus the monotonic clock since, so
 * the values never go backwards within the process (a wall-clock step after start-up is not
 * followed: the logs keep their order instead).
 */
export function nowMicros(): number {
  const us = originMicros + Number((process.hrtime.bigint() - originNanos) / 1000n);
  lastMicros = Math.max(lastMicros, us);
  return lastMicros;
}

/** A time in Go's `2006-01-02T15:04:05.000000Z07:00` layout, in UTC: `2026-12-07T13:33:00.123456Z`. */
export function goTimestamp(micros: number = nowMicros()): string {
  // From the UTC fields: toISOString()'s first call costs ~0.2 ms of a plugin's start.
  const seconds = Math.floor(micros / 1e6);
  const frac = micros - seconds * 1e6;
  const d = new Date(seconds * 1000);
  const year = d.getUTCFullYear();
  if (year < 0 || year > 9999) return `${d.toISOString().slice(0, 19)}.${String(frac).padStart(6, '0')}Z`;
  return `${String(year).padStart(4, '0')}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}T${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}.${String(frac).padStart(6, '0')}Z`;
}

const two = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

/** One hclog JSON line (with its newline), at most MAX_LOG_LINE_BYTES long. */
export function formatLogLine(level: LogLevel, message: string, fields: LogFields = {}, module = '', micros: number = nowMicros()): string {
  const head: Record<string, unknown> = { '@level': level, '@message': String(message) };
  if (module) head['@module'] = module;
  head['@timestamp'] = goTimestamp(micros);
  const line = `${JSON.stringify({ ...head, ...safeFields(fields) })}\n`;
  const bytes = Buffer.byteLength(line);
  return bytes <= MAX_LOG_LINE_BYTES ? line : truncated(head, bytes);
}

/** The line cut to fit the host's buffer: no fields, the message shortened until it fits. */
function truncated(head: Record<string, unknown>, bytes: number): string {
  const message = head['@message'] as string;
  for (let keep = Math.floor(message.length * 0.9); keep > 0; keep = Math.floor(keep * 0.9)) {
    const line = `${JSON.stringify({ ...head, '@message': `${message.slice(0, keep)}...`, log_truncated_bytes: bytes })}\n`;
    if (Buffer.byteLength(line) <= MAX_LOG_LINE_BYTES) return line;
  }
  // Even the module name is too long: level, timestamp and the note only.
  return `${JSON.stringify({ '@level': head['@level'], '@message': '...', '@timestamp': head['@timestamp'], log_truncated_bytes: bytes })}\n`;
}

function safeFields(fields: LogFields): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (typeof fields !== 'object' || fields === null) return out;
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    out[RESERVED.has(k) ? `_${k}` : k] = jsonSafe(v, new Set());
  }
  return out;
}

/** A value JSON.stringify writes faithfully: errors as their message (as hclog), no bigints, no cycles. */
function jsonSafe(v: unknown, seen: Set<object>): unknown {
  if (v instanceof Error) return v.message;
  if (typeof v === 'bigint' || typeof v === 'symbol' || typeof v === 'function') return String(v);
  if (typeof v !== 'object' || v === null) return v;
  if (ArrayBuffer.isView(v)) return `[${v.constructor.name} ${v.byteLength} bytes]`;
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return v;
  if (seen.has(v)) return '[Circular]';
  seen.add(v);
  try {
    if (Array.isArray(v)) return v.map((x) => jsonSafe(x, seen));
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = jsonSafe(x, seen);
    return o;
  } finally {
    seen.delete(v);
  }
}
