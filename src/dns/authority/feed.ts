/**
 * dns/authority/feed: keeps a DnsServer's answer table in step with the zones
 * and the health view. Rebuilds the whole table (once per change, never per
 * query) when a peer is withdrawn or restored, on drain/undrain, and on a
 * zone reload; moves the SOA serial forward through one SerialCounter; logs
 * POOL_FAIL_OPEN / POOL_FAIL_OPEN_END on the transition and
 * DNS_ANSWERS_REBUILT (debug) on each rebuild.
 *
 * May import: shared, zone/types, dns/authority.
 */
import type { HealthView } from '../../shared/health.js';
import { logEvent, silentLogger, type Logger } from '../../shared/log.js';
import type { PoolMember, ZoneSet } from '../../zone/types.js';
import { buildAnswerTable, type AnswerTable, type BuildResult } from './answers.js';
import { SerialCounter } from './serial.js';

export interface PoolSpec {
  /** The pool FQDN, canonical. */
  name: string;
  members: readonly PoolMember[];
}

export interface AnswerFeedOptions {
  /** Where tables go (a DnsServer). */
  target: { setTable(table: AnswerTable): void };
  zones: ZoneSet;
  /** The pool to health-filter; without it answers are the zones as written. */
  pool?: PoolSpec;
  /** Targets answered first (local first); default none. */
  local?: readonly string[];
  /** Health of pool members; without it every member is healthy. */
  health?: HealthView;
  /** The serial policy (e.g. time-based); default: a plain SerialCounter. */
  serials?: SerialCounter;
  log?: Logger;
}

export class AnswerFeed {
  private zones: ZoneSet;
  private pool: PoolSpec | undefined;
  private readonly serials: SerialCounter;
  private readonly log: Logger;
  private unsubscribe: (() => void) | undefined;
  private result: BuildResult | undefined;

  constructor(private readonly options: AnswerFeedOptions) {
    this.zones = options.zones;
    this.pool = options.pool;
    this.serials = options.serials ?? new SerialCounter();
    this.log = options.log ?? silentLogger;
  }

  /** Build the first table, hand it to the target, and follow health changes. */
  start(): BuildResult {
    const r = this.rebuild('start');
    this.unsubscribe = this.options.health?.onChange((change) => {
      if (change.kind === 'pair') return; // pair state does not change DNS answers
      this.rebuild(change.kind === 'peer' ? `peer ${change.target} ${change.healthy ? 'up' : 'down'}` : change.draining ? 'drain' : 'undrain');
    });
    return r;
  }

  /** A reload: new zones (and the pool as the new zones define it). */
  setZones(zones: ZoneSet, pool: PoolSpec | undefined = this.pool): BuildResult {
    this.zones = zones;
    this.pool = pool;
    return this.rebuild('zones reloaded');
  }

  /** The last build (table, fail-open state, withdrawn members, serials). */
  get last(): BuildResult | undefined {
    return this.result;
  }

  /** Rebuild now and swap the table in. */
  rebuild(cause: string): BuildResult {
    const health = this.options.health;
    const filter = this.pool
      ? {
          pool: this.pool.name,
          members: this.pool.members,
          isHealthy: (t: string) => (health ? health.isMemberHealthy(t) : true),
          local: this.options.local ?? [],
        }
      : undefined;
    const prev = this.result;
    const r = buildAnswerTable(this.zones, { filter, serials: this.serials });
    this.options.target.setTable(r.table);
    this.result = r;
    if (r.failOpen && !prev?.failOpen) logEvent(this.log, 'POOL_FAIL_OPEN', { pool: this.pool?.name, cause });
    if (!r.failOpen && prev?.failOpen) logEvent(this.log, 'POOL_FAIL_OPEN_END', { pool: this.pool?.name, cause });
    if (this.log.isDebugEnabled()) {
      logEvent(this.log, 'DNS_ANSWERS_REBUILT', {
        cause, names: r.table.size, withdrawn: r.withdrawn, failOpenNames: r.failOpenNames, serials: Object.fromEntries(r.serials),
      });
    }
    return r;
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
