/**
 * sip/transaction/layer: matches incoming messages to transactions (RFC 3261
 * §17.1.3, §17.2.3), keeps the two tables bounded, writes received/rport
 * into the top Via of every incoming request from the packet (§18.2.1, RFC
 * 3581 §4: a client's own values are replaced or removed), says where a
 * response goes (§18.2.2 with RFC 3581, from the packet only), and hands new
 * requests, stray ACKs, stray responses and malformed requests to its user
 * (the proxy core).
 * May import: shared, sip/codec, sip/transport, sip/transaction.
 */
import { systemClock, type Clock } from '../../shared/clock.js';
import { encode, type DecodeFailure, type SipMessage, type SipRequest, type SipResponse, type SipVia } from '../codec/codec.js';
import { branchOf, fromTag, isRfc3261Branch, makeResponse } from '../codec/messages.js';
import { ClientTransaction, type ClientTransactionUser } from './client.js';
import { RetiredRecords } from './retired.js';
import { LaneClock } from '../../shared/timer-lanes.js';
import { ServerTransaction } from './server.js';
import { DEFAULT_TIMERS, type Sender, type TimerConfig, type TransactionEnv } from './timers.js';
import type { Remote, TransportSink } from '../transport/types.js';

export interface TransactionUser {
  /** A request that starts a new server transaction (never ACK). */
  onRequest(req: SipRequest, remote: Remote, st: ServerTransaction): void;
  /** An ACK that matched no server transaction in Completed: the ACK for a 2xx, forwarded end to end. */
  onAck(ack: SipRequest, remote: Remote): void;
  /**
   * A response that matched no client transaction, or a 2xx retransmission that matched an
   * Accepted INVITE client transaction's record (`upstream`: where its server transaction's
   * responses went).
   */
  onStrayResponse(res: SipResponse, remote: Remote, upstream?: Remote): void;
  /** A malformed message (`bad.msg` set, its top Via stamped, when it is an answerable request). */
  onBadMessage(bad: DecodeFailure, remote: Remote): void;
}

export interface TransactionLayerOptions {
  sender: Sender;
  clock?: Clock;
  timers?: Partial<TimerConfig>;
  /** Most server (and, separately, client) transactions held at once; above it new requests get 503. */
  maxTransactions?: number;
}

export interface TransactionCounters {
  retransmissionsSent: number;
  retransmissionsAbsorbed: number;
  rejectedTableFull: number;
}

function stripBrackets(h: string): string {
  return h.length > 1 && h[0] === '[' && h[h.length - 1] === ']' ? h.slice(1, -1) : h;
}

/**
 * RFC 3261 §18.2.1 + RFC 3581 §4: record where a request really came from.
 * A `received` or `rport` value the client wrote is never kept: received is
 * the source address (written when sent-by differs from it, or when rport is
 * asked for), rport the source port; a forged received is removed.
 */
function stampReceived(via: SipVia, remote: Remote): void {
  const p = via.params;
  if ('rport' in p) {
    p.received = remote.address;
    p.rport = String(remote.port);
  } else if (stripBrackets(via.host).toLowerCase() !== remote.address) p.received = remote.address;
  else if ('received' in p) delete p.received;
}

/**
 * Where a response goes (RFC 3261 §18.2.2, RFC 3581 §4), computed from the
 * packet only: over TCP/TLS the connection the request came on, and while it
 * is gone a new one to the source address at the sent-by port; over UDP the
 * source address, at the source port when rport was asked for, else at the
 * sent-by port. Never an address the message names.
 */
export function responseDestination(via: SipVia | undefined, remote: Remote): Remote {
  if (remote.protocol !== 'udp') {
    const secure = remote.secure === true || remote.protocol === 'tls';
    const port = via?.port && via.port > 0 ? via.port : secure ? 5061 : 5060;
    return { protocol: secure ? 'tls' : 'tcp', address: remote.address, port, conn: remote.conn };
  }
  if (!via || 'rport' in via.params) return { protocol: 'udp', address: remote.address, port: remote.port };
  return { protocol: 'udp', address: remote.address, port: via.port && via.port > 0 ? via.port : 5060 };
}

function sentBy(via: SipVia): string {
  return via.host.toLowerCase() + ':' + (via.port ?? '');
}

