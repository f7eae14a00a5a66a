/**
 * What /proc says about a process: its parent, state and start time, whether it descends from
 * another, whether it has died. Linux only; elsewhere every answer is "unknown" (null, false).
 */
import { readFileSync } from 'node:fs';

/** How many parents a walk up the process tree follows at most (the chain to pid 1 is rarely over 20). */
export const MAX_ANCESTORS = 64;

export interface ProcStat {
  ppid: number;
  state: string;
  /** Field 22: clock ticks after boot; with the pid, names one process for the boot's life. */
  startTime: string;
}

/** A process named by its pid and its start time, which no other process of this boot shares. */
export interface ProcessId {
  readonly pid: number;
  readonly startTime: string;
}

/** /proc/<pid>/stat's state, parent and start time, or null (no such process, or no /proc). */
export function readProcStat(pid: number): ProcStat | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces and ')'; fields after the
  // last ')' are space separated, field 3 (state) first, so field N is at index N - 3.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = rest[0] ?? '';
  const ppid = Number(rest[1]);
  const startTime = rest[19] ?? '';
  if (state === '' || !Number.isInteger(ppid) || !/^\d+$/.test(startTime)) return null;
  return { ppid, state, startTime };
}

/** `pid` with its start time now, or null when /proc cannot tell. */
export function processId(pid: number): ProcessId | null {
  const stat = readProcStat(pid);
  return stat ? { pid, startTime: stat.startTime } : null;
}

/** Whether the process still holds its pid (same start time) and has not died (a zombie has). */
export function isRunning(p: ProcessId): boolean {
  const stat = readProcStat(p.pid);
  return stat !== null && stat.startTime === p.startTime && stat.state !== 'Z' && stat.state !== 'X' && stat.state !== 'x';
}

/** Whether `pid` is `ancestor` or one of its descendants (walks the ppid chain). */
export function isSameOrDescendant(pid: number, ancestor: number): boolean {
  let p: number | null = pid;
  for (let i = 0; i < MAX_ANCESTORS && p !== null && p > 1; i++) {
    if (p === ancestor) return true;
    p = readProcStat(p)?.ppid ?? null;
  }
  return p === ancestor;
}

/** Whether `pid`'s chain of parents reaches `ancestor` (bounded; false without /proc). */
export function isAncestorOf(ancestor: number, pid: number): boolean {
  let p: number = pid;
  for (let i = 0; i < MAX_ANCESTORS && p > 1; i++) {
    const stat = readProcStat(p);
    if (!stat) return false;
    p = stat.ppid;
    if (p === ancestor) return true;
  }
  return false;
}
