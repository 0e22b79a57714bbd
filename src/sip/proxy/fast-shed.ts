/**
 * sip/proxy/fast-shed: overload control's refusals at the cost of a look, not
 * a parse. While the adaptive control is limiting (or its backlog guard
 * refuses), a new request from a user agent over UDP that it refuses (or, while new INVITEs are over
 * overload-ctrl-dialog-rate, an INVITE the cap refuses) is answered here, from the
 * datagram's bytes (sip/codec/peek), before it is decoded: no parse, no
 * server transaction, no timers. Measured before this existed, a refusal
 * through the full path cost 41% of a whole call's CPU (0.234 vs 0.567 ms),
 * so at twice the carried load the refusals alone took most of the process.
 *
 * The 503 is a stateless UAS response (RFC 3261 §8.2.7): its To tag is made
 * from the branch, so a retransmitted INVITE gets the same one, and the ACK
 * for it (To tag `srvshed-…`) is dropped unparsed here, or by the proxy when
 * it comes after the limiting ended. While limiting, a retransmission of any
 * request that has a server transaction is also taken by that transaction
 * here, from the key read off its first Via (sip/transaction/layer absorb):
 * late work makes senders retransmit, and decoding each retransmission only
 * to absorb it made an overload feed itself. A retransmission of a request
 * refused here less than REPEAT_WINDOW_MS ago is dropped (a table of recent
 * refusals by a hash of the branch and the packet's source, fixed in size:
 * a copy comes from where the request came from). Not handled here, so the full
 * path decides as before: anything from a pair member or peer instance, a
 * response to send anywhere but the packet's source address and port
 * (§18.2.2: no rport, sent-by port not the source port), responses, and
 * every head peek does not read. May import: shared, sip/codec, sip/transaction, sip/proxy.
 */
import { fnv1a32, hex8 } from '../codec/ids.js';
import { peekRequest, peekTopVia, type PeekedRequest } from '../codec/peek.js';
import { transactionKey } from '../transaction/layer.js';

/** Methods refused here (new out-of-dialog requests; OPTIONS, BYE, ACK, CANCEL and PRACK never are). */
const SHED_METHODS: ReadonlySet<string> = new Set(['INVITE', 'REGISTER', 'SUBSCRIBE', 'MESSAGE', 'PUBLISH', 'REFER', 'NOTIFY', 'INFO', 'UPDATE']);
/** The prefix of the To tag of a 503 from here; an ACK carrying it answers such a 503. */
export const SHED_TAG_PREFIX = 'srvshed-';
const SHED_TAG_BYTES = Buffer.from(';tag=' + SHED_TAG_PREFIX, 'latin1');
const ACK = Buffer.from('ACK ', 'latin1');
const STATUS_LINE = Buffer.from('SIP/2.0 503 Service Unavailable\r\n', 'latin1');
/** Slots of the table of recent refusals (a power of two), and how long a refusal is remembered, ms. */
const RECENT_SLOTS = 16_384;
const REPEAT_WINDOW_MS = 1000;

/** What a refusal here uses of the proxy. */
export interface FastShedHost {
  /** True while the adaptive control is limiting (or its backlog guard refuses) or new INVITEs are over the dialog-rate cap (the only states in which anything is refused here). */
  readonly limiting: boolean;
  /**
   * One refusal of a new `method` request now, counted by whichever control refused it (the
   * adaptive control's token bucket, or the cap for an INVITE): 'adaptive' or 'cap'; null:
   * admitted (the full path takes the request, its token and its place under the cap).
   */
  shedNow(method: string): 'adaptive' | 'cap' | null;
  /** A pair member or a peer instance at this address (never refused). */
  isSiteAddress(address: string): boolean;
  /** The server transaction (or record) under this key takes the request (sip/transaction/layer absorb); false: none does. */
  absorb(key: string, ack: boolean): boolean;
  /** A Retry-After value, seconds, drawn from the proxy's spread. */
  retryAfter(): string;
  /** Counts one refusal of `method` (503 sent) by the control that refused it. */
  counted(method: string, by: 'adaptive' | 'cap'): void;
  /** The clock, ms. */
  now(): number;
}

/** The look-before-decode of the UDP listener: a Buffer to send back to the source, null to drop, undefined to decode. */
export type Preview = (buf: Buffer, address: string, port: number) => Buffer | null | undefined;