/**
 * The key of a server transaction whose request carries an RFC 3261 branch (§17.2.3): the
 * branch, the top Via's sent-by and the method (an ACK's under INVITE). Also used with a Via
 * read before decoding (sip/proxy/fast-shed).
 */
export function transactionKey(branch: string, host: string, port: number | undefined, method: string): string {
  return branch + '|' + host.toLowerCase() + ':' + (port ?? '') + '|' + method;
}

/** Server transaction key (§17.2.3); ACK and CANCEL are looked up under INVITE with `methodOverride`. */
function serverKey(req: SipRequest, methodOverride?: string): string {
  const via = req.headers.via[0];
  const method = methodOverride ?? (req.method === 'ACK' ? 'INVITE' : req.method);
  const b = branchOf(via);
  if (isRfc3261Branch(b)) return transactionKey(b, via.host, via.port, method);
  // RFC 2543 peers: the best a proxy can do without a branch
  const h = req.headers;
  return 'x|' + h['call-id'] + '|' + h.cseq.seq + '|' + (fromTag(req) ?? '') + '|' + sentBy(via) + '|' + (b ?? '') + '|' + method;
}

export class TransactionLayer implements TransportSink {
  readonly clock: Clock;
  /** The clock transactions (and the proxy's per-hop timers) set their timers on: one lane per duration. */
  readonly timerClock: LaneClock;
  readonly timers: TimerConfig;
  readonly counters: TransactionCounters = { retransmissionsSent: 0, retransmissionsAbsorbed: 0, rejectedTableFull: 0 };
  /** Live transactions; once one only absorbs retransmissions, its key moves to `retired`. */
  private readonly servers = new Map<string, ServerTransaction>();
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly retired: RetiredRecords;
  private readonly max: number;
  private readonly env: TransactionEnv;
  private user: TransactionUser | undefined;

  constructor(private readonly opts: TransactionLayerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.timerClock = new LaneClock(this.clock);
    this.timers = { ...DEFAULT_TIMERS, ...opts.timers };
    this.max = opts.maxTransactions ?? 250_000;
    this.env = {
      sender: opts.sender,
      clock: this.timerClock,
      timers: this.timers,
      onEnd: (kind, key, tx) => {
        const table: Map<string, unknown> = kind === 'server' ? this.servers : this.clients;
        if (table.get(key) === tx) table.delete(key);
      },
      retire: (kind, key, state, lifetimeMs, last, dest, upstream) => {
        const table: Map<string, unknown> = kind === 'server' ? this.servers : this.clients;
        table.delete(key);
        // the record copies the key and the response bytes: neither the request's text nor the
        // pool slab the response was encoded into stays alive for 64*T1
        if (lifetimeMs > 0) this.retired.add(kind, key, state, lifetimeMs, last, last ? dest : upstream);
      },
      retransmitted: () => {
        this.counters.retransmissionsSent++;
      },
    };
    this.retired = new RetiredRecords(this.clock);
  }

  setUser(user: TransactionUser): void {
    this.user = user;
  }

  /** Server transactions held, records included. */
  get serverCount(): number {
    return this.servers.size + this.retired.count('server');
  }

  /** Client transactions held, records included. */
  get clientCount(): number {
    return this.clients.size + this.retired.count('client');
  }

  /** Server transactions still waiting for their final response (a scan: for metrics and shutdown, not per message). */
  get pendingServerCount(): number {
    let n = 0;
    for (const st of this.servers.values()) if (st.state === 'trying' || st.state === 'proceeding') n++;
    return n;
  }

  /** Transactions held as compact records (absorbing retransmissions only): part of serverCount + clientCount. */
  get retiredCount(): number {
    return this.retired.size;
  }

  /**
   * Starts a client transaction for `req` (its top Via carries a fresh branch); undefined when
   * the table is full. `upstream`: where the proxy's server transaction sends responses (2xx
   * retransmissions go there after the transaction is Accepted).
   */
  sendRequest(req: SipRequest, dest: Remote, user: ClientTransactionUser, upstream?: Remote): ClientTransaction | undefined {
    if (this.clientCount >= this.max) {
      this.counters.rejectedTableFull++;
      return undefined;
    }
    const key = branchOf(req.headers.via[0]) + '|' + req.method;
    if (this.clients.has(key) || this.retired.has('client', key)) return undefined;
    const ct = new ClientTransaction(this.env, key, req, dest, user, upstream);
    this.clients.set(key, ct);
    ct.start();
    return ct;
  }

