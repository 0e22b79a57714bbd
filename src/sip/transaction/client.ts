/**
 * sip/transaction/client: RFC 3261 §17.1 client transactions. INVITE:
 * calling (timers A, B), proceeding (proxy timer C, so it cannot live
 * forever), completed (ACK for non-2xx generated here, timer D), accepted
 * (RFC 6026, timer M). Non-INVITE: trying/proceeding (timer E capped at T2,
 * timer F), completed (timer K). Retransmissions over UDP only.
 * May import: shared, sip/codec, sip/transport, sip/transaction.
 */
import type { TimerHandle } from '../../shared/clock.js';
import { encode, type SipHeaders, type SipRequest, type SipResponse, type SipVia } from '../codec/codec.js';
import { branchOf } from '../codec/messages.js';
import type { TransactionEnv } from './timers.js';
import type { Remote } from '../transport/types.js';

export type ClientState = 'calling' | 'trying' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

export type ClientFailure = 'timeout' | 'timer-c' | 'transport';

export interface ClientTransactionUser {
  /** A response (each 1xx, the first non-2xx final, every 2xx). */
  onResponse(res: SipResponse, ct: ClientTransaction): void;
  /** No final response in time (timer B/F), timer C expired, or the transport failed. Called at most once. */
  onFailure(cause: ClientFailure, ct: ClientTransaction, detail?: string): void;
}

export class ClientTransaction {
  state: ClientState;
  readonly isInvite: boolean;
  readonly branch: string;
  /** The top Via as sent (the request's headers may be reused for a later attempt: ACK and CANCEL use this). */
  readonly topVia: SipVia;
  /** True once any response arrived. */
  responded = false;
  /** Highest status seen (0 before any). */
  lastStatus = 0;
  private abandoned = false;
  private failed = false;
  /** True once the table holds a compact record for this transaction (see detach). */
  private detached = false;
  private data: Buffer | undefined;
  private ack: Buffer | undefined;
  private retransmitTimer: TimerHandle | undefined;
  private endTimer: TimerHandle | undefined;
  private interval: number;

  constructor(
    private readonly env: TransactionEnv,
    readonly key: string,
    readonly request: SipRequest,
    readonly dest: Remote,
    private user: ClientTransactionUser | undefined,
    /** Where 2xx responses go upstream (a proxy's server transaction): kept after an INVITE's 2xx, when nothing else is. */
    readonly upstream?: Remote,
  ) {
    this.isInvite = request.method === 'INVITE';
    this.topVia = request.headers.via[0];
    this.branch = branchOf(this.topVia) ?? '';
    this.state = this.isInvite ? 'calling' : 'trying';
    this.interval = env.timers.T1;
  }

  get reliable(): boolean {
    return this.dest.protocol !== 'udp';
  }

  /** Sends the request and arms the timers. Called once by the layer. */
  start(): void {
    try {
      this.data = encode(this.request);
    } catch (err) {
      this.fail('transport', 'cannot encode request: ' + String(err));
      return;
    }
    this.transmit();
    const T = this.env.timers;
    if (!this.reliable) this.armRetransmit();
    this.endTimer = this.env.clock.setTimeout(() => this.fail('timeout', 'no final response'), 64 * T.T1); // B / F
  }

  /**
   * The user no longer wants this transaction (failover moved the request elsewhere, or
   * the user is done): no more retransmissions and nothing more is reported, but the
   * entry stays until its timers end it, absorbing late responses.
   */
  abandon(): void {
    this.abandoned = true;
    this.user = undefined;
    this.env.clock.clearTimeout(this.retransmitTimer);
    if (this.state === 'calling' || this.state === 'trying' || this.state === 'proceeding') {
      this.env.clock.clearTimeout(this.endTimer);
      this.endTimer = this.env.clock.setTimeout(() => this.terminate(), 64 * this.env.timers.T1);
    }
  }

  get isAbandoned(): boolean {
    return this.abandoned;
  }

