/** The two brokers of the benchmark: Debian's mosquitto (a child process) and our embedded aedes (in this process, as in Node-RED). */
import { startMosquitto } from '../test/support/mosquitto';
import { freePort } from '../test/support/ports';
import { startEmbeddedBroker } from '../nodes/transport/embedded-broker';

export const BROKER_NAMES = ['mosquitto', 'embedded'] as const;
export type BrokerName = (typeof BROKER_NAMES)[number];

export interface BenchBroker {
  name: BrokerName;
  url: string;
  stop(): Promise<void>;
}

export async function startBroker(name: BrokerName): Promise<BenchBroker> {
  if (name === 'mosquitto') {
    const m = await startMosquitto();
    return { name, url: m.url, stop: () => m.stop() };
  }
  const b = await startEmbeddedBroker({ port: await freePort(), host: '127.0.0.1' });
  return { name, url: b.url, stop: () => b.close() };
}