  /** Sends without a transaction (ACK for 2xx, stateless response forwarding). */
  sendStateless(msg: SipMessage, dest: Remote): boolean {
    let data: Buffer;
    try {
      data = encode(msg);
    } catch {
      return false;
    }
    this.opts.sender.send(dest, data);
    return true;
  }

  /** Sends bytes built elsewhere without a transaction (a 400 to a request too malformed to parse). */
  sendRaw(data: Buffer, dest: Remote): void {
    this.opts.sender.send(dest, data);
  }

  /**
   * A request that belongs to the server transaction (or record) held under `key` (serverKey's
   * form: branch|host:port|method, an ACK under INVITE) is taken by it (RFC 3261 §17.2): an ACK
   * to a non-2xx final response ends Completed, a retransmission has the last response resent.
   * True when taken; false when no transaction takes it (an ACK for a 2xx goes to the proxy).
   * Also called before decoding, from the key alone (sip/proxy/fast-shed, while overloaded).
   */
  absorb(key: string, ack: boolean): boolean {
    const st = this.servers.get(key);
    if (ack) {
      if (!(st instanceof ServerTransaction) || (st.state !== 'completed' && st.state !== 'confirmed')) return false;
      this.counters.retransmissionsAbsorbed++;
      st.receiveAck();
      return true;
    }
    if (st) {
      this.counters.retransmissionsAbsorbed++;
      st.receiveRetransmission();
      return true;
    }
    if (!this.retired.find('server', key)) return false;
    this.counters.retransmissionsAbsorbed++;
    const last = this.retired.lastFound();
    const dest = this.retired.remoteFound();
    if (last && dest) {
      this.counters.retransmissionsSent++;
      this.opts.sender.send(dest, last);
    }
    return true;
  }

  /** The INVITE server transaction a CANCEL refers to (§9.2), 'answered' once only its record is left. */
  findInviteFor(cancel: SipRequest): ServerTransaction | 'answered' | undefined {
    const key = serverKey(cancel, 'INVITE');
    return this.servers.get(key) ?? (this.retired.has('server', key) ? 'answered' : undefined);
  }

  // ---- TransportSink ----

  onMessage(msg: SipMessage, remote: Remote): void {
    if (msg.kind === 'request') this.onRequestIn(msg, remote);
    else this.onResponseIn(msg, remote);
  }

  onBadMessage(bad: DecodeFailure, remote: Remote): void {
    if (bad.msg) stampReceived(bad.msg.headers.via[0], remote);
    this.user?.onBadMessage(bad, remote);
  }

  private onRequestIn(req: SipRequest, remote: Remote): void {
    const via = req.headers.via[0];
    stampReceived(via, remote);
    const key = serverKey(req);
    if (this.absorb(key, req.method === 'ACK')) return;
    if (req.method === 'ACK') {
      this.user?.onAck(req, remote);
      return;
    }
    const dest = responseDestination(via, remote);
    if (this.serverCount >= this.max) {
      this.counters.rejectedTableFull++;
      this.sendStateless(makeResponse(req, 503, 'Service Unavailable', { 'retry-after': '5' }), dest);
      return;
    }
    const st = new ServerTransaction(this.env, key, req, remote, dest);
    this.servers.set(key, st);
    this.user?.onRequest(req, remote, st);
  }

  private onResponseIn(res: SipResponse, remote: Remote): void {
    const b = branchOf(res.headers.via[0]);
    const key = b === undefined ? undefined : b + '|' + res.headers.cseq.method;
    const ct = key === undefined ? undefined : this.clients.get(key);
    if (ct) {
      ct.receiveResponse(res);
      return;
    }
    if (key !== undefined && this.retired.find('client', key)) {
      // a record: 2xx retransmissions of an Accepted INVITE go upstream, the rest is absorbed
      if (this.retired.stateFound() === 'accepted' && res.status < 300) this.user?.onStrayResponse(res, remote, this.retired.remoteFound());
      else this.counters.retransmissionsAbsorbed++;
      return;
    }
    this.user?.onStrayResponse(res, remote);
  }

  /** Ends every transaction (shutdown). */
  clear(): void {
    for (const st of [...this.servers.values()]) st.terminate();
    for (const ct of [...this.clients.values()]) ct.terminate();
    this.servers.clear();
    this.clients.clear();
    this.retired.clear();
  }
}
