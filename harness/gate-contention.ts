/**
 * How much of the machine other processes used while the gate measured: the gate's guard against shared-machine
 * noise that no statistic can remove.
 *
 * Ratios between designs cancel a machine that is uniformly slower, but not one whose cores are partly taken by
 * someone else: a two-thread busy-spinning design loses far more to a neighbour than one thread does, so a
 * neighbour's burst moves the ratios systematically, and a run measured entirely under it has a tight confidence
 * interval around the wrong value. So each round measures the CPU time the whole machine spent busy
 * (/proc/stat, all cores) minus what this process spent (process.cpuUsage(), all its threads); a round in which
 * other processes used more than a share of the machine is discarded and measured again.
 *
 * Linux only (/proc/stat); elsewhere the probe reports nothing and every round counts.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** /proc/stat counts in USER_HZ ticks, 100 per second on every Linux architecture Node supports. */
const TICK_MS = 10;

interface Sample {
  readonly wallMs: number;
  /** Busy time of all cores together, ms. */
  readonly machineBusyMs: number;
  /** CPU time of this process, all threads, ms. */
  readonly ownMs: number;
}

function machineBusyMs(): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice
  const fields = text.slice(0, text.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
  if (fields.length < 8 || fields.some((f) => !Number.isFinite(f))) throw new Error(`/proc/stat: unexpected first line "${text.slice(0, text.indexOf('\n'))}"`);
  const [user, nice, system, , , irq, softirq, steal] = fields as [number, number, number, number, number, number, number, number];
  return (user + nice + system + irq + softirq + steal) * TICK_MS;
}

export class ContentionProbe {
  #start: Sample | undefined;

  /** Starts a measurement interval. */
  start(): void {
    const busy = machineBusyMs();
    const own = process.cpuUsage();
    this.#start = busy === undefined ? undefined : { wallMs: performance.now(), machineBusyMs: busy, ownMs: (own.user + own.system) / 1000 };
  }

  /**
   * The share of the machine's CPU capacity (0 … 1) that other processes used since `start`, or undefined where it
   * cannot be measured.
   */
  foreignShare(): number | undefined {
    const start = this.#start;
    const busy = machineBusyMs();
    if (start === undefined || busy === undefined) return undefined;
    const own = process.cpuUsage();
    const wallMs = performance.now() - start.wallMs;
    const foreignMs = busy - start.machineBusyMs - ((own.user + own.system) / 1000 - start.ownMs);
    return Math.max(0, foreignMs) / (wallMs * availableParallelism());
  }
}