export class FastShed {
  /** Refused here (503 sent), their ACKs dropped here, and retransmissions taken by their transaction here, since start. */
  refused = 0;
  acksDropped = 0;
  absorbed = 0;
  /** Retransmissions of a request refused here within REPEAT_WINDOW_MS, dropped. */
  repeats = 0;
  // recent refusals, direct-mapped by a hash of the branch and the source: the hash, and when
  private readonly recentHash = new Uint32Array(RECENT_SLOTS);
  private readonly recentAt = new Float64Array(RECENT_SLOTS).fill(-Infinity);

  constructor(private readonly host: FastShedHost) {}

  readonly preview: Preview = (buf, address, port) => {
    const h = this.host;
    if (!h.limiting) return undefined;
    const ack = buf.compare(ACK, 0, 4, 0, 4) === 0;
    if (ack && buf.indexOf(SHED_TAG_BYTES) >= 0) {
      this.acksDropped++;
      return null;
    }
    // a retransmission (the sender waited longer than T1 for work that is queued here) is taken
    // by its transaction from its key alone: it costs a look, not a decode
    const via = peekTopVia(buf);
    if (via !== undefined && h.absorb(transactionKey(via.branch, via.host, via.port, ack ? 'INVITE' : via.method), ack)) {
      this.absorbed++;
      return null;
    }
    if (ack || via === undefined) return undefined;
    const p = peekRequest(buf, SHED_METHODS);
    if (!p) return undefined;
    // where the full path would answer (§18.2.2, RFC 3581): here only when that is the packet's source
    if (!p.rport && (p.port ?? 5060) !== port) return undefined;
    if (h.isSiteAddress(address)) return undefined;
    // a retransmission of a request refused here a moment ago: its 503 is on the way (the sender
    // retransmitted because the request waited past T1 in the queue), and answering again would
    // cost a send and bring one more ACK. If that 503 was lost, a retransmission after the window
    // is answered. Stateless refusals would otherwise make every late INVITE cost two or three.
    // (keyed by the packet's source too: the branch is the sender's to choose)
    const hash = fnv1a32(p.branch);
    const key = (fnv1a32(address, hash) ^ Math.imul(port, 0x9e3779b1)) >>> 0;
    const slot = key & (RECENT_SLOTS - 1);
    const now = h.now();
    if (this.recentHash[slot] === key && now - this.recentAt[slot]! < REPEAT_WINDOW_MS) {
      this.repeats++;
      return null;
    }
    const by = h.shedNow(p.method);
    if (by === null) return undefined;
    this.refused++;
    this.recentHash[slot] = key;
    this.recentAt[slot] = now;
    h.counted(p.method, by);
    return shedResponse(buf, p, address, port, h.retryAfter(), hash);
  };
}

/** The 503 for the peeked request: its Via block (top value stamped as §18.2.1 and RFC 3581 say), From, To with a tag, Call-ID, CSeq. */
export function shedResponse(buf: Buffer, p: PeekedRequest, address: string, port: number, retryAfter: string, branchHash = fnv1a32(p.branch)): Buffer {
  let stamp = '';
  if (p.rport) stamp = ';received=' + address + ';rport=' + port;
  else if (p.host.toLowerCase() !== address) stamp = ';received=' + address;
  const tag = ';tag=' + SHED_TAG_PREFIX + hex8(branchHash) + '\r\n';
  const tail = 'Retry-After: ' + retryAfter + '\r\nContent-Length: 0\r\n\r\n';
  let size = STATUS_LINE.length + (p.viaEnd - p.viaStart) + stamp.length + (p.from[1] - p.from[0]) + (p.to[1] - p.to[0]) + tag.length;
  size += p.callId[1] - p.callId[0] + (p.cseq[1] - p.cseq[0]) + tail.length;
  for (let k = 0; k < p.dropped.length; k += 2) size -= p.dropped[k + 1]! - p.dropped[k]!;
  const out = Buffer.allocUnsafe(size);
  let o = STATUS_LINE.copy(out, 0);
  let at = p.viaStart;
  for (let k = 0; k < p.dropped.length; k += 2) {
    o += buf.copy(out, o, at, p.dropped[k]!);
    at = p.dropped[k + 1]!;
  }
  o += buf.copy(out, o, at, p.topEnd);
  o += out.write(stamp, o, 'latin1');
  o += buf.copy(out, o, p.topEnd, p.viaEnd);
  o += buf.copy(out, o, p.from[0], p.from[1]);
  o += buf.copy(out, o, p.to[0], p.to[1]);
  o += out.write(tag, o, 'latin1');
  o += buf.copy(out, o, p.callId[0], p.callId[1]);
  o += buf.copy(out, o, p.cseq[0], p.cseq[1]);
  o += out.write(tail, o, 'latin1');
  return o === size ? out : out.subarray(0, o);
}
