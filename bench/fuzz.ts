/**
 * `npm run fuzz`: hostile device traffic against a real Node-RED running the nodes (issue 10).
 *
 *   npm run fuzz                          # 10,000 messages per inbound topic (18 topics), seed 1
 *   npm run fuzz -- --per-topic 500 --seed 7 --flush 2
 *
 * Node-RED's localfilesystem context store is set to flush every --flush seconds (default 2; its
 * own default is 30 s) so that the run waits past a flush. Prints `N sent`, the rc distribution of
 * the answers, RSS before and after, the error lines Node-RED logged, and `N passed, N failed`.
 */
import { runFuzz } from './fuzz-run';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} needs a number`);
  return v;
}

async function main(): Promise<void> {
  const perTopic = arg('per-topic', 10000);
  const seed = arg('seed', 1);
  const flushSeconds = arg('flush', 2);
  console.log(`fuzz: ${perTopic} messages per topic, seed ${seed}, context flush every ${flushSeconds} s`);
  const r = await runFuzz({ perTopic, seed, flushSeconds, log: (l) => console.log(l) });
  const fmt = (o: Record<string, number>) =>
    Object.entries(o)
      .sort()
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ');
  console.log('');
  console.log(`${r.sent} sent (${r.topics} topics × ${perTopic}) in ${(r.durationMs / 1000).toFixed(1)} s`);
  console.log(`classes: ${fmt(r.perClass)}`);
  console.log(`rc of the platform's answers: ${fmt(r.rc.platform)}`);
  console.log(`rc of the devices' answers: ${fmt(r.rc.device)}`);
  console.log(`RSS of Node-RED: ${r.rssBeforeMb} MB before, ${r.rssAfterMb} MB after`);
  console.log(`lines logged by Node-RED: ${r.errorLines} error, ${r.warnLines} warn`);
  console.log(`${r.passed} passed, ${r.failed} failed`);
  process.exitCode = r.failed === 0 ? 0 : 1;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
