// Counting user-space instructions with valgrind's callgrind, for machines without hardware
// performance counters. The count (callgrind's "Collected") is what the guest program executed
// in user space, all its threads and forked children summed; the kernel's work for its system
// calls is not in it (callgrind does not see the kernel; --collect-systime stays off).
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';

/** The line a command prints when counting should start (see countInstructions). */
export const START_MARK = 'callgrind:start';

const run = (cmd, args, opts = {}) =>
  new Promise((resolve) => {
    execFile(cmd, args, { timeout: 10_000, ...opts }, (err, stdout, stderr) => resolve({ err, stdout, stderr }));
  });

/** valgrind's version string ("valgrind-3.19.0"), or null when valgrind is not installed. */
export async function valgrindVersion() {
  const { err, stdout } = await run('valgrind', ['--version']);
  return err ? null : stdout.trim();
}

// Process groups of the valgrind runs under way, for killRunning().
const running = new Set();

/** Kills every callgrind run still under way (synchronous: usable in an 'exit' handler). */
export function killRunning() {
  for (const pid of running) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
  }
  running.clear();
}

/**
 * Runs `command args` under callgrind and resolves the instructions it executed (summed over
 * every process valgrind followed: one "Collected : N" line each). The profile goes to `outFile`
 * (for callgrind_annotate; by default none is written); valgrind's gdbserver pipes go into
 * `tmpDir` (the caller's to remove, even after a kill).
 *
 * With `fromMark`, instrumentation starts off (start-up then runs ~3x faster under valgrind)
 * and is switched on, through vgdb, when the command prints START_MARK on stdout; the command
 * must then wait for a line on stdin before going on. Rejects when the command fails, vgdb
 * cannot reach it, or it exceeds `timeoutMs` (it is then killed, with its children).
 *
 * The command's stdin is a pipe this process holds: a command can watch it for EOF to end
 * itself should this process die without killing it.
 */
export function countInstructions(command, args, { tmpDir, fromMark = false, outFile = '/dev/null', timeoutMs = 120_000 }) {
  const prefix = `--vgdb-prefix=${path.join(tmpDir, 'vgdb')}`;
  const vgArgs = ['--tool=callgrind', `--callgrind-out-file=${outFile}`, prefix, ...(fromMark ? ['--instr-atstart=no'] : ['--vgdb=no'])];
  return new Promise((resolve, reject) => {
    const child = spawn('valgrind', [...vgArgs, command, ...args], {
      stdio: ['pipe', fromMark ? 'pipe' : 'ignore', 'pipe'],
      detached: true, // its own process group, so a timeout can end valgrind and its forks
    });
    running.add(child.pid);
    let failure = null;
    const kill = (why) => {
      failure ??= why;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    };
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.stdin.on('error', () => {});
    if (fromMark) {
      let out = '';
      let marked = false;
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', async (d) => {
        if (marked) return;
        out += d;
        if (!out.includes(`${START_MARK}\n`)) return;
        marked = true;
        // vgdb returns once callgrind has done it (it interrupts a process blocked in a
        // system call with ptrace): nothing of the command runs counted before 'go'.
        const { err, stderr: e } = await run('vgdb', [prefix, `--pid=${child.pid}`, 'instrumentation', 'on']);
        if (err) return kill(`vgdb could not switch instrumentation on (${(e || err.message).trim().split('\n').at(-1)})`);
        child.stdin.write('go\n');
      });
    }
    const timer = setTimeout(() => kill(`timed out after ${timeoutMs / 1000} s`), timeoutMs);
    const done = () => {
      clearTimeout(timer);
      running.delete(child.pid);
      child.stdin.destroy();
    };
    child.on('error', (err) => {
      done();
      reject(err);
    });
    child.on('close', (code, signal) => {
      done();
      const counts = [...stderr.matchAll(/^==\d+== Collected : (\d+)$/gm)].map((m) => Number(m[1]));
      if (!failure && code === 0 && counts.length > 0) return resolve(counts.reduce((a, b) => a + b, 0));
      const tail = stderr
        .split('\n')
        .filter((l) => l.trim() && !l.startsWith('==') && !/^\s+at /.test(l)) // valgrind's lines, stack frames
        .slice(-3)
        .join(' | ');
      const how = failure ?? (signal ? `killed (${signal})` : `exit ${code}`);
      reject(new Error(`${path.basename(command)} ${args.join(' ')} under callgrind: ${how}${tail ? `: ${tail}` : ''}`));
    });
  });
}

/**
 * Whether countInstructions' `fromMark` works here (vgdb may be missing, or ptrace refused):
 * tries it on a shell that prints the mark and reads a line. Resolves true, or the reason why not.
 */
export async function markWorks(tmpDir) {
  try {
    await countInstructions('sh', ['-c', `echo ${START_MARK}; read line`], { tmpDir, fromMark: true, timeoutMs: 30_000 });
    return true;
  } catch (err) {
    return err.message;
  }
}

/**
 * Runs the async `tasks` (functions) at most `limit` at a time. Resolves, once every task has
 * ended, their outcomes in order: { value } or { error } (a failure never leaves others running).
 */
export async function pool(tasks, limit) {
  const results = new Array(tasks.length);
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) {
      const i = next++;
      try {
        results[i] = { value: await tasks[i]() };
      } catch (error) {
        results[i] = { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, lane));
  return results;
}
