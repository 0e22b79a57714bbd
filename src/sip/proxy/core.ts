/**
 * sip/proxy/core: the transaction-stateful proxy core (RFC 3261 §16) of
 * DESIGN.md §7: validates a request (Max-Forwards 483, loops 482,
 * Proxy-Require 420), answers malformed requests (400/505, statelessly), answers
 * OPTIONS addressed to this instance (200, 503 while draining), sheds new
 * out-of-dialog requests from user agents while the adaptive controller
 * (admission.ts) limits them, and new INVITEs above
 * overload-ctrl-dialog-rate (503 + a randomised Retry-After; never ACK,
 * CANCEL, OPTIONS, in-dialog requests, or requests from pair members), and
 * the same requests in the share a pair's active member asks for by RFC 7339
 * (member-oc.ts; never an emergency call), strips our Route, adds
 * Record-Route with the pool FQDN and the pair, decides the target
 * (inbound: only ever a pair's active member; outbound: Route, then
 * Request-URI, a name resolved by RFC 3263 into targets tried in the order of
 * one weighted choice, those that failed lately last) and hands the request (a RequestContext) to a forwarding
 * context (forward.ts), sharing with all of them one ForwardEnv: the layer,
 * health, settings, counters and the requests pending at each member, which
 * move when their pair switches away from it. ACK for 2xx is forwarded
 * statelessly; a response that matches no transaction is dropped (RFC 6026).
 * A REGISTER from a user agent gets a flow token (Path, Contact), and a
 * request from a pair member or a peer instance that names a flow goes down
 * it or to the instance holding it (flows.ts).
 * Counters are plain numbers for ops to
 * export. May import: shared, zone/types, sip/codec, sip/transport,
 * sip/transaction, sip/proxy.
 */
import type { Clock } from '../../shared/clock.js';
import type { HealthView, PairFeedback } from '../../shared/health.js';
import { logEvent, type Logger } from '../../shared/log.js';
import type { HaPair, SiteModel } from '../../zone/types.js';
import type { DecodeFailure, SipRequest, SipResponse, SipRouteEntry, SipUri, SipVia } from '../codec/codec.js';
import { fnv1a, newBranch } from '../codec/ids.js';
import { copyForForward, makeResponse, maxForwards, ownVia, rawResponse, toTag } from '../codec/messages.js';
import { Forwarding, PendingByMember, respondUpstream, type ForwardCounters, type ForwardEnv, type ForwardSettings, type ForwardTarget } from './forward.js';
import { AdaptiveAdmission, type AdmissionSnapshot } from './admission.js';
import { DialogRateLimiter } from './overload.js';
import { isEmergencyUri, MemberOverload } from './member-oc.js';
import { FastShed, SHED_TAG_PREFIX } from './fast-shed.js';
import { decide, loopKey, stripOwnRoutes, classifyUri, type Decision } from './routing.js';
import { orderTargets, type ResolveOutcome, type ResolvedTarget, type SipResolver } from './resolver.js';
import { FailedTargets } from './targets.js';
import { findMember, SiteIndex } from './site-index.js';
import { responseDestination, type TransactionLayer, type TransactionUser } from '../transaction/layer.js';
import type { ServerTransaction } from '../transaction/server.js';
import type { ListenAddress, Remote } from '../transport/types.js';
import { parseSipUri, uriHost, uriPort } from '../codec/uri.js';
import { plainAddress } from '../../shared/ip.js';
import { Flows, type FlowRoute } from './flows.js';

