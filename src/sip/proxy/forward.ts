/**
 * sip/proxy-forward: the response context of one forwarded request (RFC 3261
 * §16.6-16.8, one branch at a time): the client transaction toward the
 * target, the per-hop timer of fast failover (DESIGN.md §4), retries on the
 * member that becomes active while the upstream transaction lives, CANCEL
 * toward the pending branch, timer C, and the final answer upstream.
 *
 * Fast failover, precisely:
 * - Per-hop timer: no response within hopTimeoutMs. A timer that fires late
 *   (this process was stalled) first lets pending input be read, once. A
 *   member heard from
 *   within the last half of that period is alive (busy, or one datagram was
 *   lost): the timer is re-armed and the transaction keeps retransmitting.
 *   Otherwise the member is reported failed (force mode) and the request
 *   waits for the pair's active member. The transaction to the silent member
 *   is kept during the wait: a late answer from it still counts, and when the
 *   same member turns out to be active again the request is not sent anew
 *   (a second branch would reach the server as a new transaction: a BYE
 *   already processed would draw 481).
 * - A pair switching over (force mode, no active member yet) is waited for,
 *   bounded by failoverWaitMs, the upstream deadline, and the pair going out
 *   of service; a pair out of service gets 503 + Retry-After.
 * - A request still unanswered (nothing, or only 100 Trying) at a member the
 *   pair has switched away from is re-sent to the new active member at once
 *   (an INVITE is CANCELled on the old one): the old member will not answer
 *   it, and its per-hop timer need not be waited for.
 * May import: shared, zone/types, sip/codec, sip/ids, sip/messages,
 * sip/proxy-routing, sip/transaction-*, sip/transport-types, sip/uri.
 */
import type { Clock, TimerHandle } from '../../shared/clock.js';
import type { HealthView, PairFeedback } from '../../shared/health.js';
import { canonicalName } from '../../shared/names.js';
import type { HaPair, PairMember } from '../../zone/types.js';
import type { SipMessage, SipVia } from '../codec/codec.js';
import { newBranch } from '../codec/ids.js';
import { makeResponse } from '../codec/messages.js';
import type { ClientFailure, ClientTransaction, ClientTransactionUser } from '../transaction/client.js';
import type { TransactionLayer } from '../transaction/layer.js';
import type { ServerTransaction } from '../transaction/server.js';
import type { ListenAddress, Remote } from '../transport/types.js';
import { hostForUri } from '../codec/uri.js';

/** What the forwarding context needs from the proxy core. */
export interface ForwardEnv {
  layer: TransactionLayer;
  clock: Clock;
  health: HealthView;
  feedback: PairFeedback;
  localFor(address: string): ListenAddress;
  respond(st: ServerTransaction, res: SipMessage): void;
  forwarded(member: PairMember): void;
  failedOver(): void;
  /** A request is pending at this member (or no longer, with `on` false): see memberLost(). */
  track(f: Forwarding, member: PairMember, on: boolean): void;
  hopTimeoutMs: number;
  failoverWaitMs: number;
  maxFailoverAttempts: number;
  retryAfterSeconds: number;
}

export type ForwardTarget = { kind: 'pair'; pair: HaPair } | { kind: 'direct'; dest: Remote };

const NO_OP_USER: ClientTransactionUser = { onResponse: () => undefined, onFailure: () => undefined };

/** A per-hop timer firing this much after it fell due was held up by this process, not by the member. */
const HOP_LATE_MS = 20;

function pending(ct: ClientTransaction): boolean {
  return ct.state === 'calling' || ct.state === 'trying' || ct.state === 'proceeding';
}

