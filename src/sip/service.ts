/**
 * sip/service: the SIP plane of one instance, as the composition root sees
 * it: transport + transaction layer + proxy core + prober, started and
 * stopped together. May import: shared, zone/types, sip/transport,
 * sip/transaction, sip/proxy, sip/prober.
 */
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import { systemClock, type Clock } from '../shared/clock.js';
import type { HealthView, PairFeedback, Prober } from '../shared/health.js';
import type { Logger } from '../shared/log.js';
import type { SiteModel } from '../zone/types.js';
import { ProxyCore, type SipCounters } from './proxy/core.js';
import { SipProber } from './prober.js';
import { SipResolver, type SipResolverOptions } from './proxy/resolver.js';
import { TransactionLayer } from './transaction/layer.js';
import type { TimerConfig } from './transaction/timers.js';
import { SipTransport, type TransportTuning } from './transport/transport.js';
import type { TcpOptions } from './transport/tcp.js';
import type { ListenAddress, TransportCounters } from './transport/types.js';

export interface SipServiceOptions {
  /** The current site model (a getter: a zone reload swaps it). */
  site: () => SiteModel;
  health: HealthView;
  feedback: PairFeedback;
  /** Addresses and port to listen on (UDP and TCP each); port 0 picks a free port (tests). */
  listen: readonly ListenAddress[];
  /** Per-hop timeout before fast failover, ms (default 500). */
  hopTimeoutMs?: number;
  /** INVITEs per second above which new INVITEs get 503; 0 = off. */
  overloadCtrlDialogRate?: number;
  /**
   * Adaptive overload control's lateness target, ms (0 or absent = off, as the CLI's default):
   * UDP lateness probes and the event-loop delay feed it; off, there are no probes.
   */
  overloadTargetDelayMs?: number;
  /**
   * Test only: busy-waits this long (ms) for every incoming message the transaction layer does
   * not absorb as a retransmission (a quarter of it for a request refused by overload control),
   * to make an instance slow in tests of overload control. Never set in production.
   */
  testDelayPerMessageMs?: number;
  log: Logger;
  clock?: Clock;
  /** Draining (OPTIONS to self answered 503); default: health.draining. */
  isDraining?: () => boolean;
  failoverWaitMs?: number;
  maxFailoverAttempts?: number;
  retryAfterSeconds?: number;
  timers?: Partial<TimerConfig>;
  tcp?: Partial<TcpOptions>;
  /** Transport tuning (input limits, TLS): passed to SipTransport as given. */
  transport?: TransportTuning;
  maxTransactions?: number;
  /**
   * RFC 3263 resolution of outbound names: the zones' (`names`) and others' (`client`, the
   * DNS plane's stub resolver), both injected by the site; `false` or neither: such requests get 404.
   */
  resolver?: false | SipResolverOptions;
}

export class SipService {
  readonly transport: SipTransport;
  readonly layer: TransactionLayer;
  readonly proxy: ProxyCore;
  readonly prober: Prober;
  /** Undefined when the resolver option is false. */
  readonly resolver: SipResolver | undefined;

  private readonly loopDelay: IntervalHistogram | undefined;
  private elu: EventLoopUtilization | undefined;
  /** process.cpuUsage() and performance.now() at the last CPU-share read. */
  private cpuAt: NodeJS.CpuUsage | undefined;
  private cpuReadAt = 0;