export interface ProxyOptions {
  site: () => SiteModel;
  health: HealthView;
  feedback: PairFeedback;
  layer: TransactionLayer;
  /** The listen addresses actually bound, and which one sends to an address. */
  transport: {
    readonly bound: readonly ListenAddress[];
    localFor(address: string): ListenAddress;
    /** True while a TCP/TLS connection is open (a flow on it can be used); absent: assumed open, the send decides. */
    connectionOpen?(conn: number): boolean;
  };
  clock: Clock;
  log: Logger;
  /** Per-hop timeout before failover (ms). */
  hopTimeoutMs: number;
  /** Longest wait for a pair to get an active member during a failover (ms). */
  failoverWaitMs?: number;
  /** Most failovers for one request. */
  maxFailoverAttempts?: number;
  /** Retry-After (seconds) on 503s generated here. */
  retryAfterSeconds?: number;
  /** INVITEs per second above which new INVITEs get 503; 0 = off. */
  overloadCtrlDialogRate: number;
  /** Adaptive overload control's lateness target, ms; 0 or absent = off. */
  overloadTargetDelayMs?: number;
  /** Mean event-loop delay (ms) since the previous call, for the adaptive controller. */
  loopDelay?: () => number;
  /** Event-loop utilisation (0..1) since the previous call, for the adaptive control's increases. */
  utilization?: () => number;
  /** CPU time of the process per wall time (cores) since the previous call: a loop is saturated only while the process ran. */
  cpuShare?: () => number;
  /** True while draining (OPTIONS to self answered 503); default: health.draining. */
  isDraining?: () => boolean;
  /** RFC 3263 resolution of outbound names (the zones' and others); without it they get 404. */
  resolver?: SipResolver;
}

/** The context of an INVITE waiting for its target's DNS answer (a CANCEL meanwhile ends it with 487). */
class PendingResolve {
  cancelled = false;
}

/** Plain-number counters for ops to export (responses, forwards and failovers: ForwardCounters). */
export interface SipCounters extends ForwardCounters {
  /** Requests received, by method (methods outside ALLOW counted as `other`: a client picks the method, the label set stays bounded). */
  requestsByMethod: Record<string, number>;
  /** New requests answered 503 by overload control (the hard cap and the adaptive controller). */
  overloadRejections: number;
  /** Of those, the ones the adaptive controller shed, by method. */
  overloadShedByMethod: Record<string, number>;
  malformed: number;
  loopsDetected: number;
  tooManyHops: number;
  relayRefused: number;
  /** Requests refused with 420 (a Proxy-Require option tag, RFC 3261 §16.3 step 5). */
  badExtension: number;
  pairOutOfService: number;
  /** Responses that matched no transaction or record, dropped (RFC 6026). */
  strayDropped: number;
  /** Failures of direct targets (transport error, per-hop timeout, 503), by transport:address:port. */
  readonly targetFailures: Readonly<Record<string, number>>;
  /** Server + client transactions held now (including Completed/Accepted ones absorbing retransmissions, up to 64*T1). */
  readonly transactionsInFlight: number;
  /** Upstream requests still waiting for their final response (what a graceful stop waits for). */
  readonly transactionsPending: number;
}

/** One request on its way through the core: what forward() needs to send it on. */
interface RequestContext {
  readonly req: SipRequest;
  readonly st: ServerTransaction;
  readonly ix: SiteIndex;
  /** The pair whose member sent the request (outbound), if any. */
  readonly fromPair: HaPair | undefined;
  /** Max-Forwards as received (undefined: absent). */
  readonly maxForwards: number | undefined;
  /** The loop-detection hash carried in our Via branch. */
  readonly loopHash: string;
  /** No To tag: Record-Route goes on a dialog-creating request. */
  readonly initial: boolean;
  /** 100 Trying already sent (the request waited for a DNS answer). */
  readonly tryingSent: boolean;
  /** Where it came from (the packet's addressing). */
  readonly remote: Remote;
  /** It came from a peer instance (a request relayed to the flow this instance holds). */
  readonly fromPeer: boolean;
}

/** Targets of one resolution tried for one request, at most. */
const MAX_TARGETS = 16;

const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, REFER, INFO, UPDATE, PRACK, MESSAGE, PUBLISH';
const KNOWN_METHODS = new Set(ALLOW.split(', '));
const DIALOG_CREATING = new Set(['INVITE', 'SUBSCRIBE', 'REFER', 'NOTIFY']);
/** Out-of-dialog requests that overload control never sheds (ACK and CANCEL never reach it). */
const NEVER_SHED = new Set(['OPTIONS', 'ACK', 'CANCEL', 'BYE', 'PRACK']);

