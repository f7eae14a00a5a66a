/** A fixture process that speaks a line protocol on stdin/stdout (the load tests' server and clients). */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { basename } from 'node:path';

export interface Fixture {
  child: ChildProcess;
  /** Next stdout line starting with `prefix ` (or equal to it); the rest of the line. */
  next(prefix: string, timeoutMs?: number): Promise<string>;
  send(line: string): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** Runs `node [execArgv] file JSON(config)`. */
export function startFixture(file: string, config: unknown, options: SpawnOptions & { execArgv?: string[] } = {}): Fixture {
  const name = basename(file);
  const child = spawn(process.execPath, [...(options.execArgv ?? []), file, JSON.stringify(config)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...options,
  });
  let stderr = '';
  let buffer = '';
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buffer += d;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      lines.push(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
    for (const w of waiters.splice(0)) w();
  });
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null; stderr: string } | null = null;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => {
      exitInfo = { code, signal, stderr };
      resolve(exitInfo);
      for (const w of waiters.splice(0)) w();
    });
  });
  const next = (prefix: string, timeoutMs = 60_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: timed out waiting for ${prefix}; stderr: ${stderr}`)), timeoutMs);
      const check = () => {
        const i = lines.findIndex((l) => l === prefix || l.startsWith(`${prefix} `));
        if (i >= 0) {
          clearTimeout(timer);
          const [line] = lines.splice(i, 1);
          resolve(line.slice(prefix.length + 1));
          return;
        }
        if (exitInfo) {
          clearTimeout(timer);
          reject(new Error(`${name} exited (${exitInfo.code ?? exitInfo.signal}) before ${prefix}; stdout: ${lines.join('\n')}; stderr: ${stderr}`));
          return;
        }
        waiters.push(check);
      };
      check();
    });
  return { child, next, send: (line) => child.stdin!.write(`${line}\n`), exited };
}