export class Forwarding implements ClientTransactionUser {
  private ct: ClientTransaction | undefined;
  private member: PairMember | undefined;
  private hopTimer: TimerHandle | undefined;
  private attempts = 0;
  private cancelled = false;
  private cancelPending = false;
  private done = false;
  private last503: SipMessage | undefined;
  /** Bumped to forget a wait for the active member (an answer came, or the request ended). */
  private waitGen = 0;
  private waiting = false;
  private tracked: PairMember | undefined;
  /** Clock time the per-hop timer falls due, and whether it was already put off once for lateness. */
  private hopDue = 0;
  private hopPutOff = false;
  private readonly deadline: number;
  /** The Via list as it came (our Via goes on top of it per attempt). */
  private readonly upstreamVias: SipVia[];

  constructor(
    private readonly env: ForwardEnv,
    private readonly st: ServerTransaction,
    /** The request as it leaves, minus our Via. */
    private readonly template: SipMessage,
    private readonly target: ForwardTarget,
    private readonly loopHash: string,
  ) {
    const T = env.layer.timers;
    const now = env.clock.now();
    // answer before the upstream client transaction gives up (its timer F / B)
    this.deadline = now + (st.isInvite ? 64 * T.T1 : 60 * T.T1);
    st.context = this;
    st.onEnd = () => this.onServerEnd();
    this.upstreamVias = template.headers.via ?? [];
  }

  /**
   * Sends the request to the target. For a pair: its active member now; while
   * the pair switches over (no active member, not out of service) the request
   * waits for the new active member within the failover budget; a pair out of
   * service (or not monitored) gets 503 + Retry-After at once.
   */
  start(): void {
    if (this.target.kind === 'direct') {
      this.send(this.target.dest, undefined);
      return;
    }
    const pair = this.target.pair;
    const state = this.env.health.pairState(pair.name);
    const member = state && state.inService && state.active ? findMember(pair, state.active) : undefined;
    if (member) {
      this.sendToMember(member);
      return;
    }
    if (!state || state.outOfService) {
      this.finish(503, 'Service Unavailable', true);
      return;
    }
    this.sendWhenActive(pair, undefined);
  }

  /** Upstream CANCEL for this INVITE (§16.10). */
  cancel(): void {
    if (this.done) return;
    this.cancelled = true;
    if (!this.ct || this.waiting) {
      // not sent yet (waiting for the pair's active member), or its member went silent
      this.dropCt();
      this.finish(487);
      return;
    }
    if (this.ct.responded) this.sendCancel(this.ct);
    else this.cancelPending = true;
  }

  /**
   * The pair's active member is now `active`, not the member this request is
   * pending at. Only a request that drew nothing or 100 Trying moves (a member
   * that rang or answered keeps it): the request goes to the new active member
   * at once rather than at its per-hop timeout (an INVITE: with a CANCEL
   * toward the old branch).
   */
  memberLost(active: PairMember): void {
    const ct = this.ct;
    if (this.done || this.cancelled || this.waiting || !ct || this.member === active) return;
    if (!pending(ct) || ct.lastStatus > 100) return;
    this.clearHop();
    if (ct.responded && ct.isInvite) this.sendCancel(ct);
    this.dropCt();
    this.env.failedOver();
    this.sendToMember(active);
  }

  // ---- ClientTransactionUser ----

  onResponse(res: SipMessage, ct: ClientTransaction): void {
    if (ct !== this.ct) return;
    this.clearHop();
    if (this.member && this.target.kind === 'pair') this.env.feedback.memberHeard(this.target.pair.name, this.member.target);
    if (this.waiting) {
      // the member we were failing over from answered after all: the request stays with it
      this.waiting = false;
      this.waitGen++;
    }
    const status = res.status!;
    if (status < 200) {
      if (this.cancelPending) {
        this.cancelPending = false;
        this.sendCancel(ct);
      }
      if (status === 100) return; // hop-by-hop
      if (!this.done) this.forwardUpstream(res);
      return;
    }
    if (status === 503 && this.target.kind === 'pair' && !this.done && this.member) {
      // a standby says "not active": fail over
      this.last503 = res;
      this.failover('503 from member');
      return;
    }
    this.markDone(); // a 2xx retransmission still passes: the server transaction is Accepted
    this.forwardUpstream(res);
  }

