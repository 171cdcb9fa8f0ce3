/**
 * Quiet start for an `iotdm-device` whose broker is the embedded broker of an `iotdm-platform` in
 * the same Node-RED. Both start on the same deploy, and the device dials before the broker listens:
 * mqtt.js answers ECONNREFUSED and tries again 2 s later, which used to print one warning per
 * device on every start and deploy. While the platform's broker is starting, a refused connection
 * is held back instead; it is said once if it outlasts the start (the broker failed to listen, or
 * listens elsewhere): a real failure is still reported, once.
 */
import type { NodeAPI } from 'node-red';

/** the part of an iotdm-platform's flow definition that says where its embedded broker listens */
interface PlatformDef {
  id: string;
  type: string;
  broker?: string;
  port?: number | string;
  bind?: string;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
/** after the platform's broker is up (or failed), mqtt.js gets this long to connect (two retries at 2 s) */
const AFTER_READY_MS = 5000;
/** and never longer than this after the deploy */
const AT_MOST_MS = 15000;

/** The id of the platform whose embedded broker `url` points at, if one is in the flows. */
export function embeddedPlatformFor(platforms: PlatformDef[], url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'mqtt:' && u.protocol !== 'mqtts:') return undefined;
  const port = Number(u.port || (u.protocol === 'mqtts:' ? 8883 : 1883));
  const host = u.hostname;
  const p = platforms.find((p) => {
    if (p.type !== 'iotdm-platform' || p.broker === 'external') return false;
    if (Number(p.port || 1883) !== port) return false;
    const bind = p.bind || '127.0.0.1';
    return LOOPBACK.has(host) ? LOOPBACK.has(bind) || bind === '0.0.0.0' || bind === '::' : host === bind;
  });
  return p?.id;
}

function isRefused(err: Error & { code?: string }): boolean {
  return err.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(err.message);
}

export interface QuietStart {
  /** true when the error was held back (the broker is still starting) */
  hold(err: Error): boolean;
  /** the device connected: nothing held is said */
  connected(): void;
  close(): void;
}

/**
 * Hold refused connections of a device on a platform's embedded broker until that broker has
 * started; `say` gets the last held error once if the device is still not connected by then.
 */
export function quietStart(RED: NodeAPI, url: string, say: (err: Error) => void): QuietStart {
  const platforms: PlatformDef[] = [];
  RED.nodes.eachNode((n) => {
    if (n.type === 'iotdm-platform') platforms.push(n as unknown as PlatformDef);
  });
  const platformId = embeddedPlatformFor(platforms, url);
  let quiet = platformId !== undefined;
  let held: Error | undefined;
  const timers = new Set<NodeJS.Timeout>();
  const later = (fn: () => void, ms: number) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const end = () => {
    if (!quiet) return;
    quiet = false;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    if (held) say(held);
    held = undefined;
  };
  if (platformId !== undefined) {
    later(end, AT_MOST_MS);
    // the platform node may be created after this one (config nodes start in flow order)
    const waitForPlatform = (tries: number) => {
      if (!quiet) return;
      const platform = RED.nodes.getNode(platformId) as unknown as { ready?: Promise<void> } | null;
      if (platform?.ready) {
        platform.ready.then(
          () => later(end, AFTER_READY_MS),
          () => later(end, AFTER_READY_MS),
        );
      } else if (tries > 0) later(() => waitForPlatform(tries - 1), 50);
    };
    waitForPlatform(100);
  }
  return {
    hold(err) {
      if (!quiet || !isRefused(err)) return false;
      held = err;
      return true;
    },
    connected() {
      held = undefined;
      end();
    },
    close() {
      quiet = false;
      held = undefined;
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}
