// Child-process orchestration and machine/process introspection for the benchmarks.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('./worker.mjs', import.meta.url));

/**
 * Starts `bench/lib/worker.mjs` with `config` in its own process. Returns a handle whose
 * `ready` resolves with the worker's 'ready' message, `result` with its 'result' message (or
 * rejects when it dies first), `send(msg)` and `stop()`.
 */
export function startWorker(config, { timeoutMs = 120_000 } = {}) {
  const child = fork(WORKER, [JSON.stringify(config)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'json',
  });
  let readyResolve, readyReject, resultResolve, resultReject;
  const ready = new Promise((res, rej) => { readyResolve = res; readyReject = rej; });
  const result = new Promise((res, rej) => { resultResolve = res; resultReject = rej; });
  // Either promise may go unawaited (a server's result, say): never an unhandled rejection.
  ready.catch(() => {});
  result.catch(() => {});
  const timer = setTimeout(() => {
    const err = new Error(`worker ${config.role}/${config.impl}/${config.kind ?? ''} timed out after ${timeoutMs} ms`);
    readyReject(err);
    resultReject(err);
    child.kill('SIGKILL');
  }, timeoutMs);
  timer.unref();
  child.on('message', (msg) => {
    if (msg?.type === 'ready') readyResolve(msg);
    else if (msg?.type === 'result') resultResolve(msg);
    else if (msg?.type === 'error') {
      const err = new Error(`worker ${config.role}/${config.impl}: ${msg.message}`);
      readyReject(err);
      resultReject(err);
    }
  });
  const exited = new Promise((res) => child.once('exit', (code, signal) => {
    clearTimeout(timer);
    const err = new Error(`worker ${config.role}/${config.impl}/${config.kind ?? ''} exited (${signal ?? code}) before reporting`);
    readyReject(err);
    resultReject(err);
    res({ code, signal });
  }));
  return {
    pid: child.pid,
    ready,
    result,
    exited,
    send: (msg) => { if (child.connected) child.send(msg); },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        if (child.connected) child.send({ type: 'stop' });
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/**
 * Runs one measurement with a server and a client in separate processes: both start at once
 * (their start-up overlaps), the client is told to go once the server listens, and the
 * client's result is returned. The server is always stopped.
 */
export async function runPair(serverConfig, clientConfig, opts) {
  const server = startWorker({ role: 'server', ...serverConfig }, opts);
  const client = startWorker({ role: 'client', ...clientConfig }, opts);
  try {
    await Promise.all([server.ready, client.ready]);
    client.send({ type: 'go' });
    const res = await client.result;
    return { ...res, serverPid: server.pid, clientPid: client.pid };
  } finally {
    await Promise.allSettled([client.stop(), server.stop()]);
  }
}

/** Runs a single-process measurement (a worker that only needs 'go'). */
export async function runSolo(config, opts) {
  const w = startWorker(config, opts);
  try {
    await w.ready;
    w.send({ type: 'go' });
    return await w.result;
  } finally {
    await w.stop();
  }
}

/**
 * Page-fault counters of a live process from /proc/<pid>/stat (Linux): minflt and majflt
 * (fields 10 and 12). Null where /proc is unavailable. Inside a process,
 * `process.resourceUsage().minorPageFault` gives the same number for the process itself.
 */
export function readFaults(pid = process.pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { minflt: Number(rest[7]), majflt: Number(rest[9]) };
  } catch {
    return null;
  }
}

/**
 * Runs `fn(variant, rep)` for every variant, `reps` times, interleaved and rotated
 * (A,B,C / B,C,A / C,A,B ...) so no variant always runs first or right after another.
 * Returns { variant: [result per rep] } (null for a failed run, with the error in `errors`).
 */
export async function interleave(variants, reps, fn, { log = () => {} } = {}) {
  const out = Object.fromEntries(variants.map((v) => [v, []]));
  const errors = [];
  for (let rep = 0; rep < reps; rep++) {
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(i + rep) % variants.length];
      try {
        out[v][rep] = await fn(v, rep);
        log(v, rep, out[v][rep]);
      } catch (err) {
        out[v][rep] = null;
        errors.push(`${v} rep ${rep + 1}: ${err.message}`);
        log(v, rep, null, err);
      }
    }
  }
  return { results: out, errors };
}

/** The machine a run happened on. */
export function machineInfo() {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpu: `${cpus[0]?.model ?? 'unknown'} x ${cpus.length}`,
    memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    loadavg: os.loadavg().map((x) => +x.toFixed(2)),
    hostname: os.hostname(),
  };
}
