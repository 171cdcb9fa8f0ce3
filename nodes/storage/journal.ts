/**
 * The Store (nodes/platform/store.ts) as an append-only journal: one file of JSON lines, one line a
 * write (`{"c":collection,"k":key,"v":value}`, `{"c","k","d":1}` a delete, `{"c","x":1}` a drop).
 *
 * Writes are batched: put() appends to a buffer, and the buffer goes to the file `flushMs` after
 * the first write of a batch (one write(2) a batch, so a manage storm of 5,000 devices costs a
 * handful of system calls, not 5,000), then `fdatasync` when `sync` is on. A batch is durable
 * - against a crash of the process (kill -9): once written, at most `flushMs` + the time of the
 *   write in progress after put() (the page cache belongs to the kernel);
 * - against a power cut: once synced (`sync` true, the default), the same bound plus one fdatasync.
 * `durableWithinMs` states the bound used by the platform (flushMs + MAX_WRITE_MS).
 *
 * Compaction: when the journal holds more than `compactFactor` times as many lines as live entries
 * (and at least `compactMinLines`), or more than `compactFactor` times the characters of the live
 * entries (and at least `compactMinBytes`: a few large values rewritten often, such as a running
 * rollout's device chunks, grow the file by size, not by count), the live entries are written to
 * `<file>.tmp`, synced, and renamed over the journal (rename is atomic: a crash leaves the old or
 * the new file, both whole).
 * A line cut short by a crash is skipped on load, so is anything after it on that line.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Collections, Store } from '../platform/store';

export interface JournalOptions {
  /** the journal file; its directory is created */
  file: string;
  /** ms between the first write of a batch and its write to the file (default 20) */
  flushMs?: number;
  /** fdatasync after every batch (default true) */
  sync?: boolean;
  compactFactor?: number;
  compactMinLines?: number;
  /** characters (about bytes) written before a compaction by size is considered (default 64 MiB) */
  compactMinBytes?: number;
}

/** the time a batch write and its sync are allowed in the stated bound */
const MAX_WRITE_MS = 80;

export class Journal implements Store {
  readonly durableWithinMs: number;
  onError?: (err: Error) => void;
  private readonly flushMs: number;
  private readonly sync: boolean;
  private readonly compactFactor: number;
  private readonly compactMinLines: number;
  private readonly compactMinBytes: number;
  /** live entries as their serialised line, for compaction */
  private readonly live = new Map<string, Map<string, string>>();
  private liveCount = 0;
  /** characters of the live lines (newline included), and of the file */
  private liveChars = 0;
  private chars = 0;
  private lines = 0;
  private buffer: string[] = [];
  private timer?: NodeJS.Timeout;
  private fd?: fs.promises.FileHandle;
  private writing: Promise<void> = Promise.resolve();
  private loaded = false;
  private closed = false;
  /** batches written, and their total write + sync time (ms), for the bench */
  batches = 0;
  private writeMs = 0;

  constructor(private readonly opts: JournalOptions) {
    this.flushMs = opts.flushMs ?? 20;
    this.sync = opts.sync ?? true;
    this.compactFactor = opts.compactFactor ?? 4;
    this.compactMinLines = opts.compactMinLines ?? 20000;
    this.compactMinBytes = opts.compactMinBytes ?? 64 * 1024 * 1024;
    this.durableWithinMs = this.flushMs + MAX_WRITE_MS;
  }

