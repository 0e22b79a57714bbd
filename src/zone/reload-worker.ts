/**
 * zone/reload-worker: the worker thread of zone/reload.ts. Loads the zones
 * (parse, checks, packed snapshot) and builds the site model, then posts the
 * packed snapshots back with their buffers transferred, or the problems
 * (ZoneError: every file:line; SiteError: the message). Runs once per reload
 * and exits.
 * May import: shared, zone/*.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SiteError, ZoneError } from '../shared/errors.js';
import { loadZones } from './load.js';
import { PackedZone, packedBuffers, type PackedZoneData } from './packed.js';
import { buildSite } from './site.js';
import type { SiteOptions } from './types.js';

export type ReloadReply =
  | { ok: true; zones: PackedZoneData[]; site: ReturnType<typeof buildSite> }
  | { ok: false; kind: 'zone'; problems: ZoneError['problems'] }
  | { ok: false; kind: 'site' | 'error'; message: string };

const { paths, site } = workerData as { paths: string[]; site: SiteOptions };
let reply: ReloadReply;
let transfer: ArrayBuffer[] = [];
try {
  const zones = loadZones(paths);
  const data = zones.zones.map((z) => (z as PackedZone).data);
  reply = { ok: true, zones: data, site: buildSite(zones, site) };
  transfer = data.flatMap(packedBuffers);
} catch (e) {
  if (e instanceof ZoneError) reply = { ok: false, kind: 'zone', problems: e.problems };
  else if (e instanceof SiteError) reply = { ok: false, kind: 'site', message: e.message };
  else reply = { ok: false, kind: 'error', message: (e as Error).stack ?? String(e) };
}
parentPort!.postMessage(reply, transfer);
