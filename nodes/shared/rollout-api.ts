/**
 * The rollouts under the API root (next to the management requests of docs/protocol.md §5):
 *   POST {root}/mgmt/rollouts                          → 202 {rolloutId}
 *   GET  {root}/mgmt/rollouts                          → {results, _bookmark?, total} (newest first)
 *   GET  {root}/mgmt/rollouts/{id}                     → the rollout's details, counts and waves
 *   DELETE {root}/mgmt/rollouts/{id}                   → 204 (a running one is cancelled first)
 *   GET  {root}/mgmt/rollouts/{id}/devices             → device rows with attempts (?state=, ?setAside=true)
 *   POST {root}/mgmt/rollouts/{id}/pause|resume|approve|cancel → 200 details; 409 in a state that refuses it
 *   POST {root}/mgmt/rollouts/{id}/rerun               → 202 {rolloutId} of the failures as a new rollout
 */
import { HttpError } from './http-error';
import type { ExtraRoute, ExtraRoutes, RouteContext } from './api-routes';
import { ROLLOUT_COMMANDS, RolloutError, type RolloutCommand, type RolloutManager } from '../platform/rollout/rollout-manager';
import { DEVICE_STATES, type DeviceState } from '../platform/rollout/state';

export type RolloutApiKey = 'rollout-not-found' | 'rollouts-unavailable' | 'invalid-state-filter';
export type RolloutTranslate = (key: RolloutApiKey, vars?: Record<string, string | number>) => string;

const ERROR_IDS: Record<RolloutError['statusCode'], string> = { 400: 'invalid-rollout', 404: 'not-found', 409: 'rollout-conflict' };

export function rolloutRoutes(
  rollouts: () => RolloutManager | undefined,
  t: RolloutTranslate,
  ready: () => Promise<unknown> = async () => undefined,
): ExtraRoutes {
  const route = (allow: string[], serve: (x: RouteContext, m: RolloutManager) => void | Promise<void>): ExtraRoute => ({
    allow,
    async serve(x) {
      await ready(); // what the platform kept is taken up before anything is answered
      const m = rollouts();
      if (!m) throw new HttpError(503, 'unavailable', t('rollouts-unavailable'));
      try {
        await serve(x, m);
      } catch (err) {
        if (!(err instanceof RolloutError)) throw err;
        throw new HttpError(err.statusCode, ERROR_IDS[err.statusCode], err.message);
      }
    },
  });
  const notFound = (id: string) => new HttpError(404, 'not-found', t('rollout-not-found', { id }), [id]);

  return (parts) => {
    if (parts[0] !== 'mgmt' || parts[1] !== 'rollouts') return undefined;
    const [id, sub] = parts.slice(2);
    switch (parts.length) {
      case 2:
        return route(['GET', 'POST'], async (x, m) => {
          if (x.req.method === 'POST') return x.send(202, { rolloutId: m.create(await x.body(), 'http').id });
          x.send(200, m.list(x.paging()));
        });
      case 3:
        return route(['GET', 'DELETE'], (x, m) => {
          if (x.req.method === 'DELETE') {
            if (!m.delete(id)) throw notFound(id);
            return x.send(204);
          }
          const d = m.details(id);
          if (!d) throw notFound(id);
          x.send(200, d);
        });
      case 4:
        if (sub === 'devices') {
          return route(['GET'], (x, m) => {
            const state = x.single('state');
            if (state !== undefined && !(DEVICE_STATES as readonly string[]).includes(state)) {
              throw new HttpError(400, 'invalid-query', t('invalid-state-filter', { states: DEVICE_STATES.join(', ') }));
            }
            x.send(200, m.devices(id, { ...x.paging(), state: state as DeviceState | undefined, setAside: x.single('setAside') === 'true' }));
          });
        }
        if (sub === 'rerun') return route(['POST'], (x, m) => x.send(202, { rolloutId: m.rerun(id, 'http').id }));
        if ((ROLLOUT_COMMANDS as readonly string[]).includes(sub)) return route(['POST'], (x, m) => x.send(200, m.command(id, sub as RolloutCommand)));
        return undefined;
      default:
        return undefined;
    }
  };
}