  receiveResponse(res: SipResponse): void {
    const status = res.status;
    if (this.state === 'terminated') return;
    const T = this.env.timers;
    if (status < 200) {
      if (this.state === 'calling' || this.state === 'trying' || this.state === 'proceeding') {
        const first = !this.responded;
        this.responded = true;
        this.lastStatus = Math.max(this.lastStatus, status);
        if (this.isInvite && this.state === 'calling') {
          this.state = 'proceeding';
          this.env.clock.clearTimeout(this.retransmitTimer);
          this.env.clock.clearTimeout(this.endTimer);
          if (!this.abandoned) this.endTimer = this.env.clock.setTimeout(() => this.onTimerC(), T.timerC);
          else this.endTimer = this.env.clock.setTimeout(() => this.terminate(), 64 * T.T1);
        } else if (!this.isInvite && this.state === 'trying') {
          this.state = 'proceeding';
          if (!this.reliable && !this.abandoned && first) {
            this.env.clock.clearTimeout(this.retransmitTimer);
            this.interval = T.T2;
            this.armRetransmit();
          }
        }
        this.user?.onResponse(res, this);
      }
      return;
    }
    this.responded = true;
    this.lastStatus = status;
    if (this.isInvite) {
      if (status < 300) {
        if (this.state === 'accepted') return; // a detached object: the record has the retransmissions
        // RFC 6026 Accepted, timer M: a compact record forwards 2xx retransmissions upstream
        // and absorbs anything else
        this.state = 'accepted';
        this.stopTimers();
        this.env.retire('client', this.key, 'accepted', 64 * T.T1, undefined, undefined, this.upstream);
        const u = this.user;
        this.detach();
        u?.onResponse(res, this);
        return;
      }
      if (this.state === 'completed') {
        if (this.ack) this.send(this.ack);
        return;
      }
      if (this.state === 'accepted') return;
      this.state = 'completed';
      this.stopTimers();
      this.ack = this.buildAck(res);
      if (this.ack) this.send(this.ack);
      this.endTimer = this.env.clock.setTimeout(() => this.terminate(), this.reliable ? 0 : 32_000); // timer D
      this.user?.onResponse(res, this);
      return;
    }
    if (this.state === 'completed') return;
    // timer K (T4 over UDP, 0 over reliable transports): a compact record absorbs retransmissions
    this.state = 'completed';
    this.stopTimers();
    this.env.retire('client', this.key, 'completed', this.reliable ? 0 : T.T4);
    const u = this.user;
    this.detach();
    u?.onResponse(res, this);
  }

  /** The table now holds a compact record instead of this object: let go of everything. */
  private detach(): void {
    this.detached = true;
    this.data = undefined;
    this.ack = undefined;
    this.user = undefined;
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.stopTimers();
    this.data = undefined;
    this.ack = undefined;
    this.user = undefined;
    if (!this.detached) this.env.onEnd('client', this.key, this);
  }

  private onTimerC(): void {
    // the user cancels downstream and answers upstream; the entry lives on to take the 487
    this.endTimer = this.env.clock.setTimeout(() => this.terminate(), 64 * this.env.timers.T1);
    const u = this.user;
    this.failed = true;
    u?.onFailure('timer-c', this);
  }

  private fail(cause: ClientFailure, detail: string): void {
    if (this.failed || this.state === 'terminated') return;
    this.failed = true;
    const u = this.user;
    this.terminate();
    u?.onFailure(cause, this, detail);
  }

  private stopTimers(): void {
    this.env.clock.clearTimeout(this.retransmitTimer);
    this.env.clock.clearTimeout(this.endTimer);
    this.retransmitTimer = undefined;
    this.endTimer = undefined;
  }

  private armRetransmit(): void {
    this.retransmitTimer = this.env.clock.setTimeout(() => {
      if (this.abandoned || !this.data) return;
      if (this.state !== 'calling' && this.state !== 'trying' && this.state !== 'proceeding') return;
      if (this.isInvite && this.state !== 'calling') return;
      this.env.retransmitted();
      this.transmit();
      // A doubles (bounded by B); E doubles up to T2
      this.interval = this.isInvite ? this.interval * 2 : Math.min(this.interval * 2, this.env.timers.T2);
      this.armRetransmit();
    }, this.interval);
  }

  private transmit(): void {
    if (this.data) this.send(this.data);
  }

  private send(data: Buffer): void {
    this.env.sender.send(this.dest, data, (err) => {
      if (!this.abandoned) this.fail('transport', err.message);
    });
  }

  /** RFC 3261 §17.1.1.3: ACK for a non-2xx final response, same branch, hop-by-hop. */
  private buildAck(res: SipResponse): Buffer | undefined {
    const rq = this.request.headers;
    const headers: SipHeaders = {
      via: [this.topVia],
      to: res.headers.to,
      from: rq.from,
      'call-id': rq['call-id'],
      cseq: { seq: rq.cseq.seq, method: 'ACK' },
    };
    if (rq.route) headers.route = rq.route;
    headers['max-forwards'] = '70';
    try {
      return encode({ kind: 'request', method: 'ACK', uri: this.request.uri, version: '2.0', headers, content: undefined });
    } catch {
      return undefined;
    }
  }
}
