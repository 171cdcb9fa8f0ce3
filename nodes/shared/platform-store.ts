/**
 * The Store an `iotdm-platform` node keeps its registry and requests in: a journal in Node-RED's
 * user directory, `<userDir>/iotdm/platform-<node id>.jsonl`, so a restart and a deploy find it
 * again (the node id does not change on deploy). Without a user directory (a test runtime) or with
 * persistence off, a store in memory.
 */
import path from 'node:path';
import { Journal } from '../storage/journal';
import { MemoryStore, type Store } from '../platform/store';

export function openPlatformStore(userDir: string | undefined, nodeId: string, persist: boolean): Store {
  if (!persist || !userDir) return new MemoryStore();
  const safeId = nodeId.replace(/[^A-Za-z0-9_.-]/g, '_');
  return new Journal({ file: path.join(userDir, 'iotdm', `platform-${safeId}.jsonl`) });
}
