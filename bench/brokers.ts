/** The two brokers of the benchmark: Debian's mosquitto (a child process) and our embedded aedes (in this process, as in Node-RED). */
import type { Duplex } from 'node:stream';
import { startMosquitto } from '../test/support/mosquitto';
import { freePort } from '../test/support/ports';
import { startEmbeddedBroker } from '../nodes/transport/embedded-broker';

export const BROKER_NAMES = ['mosquitto', 'embedded'] as const;
export type BrokerName = (typeof BROKER_NAMES)[number];

export interface BenchBroker {
  name: BrokerName;
  url: string;
  /** the platform's in-process link to the embedded broker, as the iotdm-platform node uses it (none for mosquitto) */
  link?: () => Duplex;
  /** stop the broker abruptly and start it again on the same port (manage-storm) */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startBroker(name: BrokerName): Promise<BenchBroker> {
  if (name === 'mosquitto') {
    const m = await startMosquitto();
    return {
      name,
      url: m.url,
      restart: async () => {
        await m.kill();
        await m.restart();
      },
      stop: () => m.stop(),
    };
  }
  const port = await freePort();
  let b = await startEmbeddedBroker({ port, host: '127.0.0.1' });
  return {
    name,
    url: b.url,
    link: () => b.openLink(),
    restart: async () => {
      await b.close();
      b = await startEmbeddedBroker({ port, host: '127.0.0.1' });
    },
    stop: () => b.close(),
  };
}