  onFailure(cause: ClientFailure, ct: ClientTransaction, detail?: string): void {
    if (this.ct !== undefined && ct !== this.ct) return;
    this.clearHop();
    if (this.done) return;
    if (cause === 'timer-c') {
      this.sendCancel(ct);
      this.finish(408);
      return;
    }
    if (this.cancelled) {
      this.finish(487);
      return;
    }
    if (this.waiting) {
      // already failing over from this member: the wait decides
      this.ct = undefined;
      return;
    }
    if (this.target.kind === 'pair' && this.member && !ct.responded) {
      this.failover(cause === 'transport' ? 'transport error: ' + (detail ?? '') : 'no final response');
      return;
    }
    this.finish(cause === 'transport' ? 503 : 408);
  }

  // ---- internals ----

  private sendToMember(member: PairMember): void {
    this.member = member;
    this.env.forwarded(member);
    this.send({ protocol: member.transport, address: member.address, port: member.port }, member);
  }

  private send(dest: Remote, member: PairMember | undefined): void {
    const local = this.env.localFor(dest.address);
    // One headers object for every attempt (no copy per send): each attempt sets its own Via
    // list, encoded at once; a client transaction keeps its top Via apart (ct.topVia).
    const t = this.template;
    t.headers.via = [
      { version: '2.0', protocol: dest.protocol.toUpperCase(), host: hostForUri(local.address), port: local.port, params: { branch: newBranch(this.loopHash) } },
      ...this.upstreamVias,
    ];
    const msg: SipMessage = { method: t.method, uri: t.uri, version: '2.0', headers: t.headers, content: t.content };
    this.ct = undefined;
    const ct = this.env.layer.sendRequest(msg, dest, this, this.st.responseDest);
    if (!ct) {
      this.finish(503, 'Service Unavailable', true);
      return;
    }
    if (ct.state === 'terminated') return; // failed synchronously; onFailure ran
    this.ct = ct;
    if (member) {
      this.armHop(ct);
      this.track(member);
    }
  }

  private armHop(ct: ClientTransaction, ms = this.env.hopTimeoutMs, putOff = false): void {
    this.clearHop();
    this.hopDue = this.env.clock.now() + ms;
    this.hopPutOff = putOff;
    this.hopTimer = this.env.clock.setTimeout(() => this.onHopTimeout(ct), ms);
  }

  private clearHop(): void {
    this.env.clock.clearTimeout(this.hopTimer);
    this.hopTimer = undefined;
  }

  private onHopTimeout(ct: ClientTransaction): void {
    this.hopTimer = undefined;
    if (ct !== this.ct || ct.responded || this.done || !this.member) return;
    // Fired late: this process was stalled, and the answer may be waiting, unread, in the
    // socket (timers run before I/O in an event-loop turn). Decide after that I/O is read.
    if (!this.hopPutOff && this.env.clock.now() - this.hopDue > HOP_LATE_MS) {
      this.armHop(ct, 1, true);
      return;
    }
    // A member that answered anything within the last half period is alive: it is busy
    // (or this one datagram was lost) and the transaction retransmits. Not a failure.
    if (this.target.kind === 'pair' && this.env.feedback.heardWithin(this.target.pair.name, this.member.target, this.env.hopTimeoutMs / 2)) {
      this.armHop(ct);
      return;
    }
    this.failover(`no response within ${this.env.hopTimeoutMs} ms`, true);
  }

  /**
   * Report the member failed and wait for the pair's active member. `keepCt`:
   * the transaction toward the silent member stays alive meanwhile (see sendWhenActive).
   */
  private failover(cause: string, keepCt = false): void {
    const pair = (this.target as { pair: HaPair }).pair;
    const failed = this.member!;
    this.clearHop();
    if (!keepCt || this.cancelled) this.dropCt();
    if (this.cancelled) {
      this.finish(487);
      return;
    }
    this.attempts++;
    this.env.failedOver();
    try {
      this.env.feedback.memberFailed(pair.name, failed.target, cause);
    } catch {
      // the health plane's problem; the request still gets its answer
    }
    if (this.attempts > this.env.maxFailoverAttempts) {
      this.giveUp();
      return;
    }
    this.sendWhenActive(pair, failed);
  }