export class ProxyCore implements TransactionUser {
  readonly counters: SipCounters;
  private index: SiteIndex | undefined;
  private readonly limiter: DialogRateLimiter;
  /** Adaptive overload control (off when its target is 0). */
  readonly admission: AdaptiveAdmission;
  /** Retry-After values for overload 503s, spread over [r, 2r] seconds so that shed clients do not come back together. */
  private readonly retryAfters: string[];
  private readonly env: ForwardEnv;
  private readonly settings: ForwardSettings;
  private readonly unsubscribe: () => void;
  /** Flows back to user agents (RFC 5626): tokens, where a request that names one goes, the flows held. */
  readonly flows: Flows;
  /** Overload refusals answered from a datagram's bytes before it is decoded (the transport's preview). */
  readonly fastShed: FastShed;
  /** RFC 7339 overload control reported by the pair members (member-oc.ts). */
  readonly memberOc: MemberOverload;

  constructor(private readonly opts: ProxyOptions) {
    const layer = opts.layer;
    const targets = new FailedTargets(layer.timerClock);
    this.counters = {
      requestsByMethod: Object.create(null) as Record<string, number>,
      responsesByCode: Object.create(null) as Record<string, number>,
      forwardedByMember: Object.create(null) as Record<string, number>,
      overloadRejections: 0,
      overloadShedByMethod: Object.create(null) as Record<string, number>,
      failovers: 0,
      malformed: 0,
      loopsDetected: 0,
      tooManyHops: 0,
      relayRefused: 0,
      badExtension: 0,
      pairOutOfService: 0,
      strayDropped: 0,
      targetFailures: targets.failures,
      get transactionsInFlight(): number {
        return layer.serverCount + layer.clientCount;
      },
      get transactionsPending(): number {
        return layer.pendingServerCount;
      },
    };
    this.limiter = new DialogRateLimiter(opts.overloadCtrlDialogRate, opts.clock, opts.log);
    this.admission = new AdaptiveAdmission({ targetMs: opts.overloadTargetDelayMs ?? 0 }, opts.clock, opts.log, opts.loopDelay, opts.utilization, opts.cpuShare);
    this.settings = {
      hopTimeoutMs: opts.hopTimeoutMs,
      failoverWaitMs: opts.failoverWaitMs ?? 10_000,
      maxFailoverAttempts: opts.maxFailoverAttempts ?? 3,
      retryAfterSeconds: opts.retryAfterSeconds ?? 5,
    };
    const r = this.settings.retryAfterSeconds;
    this.retryAfters = [];
    for (let i = r; i <= 2 * r; i++) this.retryAfters.push(String(i));
    this.memberOc = new MemberOverload(opts.clock, opts.log);
    this.flows = new Flows({
      connectionOpen: (conn) => (opts.transport.connectionOpen ? opts.transport.connectionOpen(conn) : true),
      peerDown: (peer) => !opts.health.isMemberHealthy(peer.target),
      now: () => opts.clock.now(),
    });
    this.env = {
      flowFailed: () => this.flows.failedLater(),
      layer,
      clock: layer.timerClock,
      health: opts.health,
      feedback: opts.feedback,
      transport: opts.transport,
      settings: this.settings,
      counters: this.counters,
      pending: new PendingByMember(),
      targets,
      memberOc: this.memberOc,
    };
    const admission = this.admission;
    const limiter = this.limiter;
    const overloadActive = () => this.overloadActive;
    this.fastShed = new FastShed({
      get limiting() {
        return overloadActive();
      },
      // the adaptive control first, then the cap, in the order of the full path (onRequest)
      shedNow: (method) => (admission.shedNow() ? 'adaptive' : method === 'INVITE' && limiter.refuseNow() ? 'cap' : null),
      isSiteAddress: (address) => {
        const ix = this.siteIndex();
        return ix.memberAt(address) !== undefined || ix.peerAt(address) !== undefined;
      },
      absorb: (key, ack) => layer.absorb(key, ack),
      retryAfter: () => this.retryAfters[Math.floor(Math.random() * this.retryAfters.length)]!,
      counted: (method, by) => {
        const c = this.counters;
        c.requestsByMethod[method] = (c.requestsByMethod[method] ?? 0) + 1;
        if (by === 'adaptive') c.overloadShedByMethod[method] = (c.overloadShedByMethod[method] ?? 0) + 1;
        c.overloadRejections++;
        c.responsesByCode[503] = (c.responsesByCode[503] ?? 0) + 1;
      },
      now: () => opts.clock.now(),
    });
    this.unsubscribe = opts.health.onChange((c) => {
      if (c.kind === 'pair') this.onPairChange(c.pair);
    });
  }

