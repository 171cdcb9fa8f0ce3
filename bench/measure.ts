/** Measuring helpers of the benchmark: medians, forced GC between runs, event-loop delay, peak RSS. */
import {
  constants,
  monitorEventLoopDelay,
  performance,
  PerformanceObserver,
  type EventLoopUtilization,
  type IntervalHistogram,
  type PerformanceEntry,
} from 'node:perf_hooks';
import fs from 'node:fs';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { RunProfiler } from './profile';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

v8.setFlagsFromString('--expose-gc');
const gcFn = vm.runInNewContext('gc') as () => void;
/** A full GC before a timed run, so the garbage of the previous one is not collected inside it. */
export function collectGarbage(): void {
  gcFn();
}

/**
 * The kernel's high-water mark of this process's RSS (VmHWM), reset at the start of a run by
 * writing 5 to /proc/self/clear_refs (Linux): the peak of the run without a sampling timer adding
 * work to it. Elsewhere the RSS at both ends of the run is all there is.
 */
function resetPeakRss(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
function peakRssSinceReset(): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Main-thread GC pauses over a run, ms: scavenges (young generation) and the rest (mark-compact and its steps). */
class GcMeter {
  private minorMs = 0;
  private majorMs = 0;
  private readonly observer = new PerformanceObserver((list) => this.note(list.getEntries()));

  private note(entries: PerformanceEntry[]): void {
    for (const e of entries) {
      if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) this.minorMs += e.duration;
      else this.majorMs += e.duration;
    }
  }

  start(): void {
    this.minorMs = 0;
    this.majorMs = 0;
    this.observer.observe({ entryTypes: ['gc'] });
  }

  stop(): { minorMs: number; majorMs: number } {
    this.note(this.observer.takeRecords()); // entries not yet delivered
    this.observer.disconnect();
    return { minorMs: this.minorMs, majorMs: this.majorMs };
  }
}

/** What ProcessMonitor measures of one run. */
export interface RunFigures {
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
  peakRssMb: number;
  /** CPU time of this process during the run (all its threads) */
  cpuMs: number;
  /** event-loop utilization (0–1) */
  elu: number;
  /** main-thread GC pauses: scavenges, and mark-compact with its incremental steps */
  gcMinorMs: number;
  gcMajorMs: number;
}

/** Event-loop delay (resolution 10 ms) and utilization, CPU time, GC pauses and peak RSS of this process over one timed run. */
export class ProcessMonitor {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private cpu?: NodeJS.CpuUsage;
  private elu?: EventLoopUtilization;
  private readonly gc = new GcMeter();
  private startRss = 0;
  private hwm = false;
  /** the name of the next run's CPU profile (--profile) */
  label = 'run';
  /** the last run's profile, written (--profile) */
  profileWritten: Promise<void> = Promise.resolve();

  constructor(private readonly profiler?: RunProfiler) {}

  start(): void {
    this.profiler?.start();
    this.hwm = resetPeakRss();
    this.startRss = process.memoryUsage.rss();
    this.cpu = process.cpuUsage();
    this.elu = performance.eventLoopUtilization();
    this.gc.start();
    this.histogram.reset();
    this.histogram.enable();
  }

  /**
   * Stop and return p99 / max delay in ms, peak RSS in MB, the CPU time this process used (all its
   * threads) and the event loop's utilization (the share of the run its thread was busy: near 1, the
   * run is bound by this thread's CPU; lower, it waited for the broker or the devices).
   */
  stop(): RunFigures {
    const cpu = process.cpuUsage(this.cpu);
    const gc = this.gc.stop();
    const elu = performance.eventLoopUtilization(this.elu).utilization;
    this.histogram.disable();
    if (this.profiler) this.profileWritten = this.profiler.stop(this.label);
    const peak = Math.max(this.startRss, process.memoryUsage.rss(), (this.hwm && peakRssSinceReset()) || 0);
    return {
      eventLoopP99Ms: this.histogram.percentile(99) / 1e6,
      eventLoopMaxMs: this.histogram.max / 1e6,
      peakRssMb: peak / (1024 * 1024),
      cpuMs: (cpu.user + cpu.system) / 1000,
      elu,
      gcMinorMs: gc.minorMs,
      gcMajorMs: gc.majorMs,
    };
  }
}
