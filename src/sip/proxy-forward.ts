/**
 * sip/proxy-forward: the response context of one forwarded request (RFC 3261
 * §16.6-16.8, one branch at a time): the client transaction toward the
 * target, the per-hop timer of fast failover (DESIGN.md §4), retries on the
 * member that becomes active while the upstream transaction lives, CANCEL
 * toward the pending branch, timer C, and the final answer upstream.
 * May import: shared, zone/types, sip/codec, sip/ids, sip/messages,
 * sip/proxy-routing, sip/transaction-*, sip/transport-types, sip/uri.
 */
import type { Clock, TimerHandle } from '../shared/clock.js';
import type { HealthView, PairFeedback } from '../shared/health.js';
import { canonicalName } from '../shared/names.js';
import type { HaPair, PairMember } from '../zone/types.js';
import type { SipMessage } from './codec.js';
import { newBranch } from './ids.js';
import { copyForForward, makeResponse } from './messages.js';
import type { ClientFailure, ClientTransaction, ClientTransactionUser } from './transaction-client.js';
import type { TransactionLayer } from './transaction-layer.js';
import type { ServerTransaction } from './transaction-server.js';
import type { ListenAddress, Remote } from './transport-types.js';
import { hostForUri } from './uri.js';

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
  hopTimeoutMs: number;
  failoverWaitMs: number;
  maxFailoverAttempts: number;
  retryAfterSeconds: number;
}

export type ForwardTarget = { kind: 'pair'; pair: HaPair } | { kind: 'direct'; dest: Remote };

const NO_OP_USER: ClientTransactionUser = { onResponse: () => undefined, onFailure: () => undefined };

export class Forwarding implements ClientTransactionUser {
  private ct: ClientTransaction | undefined;
  private member: PairMember | undefined;
  private hopTimer: TimerHandle | undefined;
  private attempts = 0;
  private cancelled = false;
  private cancelPending = false;
  private done = false;
  private last503: SipMessage | undefined;
  private readonly deadline: number;

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
  }

  /** Sends the request to the target (for a pair: its active member now). */
  start(): void {
    if (this.target.kind === 'direct') {
      this.send(this.target.dest, undefined);
      return;
    }
    const pair = this.target.pair;
    const state = this.env.health.pairState(pair.name);
    const member = state && state.inService && state.active ? findMember(pair, state.active) : undefined;
    if (!member) {
      this.finish(503, 'Service Unavailable', true);
      return;
    }
    this.sendToMember(member);
  }

  /** Upstream CANCEL for this INVITE (§16.10). */
  cancel(): void {
    if (this.done) return;
    this.cancelled = true;
    if (!this.ct) {
      this.finish(487);
      return;
    }
    if (this.ct.responded) this.sendCancel(this.ct);
    else this.cancelPending = true;
  }

  // ---- ClientTransactionUser ----

  onResponse(res: SipMessage, ct: ClientTransaction): void {
    if (ct !== this.ct) return;
    this.env.clock.clearTimeout(this.hopTimer);
    this.hopTimer = undefined;
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
    this.done = true; // a 2xx retransmission still passes: the server transaction is Accepted
    this.forwardUpstream(res);
  }

  onFailure(cause: ClientFailure, ct: ClientTransaction, detail?: string): void {
    if (this.ct !== undefined && ct !== this.ct) return;
    this.env.clock.clearTimeout(this.hopTimer);
    this.hopTimer = undefined;
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
    const msg = copyForForward(this.template);
    msg.headers.via = [
      { version: '2.0', protocol: dest.protocol.toUpperCase(), host: hostForUri(local.address), port: local.port, params: { branch: newBranch(this.loopHash) } },
      ...(this.template.headers.via ?? []),
    ];
    this.ct = undefined;
    const ct = this.env.layer.sendRequest(msg, dest, this);
    if (!ct) {
      this.finish(503, 'Service Unavailable', true);
      return;
    }
    if (ct.state === 'terminated') return; // failed synchronously; onFailure ran
    this.ct = ct;
    if (member) this.hopTimer = this.env.clock.setTimeout(() => this.onHopTimeout(ct), this.env.hopTimeoutMs);
  }

  private onHopTimeout(ct: ClientTransaction): void {
    this.hopTimer = undefined;
    if (ct !== this.ct || ct.responded || this.done) return;
    this.failover(`no response within ${this.env.hopTimeoutMs} ms`);
  }

  private failover(cause: string): void {
    const pair = (this.target as { pair: HaPair }).pair;
    const failed = this.member!;
    this.env.clock.clearTimeout(this.hopTimer);
    this.hopTimer = undefined;
    if (this.ct) {
      this.ct.abandon();
      this.ct = undefined;
    }
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
    const wait = Math.max(0, Math.min(this.env.failoverWaitMs, this.deadline - this.env.clock.now()));
    let p: Promise<string>;
    try {
      p = this.env.feedback.awaitActive(pair.name, wait);
    } catch {
      this.giveUp();
      return;
    }
    p.then(
      (active) => {
        if (this.done) return;
        if (this.cancelled) return this.finish(487);
        const m = findMember(pair, active);
        if (!m || (m === failed && this.last503)) return this.giveUp();
        this.last503 = undefined;
        this.sendToMember(m);
      },
      () => {
        if (!this.done) this.giveUp();
      },
    );
  }

  private giveUp(): void {
    if (this.last503) {
      this.done = true;
      this.forwardUpstream(this.last503);
      return;
    }
    this.finish(503, 'Service Unavailable', true);
  }

  private sendCancel(ct: ClientTransaction): void {
    const rq = ct.request.headers;
    const headers: SipMessage['headers'] = {
      via: rq.via ? [rq.via[0]] : [],
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
    this.done = true;
    this.env.clock.clearTimeout(this.hopTimer);
    this.hopTimer = undefined;
    const extra = retryAfter ? { 'retry-after': String(this.env.retryAfterSeconds) } : undefined;
    this.env.respond(this.st, makeResponse(this.st.request, status, reason, extra));
  }

  private onServerEnd(): void {
    this.done = true;
    this.env.clock.clearTimeout(this.hopTimer);
    this.hopTimer = undefined;
    if (this.ct && (this.ct.state === 'calling' || this.ct.state === 'trying')) this.ct.abandon();
  }
}

function findMember(pair: HaPair, target: string): PairMember | undefined {
  const t = canonicalName(target);
  return pair.members.find((m) => canonicalName(m.target) === t);
}