  /** True while overload control (the hard cap, or the adaptive controller limiting or its backlog guard) answers new requests 503. */
  get overloadActive(): boolean {
    return this.limiter.active || this.admission.refusing;
  }

  /** The adaptive controller's backlog guard: times it tripped, new requests it refused (sip/proxy/admission). */
  get backlogGuard(): { trips: number; refused: number } {
    return { trips: this.admission.guardTrips, refused: this.admission.guardShed };
  }

  /** The adaptive controller's state, for ops. */
  get admissionState(): AdmissionSnapshot {
    return this.admission.snapshot();
  }

  /** Starts the adaptive controller's clock (it looks at the lateness twice a second). */
  start(): void {
    this.admission.start();
  }

  /** Stop listening to health changes (the transaction layer is cleared by its owner). */
  close(): void {
    this.unsubscribe();
    this.admission.stop();
    this.memberOc.close();
  }

  /**
   * A message arrived from `address`: if it is a pair member's, the health
   * plane hears of it (the per-hop timer's liveness test). Called for every
   * incoming message.
   */
  heard(address: string): void {
    const from = this.siteIndex().memberAt(address);
    if (from) this.opts.feedback.memberHeard(from.pair.name, from.member.target);
  }

  /** The pair switched: requests still unanswered at a member that is no longer active move to the new one. */
  private onPairChange(pairName: string): void {
    const state = this.opts.health.pairState(pairName);
    if (!state?.active) return;
    const pair = this.siteIndex().pair(pairName);
    const active = pair && findMember(pair, state.active);
    if (!pair || !active) return;
    for (const m of pair.members) {
      if (m === active) continue;
      for (const f of this.env.pending.pendingAt(m)) f.memberLost(active);
    }
  }

  /** The routing tables for the current site model (rebuilt when the model object changes). */
  siteIndex(): SiteIndex {
    const site = this.opts.site();
    if (!this.index || this.index.site !== site) this.index = new SiteIndex(site, this.opts.transport.bound);
    return this.index;
  }

  // ---- TransactionUser ----

  onRequest(req: SipRequest, remote: Remote, st: ServerTransaction): void {
    try {
      this.handleRequest(req, remote, st);
    } catch (err) {
      logEvent(this.opts.log, 'INTERNAL_ERROR', { where: 'sip-proxy', error: String((err as Error)?.stack ?? err) });
      this.reply(st, 500);
    }
  }

  onAck(ack: SipRequest, remote: Remote): void {
    try {
      this.handleAck(ack, remote);
    } catch (err) {
      logEvent(this.opts.log, 'INTERNAL_ERROR', { where: 'sip-proxy-ack', error: String((err as Error)?.stack ?? err) });
    }
  }

  onStrayResponse(res: SipResponse, _remote: Remote, upstream?: Remote): void {
    try {
      // A 2xx retransmission that matched an Accepted INVITE's record (RFC 6026 §7.2, timer M) goes
      // where its server transaction's responses went. A response that matches nothing is dropped,
      // not forwarded statelessly by Via: RFC 6026 changes RFC 3261 §16.7 here (its stateless
      // forwarding of unmatched responses was a security risk: anyone could bounce responses off the proxy).
      if (!upstream) {
        this.counters.strayDropped++;
        return;
      }
      const ix = this.siteIndex();
      const via = res.headers.via;
      if (via.length < 2 || !this.isOwnVia(via[0], ix)) return;
      this.opts.layer.sendStateless({ ...res, headers: { ...res.headers, via: via.slice(1) } }, upstream);
      this.count(res.status); // a 2xx retransmission within its transaction counts as sent upstream
    } catch (err) {
      logEvent(this.opts.log, 'INTERNAL_ERROR', { where: 'sip-proxy-response', error: String(err) });
    }
  }

