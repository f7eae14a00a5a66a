/**
 * hclog logging for plugins (src/goplugin/log.ts): the line format go-plugin hosts parse
 * (microsecond `@timestamp` in Go's layout), levels, JSON-safe fields, the 64 KiB line bound;
 * lines reach the stderr pipe even while servePlugin captures process.stderr; and go-plugin
 * v1.8's real host re-logs a Node plugin's lines at their levels (a millisecond timestamp, the
 * negative control, is logged raw at debug level), plugsock's own lines included.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPluginLogger, formatLogLine, goTimestamp, levelFromString, MAX_LOG_LINE_BYTES, nowMicros } from '../src/goplugin/log';
import { cannotRun, distPath, root, runNode, scratchDirs } from './kit';

const FIXTURE = join(root, 'test', 'fixtures', 'goplugin-node-plugin.mjs');
const GO_HOST_BUILD = join(root, 'test', 'fixtures', 'goplugin-v18-host', 'build.sh');
const scratch = scratchDirs('plugsock-gplog-').make;
const GO_LAYOUT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** A logger whose lines are collected, parsed. */
function collecting(options: Parameters<typeof createPluginLogger>[0] = {}) {
  const lines: string[] = [];
  const log = createPluginLogger({ ...options, out: { write: (l: string) => lines.push(l) } });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('the line', () => {
  it('is one hclog JSON object per line: @level, @message, @module, @timestamp in Go layout, then the fields', () => {
    const line = formatLogLine('info', 'hello', { a: 'b', n: 2 }, 'my-plugin', 1796650380123456);
    expect(line).toBe('{"@level":"info","@message":"hello","@module":"my-plugin","@timestamp":"2026-12-07T13:33:00.123456Z","a":"b","n":2}\n');
    expect(formatLogLine('warn', 'x', {}, '', 1796650380000001)).toBe('{"@level":"warn","@message":"x","@timestamp":"2026-12-07T13:33:00.000001Z"}\n');
  });

  it('has microsecond timestamps from the monotonic clock: never backwards, sub-millisecond digits, close to the wall clock', () => {
    const { log, parsed } = collecting();
    for (let i = 0; i < 2000; i++) log.info('tick');
    const stamps = parsed().map((l) => l['@timestamp'] as string);
    for (const s of stamps) expect(s).toMatch(GO_LAYOUT);
    const micros = stamps.map((s) => Date.parse(`${s.slice(0, 19)}Z`) * 1000 + Number(s.slice(20, 26)));
    for (let i = 1; i < micros.length; i++) expect(micros[i]).toBeGreaterThanOrEqual(micros[i - 1]!);
    // Milliseconds padded with zeros would end in 000 every time.
    expect(new Set(stamps.map((s) => s.slice(23, 26))).size).toBeGreaterThan(1);
    expect(Math.abs(micros.at(-1)! / 1000 - Date.now())).toBeLessThan(1000);
    expect(goTimestamp(nowMicros())).toMatch(GO_LAYOUT);
  });

  it('goTimestamp writes any instant of years 0-9999 as the UTC ISO date with six fractional digits', () => {
    const iso = (us: number) => {
      const s = Math.floor(us / 1e6);
      return `${new Date(s * 1000).toISOString().slice(0, 19)}.${String(us - s * 1e6).padStart(6, '0')}Z`;
    };
    const first = -62_167_219_200e6; // 0000-01-01T00:00:00Z
    const last = Date.UTC(9999, 11, 31, 23, 59, 59) * 1000 + 999_999;
    const edges = [first, 0, 1, 999_999, 1e6, Date.UTC(2049, 11, 31, 23, 59, 59) * 1000 + 999_999, Date.UTC(2000, 1, 29) * 1000, last];
    for (const us of edges) expect(goTimestamp(us)).toBe(iso(us));
    for (let i = 0; i < 5000; i++) {
      const us = Math.floor(first + Math.random() * (last - first));
      expect(goTimestamp(us)).toBe(iso(us));
    }
  });

  it('makes fields JSON-safe: errors as their message (as hclog), bigints, cycles, buffers; reserved keys renamed; undefined dropped', () => {
    const { log, parsed } = collecting({ name: 'p' });
    const cyc: Record<string, unknown> = { x: 1 };
    cyc.self = cyc;
    log.error('bad', {
      err: new Error('boom'),
      big: 12n,
      cyc,
      buf: Buffer.alloc(3),
      '@level': 'fake',
      '@message': 5,
      gone: undefined,
      nested: [new TypeError('t')],
    });
    expect(parsed()[0]).toEqual({
      '@level': 'error',
      '@message': 'bad',
      '@module': 'p',
      '@timestamp': expect.stringMatching(GO_LAYOUT),
      err: 'boom',
      big: '12',
      cyc: { x: 1, self: '[Circular]' },
      buf: '[Buffer 3 bytes]',
      '_@level': 'fake',
      '_@message': 5,
      nested: ['t'],
    });
  });

  it('stays within go-plugin’s 64 KiB line buffer: a longer line loses its fields and the end of its message', () => {
    const line = formatLogLine('info', 'é'.repeat(100_000), { big: 'x'.repeat(100_000) }, 'm');
    expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_LOG_LINE_BYTES);
    const o = JSON.parse(line);
    expect(o['@message']).toMatch(/^é+\.\.\.$/);
    expect(o.big).toBeUndefined();
    expect(o.log_truncated_bytes).toBeGreaterThan(300_000);
    // Even a module name over the limit gives a line that fits (level, timestamp, the note).
    const bare = JSON.parse(formatLogLine('warn', 'm', {}, 'z'.repeat(70_000)));
    expect(bare).toEqual({ '@level': 'warn', '@message': '...', '@timestamp': expect.stringMatching(GO_LAYOUT), log_truncated_bytes: expect.any(Number) });
  });
});

