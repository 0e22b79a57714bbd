/**
 * health/health-monitor: the health plane's one object. It owns a PairMonitor
 * per HA pair and the PeerMonitor, holds the draining flag, and is the only
 * writer of the health view that dns, sip and ops read (HealthView), and the
 * receiver of the SIP plane's feedback (PairFeedback). May import: shared,
 * zone/types, health.
 */
import { systemClock, type Clock } from '../shared/clock.js';
import type { HealthChange, HealthView, PairFeedback, PairState, Prober } from '../shared/health.js';
import { logEvent, type Logger } from '../shared/log.js';
import type { SiteModel } from '../zone/types.js';
import { PairMonitor, PairUnavailableError } from './pair-monitor.js';
import { PeerMonitor } from './peer-monitor.js';

export interface HealthMonitorOptions {
  site: SiteModel;
  prober: Prober;
  clock?: Clock;
  oosCheckMs: number;
  oosForceMs: number;
  peerIntervalMs: number;
  peerDownAfter: number;
  peerUpAfter: number;
  log: Logger;
}

/** Pair state plus what ops shows about it. */
export interface PairDetail extends PairState {
  switchovers: number;
}

export class HealthMonitor implements HealthView, PairFeedback {
  private site: SiteModel;
  private readonly opts: HealthMonitorOptions;
  private readonly clock: Clock;
  private readonly pairs = new Map<string, PairMonitor>();
  private readonly peers: PeerMonitor;
  private readonly listeners = new Set<(change: HealthChange) => void>();
  private versionNo = 0;
  private drainingFlag = false;
  private running = false;

  constructor(opts: HealthMonitorOptions) {
    for (const k of ['oosCheckMs', 'oosForceMs', 'peerIntervalMs', 'peerDownAfter', 'peerUpAfter'] as const) {
      if (!(opts[k] > 0) || !Number.isFinite(opts[k])) throw new RangeError(`HealthMonitor: ${k} must be a positive number, got ${opts[k]}`);
    }
    this.opts = opts;
    this.site = opts.site;
    this.clock = opts.clock ?? systemClock;
    this.peers = new PeerMonitor({
      prober: opts.prober,
      clock: this.clock,
      intervalMs: opts.peerIntervalMs,
      downAfter: opts.peerDownAfter,
      upAfter: opts.peerUpAfter,
      log: opts.log,
      onChange: (target, healthy) => this.emit({ kind: 'peer', target, healthy }),
    });
    this.applySite(opts.site);
  }

  // --- HealthView ---------------------------------------------------------

  get version(): number {
    return this.versionNo;
  }

  get draining(): boolean {
    return this.drainingFlag;
  }

  isMemberHealthy(target: string): boolean {
    if (target === this.site.self.target) return !this.drainingFlag;
    return this.peers.isHealthy(target);
  }

  pairState(pair: string): PairState | undefined {
    return this.pairs.get(pair)?.state();
  }

  onChange(listener: (change: HealthChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  // --- PairFeedback -------------------------------------------------------

  requestFromMember(pair: string, target: string): void {
    this.pairs.get(pair)?.requestFromMember(target);
  }

  memberFailed(pair: string, target: string, cause: string): void {
    this.pairs.get(pair)?.memberFailed(target, cause);
  }

  memberHeard(pair: string, target: string): void {
    this.pairs.get(pair)?.memberHeard(target);
  }

  heardWithin(pair: string, target: string, ms: number): boolean {
    return this.pairs.get(pair)?.heardWithin(target, ms) ?? false;
  }

  awaitActive(pair: string, timeoutMs: number): Promise<string> {
    const m = this.pairs.get(pair);
    if (!m) return Promise.reject(new PairUnavailableError(`pair ${pair} is not configured`));
    return m.awaitActive(timeoutMs);
  }

  // --- control ------------------------------------------------------------

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const m of this.pairs.values()) m.start();
    this.peers.start();
  }

  /** Stop probing; every timer is cancelled and waiters are rejected. */
  stop(): void {
    this.running = false;
    for (const m of this.pairs.values()) m.stop();
    this.peers.stop();
  }

  /** Draining: self is unhealthy (withdrawn from own answers, OPTIONS 503). */
  setDraining(draining: boolean): void {
    if (draining === this.drainingFlag) return;
    this.drainingFlag = draining;
    logEvent(this.opts.log, draining ? 'DRAIN_ON' : 'DRAIN_OFF', { self: this.site.self.target });
    this.emit({ kind: 'drain', draining });
  }

  /**
   * A new site model after a reload: pairs and peers that still exist keep
   * their state (a pair whose members moved restarts its cycle), new ones start,
   * removed ones stop.
   */
  setSite(site: SiteModel): void {
    this.site = site;
    this.applySite(site);
  }

  /** Pair states with their switchover counts, for /metrics. */
  pairDetails(): PairDetail[] {
    return [...this.pairs.values()].map((m) => ({ ...m.state(), switchovers: m.switchovers }));
  }

  private applySite(site: SiteModel): void {
    const names = new Set<string>();
    for (const pair of site.pairs) {
      names.add(pair.name);
      const old = this.pairs.get(pair.name);
      if (old) {
        old.reconfigure(pair);
        continue;
      }
      const m = new PairMonitor({
        pair,
        prober: this.opts.prober,
        clock: this.clock,
        oosCheckMs: this.opts.oosCheckMs,
        oosForceMs: this.opts.oosForceMs,
        log: this.opts.log,
        onChange: (name) => this.emit({ kind: 'pair', pair: name }),
      });
      this.pairs.set(pair.name, m);
      if (this.running) m.start();
    }
    for (const [name, m] of this.pairs) {
      if (names.has(name)) continue;
      m.stop();
      this.pairs.delete(name);
      this.emit({ kind: 'pair', pair: name });
    }
    this.peers.setPeers(site.pool.members.filter((p) => p.target !== site.self.target));
  }

  private emit(change: HealthChange): void {
    this.versionNo++;
    for (const l of this.listeners) {
      try {
        l(change);
      } catch (err) {
        logEvent(this.opts.log, 'INTERNAL_ERROR', { where: 'health listener', error: err instanceof Error ? err.message : String(err) });
      }
    }
  }
}
