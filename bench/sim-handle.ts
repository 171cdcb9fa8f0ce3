/** The parent's side of the device simulator: fork it, send commands, wait for replies. */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { SimCommand, SimReply } from './sim-protocol';
import type { Faults } from './faults';

export class Simulator {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  clients = 0;

  private constructor() {
    // plain `node`: no inherited --cpu-prof or inspector flags in the child
    this.child = fork(path.join(__dirname, 'simulator.js'), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
  }

  static async start(url: string, devices: number, clients: number, typeId: string, faults?: Faults): Promise<Simulator> {
    const sim = new Simulator();
    const ready = await sim.request({ type: 'start', url, devices, clients, typeId, faults }, 'ready', 120_000);
    if (ready.type === 'ready') sim.clients = ready.clients;
    return sim;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Send a command and wait for the reply of the given type (an `error` reply rejects). */
  request<T extends SimReply['type']>(cmd: SimCommand, expect: T, timeoutMs: number): Promise<Extract<SimReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
      };
      const onMessage = (r: SimReply) => {
        if (r.type === expect) {
          cleanup();
          resolve(r as Extract<SimReply, { type: T }>);
        } else if (r.type === 'error') {
          cleanup();
          reject(new Error(`simulator: ${r.message}`));
        }
      };
      const onExit = (code: number | null) => {
        cleanup();
        reject(new Error(`simulator exited (${code}) while waiting for ${expect}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`simulator: no ${expect} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
      this.child.send(cmd);
    });
  }

  /** Ask every device to send a manage request (not awaited: the caller watches the platform). */
  manageAll(): Promise<unknown> {
    return this.request({ type: 'manage' }, 'managed', 60_000);
  }

  /** End the clients and the process; killed when it does not exit within a few seconds. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.send({ type: 'stop' } satisfies SimCommand);
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}
