// Child-process orchestration and machine/process introspection for the benchmarks.
import { execFileSync, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const WORKER = fileURLToPath(new URL('./worker.mjs', import.meta.url));

/**
 * Starts `bench/lib/worker.mjs` with `config` in its own process. Returns a handle whose
 * `ready` resolves with the worker's 'ready' message, `nextResult()` with its next 'result'
 * message (rejecting when it fails or dies first), `send(msg)` and `stop()`.
 * `execArgv`: extra Node flags (e.g. --expose-gc). `nofile`: the worker runs under
 * `prlimit --nofile=<nofile>:<nofile> -- node ...` (see nofileLimits()).
 */
export function startWorker(config, { timeoutMs = 120_000, execArgv = [], nofile = 0 } = {}) {
  const stdio = ['ignore', 'inherit', 'inherit', 'ipc'];
  const child = nofile
    ? spawn('prlimit', [`--nofile=${nofile}:${nofile}`, '--', process.execPath, ...process.execArgv, ...execArgv, WORKER, JSON.stringify(config)], {
        stdio,
        serialization: 'json',
      })
    : fork(WORKER, [JSON.stringify(config)], {
        stdio,
        serialization: 'json',
        ...(execArgv.length ? { execArgv: [...process.execArgv, ...execArgv] } : {}),
      });
  const label = `${config.role}/${config.impl}${config.kind ? `/${config.kind}` : ''}`;
  let failure = null;
  const results = [];
  const waiters = [];
  let readyResolve, readyReject;
  const ready = new Promise((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  ready.catch(() => {});
  const failAll = (err) => {
    failure ??= err;
    readyReject(failure);
    for (const w of waiters.splice(0)) w.reject(failure);
  };
  let timer = null;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      failAll(new Error(`worker ${label} timed out after ${timeoutMs} ms`));
      child.kill('SIGKILL');
    }, timeoutMs);
    timer.unref();
  };
  arm();
  child.on('message', (msg) => {
    if (msg?.type === 'ready') readyResolve(msg);
    else if (msg?.type === 'result') {
      const w = waiters.shift();
      if (w) w.resolve(msg);
      else results.push(msg);
    } else if (msg?.type === 'error') failAll(new Error(`worker ${label}: ${msg.message}`));
  });
  const exited = new Promise((res) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      failAll(new Error(`worker ${label} exited (${signal ?? code}) before reporting`));
      res({ code, signal });
    });
    // Not started at all (prlimit missing, say): there will be no 'exit'.
    child.once('error', (err) => {
      if (child.pid !== undefined) return;
      clearTimeout(timer);
      failAll(new Error(`worker ${label} could not start: ${err.message}`));
      res({ code: null, signal: null });
    });
  });
  return {
    pid: child.pid,
    ready,
    exited,
    nextResult() {
      arm();
      if (results.length) return Promise.resolve(results.shift());
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    send: (msg) => {
      if (child.connected) child.send(msg);
    },
    async stop() {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        if (child.connected) child.send({ type: 'stop' });
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/**
 * A server and a client in separate processes, started at once (their start-up overlaps).
 * `measure(params)` sends the client a 'go' (the server is listening by then) and resolves its
 * result; a client may take several 'go's (windows alternated with other pairs), or one.
 */
export async function startPair(serverConfig, clientConfig, opts) {
  const server = startWorker({ role: 'server', ...serverConfig }, opts);
  const client = startWorker({ role: 'client', ...clientConfig }, opts);
  const stop = () => Promise.allSettled([client.stop(), server.stop()]);
  try {
    await Promise.all([server.ready, client.ready]);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    async measure(params = {}) {
      const res = client.nextResult();
      client.send({ type: 'go', ...params });
      return { ...(await res), serverPid: server.pid, clientPid: client.pid };
    },
    stop,
  };
}

/** One measurement by a fresh pair of processes. */
export async function runPair(serverConfig, clientConfig, opts) {
  const pair = await startPair(serverConfig, clientConfig, opts);
  try {
    return await pair.measure();
  } finally {
    await pair.stop();
  }
}

/** Runs a single-process measurement (a worker that only needs 'go'). */
export async function runSolo(config, opts) {
  const w = startWorker(config, opts);
  try {
    await w.ready;
    const res = w.nextResult();
    w.send({ type: 'go' });
    return await res;
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
 * RLIMIT_NOFILE of this process (children inherit it), from `ulimit -Sn` / `ulimit -Hn` in a
 * child shell, and whether `prlimit` (util-linux) is there to start a worker with another one.
 * Infinity for 'unlimited'; null fields where the shell could not tell.
 */
export function nofileLimits() {
  const read = (flag) => {
    try {
      const out = execFileSync('sh', ['-c', `ulimit ${flag}`], { encoding: 'utf8' }).trim();
      return out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out) || null;
    } catch {
      return null;
    }
  };
  let prlimit = false;
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    prlimit = true;
  } catch {
    // not installed (macOS, say): the workers inherit this process's limit
  }
  return { soft: read('-Sn'), hard: read('-Hn'), prlimit };
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
      for (let attempt = 1; ; attempt++) {
        try {
          out[v][rep] = await fn(v, rep);
          log(v, rep, out[v][rep]);
          break;
        } catch (err) {
          // Retried once: on a shared tree, dist/ may be rebuilt under a starting worker.
          log(v, rep, null, err);
          if (attempt < 2) continue;
          out[v][rep] = null;
          errors.push(`${v} rep ${rep + 1}: ${err.message.split('\n')[0]}`);
          break;
        }
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
