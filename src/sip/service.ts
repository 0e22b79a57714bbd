/**
 * sip/service: the SIP plane of one instance, as the composition root sees
 * it: transport + transaction layer + proxy core + prober, started and
 * stopped together. May import: shared, zone/types, sip/transport,
 * sip/transaction, sip/proxy, sip/prober.
 */
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

  constructor(opts: SipServiceOptions) {
    const clock = opts.clock ?? systemClock;
    this.transport = new SipTransport({ ...opts.transport, listen: opts.listen, log: opts.log, tcp: { ...opts.transport?.tcp, ...opts.tcp } });
    this.layer = new TransactionLayer({ sender: this.transport, clock, timers: opts.timers, maxTransactions: opts.maxTransactions });
    // Every incoming message passes the proxy's liveness note (pair members only) on its way to the layer.
    const layer = this.layer;
    this.transport.setSink({
      onMessage: (msg, remote) => {
        this.proxy.heard(remote.address);
        layer.onMessage(msg, remote);
      },
      onBadMessage: (bad, remote) => layer.onBadMessage(bad, remote),
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
      isDraining: opts.isDraining,
    });
    this.layer.setUser(this.proxy);
    this.prober = new SipProber(this.layer, this.transport, clock, () => opts.site().pool.name);
  }

  /** Binds every listen address (UDP and TCP); rejects with SRV_ERR_LISTEN (e.g. EADDRINUSE) after closing what it opened. */
  start(): Promise<void> {
    return this.transport.start();
  }

  /** Closes every socket and ends every transaction. */
  async stop(): Promise<void> {
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
