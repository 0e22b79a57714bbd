/**
 * zone/reload: loads zones and builds the site model in a worker thread
 * (zone/reload-worker.ts), so that a reload of any size leaves the calling
 * thread free to answer SIP and DNS. The packed snapshots come back as
 * transferred buffers: adopting them is a few object allocations, never a
 * per-record copy. Rejects with the same ZoneError or SiteError an
 * in-thread load throws. Where the worker script is absent (the single
 * executable bundles one file), it loads in the calling thread instead.
 * May import: shared, zone/*.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SiteError, ZoneError } from '../shared/errors.js';
import { loadZones } from './load.js';
import { PackedZone } from './packed.js';
import type { ReloadReply } from './reload-worker.js';
import { buildSite } from './site.js';
import type { SiteModel, SiteOptions, ZoneSet } from './types.js';
import { buildZoneSet } from './zone.js';

export interface Loaded {
  zones: ZoneSet;
  site: SiteModel;
  /** Where the work was done. */
  thread: 'worker' | 'caller';
  /** Milliseconds the calling thread spent adopting the result (or loading, in the caller). */
  adoptMs: number;
}

const WORKER = new URL('./reload-worker.js', import.meta.url);

/** Load `paths` and build the site model off the calling thread. */
export function loadSiteOffThread(paths: readonly string[], site: SiteOptions): Promise<Loaded> {
  if (WORKER.protocol !== 'file:' || !existsSync(fileURLToPath(WORKER))) {
    return new Promise((resolve) => {
      const t0 = performance.now();
      const zones = loadZones(paths);
      resolve({ zones, site: buildSite(zones, site), thread: 'caller', adoptMs: performance.now() - t0 });
    });
  }
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: { paths: [...paths], site } });
    let settled = false;
    worker.once('message', (r: ReloadReply) => {
      settled = true;
      if (r.ok) {
        const t0 = performance.now();
        const zones = buildZoneSet(r.zones.map((d) => new PackedZone(d)));
        resolve({ zones, site: r.site, thread: 'worker', adoptMs: performance.now() - t0 });
      } else if (r.kind === 'zone') reject(new ZoneError(r.problems));
      else if (r.kind === 'site') reject(new SiteError(r.message));
      else reject(new Error(r.message));
    });
    worker.once('error', (e) => {
      if (!settled) reject(e);
      settled = true;
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`zone loader exited with code ${code} before answering`));
      settled = true;
    });
  });
}