  /** Waits (within the failover budget and the upstream deadline) for the pair's active member, then sends to it. */
  private sendWhenActive(pair: HaPair, failed: PairMember | undefined): void {
    const wait = Math.max(0, Math.min(this.env.failoverWaitMs, this.deadline - this.env.clock.now()));
    const gen = ++this.waitGen;
    this.waiting = true;
    let p: Promise<string>;
    try {
      p = this.env.feedback.awaitActive(pair.name, wait);
    } catch {
      this.waiting = false;
      this.giveUp();
      return;
    }
    p.then(
      (active) => {
        if (gen !== this.waitGen || this.done) return;
        this.waiting = false;
        if (this.cancelled) return this.finish(487);
        const m = findMember(pair, active);
        if (!m || (m === failed && this.last503)) return this.giveUp();
        const ct = this.ct;
        if (ct && m === this.member && pending(ct)) {
          // The silent member is active again (it answered OPTIONS): the request may be in
          // its hands already. Keep the transaction (its retransmissions carry the same
          // branch, so the server answers it once) and give it another hop period.
          this.armHop(ct);
          return;
        }
        this.dropCt();
        this.last503 = undefined;
        this.sendToMember(m);
      },
      () => {
        if (gen !== this.waitGen || this.done) return;
        this.waiting = false;
        this.giveUp();
      },
    );
  }

  private giveUp(): void {
    this.dropCt();
    if (this.last503) {
      this.markDone();
      this.forwardUpstream(this.last503);
      return;
    }
    this.finish(503, 'Service Unavailable', true);
  }

  /** Forget the current client transaction (it absorbs late responses until its timers end it). */
  private dropCt(): void {
    if (this.ct) {
      if (pending(this.ct)) this.ct.abandon();
      this.ct = undefined;
    }
    this.track(undefined);
  }

  private track(member: PairMember | undefined): void {
    if (this.tracked === member) return;
    if (this.tracked) this.env.track(this, this.tracked, false);
    this.tracked = member;
    if (member) this.env.track(this, member, true);
  }

  private sendCancel(ct: ClientTransaction): void {
    const rq = ct.request.headers;
    const headers: SipMessage['headers'] = {
      via: [ct.topVia],
      to: rq.to,
      from: rq.from,
      'call-id': rq['call-id'],
      cseq: { seq: rq.cseq!.seq, method: 'CANCEL' },
      'max-forwards': '70',
    };
    if (rq.route) headers.route = rq.route;
    this.env.layer.sendRequest({ method: 'CANCEL', uri: ct.request.uri, version: '2.0', headers }, ct.dest, NO_OP_USER);
  }

  private forwardUpstream(res: SipMessage): void {
    const out: SipMessage = {
      status: res.status,
      reason: res.reason,
      version: '2.0',
      headers: { ...res.headers, via: res.headers.via!.slice(1) },
      content: res.content,
    };
    this.env.respond(this.st, out);
  }

  private finish(status: number, reason?: string, retryAfter = false): void {
    if (this.done) return;
    this.markDone();
    const extra = retryAfter ? { 'retry-after': String(this.env.retryAfterSeconds) } : undefined;
    this.env.respond(this.st, makeResponse(this.st.request, status, reason, extra));
  }

  /** The request has its final answer upstream: stop timers, waits and tracking. */
  private markDone(): void {
    this.done = true;
    this.waiting = false;
    this.waitGen++;
    this.clearHop();
    this.track(undefined);
  }

  private onServerEnd(): void {
    this.markDone();
    if (this.ct && (this.ct.state === 'calling' || this.ct.state === 'trying')) this.ct.abandon();
  }
}

function findMember(pair: HaPair, target: string): PairMember | undefined {
  const t = canonicalName(target);
  return pair.members.find((m) => canonicalName(m.target) === t);
}
