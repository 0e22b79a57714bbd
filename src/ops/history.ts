/**
 * ops/history: what /status and the status page show beyond the health
 * view's present state: since when each pool member has been in its state,
 * since when each pair has been in its state, and each pair's last
 * switchover (time, from, to). Follows the health view's change events; the
 * health plane stays the only writer of health. May import: shared.
 */
import type { HealthChange, HealthView } from '../shared/health.js';

export interface Switchover {
  /** Wall-clock time, ISO 8601. */
  at: string;
  from: string | null;
  to: string;
}

interface PairMark {
  key: string;
  since: number;
  /** The last non-null active member seen. */
  lastActive: string | null;
  switchovers: number;
  lastSwitchover: Switchover | null;
}

export interface HistoryOptions {
  view: HealthView;
  self: () => string;
  /** Switchovers counted by the health plane for a pair (the number /metrics shows). */
  switchovers: (pair: string) => number;
  /** The pairs and pool members known at start (marked before the first change). */
  pairs: readonly string[];
  members: readonly string[];
  now?: () => number;
}

export class StatusHistory {
  private readonly now: () => number;
  private readonly members = new Map<string, { healthy: boolean; since: number }>();
  private readonly pairs = new Map<string, PairMark>();
  private readonly unsubscribe: () => void;
  readonly startedAt: number;

  constructor(private readonly o: HistoryOptions) {
    this.now = o.now ?? Date.now;
    this.startedAt = this.now();
    for (const p of o.pairs) this.markPair(p);
    for (const m of o.members) this.markMember(m, o.view.isMemberHealthy(m));
    this.unsubscribe = o.view.onChange((c) => this.changed(c));
  }

  stop(): void {
    this.unsubscribe();
  }

  /** Since when (ms) `target` has been healthy (or not), as the health view says now. */
  memberSince(target: string): number {
    return this.markMember(target, this.o.view.isMemberHealthy(target)).since;
  }

  pairSince(pair: string): number {
    return this.markPair(pair).since;
  }

  lastSwitchover(pair: string): Switchover | null {
    return this.markPair(pair).lastSwitchover;
  }

  private changed(c: HealthChange): void {
    if (c.kind === 'peer') this.markMember(c.target, c.healthy);
    else if (c.kind === 'drain') this.markMember(this.o.self(), !c.draining);
    else this.markPair(c.pair);
  }

  private markMember(target: string, healthy: boolean): { healthy: boolean; since: number } {
    let m = this.members.get(target);
    if (!m) this.members.set(target, (m = { healthy, since: this.now() }));
    else if (m.healthy !== healthy) {
      m.healthy = healthy;
      m.since = this.now();
    }
    return m;
  }

  private markPair(pair: string): PairMark {
    const st = this.o.view.pairState(pair);
    const key = st ? `${st.mode} ${st.active} ${st.inService} ${st.outOfService}` : 'gone';
    const count = st ? this.o.switchovers(pair) : 0;
    let p = this.pairs.get(pair);
    if (!p) {
      this.pairs.set(pair, (p = { key, since: this.now(), lastActive: st?.active ?? null, switchovers: count, lastSwitchover: null }));
      return p;
    }
    const t = this.now();
    if (p.key !== key) {
      p.key = key;
      p.since = t;
    }
    if (count > p.switchovers && st?.active) {
      p.lastSwitchover = { at: new Date(t).toISOString(), from: p.lastActive, to: st.active };
    }
    p.switchovers = count;
    if (st?.active) p.lastActive = st.active;
    return p;
  }
}