describe('levels', () => {
  it('writes only at or above its level; off writes nothing; named() keeps the level and extends the module', () => {
    const w = collecting({ name: 'a', level: 'warn' });
    for (const l of ['trace', 'debug', 'info', 'warn', 'error'] as const) w.log[l](l);
    w.log.named('b').error('sub');
    w.log.named('b').info('hidden');
    expect(w.parsed().map((l) => [l['@level'], l['@module']])).toEqual([
      ['warn', 'a'],
      ['error', 'a'],
      ['error', 'a.b'],
    ]);
    expect(w.log.enabled('info')).toBe(false);
    const off = collecting({ level: 'off' });
    off.log.error('no');
    expect(off.lines).toEqual([]);
    // Default: everything (the host filters), as go-plugin's and terraform-plugin-log's loggers.
    expect(collecting().log.level).toBe('trace');
  });

  it('takes the level from levelEnv as hclog reads levels (any case, spaces, off); unset or unknown means trace', () => {
    expect(collecting({ levelEnv: 'TF_LOG_PROVIDER_X', env: { TF_LOG_PROVIDER_X: ' DEBUG ' } }).log.level).toBe('debug');
    expect(collecting({ levelEnv: 'TF_LOG_PROVIDER_X', env: { TF_LOG_PROVIDER_X: 'off' } }).log.level).toBe('off');
    expect(collecting({ levelEnv: 'TF_LOG_PROVIDER_X', env: { TF_LOG_PROVIDER_X: 'loud' } }).log.level).toBe('trace');
    expect(collecting({ levelEnv: 'TF_LOG_PROVIDER_X', env: {} }).log.level).toBe('trace');
    expect(collecting({ level: 'error', levelEnv: 'L', env: { L: 'debug' } }).log.level).toBe('error');
    expect(levelFromString('Warn')).toBe('warn');
    expect(levelFromString('warning')).toBe(null);
  });

  it('checks its options strictly', () => {
    expect(() => createPluginLogger({ levle: 'info' } as any)).toThrow(/unknown option levle; did you mean level\?/);
    expect(() => createPluginLogger({ level: 'verbose' as any })).toThrow(/level must be one of/);
    expect(() => createPluginLogger({ out: {} as any })).toThrow(/out must have a write/);
    expect(() => createPluginLogger({ levelEnv: '' })).toThrow(/levelEnv/);
  });
});

describe('where lines go', () => {
  it('to the stderr pipe by default, even while a StdioPump captures process.stderr for GRPCStdio', async () => {
    const r = await runNode(
      `const { StdioPump } = require(${JSON.stringify(distPath('goplugin', 'stdio.js'))});
       const { createPluginLogger } = require(${JSON.stringify(distPath('goplugin', 'log.js'))});
       const pump = new StdioPump();
       pump.capture(process.stderr, 'STDERR');
       process.stderr.write('captured\\n');
       createPluginLogger({ name: 'n' }).info('to the pipe');
       pump.end();`,
      { timeoutMs: 10_000 },
    ).done;
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('captured');
    expect(JSON.parse(r.stderr)).toMatchObject({ '@level': 'info', '@message': 'to the pipe', '@module': 'n' });
  });
});

describe('go-plugin v1.8 host reads a Node plugin’s lines', () => {
  it('logs each at its level with its fields; a millisecond timestamp is not hclog JSON to it; plugsock’s own lines too', async () => {
    const out = scratch();
    const built = spawnSync('bash', [GO_HOST_BUILD, out], { encoding: 'utf8', timeout: 300_000 });
    if (built.status !== 0 && cannotRun(`go-plugin v1.8 host not built: ${built.stderr.trim().split('\n').slice(-2).join(' | ')}`)) return;
    // The hook that never ends makes plugsock itself log an error line at shutdown.
    const fixture = JSON.stringify({ logLines: true, hookNever: true, shutdownTimeoutMs: 300 });
    const r = spawnSync(built.stdout.trim(), ['-launch', process.execPath, FIXTURE], {
      encoding: 'utf8',
      env: { ...process.env, GP_FIXTURE: fixture },
      timeout: 60_000,
    });
    expect(r.stderr).not.toMatch(/FAIL/);
    expect(r.stdout).toBe('OK\n');
    const host = r.stderr;
    for (const [tag, level] of [
      ['TRACE', 'trace'],
      ['DEBUG', 'debug'],
      ['INFO', 'info'],
      ['WARN', 'warn'],
      ['ERROR', 'error'],
    ]) {
      const line = host.split('\n').find((l) => l.includes(`fixture says ${level}`));
      expect(line, host).toMatch(new RegExp(`\\[${tag}\\] *host\\.node: fixture says ${level}: `));
      expect(line).toMatch(/ n=1/);
      expect(line).toMatch(/ err=boom/);
      expect(line).toMatch(/ @module=fixture/);
    }
    // The control: same JSON with a millisecond timestamp is logged verbatim at debug level.
    expect(host).toMatch(/\[DEBUG\] host\.node: \{"@level":"error","@message":"fixture ms line"/);
    expect(host).toMatch(
      /\[ERROR\] host\.node: plugsock: the onShutdown hook did not finish within 300 ms \(shutdownTimeoutMs\); stopping anyway: @module=plugsock/,
    );
  }, 320_000);
});