  constructor(opts: SipServiceOptions) {
    const clock = opts.clock ?? systemClock;
    const adaptive = (opts.overloadTargetDelayMs ?? 0) > 0;
    const lateness = adaptive ? (ageMs: number, rising: boolean) => this.proxy.admission.sample(ageMs, rising) : undefined;
    this.transport = new SipTransport({ ...opts.transport, lateness, listen: opts.listen, log: opts.log, tcp: { ...opts.transport?.tcp, ...opts.tcp } });
    this.layer = new TransactionLayer({ sender: this.transport, clock, timers: opts.timers, maxTransactions: opts.maxTransactions });
    if (adaptive) this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    // Every incoming message passes the proxy's liveness note (pair members only) on its way to the layer.
    const layer = this.layer;
    const delayMs = opts.testDelayPerMessageMs ?? 0;
    this.transport.setSink({
      onMessage: (msg, remote) => {
        this.proxy.heard(remote.address);
        if (delayMs > 0) {
          // charged to work: a retransmission the layer absorbs costs what it really costs, a
          // request refused by overload control (parsed, answered 503) a quarter of the delay
          const absorbed = layer.counters.retransmissionsAbsorbed;
          const refused = this.proxy.counters.overloadRejections;
          layer.onMessage(msg, remote);
          if (layer.counters.retransmissionsAbsorbed === absorbed) busyWait(this.proxy.counters.overloadRejections === refused ? delayMs : delayMs / 4);
          return;
        }
        layer.onMessage(msg, remote);
      },
      onBadMessage: (bad, remote) => layer.onBadMessage(bad, remote),
      preview:
        delayMs > 0
          ? (buf, address, port) => {
              const early = this.proxy.fastShed.preview(buf, address, port);
              if (early) busyWait(delayMs / 4); // a refusal, as in the full path
              return early;
            }
          : (buf, address, port) => this.proxy.fastShed.preview(buf, address, port),
    });
    this.resolver = opts.resolver === false ? undefined : new SipResolver(opts.resolver ?? {});
    this.proxy = new ProxyCore({
      resolver: this.resolver,
      site: opts.site,
      health: opts.health,
      feedback: opts.feedback,
      layer: this.layer,
      transport: this.transport,
      clock,
      log: opts.log,
      hopTimeoutMs: opts.hopTimeoutMs ?? 500,
      failoverWaitMs: opts.failoverWaitMs,
      maxFailoverAttempts: opts.maxFailoverAttempts,
      retryAfterSeconds: opts.retryAfterSeconds,
      overloadCtrlDialogRate: opts.overloadCtrlDialogRate ?? 0,
      overloadTargetDelayMs: opts.overloadTargetDelayMs ?? 0,
      loopDelay: this.loopDelay ? () => this.readLoopDelay() : undefined,
      utilization: adaptive ? () => this.readUtilization() : undefined,
      cpuShare: adaptive ? () => this.readCpuShare() : undefined,
      isDraining: opts.isDraining,
    });
    this.layer.setUser(this.proxy);
    this.prober = new SipProber(this.layer, this.transport, clock, () => opts.site().pool.name);
  }

  /** Binds every listen address (UDP and TCP); rejects with SRV_ERR_LISTEN (e.g. EADDRINUSE) after closing what it opened. */
  async start(): Promise<void> {
    await this.transport.start();
    this.loopDelay?.enable();
    this.proxy.start();
  }

  /** Event-loop utilisation since the last read (share of wall time not idle in the poll). */
  private readUtilization(): number {
    const now = performance.eventLoopUtilization();
    const u = this.elu ? performance.eventLoopUtilization(now, this.elu).utilization : 0;
    this.elu = now;
    return u;
  }

  /** CPU time of the process (all its threads) per wall time since the last read, in cores. */
  private readCpuShare(): number {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const last = this.cpuAt;
    const share = last && now > this.cpuReadAt ? (cpu.user - last.user + cpu.system - last.system) / 1000 / (now - this.cpuReadAt) : 1;
    this.cpuAt = cpu;
    this.cpuReadAt = now;
    return share;
  }

  /** Mean event-loop delay since the last read, ms (beyond the 10 ms sampling resolution). */
  private readLoopDelay(): number {
    const h = this.loopDelay!;
    const mean = h.count > 0 ? h.mean / 1e6 : 0;
    h.reset();
    return Math.max(0, mean - 10);
  }

  /** Closes every socket and ends every transaction. */
  async stop(): Promise<void> {
    this.loopDelay?.disable();
    this.proxy.close();
    this.resolver?.close();
    await this.transport.stop();
    this.layer.clear();
  }

  /** Proxy counters (plain numbers). */
  get counters(): SipCounters {
    return this.proxy.counters;
  }

  get transportCounters(): TransportCounters {
    return this.transport.counters;
  }

  /** Listen addresses with the ports actually bound. */
  get bound(): readonly ListenAddress[] {
    return this.transport.bound;
  }
}

/** Test only (testDelayPerMessageMs): spends `ms` of CPU, as a slow machine would. */
function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}
