import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Memory and CPU time of the stack's processes, from /proc (Linux). */

let clockTicks: number | null = null;

function ticksPerSecond(): number {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** VmHWM (peak resident set) and VmRSS in MiB, or null when the process is gone or /proc is missing. */
export function memoryOf(pid: number): { peakMiB: number; rssMiB: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { peakMiB: kb('VmHWM') / 1024, rssMiB: kb('VmRSS') / 1024 };
  } catch {
    return null;
  }
}

/** User + system CPU seconds the process has used so far (its own threads, not its children). */
export function cpuSecondsOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return null;
  }
}

export type CpuSnapshot = Record<string, number>;

/** CPU seconds the whole machine has been busy (all cores, all processes), from /proc/stat. */
export function machineBusySeconds(): number | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    return (user + nice + system + irq + softirq + steal) / ticksPerSecond();
  } catch {
    return null;
  }
}

/** CPU seconds per named process; `bench` is this process (the proxies and the event driver run in it). */
export function cpuSnapshot(pids: Record<string, number>): CpuSnapshot {
  const out: CpuSnapshot = {};
  for (const [name, pid] of Object.entries(pids)) {
    const s = cpuSecondsOf(pid);
    if (s !== null) out[name] = s;
  }
  const self = process.cpuUsage();
  out.bench = (self.user + self.system) / 1e6;
  const machine = machineBusySeconds();
  if (machine !== null) out.machine = machine;
  return out;
}

/**
 * CPU seconds per process between two snapshots, plus `other`: what the rest of the machine used
 * (other sessions, tests, the kernel), so a noisy run shows as one.
 */
export function cpuDiff(after: CpuSnapshot, before: CpuSnapshot): CpuSnapshot {
  const d = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
  if (d.machine !== undefined) {
    const ours = Object.entries(d).filter(([k]) => k !== 'machine').reduce((n, [, v]) => n + v, 0);
    d.other = Math.max(0, d.machine - ours);
    delete d.machine;
  }
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Math.round(v * 10) / 10]));
}

/** Samples one process's resident set every `everyMs`, keeping the maximum seen since the last reset. */
export class RssSampler {
  private timer: NodeJS.Timeout | null = null;
  private max = 0;

  constructor(
    private readonly pid: number,
    private readonly everyMs = 500,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      const m = memoryOf(this.pid);
      if (m) this.max = Math.max(this.max, m.rssMiB);
    }, this.everyMs);
    this.timer.unref();
  }

  /** The largest RSS seen since the previous call (MiB), then starts over. */
  takeMax(): number {
    const m = memoryOf(this.pid);
    const max = Math.max(this.max, m?.rssMiB ?? 0);
    this.max = 0;
    return Math.round(max);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

export function loadAverage(): number[] {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  } catch {
    return [];
  }
}
