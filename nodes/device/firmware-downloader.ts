/**
 * The built-in firmware downloader of `firmware-state` (an option beside "download by the flow").
 * Fetches `mgmt.firmware.uri` over http or https only, into a configured folder under a safe file
 * name, checks `verifier` as a hex SHA-256 (64 digits) or MD5 (32 digits) digest, caps the size,
 * and maps every failure to the seed's updateStatus (docs/protocol.md §3.9, §11.4):
 *
 * | failure                                                                     | updateStatus |
 * |-----------------------------------------------------------------------------|--------------|
 * | not a URL, a scheme other than http/https, unknown host (ENOTFOUND),        | 6 invalid URI |
 * | an HTTP status other than 2xx (404, 500, ...), too many redirects           |              |
 * | connection refused, reset, timed out, or the body ended early                | 3 connection lost |
 * | digest differs, or a verifier that is neither 64 nor 32 hex digits          | 4 verification failed |
 * | no space left (ENOSPC, EDQUOT), the size cap exceeded, the file cannot be written | 2 out of memory (space) |
 *
 * A refused connection is 3, not 6: the URI may be right and the server down for a while (retry);
 * 6 says the URI itself leads nowhere. No Node-RED import.
 */
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import https from 'node:https';
import { createHash, randomBytes } from 'node:crypto';
import { UpdateStatus } from '../protocol/rc';

export interface DownloadOptions {
  uri: string;
  /** mgmt.firmware.name: the file name wanted (made safe); else the URI's last path segment */
  name?: string;
  /** hex SHA-256 or MD5 of the image; empty: no check */
  verifier?: string;
  /** where images go (created when missing) */
  folder: string;
  /** bytes; default 256 MiB */
  maxBytes?: number;
  /** no byte for this long: connection lost (default 30 s) */
  idleTimeoutMs?: number;
  maxRedirects?: number;
  /** TLS options for https (e.g. a private CA) */
  ca?: string | Buffer;
  rejectUnauthorized?: boolean;
}

export type DownloadResult =
  { ok: true; file: string; size: number; algorithm?: 'sha256' | 'md5'; digest?: string } | { ok: false; updateStatus: 2 | 3 | 4 | 6; message: string };

const DEFAULT_MAX = 256 * 1024 * 1024;

/** The algorithm a verifier names by its length, or 'invalid' (undefined: no verifier). */
export function verifierAlgorithm(verifier: string | undefined): 'sha256' | 'md5' | 'invalid' | undefined {
  const v = (verifier ?? '').trim();
  if (v === '') return undefined;
  if (/^[0-9a-fA-F]{64}$/.test(v)) return 'sha256';
  if (/^[0-9a-fA-F]{32}$/.test(v)) return 'md5';
  return 'invalid';
}

/**
 * A file name that stays inside the folder: the last segment of `name` (or of the URI's path), only
 * [A-Za-z0-9._-] (others become "_"), no leading dot, at most 128 characters; "firmware.bin" when
 * nothing is left. "../../etc/passwd" becomes "passwd", "..\\x" becomes "x".
 */
export function safeFileName(name: string | undefined, uri: string): string {
  let base = (name ?? '').trim();
  if (!base) {
    try {
      base = decodeURIComponent(new URL(uri).pathname);
    } catch {
      base = '';
    }
  }
  const last =
    base
      .split(/[\\/]/)
      .filter((s) => s !== '' && s !== '.' && s !== '..')
      .pop() ?? '';
  const clean = last
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^[.]+/, '')
    .slice(0, 128);
  return clean && clean !== '_' ? clean : 'firmware.bin';
}

