/**
 * Plugin `iotdm-sidebar`, runtime part: the admin endpoints behind the editor's device-management
 * sidebar (the seed's dashboard "Actions" tab, docs/protocol.md §11.1), on RED.httpAdmin under /iotdm, and the live progress
 * of every platform's requests on the editor's comms channel (`iotdm/requests/<platformId>`).
 *
 *   GET  /iotdm/platforms                                     iotdm.read
 *   GET  /iotdm/platforms/:id/devices?type&search&offset&limit  iotdm.read   (a page of the registry)
 *   GET  /iotdm/platforms/:id/devices/refs?type&search        iotdm.read   (managed devices, for "all")
 *   GET  /iotdm/platforms/:id/requests                        iotdm.read   (newest first)
 *   GET  /iotdm/platforms/:id/requests/:reqId                 iotdm.read
 *   GET  /iotdm/platforms/:id/requests/:reqId/devices?outcome&offset&limit   iotdm.read
 *   POST /iotdm/platforms/:id/requests                        iotdm.write  (the REST body; 202)
 *   POST /iotdm/platforms/:id/requests/:reqId/cancel          iotdm.write
 *   GET  /iotdm/platforms/:id/rollouts, POST …/rollouts/:rolloutId/:command|rerun  (rollout-sidebar.ts)
 *   GET  /iotdm/platforms/:id/rollouts/:rolloutId/devices?state&setAside&offset&limit   iotdm.read
 *   GET  /iotdm/platforms/:id/enrolment                       iotdm.read   (who may connect, no secrets)
 *   POST /iotdm/platforms/:id/enrolment[/remove]              iotdm.write  ([{typeId, deviceId, classId?}]; tokens once)
 *
 * A launch goes through the platform's RequestManager.initiate (origin "editor"), the same engine
 * and schema as mgmt-request and the HTTP API, so the request is visible to both.
 */
import { enrol, enrolmentOf, unenrol, type EnrolmentAnswer } from '../shared/enrolment-calls';
import type { NodeAPI } from 'node-red';
import type { Request, Response, NextFunction } from 'express';
import { InitiateError } from '../platform/request-manager';
import { HttpError } from '../shared/http-error';
import { deviceRefs, listDevices } from './device-listing';
import { offsetPage, MAX_PAGE } from '../platform/paging';
import { RequestProgress, type ProgressMessage } from './request-progress';
import { isRolloutCommand, publishRollouts, summaryOf } from './rollout-sidebar';
import { RolloutError, type RolloutManager } from '../platform/rollout/rollout-manager';
import { DEVICE_STATES, type DeviceState } from '../platform/rollout/state';
import type { Platform } from '../platform/platform';
import type { PlatformNode } from '../shared/platform-node';
import type { RequestDetails } from '../platform/management-request';

const OUTCOMES = ['success', 'failure', 'timedOut', 'cancelled', 'inProgress'] as const;
type OutcomeFilter = (typeof OUTCOMES)[number];

