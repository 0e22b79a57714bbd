/**
 * ops/status: builds the GET /status document (DESIGN.md §3; the field names
 * there are a contract relied on outside this repository: never rename or
 * remove one). Fields beyond §3 are additions for the status page and
 * monitoring: each member's last probe RTT and since when it is in its
 * state, each pair's state since and last switchover, overload and
 * fail-open state, and the last events.
 * May import: shared, zone/types, ops.
 */
import type { HealthView, PairMode } from '../shared/health.js';
import type { AdmissionView } from '../shared/overload.js';
import type { RecentEvent, RecentEvents } from '../shared/recent-events.js';
import type { SiteModel } from '../zone/types.js';
import type { StatusHistory, Switchover } from './history.js';

export interface StatusDocument {
  self: string;
  draining: boolean;
  pool: {
    name: string;
    members: {
      target: string;
      port: number;
      addresses: string[];
      healthy: boolean;
      self: boolean;
      /** Round-trip time of the last answered probe, ms; null for self and before any answer. */
      rttMs: number | null;
      /** Since when (ISO 8601) the member has been healthy, or not. */
      since: string;
    }[];
    /** Every member withdrawn: DNS answers the whole configured set (POOL_FAIL_OPEN). */
    failOpen: boolean;
  };
  pairs: {
    name: string;
    serving: boolean;
    inService: boolean;
    mode: PairMode;
    active: string | null;
    members: {
      target: string;
      port: number;
      address: string;
      role: 'primary' | 'backup';
      /** Round-trip time of the last answered probe, ms; null before any answer. */
      rttMs: number | null;
    }[];
    /** Since when (ISO 8601) the pair has been in its present mode and state. */
    since: string;
    switchovers: number;
    lastSwitchover: Switchover | null;
  }[];
  overload: {
    /** overload-ctrl-dialog-rate (INVITEs per second; 0: off). */
    dialogRate: number;
    /**
     * True while new INVITEs are answered 503 (between SIP_OVERLOAD and SIP_OVERLOAD_END, or
     * SIP_OVERLOAD_ADAPTIVE and SIP_OVERLOAD_ADAPTIVE_END).
     */
    active: boolean;
    /** New requests answered 503 by overload control since start (the cap and the adaptive control). */
    rejections: number;
    /** The adaptive controller (--overload-target-delay): state, admitted rate, lateness, counts. */
    adaptive: AdmissionView;
  };
  /** Flows back to user agents (RFC 5626): held now by transport, and counts since start. */
  flows: FlowsView;
  /** The server's clock when the document was built, ISO 8601. */
  time: string;
  startedAt: string;
  /** The last events (transitions), newest first. */
  events: RecentEvent[];
}

export interface FlowsView {
  held: { udp: number; tcp: number; tls: number };
  /** Requests sent down a flow held here. */
  requests: number;
  /** Requests answered 430 Flow Failed. */
  failed: number;
  /** Requests answered 403 for a flow token that did not verify or named no instance. */
  tokenFailures: number;
}

/** What the document shows beyond the site model and the health view. */
export interface StatusSources {
  history: StatusHistory;
  events: RecentEvents;
  /** Last answered probe's RTT (ms) of a pair member or peer, by FQDN. */
  rttMs(target: string): number | null;
  switchovers(pair: string): number;
  /** Every pool member withdrawn: DNS answers the whole configured set (the answer feed's state). */
  failOpen(): boolean;
  overload: { dialogRate: number; active(): boolean; rejections(): number; adaptive(): AdmissionView };
  flows(): FlowsView;
  now?: () => number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function buildStatus(site: SiteModel, health: HealthView, src: StatusSources): StatusDocument {
  const members = site.pool.members.map((m) => ({
    target: m.target,
    port: m.port,
    addresses: [...m.addresses],
    healthy: health.isMemberHealthy(m.target),
    self: m.target === site.self.target,
    rttMs: m.target === site.self.target ? null : src.rttMs(m.target),
    since: iso(src.history.memberSince(m.target)),
  }));
  return {
    self: site.self.target,
    draining: health.draining,
    pool: {
      name: site.pool.name,
      members,
      failOpen: src.failOpen(),
    },
    pairs: site.pairs.map((p) => {
      const st = health.pairState(p.name);
      return {
        name: p.name,
        serving: p.name === site.servingPair.name,
        inService: st?.inService ?? false,
        mode: st?.mode ?? 'check',
        active: st?.active ?? null,
        members: p.members.map((m) => ({ target: m.target, port: m.port, address: m.address, role: m.role, rttMs: src.rttMs(m.target) })),
        since: iso(src.history.pairSince(p.name)),
        switchovers: src.switchovers(p.name),
        lastSwitchover: src.history.lastSwitchover(p.name),
      };
    }),
    overload: {
      dialogRate: src.overload.dialogRate,
      active: src.overload.active(),
      rejections: src.overload.rejections(),
      adaptive: src.overload.adaptive(),
    },
    flows: src.flows(),
    time: iso((src.now ?? Date.now)()),
    startedAt: iso(src.history.startedAt),
    events: src.events.list(),
  };
}