class Failure extends Error {
  constructor(
    readonly updateStatus: 2 | 3 | 4 | 6,
    message: string,
  ) {
    super(message);
  }
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED']);
const SPACE_CODES = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

function networkFailure(err: NodeJS.ErrnoException): Failure {
  if (err.code === 'ENOTFOUND') return new Failure(UpdateStatus.INVALID_URI, `unknown host: ${err.message}`);
  if (err.code && CONNECTION_CODES.has(err.code)) return new Failure(UpdateStatus.CONNECTION_LOST, `connection lost: ${err.message}`);
  if (err instanceof Failure) return err;
  // TLS errors (bad certificate, ...) and anything else from the network: the link failed
  return new Failure(UpdateStatus.CONNECTION_LOST, `connection failed: ${err.message}`);
}

function fileFailure(err: NodeJS.ErrnoException): Failure {
  if (err instanceof Failure) return err;
  const space = err.code !== undefined && SPACE_CODES.has(err.code);
  return new Failure(UpdateStatus.OUT_OF_MEMORY, `${space ? 'out of space' : 'cannot write the image'}: ${err.message}`);
}

/** Download one image. Never throws: every failure is a result with its updateStatus. */
export async function downloadFirmware(opts: DownloadOptions): Promise<DownloadResult> {
  const algorithm = verifierAlgorithm(opts.verifier);
  if (algorithm === 'invalid') {
    return {
      ok: false,
      updateStatus: UpdateStatus.VERIFICATION_FAILED,
      message: 'the verifier is neither a hex SHA-256 (64 digits) nor a hex MD5 (32 digits)',
    };
  }
  let url: URL;
  try {
    url = new URL(opts.uri);
  } catch {
    return { ok: false, updateStatus: UpdateStatus.INVALID_URI, message: `not a URL: ${opts.uri}` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, updateStatus: UpdateStatus.INVALID_URI, message: `only http and https are downloaded, not ${url.protocol.replace(/:$/, '')}` };
  }
  const folder = path.resolve(opts.folder);
  const fileName = safeFileName(opts.name, opts.uri);
  const target = path.join(folder, fileName);
  if (path.dirname(target) !== folder) return { ok: false, updateStatus: UpdateStatus.INVALID_URI, message: `unsafe file name ${fileName}` };
  const part = path.join(folder, `.${fileName}.${randomBytes(4).toString('hex')}.part`);
  try {
    await fs.promises.mkdir(folder, { recursive: true });
  } catch (err) {
    return { ok: false, updateStatus: UpdateStatus.OUT_OF_MEMORY, message: fileFailure(err as NodeJS.ErrnoException).message };
  }
  try {
    const { size, digest } = await fetchTo(url, part, algorithm, opts, opts.maxRedirects ?? 5);
    if (algorithm && digest!.toLowerCase() !== opts.verifier!.trim().toLowerCase()) {
      throw new Failure(
        UpdateStatus.VERIFICATION_FAILED,
        `verification failed: ${algorithm} of the image is ${digest}, expected ${opts.verifier!.trim().toLowerCase()}`,
      );
    }
    await fs.promises.rename(part, target).catch((err: NodeJS.ErrnoException) => {
      throw fileFailure(err);
    });
    return algorithm ? { ok: true, file: target, size, algorithm, digest } : { ok: true, file: target, size };
  } catch (err) {
    await fs.promises.rm(part, { force: true }).catch(() => undefined);
    const f = err instanceof Failure ? err : networkFailure(err as NodeJS.ErrnoException);
    return { ok: false, updateStatus: f.updateStatus, message: f.message };
  }
}

function fetchTo(
  url: URL,
  part: string,
  algorithm: 'sha256' | 'md5' | undefined,
  opts: DownloadOptions,
  redirectsLeft: number,
): Promise<{ size: number; digest?: string }> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX;
  const idle = opts.idleTimeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (f: Failure) => {
      if (settled) return;
      settled = true;
      reject(f);
    };
    const get = url.protocol === 'https:' ? https.get : http.get;
    const reqOpts: https.RequestOptions = { timeout: idle, headers: { 'user-agent': 'node-red-contrib-iotdm' } };
    if (url.protocol === 'https:') {
      if (opts.ca) reqOpts.ca = opts.ca;
      if (opts.rejectUnauthorized === false) reqOpts.rejectUnauthorized = false;
    }
    const req = get(url, reqOpts, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirectsLeft <= 0) return fail(new Failure(UpdateStatus.INVALID_URI, `too many redirects from ${url.href}`));
        let next: URL;
        try {
          next = new URL(res.headers.location, url);
        } catch {
          return fail(new Failure(UpdateStatus.INVALID_URI, `bad redirect to ${res.headers.location}`));
        }
        if (next.protocol !== 'http:' && next.protocol !== 'https:')
          return fail(new Failure(UpdateStatus.INVALID_URI, `redirect to a ${next.protocol} URL refused`));
        settled = true;
        fetchTo(next, part, algorithm, opts, redirectsLeft - 1).then(resolve, reject);
        return;
      }
      if (status < 200 || status >= 300) {
        res.resume();
        return fail(new Failure(UpdateStatus.INVALID_URI, `HTTP ${status} ${res.statusMessage ?? ''} from ${url.href}`.trim()));
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        res.destroy();
        return fail(new Failure(UpdateStatus.OUT_OF_MEMORY, `the image (${declared} bytes) is larger than the limit of ${maxBytes} bytes`));
      }
      const hash = algorithm ? createHash(algorithm) : undefined;
      const out = fs.createWriteStream(part);
      let size = 0;
      out.on('error', (err) => {
        fail(fileFailure(err)); // first: destroying the response reports a connection error of its own
        res.destroy();
      });
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) {
          fail(new Failure(UpdateStatus.OUT_OF_MEMORY, `the image is larger than the limit of ${maxBytes} bytes`));
          res.destroy();
          out.destroy();
          return;
        }
        hash?.update(chunk);
        if (!out.write(chunk)) res.pause();
      });
      out.on('drain', () => res.resume());
      res.on('aborted', () => fail(new Failure(UpdateStatus.CONNECTION_LOST, 'connection lost during the download')));
      res.on('error', (err) => fail(networkFailure(err)));
      res.on('end', () => {
        if (!res.complete || (Number.isFinite(declared) && size !== declared)) {
          out.destroy();
          return fail(new Failure(UpdateStatus.CONNECTION_LOST, `connection lost: got ${size} of ${Number.isFinite(declared) ? declared : '?'} bytes`));
        }
        out.end(() => {
          if (settled) return;
          settled = true;
          resolve({ size, digest: hash?.digest('hex') });
        });
      });
    });
    req.on('timeout', () => {
      req.destroy(new Failure(UpdateStatus.CONNECTION_LOST, `no data for ${idle} ms`));
    });
    req.on('error', (err) => fail(networkFailure(err)));
  });
}
