/**
 * health/peer-monitor: the health of the other instances of the pool
 * (DESIGN.md §5). Every `peer-interval` each peer gets one OPTIONS on its SIP
 * address, with a timeout of half the interval so that a probe always ends
 * before the next one starts. May import: shared, zone/types, health.
 *
 * Per peer, gdnsd-style separate thresholds and counters:
 *   healthy   → withdrawn after `downAfter` consecutive failures
 *   withdrawn → healthy   after `upAfter` consecutive successes
 * Confirmation: once a healthy peer has failed a probe, the next probe does
 * not wait for the interval: it leaves one timeout after the failed one was
 * sent (at once after a timeout). A dead peer is thus withdrawn after
 * (time to the next probe) + downAfter × timeout: with the defaults (1 s,
 * 3 failures) between 1.5 and 2.5 s after its death, where fixed-rate
 * probing alone would take 2.8 to 3.8 s. Restoring keeps the interval's pace.
 * A failure is no answer, a transport error, or a 503 (the peer is draining);
 * a success is any other final response. A peer starts healthy: an instance
 * that has just started must not withdraw its peers before it has probed them.
 * PEER_WITHDRAWN / PEER_RESTORED are logged once, on the transition.
 */
import type { Clock, TimerHandle } from '../shared/clock.js';
import type { ProbeResult, ProbeTarget, Prober } from '../shared/health.js';
import { logEvent, type Logger } from '../shared/log.js';
import type { PoolMember } from '../zone/types.js';
import { describeResult, isAnswer } from './answers.js';

/** Probe timeout as a share of the interval. */
const PROBE_TIMEOUT_SHARE = 0.5;

export interface PeerMonitorOptions {
  prober: Prober;
  clock: Clock;
  intervalMs: number;
  downAfter: number;
  upAfter: number;
  log: Logger;
  /** Called on every health transition of a peer. */
  onChange?: (target: string, healthy: boolean) => void;
}

interface Peer {
  member: PoolMember;
  probeTarget: ProbeTarget | null;
  healthy: boolean;
  /** Consecutive failed probes (0 after a success). */
  failures: number;
  /** Consecutive good probes (0 after a failure). */
  successes: number;
  timer: TimerHandle | undefined;
  /** Bumped when the peer is removed or reprobed, so that late results are ignored. */
  gen: number;
  inFlight: boolean;
  /** clock.now() when the last probe was sent. */
  sentAt: number;
}

export class PeerMonitor {
  private readonly opts: PeerMonitorOptions;
  private readonly peers = new Map<string, Peer>();
  private readonly probeTimeoutMs: number;
  private running = false;

  constructor(opts: PeerMonitorOptions) {
    this.opts = opts;
    this.probeTimeoutMs = Math.max(1, Math.floor(opts.intervalMs * PROBE_TIMEOUT_SHARE));
  }

  /**
   * Set the peers to watch (every pool member but self). Peers that remain keep
   * their state; new ones start healthy; removed ones stop being probed.
   */
  setPeers(members: readonly PoolMember[]): void {
    const seen = new Set<string>();
    for (const m of members) {
      seen.add(m.target);
      const old = this.peers.get(m.target);
      const target = probeTargetOf(m);
      if (old) {
        if (!sameTarget(old.probeTarget, target)) {
          old.gen++;
          old.inFlight = false;
          old.probeTarget = target;
        }
        old.member = m;
        continue;
      }
      const p: Peer = {
        member: m, probeTarget: target, healthy: true, failures: 0, successes: 0,
        timer: undefined, gen: 0, inFlight: false, sentAt: 0,
      };
      this.peers.set(m.target, p);
      if (this.running) this.tick(p);
    }
    for (const [t, p] of this.peers) {
      if (seen.has(t)) continue;
      this.opts.clock.clearTimeout(p.timer);
      p.gen++;
      this.peers.delete(t);
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const p of this.peers.values()) this.tick(p);
  }

  stop(): void {
    this.running = false;
    for (const p of this.peers.values()) {
      this.opts.clock.clearTimeout(p.timer);
      p.timer = undefined;
      p.gen++;
      p.inFlight = false;
    }
  }

  /** Health of a peer; unknown targets are healthy. */
  isHealthy(target: string): boolean {
    return this.peers.get(target)?.healthy ?? true;
  }

  /** Send one probe now and schedule the next one interval later (a fixed rate). */
  private tick(p: Peer): void {
    p.timer = this.opts.clock.setTimeout(() => this.tick(p), this.opts.intervalMs);
    if (!p.probeTarget || p.inFlight) return;
    const gen = p.gen;
    p.inFlight = true;
    p.sentAt = this.opts.clock.now();
    let promise: Promise<ProbeResult>;
    try {
      promise = this.opts.prober.probe(p.probeTarget, this.probeTimeoutMs);
    } catch (err) {
      promise = Promise.resolve({ status: null, rttMs: 0, error: String(err) });
    }
    promise.then(
      (r) => this.result(p, gen, r),
      (err: unknown) => this.result(p, gen, { status: null, rttMs: 0, error: err instanceof Error ? err.message : String(err) }),
    );
  }

  private result(p: Peer, gen: number, r: ProbeResult): void {
    if (gen !== p.gen || !this.running || this.peers.get(p.member.target) !== p) return;
    p.inFlight = false;
    const target = p.member.target;
    if (isAnswer(r)) {
      p.failures = 0;
      p.successes++;
      if (!p.healthy && p.successes >= this.opts.upAfter) {
        p.healthy = true;
        logEvent(this.opts.log, 'PEER_RESTORED', { peer: target, cause: `${p.successes} consecutive good probes` });
        this.opts.onChange?.(target, true);
      }
    } else {
      p.successes = 0;
      p.failures++;
      if (p.healthy && p.failures >= this.opts.downAfter) {
        p.healthy = false;
        const why = r.status === 503 ? 'draining (503)' : describeResult(r);
        logEvent(this.opts.log, 'PEER_WITHDRAWN', { peer: target, cause: `${p.failures} consecutive failed probes, last: ${why}` });
        this.opts.onChange?.(target, false);
      } else if (p.healthy) {
        // Suspect: confirm one timeout after the failed probe left, not an interval later.
        this.opts.clock.clearTimeout(p.timer);
        const delay = Math.max(0, p.sentAt + this.probeTimeoutMs - this.opts.clock.now());
        p.timer = this.opts.clock.setTimeout(() => this.tick(p), delay);
      }
    }
  }
}

function probeTargetOf(m: PoolMember): ProbeTarget | null {
  const address = m.addresses[0];
  if (address === undefined) return null;
  const transport = m.transports.includes('udp') || !m.transports.includes('tcp') ? 'udp' : 'tcp';
  return { address, port: m.port, transport, host: m.target };
}

function sameTarget(a: ProbeTarget | null, b: ProbeTarget | null): boolean {
  if (a === null || b === null) return a === b;
  return a.address === b.address && a.port === b.port && a.transport === b.transport;
}