  /**
   * A malformed request is answered statelessly (400, or 505 for another SIP version), at the
   * packet's source (sip/transaction/layer responseDestination); a response or an ACK is dropped.
   */
  onBadMessage(bad: DecodeFailure, remote: Remote): void {
    this.counters.malformed++;
    const { msg, status, error } = bad;
    const reason = status === 505 ? 'Version Not Supported' : error.length < 80 ? 'Bad Request (' + error + ')' : 'Bad Request';
    if (msg) {
      if (msg.method === 'ACK') return;
      this.count(status);
      this.opts.layer.sendStateless(makeResponse(msg, status, reason), responseDestination(msg.headers.via[0], remote));
      return;
    }
    if (bad.head === undefined) return;
    const raw = rawResponse(bad.head, status, reason);
    if (raw === undefined) return;
    this.count(status);
    this.opts.layer.sendRaw(Buffer.from(raw, 'latin1'), responseDestination(undefined, remote));
  }

  // ---- request handling ----

  private handleRequest(req: SipRequest, remote: Remote, st: ServerTransaction): void {
    const method = req.method;
    const label = KNOWN_METHODS.has(method) ? method : 'other';
    this.counters.requestsByMethod[label] = (this.counters.requestsByMethod[label] ?? 0) + 1;
    const ix = this.siteIndex();
    if (method === 'CANCEL') return this.handleCancel(req, st);

    const strip = stripOwnRoutes(req, ix);
    if (method === 'OPTIONS' && !req.headers.route && this.isForMe(req, ix)) {
      const draining = this.opts.isDraining ? this.opts.isDraining() : this.opts.health.draining;
      return this.reply(st, draining ? 503 : 200, undefined, draining ? { 'retry-after': String(this.settings.retryAfterSeconds) } : { allow: ALLOW, accept: 'application/sdp' });
    }

    const from = ix.memberAt(remote.address);
    if (from) {
      try {
        this.opts.feedback.requestFromMember(from.pair.name, from.member.target);
      } catch {
        // health's concern; routing goes on
      }
    }
    const fromPeer = !from && ix.peerAt(remote.address) !== undefined;

    const mf = maxForwards(req);
    if (mf === 0) {
      this.counters.tooManyHops++;
      return this.reply(st, 483);
    }
    const key = loopKey(req);
    const hash = fnv1a(key);
    if (this.isLoop(req, ix, hash)) {
      this.counters.loopsDetected++;
      return this.reply(st, 482);
    }
    // RFC 3261 §16.3 step 5: srvproxy supports no option tag a proxy must understand
    const proxyRequire = req.headers['proxy-require'];
    if (typeof proxyRequire === 'string') {
      const tags = proxyRequire.split(',').map((t) => t.trim()).filter((t) => t.length > 0);
      if (tags.length > 0) {
        this.counters.badExtension++;
        return this.reply(st, 420, 'Bad Extension', { unsupported: tags.join(', ') });
      }
    }
    const initial = toTag(req) === undefined;
    // Overload: only new work from user agents is shed. A retransmission never gets here (the
    // transaction layer absorbed it); requests from pair members, in-dialog requests, OPTIONS
    // and BYE always pass, so established calls and health keep working.
    if (initial && !from && !fromPeer && !NEVER_SHED.has(method)) {
      if (!this.admission.admit()) {
        this.counters.overloadShedByMethod[method] = (this.counters.overloadShedByMethod[method] ?? 0) + 1;
        return this.shed(st);
      }
      if (method === 'INVITE' && !this.limiter.admit()) return this.shed(st);
    } else if (method === 'INVITE' && initial && !this.limiter.admit()) {
      return this.shed(st);
    }

    const rq: RequestContext = { req, st, ix, fromPair: from?.pair, maxForwards: mf, loopHash: hash, initial, tryingSent: false, remote, fromPeer };
    // A request from a pair member or a peer instance that names a flow goes down it (sip/proxy/flows);
    // a user agent's request never does (it is routed to its pair as any other).
    if (from || fromPeer) {
      const fr = this.flows.route(req, strip.flowToken, ix);
      if (fr) return this.forwardFlow(rq, fr);
    }
    const d = decide(req, ix, strip, from?.pair);
    if (d.kind === 'resolve') {
      const resolver = this.opts.resolver;
      if (!resolver) return this.reply(st, 404, 'Not Found');
      const r = resolver.resolve(d.query);
      if (!(r instanceof Promise)) return this.forwardResolved(rq, r);
      // a cache miss: the request waits for the lookup (bounded by the resolver's timeout)
      if (method === 'INVITE') st.respond(makeResponse(req, 100));
      const pending = new PendingResolve();
      st.context = pending;
      r.then((o) => {
        if (st.state === 'terminated' || st.context !== pending) return;
        if (pending.cancelled) return;
        try {
          this.forwardResolved({ ...rq, ix: this.siteIndex(), tryingSent: true }, o);
        } catch (err) {
          logEvent(this.opts.log, 'INTERNAL_ERROR', { where: 'sip-proxy-resolve', error: String((err as Error)?.stack ?? err) });
          this.reply(st, 500);
        }
      }, () => undefined);
      return;
    }
    this.forward(rq, d);
  }