export = function (RED: NodeAPI): void {
  RED.plugins.registerPlugin('iotdm-sidebar', { type: 'iotdm-sidebar' } as never);
  const t = (key: string, vars?: Record<string, unknown>) => RED._(`iotdm-sidebar.${key}`, vars as never);

  // ------------------------------------------------------------------ platforms and live progress

  /** one progress publisher per running platform instance (a redeploy makes a new one) */
  const attached = new Map<string, { platform: Platform; progress: RequestProgress; rollouts?: () => void }>();

  function platformDefs(): { id: string; name: string }[] {
    const out: { id: string; name: string }[] = [];
    RED.nodes.eachNode((n: { id: string; type: string; name?: string }) => {
      if (n.type === 'iotdm-platform') out.push({ id: n.id, name: n.name || '' });
    });
    return out;
  }

  function runningPlatform(id: string): PlatformNode | undefined {
    const node = RED.nodes.getNode(id) as PlatformNode | null;
    if (!node || node.type !== 'iotdm-platform' || !node.platform) return undefined;
    attach(id, node);
    return node;
  }

  function attach(id: string, node: PlatformNode): void {
    const platform = node.platform;
    const had = attached.get(id);
    if (had?.platform === platform) return;
    had?.progress.close();
    had?.rollouts?.();
    const progress = new RequestProgress(platform.requests, (m: ProgressMessage) =>
      RED.comms.publish(`iotdm/requests/${id}`, { platform: id, ...m } as never, false),
    );
    const rollouts = node.rollouts
      ? publishRollouts(node.rollouts, (m) => RED.comms.publish(`iotdm/rollouts/${id}`, { platform: id, ...m } as never, false))
      : undefined;
    attached.set(id, { platform, progress, rollouts });
  }

  /** after every deploy: follow the new platform instances, forget the removed ones */
  function reattach(): void {
    const live = new Set<string>();
    for (const def of platformDefs()) if (runningPlatform(def.id)) live.add(def.id);
    for (const [id, a] of attached) {
      if (!live.has(id)) {
        a.progress.close();
        a.rollouts?.();
        attached.delete(id);
      }
    }
  }
  RED.events.on('flows:started', reattach);

  // ------------------------------------------------------------------ helpers

  function platformOf(req: Request): PlatformNode {
    const node = runningPlatform(String(req.params.id));
    if (!node) throw new HttpError(404, 'platform-not-found', t('errors.platform-not-found', { id: req.params.id }));
    return node;
  }

  function intQuery(req: Request, name: string, dflt: number, min: number, max: number): number {
    const v = req.query[name];
    if (v === undefined || v === '') return dflt;
    if (typeof v !== 'string' || !/^[0-9]{1,9}$/.test(v) || Number(v) < min || Number(v) > max)
      throw new HttpError(400, 'invalid-query', t('errors.invalid-query', { name, min, max }));
    return Number(v);
  }

  /** `?offset&limit` of a page for the tab: out of range is a 400, offsetPage handles the rest */
  function pageQuery(req: Request): { offset: number; limit: number } {
    return { offset: intQuery(req, 'offset', 0, 0, 1e9), limit: intQuery(req, 'limit', 50, 1, MAX_PAGE) };
  }

  function strQuery(req: Request, name: string): string | undefined {
    const v = req.query[name];
    if (v === undefined || v === '') return undefined;
    if (typeof v !== 'string' || v.length > 255) throw new HttpError(400, 'invalid-query', t('errors.invalid-query', { name, max: 255 }));
    return v;
  }

  type Handler = (req: Request, res: Response) => unknown;
  function route(handler: Handler) {
    return (req: Request, res: Response, _next: NextFunction) => {
      res.set('Cache-Control', 'no-store');
      try {
        const body = handler(req, res);
        if (body !== undefined) res.json(body);
      } catch (err) {
        if (err instanceof HttpError || err instanceof InitiateError || err instanceof RolloutError) res.status(err.statusCode).json({ message: err.message });
        else {
          RED.log.error(t('errors.internal', { error: (err as Error).message }));
          res.status(500).json({ message: t('errors.internal', { error: (err as Error).message }) });
        }
      }
    };
  }

  /** newest first */
  function allRequests(node: PlatformNode): RequestDetails[] {
    return node.platform.requests
      .all()
      .map((r) => r.details())
      .reverse();
  }

  function requestOf(node: PlatformNode, id: string) {
    const r = node.platform.requests.get(id);
    if (!r) throw new HttpError(404, 'request-not-found', t('errors.request-not-found', { id }));
    return r;
  }

  // ------------------------------------------------------------------ routes

  const read = RED.auth.needsPermission('iotdm.read');
  const write = RED.auth.needsPermission('iotdm.write');
  const app = RED.httpAdmin;

  app.get(
    '/iotdm/platforms',
    read,
    route(() => {
      return platformDefs().map((def) => {
        const node = runningPlatform(def.id);
        return {
          id: def.id,
          name: def.name,
          running: !!node,
          state: node?.state,
          devices: node ? node.platform.registry.size : 0,
        };
      });
    }),
  );

  app.get(
    '/iotdm/platforms/:id/devices',
    read,
    route((req) => {
      const node = platformOf(req);
      return listDevices(node.platform.registry, {
        typeId: strQuery(req, 'type'),
        search: strQuery(req, 'search'),
        ...pageQuery(req),
      });
    }),
  );

  app.get(
    '/iotdm/platforms/:id/devices/refs',
    read,
    route((req) => {
      const node = platformOf(req);
      const refs = deviceRefs(node.platform.registry, { typeId: strQuery(req, 'type'), search: strQuery(req, 'search') }, { managedOnly: true });
      return { total: refs.length, devices: refs };
    }),
  );

  app.get(
    '/iotdm/platforms/:id/requests',
    read,
    route((req) => ({ requests: allRequests(platformOf(req)) })),
  );

  app.get(
    '/iotdm/platforms/:id/requests/:reqId',
    read,
    route((req) => requestOf(platformOf(req), String(req.params.reqId)).details()),
  );

  app.get(
    '/iotdm/platforms/:id/requests/:reqId/devices',
    read,
    route((req) => {
      const r = requestOf(platformOf(req), String(req.params.reqId));
      const outcome = strQuery(req, 'outcome');
      if (outcome !== undefined && !OUTCOMES.includes(outcome as OutcomeFilter))
        throw new HttpError(400, 'invalid-outcome', t('errors.invalid-outcome', { outcomes: OUTCOMES.join(', ') }));
      const execs = outcome === undefined ? r.executions : r.executions.filter((e) => (outcome === 'inProgress' ? !e.complete : e.outcome === outcome));
      const { offset, limit } = pageQuery(req);
      const { rows, ...page } = offsetPage(execs, offset, limit);
      return { ...page, devices: rows.map((e) => r.row(e)) };
    }),
  );

  app.post(
    '/iotdm/platforms/:id/requests',
    write,
    route((req, res) => {
      const node = platformOf(req);
      const launched = node.platform.requests.initiate(req.body, { origin: 'editor' });
      res.status(202).json({ reqId: launched.id, request: launched.details() });
      return undefined;
    }),
  );

  // enrolment from the sidebar: the same calls as IBM's bulk API (tokens in the answer, once)
  const enrolText = (key: string, vars?: Record<string, string | number>) => RED._(`iotdm-platform.enrolment.${key}`, vars);
  const enrolRoute = (call: (node: PlatformNode, body: unknown) => Promise<EnrolmentAnswer> | EnrolmentAnswer) => (req: Request, res: Response) => {
    res.set('Cache-Control', 'no-store');
    let node: PlatformNode;
    try {
      node = platformOf(req);
    } catch (err) {
      res.status((err as HttpError).statusCode).json({ message: (err as Error).message });
      return;
    }
    Promise.resolve()
      .then(() => call(node, req.body))
      .then(
        (a) => res.status(a.statusCode).json(a.payload),
        (err: Error) => res.status(500).json({ message: t('errors.internal', { error: err.message }) }),
      );
  };
  app.post(
    '/iotdm/platforms/:id/enrolment',
    write,
    enrolRoute((node, body) => enrol(node.enrolment, body, 'sidebar', enrolText)),
  );
  app.post(
    '/iotdm/platforms/:id/enrolment/remove',
    write,
    enrolRoute((node, body) => unenrol(node.enrolment, body, enrolText)),
  );
  app.get(
    '/iotdm/platforms/:id/enrolment',
    read,
    enrolRoute((node) => enrolmentOf(node.enrolment, {}, enrolText)),
  );

  app.post(
    '/iotdm/platforms/:id/requests/:reqId/cancel',
    write,
    route((req) => {
      const node = platformOf(req);
      const details = node.platform.requests.cancel(String(req.params.reqId));
      if (!details) throw new HttpError(404, 'request-not-found', t('errors.request-not-found', { id: req.params.reqId }));
      return details;
    }),
  );

  app.get(
    '/iotdm/platforms/:id/rollouts',
    read,
    route((req) => {
      const m = platformOf(req).rollouts;
      return { rollouts: m ? m.list({ _limit: 50 }).results.map(summaryOf) : [] };
    }),
  );

  /** the platform's rollouts; without them, the rollout named in the path is not found */
  function rolloutsOf(req: Request): RolloutManager {
    const m = platformOf(req).rollouts;
    if (!m) throw new HttpError(404, 'rollout-not-found', t('errors.rollout-not-found', { id: req.params.rolloutId }));
    return m;
  }

  app.get(
    '/iotdm/platforms/:id/rollouts/:rolloutId/devices',
    read,
    route((req) => {
      const m = rolloutsOf(req);
      const state = strQuery(req, 'state');
      if (state !== undefined && !(DEVICE_STATES as readonly string[]).includes(state))
        throw new HttpError(400, 'invalid-state', t('errors.invalid-state', { states: DEVICE_STATES.join(', ') }));
      const { rows, ...page } = m.devicePage(String(req.params.rolloutId), {
        ...pageQuery(req),
        state: state as DeviceState,
        setAside: req.query.setAside === 'true',
      });
      return { ...page, devices: rows };
    }),
  );

  // before the commands' route, which would take "rerun" for a command
  app.post(
    '/iotdm/platforms/:id/rollouts/:rolloutId/rerun',
    write,
    route((req, res) => {
      // the devices that did not succeed, as a new rollout (as the API's POST …/rerun)
      const m = rolloutsOf(req);
      const rerun = m.rerun(String(req.params.rolloutId), 'editor');
      res.status(202);
      return summaryOf(m.details(rerun.id)!);
    }),
  );

  app.post(
    '/iotdm/platforms/:id/rollouts/:rolloutId/:command',
    write,
    route((req) => {
      const m = rolloutsOf(req);
      const command = String(req.params.command);
      if (!isRolloutCommand(command)) throw new HttpError(404, 'rollout-not-found', t('errors.rollout-not-found', { id: req.params.rolloutId }));
      return summaryOf(m.command(String(req.params.rolloutId), command));
    }),
  );
};
