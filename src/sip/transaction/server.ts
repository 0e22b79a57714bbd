/**
 * sip/transaction/server: RFC 3261 §17.2 server transactions, INVITE (with
 * the RFC 6026 Accepted state) and non-INVITE. Every state has a timer that
 * ends it, so a transaction the user never answers cannot leak. Responses go
 * where the top Via says (§18.2.2, RFC 3581 rport), or back on the TCP
 * connection the request came on. May import: shared, sip/codec,
 * sip/transport, sip/transaction.
 */
import type { TimerHandle } from '../../shared/clock.js';
import { encode, type SipRequest, type SipResponse } from '../codec/codec.js';
import type { TransactionEnv } from './timers.js';
import type { Remote } from '../transport/types.js';

export type ServerState = 'trying' | 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

export class ServerTransaction {
  state: ServerState;
  readonly isInvite: boolean;
  /** The final status sent, or 0. */
  finalStatus = 0;
  private last: Buffer | undefined;
  private retransmitTimer: TimerHandle | undefined;
  private endTimer: TimerHandle | undefined;
  private interval: number;
  /** True once the table holds a compact record for this transaction (see detach). */
  private detached = false;
  /** Called once when the transaction ends (any reason). */
  onEnd: ((st: ServerTransaction) => void) | undefined;
  /** Set by the user: data it keeps per transaction (the proxy's response context). */
  context: unknown;

  constructor(
    private readonly env: TransactionEnv,
    readonly key: string,
    readonly request: SipRequest,
    readonly remote: Remote,
    /** Where responses go. */
    readonly responseDest: Remote,
  ) {
    this.isInvite = request.method === 'INVITE';
    this.state = this.isInvite ? 'proceeding' : 'trying';
    this.interval = env.timers.T1;
    // guard: a user that never answers must not keep the entry alive
    const guard = this.isInvite ? env.timers.timerC + 64 * env.timers.T1 : 64 * env.timers.T1 + env.timers.T4;
    this.endTimer = env.clock.setTimeout(() => this.terminate(), guard);
  }

  get reliable(): boolean {
    return this.remote.protocol !== 'udp';
  }

  /** Sends a response within this transaction. */
  respond(res: SipResponse): void {
    if (this.state === 'terminated' || this.state === 'confirmed') return;
    const status = res.status;
    let data: Buffer;
    try {
      data = encode(res);
    } catch {
      return;
    }
    if (status < 200) {
      if (this.state === 'trying') this.state = 'proceeding';
      if (this.state !== 'proceeding') return;
      this.last = data;
      this.send(data);
      return;
    }
    if (this.state === 'accepted') {
      // further 2xx (retransmissions from the UAS) pass through
      if (status < 300) this.send(data);
      return;
    }
    if (this.state === 'completed') return;
    this.finalStatus = status;
    this.last = data;
    this.send(data);
    const T = this.env.timers;
    this.env.clock.clearTimeout(this.endTimer);
    if (this.isInvite && status < 300) {
      // RFC 6026 Accepted, timer L: INVITE retransmissions are absorbed silently (2xx
      // retransmissions come from the UAS through the client side): a compact record does it
      this.state = 'accepted';
      this.env.retire('server', this.key, 'accepted', 64 * T.T1);
      this.detach();
    } else if (this.isInvite) {
      this.state = 'completed';
      if (!this.reliable) this.armG();
      this.endTimer = this.env.clock.setTimeout(() => this.terminate(), 64 * T.T1); // timer H
    } else {
      // timer J (64*T1 over UDP, 0 over reliable transports): the record resends `data`
      this.state = 'completed';
      this.env.retire('server', this.key, 'completed', this.reliable ? 0 : 64 * T.T1, data, this.responseDest);
      this.detach();
    }
  }

  /** The table now holds a compact record instead of this object: let go of everything. */
  private detach(): void {
    this.detached = true;
    this.env.clock.clearTimeout(this.retransmitTimer);
    this.env.clock.clearTimeout(this.endTimer);
    this.retransmitTimer = undefined;
    this.endTimer = undefined;
    this.last = undefined;
    const cb = this.onEnd;
    this.onEnd = undefined;
    this.context = undefined;
    cb?.(this);
  }

  /** The same request again: resend the last response where the state says so. */
  receiveRetransmission(): void {
    if ((this.state === 'proceeding' || this.state === 'completed') && this.last) {
      this.env.retransmitted();
      this.send(this.last);
    }
  }

  /** ACK for a non-2xx final response (absorbed here: it is hop-by-hop). */
  receiveAck(): void {
    if (this.state !== 'completed') return;
    this.state = 'confirmed';
    this.env.clock.clearTimeout(this.retransmitTimer);
    this.env.clock.clearTimeout(this.endTimer);
    this.endTimer = this.env.clock.setTimeout(() => this.terminate(), this.reliable ? 0 : this.env.timers.T4); // timer I
  }

  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.env.clock.clearTimeout(this.retransmitTimer);
    this.env.clock.clearTimeout(this.endTimer);
    this.last = undefined;
    if (!this.detached) this.env.onEnd('server', this.key, this);
    const cb = this.onEnd;
    this.onEnd = undefined;
    cb?.(this);
  }

  private armG(): void {
    this.retransmitTimer = this.env.clock.setTimeout(() => {
      if (this.state !== 'completed' || !this.last) return;
      this.env.retransmitted();
      this.send(this.last);
      this.interval = Math.min(this.interval * 2, this.env.timers.T2);
      this.armG();
    }, this.interval);
  }

  private send(data: Buffer): void {
    this.env.sender.send(this.responseDest, data);
  }
}
