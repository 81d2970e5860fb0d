/**
 * Linux /proc readings for the benchmarks: the machine's CPU time (/proc/stat), every process's CPU time and parent
 * (/proc/<pid>/stat) and resident memory (/proc/<pid>/status). Off Linux, snapshot() and rssMb() return undefined.
 *
 * A process tree's CPU is the sum, over the processes alive in it, of their own time plus the time of the children
 * they have reaped (cutime + cstime): a short-lived ffmpeg that a daemon started and reaped between two snapshots is
 * counted in the daemon's cutime, one still running in its own entry, so the difference between two snapshots is
 * the tree's CPU in between whatever lived and died meanwhile.
 */
import fs from "node:fs";

export interface ProcessTicks {
  ppid: number;
  /** utime + stime: the process's own CPU, all threads. */
  own: number;
  /** own + cutime + cstime (children reaped so far). */
  withReaped: number;
}

export interface ProcSnapshot {
  /** performance.now() when it was taken. */
  at: number;
  /** /proc/stat "cpu" line: ticks not idle (iowait counts as idle), and all ticks, summed over every core. */
  machineBusy: number;
  machineTotal: number;
  processes: Map<number, ProcessTicks>;
}

export function snapshot(): ProcSnapshot | undefined {
  let cpuLine: string;
  try {
    cpuLine = fs.readFileSync("/proc/stat", "utf8").split("\n")[0];
  } catch {
    return undefined;
  }
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const fields = cpuLine.trim().split(/\s+/).slice(1, 9).map(Number);
  const machineTotal = fields.reduce((a, b) => a + b, 0);
  const processes = new Map<number, ProcessTicks>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    // After the command's closing parenthesis: state, ppid, ... utime (14th field), stime, cutime, cstime.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const own = Number(rest[11]) + Number(rest[12]);
    processes.set(Number(entry), { ppid: Number(rest[1]), own, withReaped: own + Number(rest[13]) + Number(rest[14]) });
  }
  return { at: performance.now(), machineBusy: machineTotal - fields[3] - fields[4], machineTotal, processes };
}

/** `root` and every process below it, as the snapshot saw them. */
export function descendants(snap: ProcSnapshot, root: number): number[] {
  const children = new Map<number, number[]>();
  for (const [pid, p] of snap.processes) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  const found: number[] = [];
  const queue = snap.processes.has(root) ? [root] : [];
  while (queue.length > 0) {
    const pid = queue.pop()!;
    found.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

/** CPU ticks of the tree under `root` (see the file's comment); 0 if the root is gone. */
export function treeTicks(snap: ProcSnapshot, root: number): number {
  return descendants(snap, root).reduce((total, pid) => total + snap.processes.get(pid)!.withReaped, 0);
}

/**
 * Cores' worth of CPU between two snapshots for a quantity of ticks (`ticksOf`), against the machine's own tick
 * count: no USER_HZ needed. 1.0 = one core busy all the time.
 */
export function coresBetween(
  from: ProcSnapshot,
  to: ProcSnapshot,
  cores: number,
  ticksOf: (snap: ProcSnapshot) => number,
): number {
  const total = to.machineTotal - from.machineTotal;
  return total > 0 ? ((ticksOf(to) - ticksOf(from)) / total) * cores : NaN;
}

/** The machine's busy share between two snapshots, in cores. */
export function machineCores(from: ProcSnapshot, to: ProcSnapshot, cores: number): number {
  return coresBetween(from, to, cores, (s) => s.machineBusy);
}

/** Resident memory of one process in MB (VmRSS), or undefined if it is gone or this is not Linux. */
export function rssMb(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** The command line of a process (arguments joined by spaces), or "" if it is gone. */
export function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/**
 * Cores' worth of CPU between two snapshots: the machine's, that of each named group of process trees, and that of
 * everything outside the tree of `self` (this bench: "others", on a shared machine).
 */
export function cpuByTree<K extends string>(
  from: ProcSnapshot,
  to: ProcSnapshot,
  cores: number,
  trees: Record<K, readonly number[]>,
  self = process.pid,
): Record<K, number> & { windowS: number; machine: number; others: number; thisProcess: number } {
  const of = (pids: readonly number[]) => (s: ProcSnapshot) => pids.reduce((t, pid) => t + treeTicks(s, pid), 0);
  const machine = machineCores(from, to, cores);
  const bench = coresBetween(from, to, cores, of([self]));
  const named = Object.fromEntries(
    (Object.entries(trees) as Array<[K, readonly number[]]>).map(([name, pids]) => [
      name,
      coresBetween(from, to, cores, of(pids)),
    ]),
  ) as Record<K, number>;
  return {
    ...named,
    windowS: (to.at - from.at) / 1000,
    machine,
    others: Math.max(0, machine - bench),
    thisProcess: coresBetween(from, to, cores, (s) => s.processes.get(self)?.own ?? NaN),
  };
}