  private forwardResolved(rq: RequestContext, o: ResolveOutcome): void {
    if (!o.ok) return this.reply(rq.st, o.status, o.reason);
    // RFC 3263 §4.3: every target, in the order of one weighted choice (RFC 2782); failed ones last
    const dests = this.orderResolved(o.targets).slice(0, MAX_TARGETS);
    const t = dests[0]!;
    this.forward(rq, { kind: 'direct', address: t.address, port: t.port, transport: t.protocol }, dests);
  }

  private orderResolved(targets: readonly ResolvedTarget[]): Remote[] {
    const failed = this.env.targets;
    return orderTargets(targets, (t) => failed.isFailed(t)).map((t) => ({ protocol: t.protocol, address: t.address, port: t.port }));
  }

  /** `dests`: for a direct decision, every destination to try in order (default: the decision's one). */
  private forward(rq: RequestContext, d: Decision, dests?: readonly Remote[]): void {
    const { req, st, ix, fromPair } = rq;
    const method = req.method;
    if (d.kind === 'resolve') return this.reply(st, 404, 'Not Found');
    if (d.kind === 'reject') {
      if (d.status === 403) this.counters.relayRefused++;
      return this.reply(st, d.status, d.reason);
    }
    let target: ForwardTarget;
    let rrPair: string;
    const fromUa = !fromPair && !rq.fromPeer;
    if (d.kind === 'pair') {
      // Out of service (a whole force round without an answer): 503 at once. During a
      // switchover (force mode, round not over) the Forwarding waits for the new active member.
      const state = this.opts.health.pairState(d.pair.name);
      if (!state || (!state.active && state.outOfService)) {
        this.counters.pairOutOfService++;
        return this.reply(st, 503, 'Service Unavailable', { 'retry-after': String(this.settings.retryAfterSeconds) });
      }
      // RFC 7339 §5.10: the active member asked for fewer requests. Refused as srvproxy's own overload
      // control refuses (the same requests: new, out of dialog, from user agents; never ACK, CANCEL, BYE,
      // OPTIONS, PRACK, in-dialog requests, or anything from a member or a peer), and never an emergency
      // call (§5.10.1). There is no other member to redirect to: the standby of a pair does not serve.
      if (this.memberOc.active && fromUa && rq.initial && state.active && !NEVER_SHED.has(method) && !isEmergencyUri(req.uri)) {
        const m = findMember(d.pair, state.active);
        // counted per member there (srvproxy_sip_oc_reduced_total), not in overloadRejections
        if (m && this.memberOc.reduce(m.target)) return this.refuse(st);
      }
      target = { kind: 'pair', pair: d.pair };
      rrPair = fromPair ? fromPair.name : d.pair.name;
    } else {
      target = { kind: 'direct', dests: dests ?? [{ protocol: d.transport, address: d.address, port: d.port }] };
      rrPair = fromPair ? fromPair.name : ix.site.servingPair.name;
    }

    const out = copyForForward(req);
    out.headers['max-forwards'] = String(rq.maxForwards === undefined ? 70 : rq.maxForwards - 1);
    if (rq.initial && DIALOG_CREATING.has(method)) {
      // a user agent that cannot be reached at its Contact (TCP/TLS, or NAT: the Contact is not the
      // packet's source) is reached over its flow by in-dialog requests from the pair: the token rides
      // in our Record-Route (RFC 5626 §5.3)
      const token = fromUa && needsFlow(req, rq.remote) ? this.flows.tokenFor(rq.remote, ix) : undefined;
      out.headers['record-route'] = [this.recordRoute(ix, rrPair, token), ...(req.headers['record-route'] ?? [])];
    }
    let shape: ((res: SipResponse) => SipResponse) | undefined;
    if (method === 'REGISTER' && fromUa && this.flows.onRegister(out, rq.remote, ix)) {
      shape = (res) => this.flows.shapeRegisterResponse(res, req, rq.remote);
    }
    if (method === 'INVITE' && !rq.tryingSent) st.respond(makeResponse(req, 100));
    new Forwarding(this.env, st, out, target, rq.loopHash, shape).start();
  }