  async load(): Promise<Collections> {
    const out: Collections = new Map();
    let text = '';
    try {
      text = await fsp.readFile(this.opts.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.chars = text.length;
    for (const line of text.split('\n')) {
      if (!line) continue;
      let r: { c?: unknown; k?: unknown; v?: unknown; d?: unknown; x?: unknown };
      try {
        r = JSON.parse(line);
      } catch {
        continue; // a line cut short by a crash
      }
      if (typeof r.c !== 'string') continue;
      this.lines++;
      if (r.x) {
        out.delete(r.c);
        this.dropLive(r.c);
        continue;
      }
      if (typeof r.k !== 'string') continue;
      let c = out.get(r.c);
      if (r.d) {
        c?.delete(r.k);
        this.deleteLive(r.c, r.k);
        continue;
      }
      if (!c) out.set(r.c, (c = new Map()));
      c.set(r.k, r.v);
      this.setLive(r.c, r.k, line);
    }
    await fsp.mkdir(path.dirname(this.opts.file), { recursive: true });
    // a torn last line must not glue itself to the next write
    if (text && !text.endsWith('\n')) await fsp.appendFile(this.opts.file, '\n');
    const fd = await fsp.open(this.opts.file, 'a');
    if (this.closed) {
      // closed while loading (a node removed during its start): the file is not kept open
      await fd.close();
      return out;
    }
    this.fd = fd;
    this.loaded = true;
    if (this.buffer.length) this.schedule();
    return out;
  }

  put(collection: string, key: string, value: unknown): void {
    const line = JSON.stringify({ c: collection, k: key, v: value });
    this.setLive(collection, key, line);
    this.append(line);
  }

  delete(collection: string, key: string): void {
    if (!this.deleteLive(collection, key)) return;
    this.append(JSON.stringify({ c: collection, k: key, d: 1 }));
  }

  drop(collection: string): void {
    if (!this.live.has(collection)) return;
    this.dropLive(collection);
    this.append(JSON.stringify({ c: collection, x: 1 }));
  }

  private setLive(c: string, k: string, line: string): void {
    let m = this.live.get(c);
    if (!m) this.live.set(c, (m = new Map()));
    const old = m.get(k);
    if (old === undefined) this.liveCount++;
    else this.liveChars -= old.length + 1;
    this.liveChars += line.length + 1;
    m.set(k, line);
  }
  private deleteLive(c: string, k: string): boolean {
    const m = this.live.get(c);
    const old = m?.get(k);
    if (!m || old === undefined) return false;
    m.delete(k);
    this.liveCount--;
    this.liveChars -= old.length + 1;
    if (m.size === 0) this.live.delete(c);
    return true;
  }
  private dropLive(c: string): void {
    const m = this.live.get(c);
    if (!m) return;
    this.liveCount -= m.size;
    for (const line of m.values()) this.liveChars -= line.length + 1;
    this.live.delete(c);
  }

  private append(line: string): void {
    if (this.closed) return;
    this.buffer.push(line);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || !this.loaded) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writeBatch();
    }, this.flushMs);
  }

  /** Write what is buffered (after the write in progress); resolves when it is on file. */
  private writeBatch(): Promise<void> {
    this.writing = this.writing.then(async () => {
      if (!this.buffer.length || !this.fd) return;
      const batch = this.buffer;
      this.buffer = [];
      const t0 = performance.now();
      try {
        const text = batch.join('\n') + '\n';
        await this.fd.write(text);
        if (this.sync) await this.fd.datasync();
        this.lines += batch.length;
        this.chars += text.length;
        const byCount = this.lines > this.compactMinLines && this.lines > this.liveCount * this.compactFactor;
        if (byCount || (this.chars > this.compactMinBytes && this.chars > this.liveChars * this.compactFactor)) await this.compact();
      } catch (err) {
        this.onError?.(err as Error);
      }
      this.writeMs += performance.now() - t0;
      this.batches++;
    });
    return this.writing;
  }

  private async compact(): Promise<void> {
    const tmp = `${this.opts.file}.tmp`;
    const out = await fsp.open(tmp, 'w');
    try {
      // written 1,000 lines or 1 MiB at a time (a line can hold a chunk of a rollout's devices)
      let chunk: string[] = [];
      let chunkChars = 0;
      for (const m of this.live.values()) {
        for (const line of m.values()) {
          chunk.push(line);
          chunkChars += line.length;
          if (chunk.length >= 1000 || chunkChars >= 1 << 20) {
            await out.write(chunk.join('\n') + '\n');
            chunk = [];
            chunkChars = 0;
          }
        }
      }
      if (chunk.length) await out.write(chunk.join('\n') + '\n');
      await out.datasync();
    } finally {
      await out.close();
    }
    await fsp.rename(tmp, this.opts.file);
    await this.fd?.close();
    this.fd = await fsp.open(this.opts.file, 'a');
    this.lines = this.liveCount;
    this.chars = this.liveChars;
  }

  /** mean write + sync time of a batch (ms) */
  get meanWriteMs(): number {
    return this.batches ? this.writeMs / this.batches : 0;
  }

  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    await this.writeBatch();
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.fd?.close();
    this.fd = undefined;
  }
}
