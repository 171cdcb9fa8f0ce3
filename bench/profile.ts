/**
 * `--profile DIR`: a V8 CPU profile of each timed platform run ("ours"), written as
 * DIR/<scenario>-<broker>-<run>.cpuprofile (open it in Chrome's DevTools, Performance tab), and
 * a sampling profile of what it allocates beside it (.heapprofile, DevTools' Memory tab). The
 * profiler runs in this process through node:inspector, so it covers the platform (and, with the
 * embedded broker, aedes) but not the floor or the simulator.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Session } from 'node:inspector';

export class RunProfiler {
  private session?: Session;

  constructor(private readonly dir?: string) {}

  start(): void {
    if (!this.dir) return;
    this.session = new Session();
    this.session.connect();
    this.session.post('Profiler.enable');
    this.session.post('Profiler.setSamplingInterval', { interval: 200 });
    this.session.post('Profiler.start');
    // what is allocated, garbage included (what the collector's time is spent on)
    this.session.post('HeapProfiler.startSampling', { samplingInterval: 8192, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }

  /** Stop and write the profile (nothing without a folder). */
  stop(name: string): Promise<void> {
    const session = this.session;
    if (!session || !this.dir) return Promise.resolve();
    this.session = undefined;
    const dir = this.dir;
    const file = path.join(dir, name.replace(/[^\w.-]+/g, '_'));
    fs.mkdirSync(dir, { recursive: true });
    return new Promise((resolve, reject) =>
      session.post('HeapProfiler.stopSampling', (heapErr, heap) => {
        if (!heapErr) fs.writeFileSync(`${file}.heapprofile`, JSON.stringify(heap.profile));
        session.post('Profiler.stop', (err, r) => {
          session.disconnect();
          if (err) return reject(err);
          fs.writeFileSync(`${file}.cpuprofile`, JSON.stringify(r.profile));
          resolve();
        });
      }),
    );
  }
}