  private recordRoute(ix: SiteIndex, pair: string, token: string | undefined): SipRouteEntry {
    const uri: SipUri = { schema: 'sip', host: ix.poolName, params: { lr: null, pair }, headers: {} };
    if (token) uri.user = token;
    return { uri, params: {} };
  }

  /**
   * A request that names a flow (sip/proxy/flows): down the flow held here, or to the peer instance
   * that holds it (with the token in a Route naming that instance); a bad token 403, a flow gone 430.
   * The instance it entered by adds the Record-Route (with the token: in-dialog requests follow the flow).
   */
  private forwardFlow(rq: RequestContext, fr: FlowRoute): void {
    const { req, st, ix } = rq;
    if (fr.kind === 'fail') return this.reply(st, fr.status, fr.reason);
    const out = copyForForward(req);
    out.headers['max-forwards'] = String(rq.maxForwards === undefined ? 70 : rq.maxForwards - 1);
    this.flows.prepare(out, fr);
    if (rq.initial && DIALOG_CREATING.has(req.method) && !rq.fromPeer) {
      const pair = rq.fromPair?.name ?? ix.site.servingPair.name;
      out.headers['record-route'] = [this.recordRoute(ix, pair, fr.token), ...(req.headers['record-route'] ?? [])];
    }
    if (req.method === 'INVITE') st.respond(makeResponse(req, 100));
    new Forwarding(this.env, st, out, { kind: 'direct', dests: [fr.dest], flow: fr.kind }, rq.loopHash).start();
  }

  private handleCancel(req: SipRequest, st: ServerTransaction): void {
    const inv = this.opts.layer.findInviteFor(req);
    if (!inv) return this.reply(st, 481);
    this.reply(st, 200);
    if (inv === 'answered') return; // only its record is left: nothing to cancel
    const ctx = inv.context;
    if (ctx instanceof Forwarding) ctx.cancel();
    else if (ctx instanceof PendingResolve && !ctx.cancelled) {
      ctx.cancelled = true;
      this.respond(inv, makeResponse(inv.request, 487));
    }
  }

  /** ACK for a 2xx: end to end, forwarded statelessly along the same routing rules. */
  private handleAck(ack: SipRequest, remote: Remote): void {
    this.counters.requestsByMethod.ACK = (this.counters.requestsByMethod.ACK ?? 0) + 1;
    const ix = this.siteIndex();
    const strip = stripOwnRoutes(ack, ix);
    const from = ix.memberAt(remote.address);
    if (from) {
      try {
        this.opts.feedback.requestFromMember(from.pair.name, from.member.target);
      } catch {
        // ignore
      }
    }
    const mf = maxForwards(ack);
    if (mf === 0) return;
    // the ACK for a 503 refused before decoding (sip/proxy/fast-shed), come after the limiting ended
    if (toTag(ack)?.startsWith(SHED_TAG_PREFIX)) return;
    if (from || ix.peerAt(remote.address)) {
      const fr = this.flows.route(ack, strip.flowToken, ix);
      if (fr) {
        if (fr.kind === 'fail') return;
        this.flows.prepare(ack, fr);
        return this.sendAck(ack, mf, fr.dest);
      }
    }
    const d = decide(ack, ix, strip, from?.pair);
    if (d.kind === 'reject') return;
    if (d.kind === 'resolve') {
      const r = this.opts.resolver?.resolve(d.query);
      if (!r) return;
      const send = (o: ResolveOutcome) => {
        if (o.ok) this.sendAck(ack, mf, this.orderResolved(o.targets)[0]!);
      };
      if (r instanceof Promise) r.then(send, () => undefined);
      else send(r);
      return;
    }
    if (d.kind === 'direct') return this.sendAck(ack, mf, { protocol: d.transport, address: d.address, port: d.port });
    const pair = d.pair;
    const state = this.opts.health.pairState(pair.name);
    const m = state?.inService && state.active ? findMember(pair, state.active) : undefined;
    if (m) return this.sendAck(ack, mf, { protocol: m.transport, address: m.address, port: m.port });
    if (!state || state.outOfService) return;
    // Switchover: hold the ACK for the new active member (bounded), rather than
    // dropping it and leaving the server retransmitting its 2xx.
    this.opts.feedback.awaitActive(pair.name, this.settings.failoverWaitMs).then(
      (active) => {
        const n = findMember(pair, active);
        if (n) this.sendAck(ack, mf, { protocol: n.transport, address: n.address, port: n.port });
      },
      () => undefined,
    );
  }

  private sendAck(ack: SipRequest, mf: number | undefined, dest: Remote): void {
    const out = copyForForward(ack);
    out.headers['max-forwards'] = String(mf === undefined ? 70 : mf - 1);
    const local = this.opts.transport.localFor(dest.address);
    out.headers.via = [
      ownVia(dest.protocol, local.address, local.port, newBranch()),
      ...ack.headers.via,
    ];
    this.opts.layer.sendStateless(out, dest);
  }

  /** OPTIONS for the instance itself: Request-URI host = pool FQDN, --self or an own address, and no user part. */
  private isForMe(req: SipRequest, ix: SiteIndex): boolean {
    const u = parseSipUri(req.uri);
    return !!u && !u.user && classifyUri(u, ix).kind === 'self';
  }

  /** A Via of ours whose branch carries this request's loop hash: the request came back unchanged (§16.3 step 4). */
  private isLoop(req: SipRequest, ix: SiteIndex, hash: string): boolean {
    const vias = req.headers.via;
    const suffix = '.' + hash;
    for (let i = 0; i < vias.length; i++) {
      const v = vias[i];
      const b = v.params.branch;
      if (typeof b === 'string' && b.endsWith(suffix) && this.isOwnVia(v, ix)) return true;
    }
    return false;
  }

  private isOwnVia(v: SipVia, ix: SiteIndex): boolean {
    let h = v.host.toLowerCase();
    if (h.startsWith('[')) h = h.slice(1, -1);
    return ix.ownAddresses.has(h) && ix.ownPorts.has(v.port ?? 5060);
  }

  /** 503 for overload (counted as such). */
  private shed(st: ServerTransaction): void {
    this.counters.overloadRejections++;
    this.refuse(st);
  }

  /** 503 with a Retry-After drawn from [r, 2r] seconds (RFC 3261 §21.5.4), so that refused clients do not come back together. */
  private refuse(st: ServerTransaction): void {
    const ra = this.retryAfters[Math.floor(Math.random() * this.retryAfters.length)];
    this.reply(st, 503, 'Service Unavailable', { 'retry-after': ra });
  }

  private reply(st: ServerTransaction, status: number, reason?: string, extra?: Record<string, string>): void {
    this.respond(st, makeResponse(st.request, status, reason, extra));
  }

  private respond(st: ServerTransaction, res: SipResponse): void {
    respondUpstream(this.counters, st, res);
  }

  private count(status: number): void {
    this.counters.responsesByCode[status] = (this.counters.responsesByCode[status] ?? 0) + 1;
  }
}

/**
 * True when a user agent cannot be reached at its Contact but over the flow its request came on:
 * over TCP/TLS (a phone's connection from an ephemeral port), or over UDP when the Contact is not the
 * packet's source (NAT, RFC 3581). Such a dialog's Record-Route carries a flow token.
 */
function needsFlow(req: SipRequest, remote: Remote): boolean {
  if (remote.protocol !== 'udp') return true;
  const c = req.headers.contact;
  if (!Array.isArray(c) || c.length === 0) return false;
  const u = parseSipUri(c[0]!.uri);
  if (!u) return false;
  return uriHost(u) !== plainAddress(remote.address).toLowerCase() || (uriPort(u) ?? 5060) !== remote.port;
}
