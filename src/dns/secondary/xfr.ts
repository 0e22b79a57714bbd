/**
 * dns/secondary/xfr: zone transfer to secondaries over TCP — AXFR (RFC 5936),
 * and IXFR answered with the whole zone in AXFR form (RFC 1995 §4: a server
 * without the history answers in full), or with the one SOA when the
 * secondary is already current (§2). What is sent is the zone as served at
 * that moment: health-filtered, with the served SOA serial (the AnswerTable's
 * zones).
 *
 * Access: only sources inside `allow` (CIDR prefixes; empty: nobody, every
 * transfer REFUSED). With a TSIG key (tsig.ts) a request must also be signed
 * with it, and every message of the answer is signed. Checks in order: a
 * malformed request FORMERR; a bad signature NOTAUTH with the TSIG error
 * (RFC 8945 §5.2); a source outside `allow`, or an unsigned request when a
 * key is set, REFUSED; a name that is not a served zone's apex NOTAUTH.
 *
 * Signed ordinary queries (a secondary with the key signs its SOA queries):
 * answerSigned() checks the TSIG, answers through respond() and signs; it
 * also answers signed queries when no key is configured (BADKEY). Every
 * request accepted with the key moves the key's last Time Signed forward;
 * an older one is refused BADTIME (replay protection).
 *
 * The message stream of a zone is encoded once per answer table (cached by
 * zone object), then per transfer only the ID, the question as asked and the
 * TSIG change. The SOA is the first and the last record; every message
 * carries the question and stays under `maxMessage` octets. Error replies
 * carry an OPT when the request had one (RFC 6891 §7).
 *
 * May import: shared, zone/types, dns/wire, dns/counters, dns/authority,
 * dns/secondary.
 */
import { AllowList, plainAddress } from '../../shared/ip.js';
import { logEvent, silentLogger, type Logger } from '../../shared/log.js';
import type { RR, Zone } from '../../zone/types.js';
import type { AnswerTable } from '../authority/answers.js';
import type { DnsCounters } from '../counters.js';
import { encodeBody } from '../wire/encode.js';
import { readMessage, readName } from '../wire/message.js';
import { respond, SIGNED } from '../authority/respond.js';
import { serialGreater } from '../authority/serial.js';
import { findTsig, sign, tsigErrorName, tsigLength, TSIG_ERROR, unsignedError, verify, type TsigKey, type TsigRecord, type Verified } from './tsig.js';
import { CLASS_IN, FLAG, MAX_UDP_PAYLOAD, RCODE, TYPE, nameToWire, newQuery, readOpt } from '../wire/wire.js';
import { NO_SECTIONS, writeResponse } from '../wire/response.js';

const RCODE_NOTAUTH = 9;

export interface TransferOptions {
  /** Sources allowed to transfer: CIDR prefixes or plain addresses. Empty: nobody. */
  allow: readonly string[];
  /** Transfers must be signed with this key; answers are signed with it. */
  key?: TsigKey;
  /** Largest message of a transfer, in octets, TSIG included; default 16384. */
  maxMessage?: number;
  /** Largest transfer in octets (the TCP layer's pending-write cap); default 1 MiB less 64 KiB. */
  maxTransfer?: number;
  /** Milliseconds since the Unix epoch, for TSIG times; default Date.now. */
  wallClock?: () => number;
  log?: Logger;
}

export interface TransferCounters {
  /** Full transfers sent (AXFR, and IXFR answered in full). */
  transfers: number;
  /** IXFR answered with the SOA only (the secondary was current). */
  upToDate: number;
  refused: number;
  /** Signed ordinary queries refused (malformed TSIG, BADKEY, BADSIG, BADTIME). */
  tsigRefused: number;
}

/** Room left in each message for the TSIG record. */
const TSIG_ROOM = 320;
const HEADER = 12;
/** The request's OPT, read for an error reply (answers are synchronous). */
const scratch = newQuery();

/**
 * Is `msg` an AXFR or IXFR query? Reads the header and the question name
 * only, so other queries pass on to the fast path at little cost.
 */
export function isTransferQuery(msg: Uint8Array): boolean {
  if (msg.length < 17 || (msg[2]! & 0x80) !== 0 || (msg[2]! & 0x78) !== 0 || msg[4] !== 0 || msg[5] !== 1) return false;
  let pos = 12;
  while (pos < msg.length) {
    const l = msg[pos]!;
    if (l === 0) break;
    if (l > 63) return false;
    pos += l + 1;
  }
  if (pos + 3 > msg.length) return false;
  const qtype = (msg[pos + 1]! << 8) | msg[pos + 2]!;
  return qtype === TYPE.AXFR || qtype === TYPE.IXFR;
}

/** The records of a transfer in order: SOA, everything else, SOA. */
export function transferRecords(zone: Zone): RR[] {
  const soa = zone.soa;
  const middle = zone.records.filter((r) => !(r.type === 'SOA' && r.name === zone.origin));
  return [soa, ...middle, soa];
}

/**
 * The messages of an AXFR of `zone` (ID 0, question `origin AXFR IN`,
 * unsigned): as many records a message as fit in `maxMessage` less room
 * for a TSIG record.
 */
export function transferStream(zone: Zone, maxMessage = 16384): Buffer[] {
  const qname = nameToWire(zone.origin);
  const room = Math.max(512, Math.min(65535, maxMessage) - TSIG_ROOM) - HEADER - qname.length - 4;
  const records = transferRecords(zone);
  const groups: RR[][] = [];
  let group: RR[] = [];
  let used = 0;
  for (const rr of records) {
    // A record alone is never larger than inside a group (compression only shrinks it).
    const size = encodeBody(zone.origin, { answer: [rr], authority: [], additional: [] }, 0, true).bytes.length;
    if (group.length > 0 && used + size > room) {
      groups.push(group);
      group = [];
      used = 0;
    }
    group.push(rr);
    used += size;
  }
  if (group.length) groups.push(group);
  return groups.map((g) => transferMessage(zone.origin, g));
}

/** One message of a transfer: ID 0, QR and AA, question `origin AXFR IN`, `records` as the answer. */
function transferMessage(origin: string, records: readonly RR[]): Buffer {
  const body = encodeBody(origin, { answer: records, authority: [], additional: [] }, 0, true);
  const head = Buffer.alloc(HEADER);
  head.writeUInt16BE(FLAG.QR | FLAG.AA, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(records.length, 6);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(TYPE.AXFR, 0);
  q.writeUInt16BE(CLASS_IN, 2);
  return Buffer.concat([head, nameToWire(origin), q, body.bytes]);
}

function frame(msgs: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of msgs) {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(m.length);
    parts.push(len, m);
  }
  return Buffer.concat(parts);
}

export class ZoneTransfer {
  readonly counters: TransferCounters = { transfers: 0, upToDate: 0, refused: 0, tsigRefused: 0 };
  /** The newest Time Signed accepted with the key (replay protection). */
  private lastSigned = 0;
  private readonly allow: AllowList;
  private readonly log: Logger;
  private readonly streams = new WeakMap<Zone, Buffer[]>();

  constructor(private readonly options: TransferOptions) {
    this.allow = new AllowList(options.allow);
    this.log = options.log ?? silentLogger;
  }

  private nowSec(): number {
    return Math.floor((this.options.wallClock ?? Date.now)() / 1000);
  }

  private allowed(source: string): boolean {
    return this.allow.contains(source);
  }

  /**
   * The whole framed answer (every message, each with its 2-byte length) to
   * the transfer query `msg` from `source`, from the zones of `table`.
   */
  answer(table: AnswerTable, msg: Buffer, source: string, maxUdp: number = MAX_UDP_PAYLOAD): Buffer | null {
    const m = readMessage(msg);
    if (!m || m.questions.length !== 1) {
      // isTransferQuery saw a question; the rest is unreadable.
      return frame([this.bare(msg, null, RCODE.FORMERR, maxUdp)]);
    }
    const q = m.questions[0]!;
    const question = msg.subarray(q.start, q.end);

    // TSIG first: a signed request gets a signed answer, whatever it says.
    const rec = findTsig(msg);
    if (rec === 'malformed') return this.refuse(source, q.name, 'malformed TSIG', frame([this.bare(msg, question, RCODE.FORMERR, maxUdp)]));
    let requestMac: Buffer | undefined;
    if (rec) {
      const v = this.check(msg, rec);
      if (v.error !== TSIG_ERROR.NONE) {
        const reply = this.bare(msg, question, RCODE_NOTAUTH, maxUdp);
        const out =
          v.error === TSIG_ERROR.BADTIME && this.options.key
            ? sign(reply, this.options.key, { timeSigned: rec.timeSigned, fudge: rec.fudge, error: v.error, otherData: time48(this.nowSec()) }, { requestMac: v.mac }).message
            : unsignedError(reply, rec, v.error);
        return this.refuse(source, q.name, `TSIG ${tsigErrorName(v.error)}`, frame([out]));
      }
      requestMac = v.mac;
    }
    const signOne = (reply: Buffer): Buffer =>
      requestMac && this.options.key ? sign(reply, this.options.key, { timeSigned: this.nowSec() }, { requestMac }).message : reply;

    const ixfr = q.type === TYPE.IXFR;
    if (q.klass !== CLASS_IN || m.answer.length !== 0 || m.authority.length !== (ixfr ? 1 : 0)) {
      return this.refuse(source, q.name, 'malformed transfer request', frame([signOne(this.bare(msg, question, RCODE.FORMERR, maxUdp))]));
    }
    if (!this.allowed(source)) return this.refuse(source, q.name, 'source not in --allow-transfer', frame([signOne(this.bare(msg, question, RCODE.REFUSED, maxUdp))]));
    if (this.options.key && !requestMac) return this.refuse(source, q.name, 'request not signed with the TSIG key', frame([this.bare(msg, question, RCODE.REFUSED, maxUdp)]));
    const zone = table.zones.find((z) => z.origin === q.name);
    if (!zone) return this.refuse(source, q.name, 'not a served zone', frame([signOne(this.bare(msg, question, RCODE_NOTAUTH, maxUdp))]));

    const serial = zone.soa.data.serial;
    let msgs: Buffer[];
    let full = true;
    const clientSerial = ixfr ? ixfrSerial(msg, m.authority[0]!) : undefined;
    if (ixfr && clientSerial === undefined) {
      return this.refuse(source, q.name, 'malformed IXFR request', frame([signOne(this.bare(msg, question, RCODE.FORMERR, maxUdp))]));
    }
    if (clientSerial !== undefined && !serialGreater(serial, clientSerial)) {
      // The secondary is current: one message with our SOA (RFC 1995 §2).
      msgs = [transferMessage(zone.origin, [zone.soa])];
      full = false;
    } else {
      let cached = this.streams.get(zone);
      if (!cached) this.streams.set(zone, (cached = transferStream(zone, this.options.maxMessage)));
      msgs = cached;
    }

    // Per transfer: the ID, the flags, the question as asked; then TSIG.
    const rd = m.flags & FLAG.RD;
    let prior = requestMac;
    const out: Buffer[] = [];
    const now = this.nowSec();
    for (let i = 0; i < msgs.length; i++) {
      const b = Buffer.from(msgs[i]!);
      b.writeUInt16BE(m.id, 0);
      b.writeUInt16BE(FLAG.QR | FLAG.AA | rd, 2);
      question.copy(b, HEADER);
      if (requestMac && this.options.key) {
        const s = sign(b, this.options.key, { timeSigned: now }, i === 0 ? { requestMac } : { priorMac: prior });
        prior = s.mac;
        out.push(s.message);
      } else out.push(b);
    }
    const framed = frame(out);
    if (framed.length > (this.options.maxTransfer ?? (1 << 20) - (1 << 16))) {
      return this.refuse(source, q.name, `zone too large to transfer (${framed.length} octets)`, frame([signOne(this.bare(msg, question, RCODE.SERVFAIL, maxUdp))]));
    }
    if (full) this.counters.transfers++;
    else this.counters.upToDate++;
    logEvent(this.log, 'ZONE_TRANSFER', {
      zone: zone.origin,
      serial,
      client: plainAddress(source),
      kind: ixfr ? (full ? 'IXFR (full)' : 'IXFR (current)') : 'AXFR',
      messages: out.length,
      ...(requestMac ? { tsig: this.options.key!.name } : {}),
    });
    return framed;
  }

  /**
   * A query that carries a TSIG record (respond() said SIGNED), not a
   * transfer; with or without a configured key. In order (RFC 8945 §5.2):
   * a TSIG that is not the one last record of the additional section
   * FORMERR, unsigned; no key or another key NOTAUTH/BADKEY, a wrong MAC
   * BADSIG (both unsigned, §5.3.2); outside the time window, or older than
   * the last request accepted with the key, BADTIME (signed). Else answered
   * from `table` by respond() without the TSIG, fitted to the client's size
   * with room for the TSIG, and signed. Over TCP the result carries its
   * length prefix.
   */
  answerSigned(table: AnswerTable, msg: Buffer, tcp: boolean, counters: DnsCounters, maxUdp: number, source = ''): Buffer | null {
    const rec = findTsig(msg);
    if (rec === null) return null; // respond() saw a TSIG that is not there: not reached
    const m = readMessage(msg);
    const q = m?.questions.length === 1 ? m.questions[0]! : undefined;
    const question = q ? msg.subarray(q.start, q.end) : null;
    let out: Buffer;
    if (rec === 'malformed') {
      counters.formerr++;
      out = this.signedRefusal(source, 'TSIG not the last record, or more than one', this.bare(msg, question, RCODE.FORMERR, maxUdp));
    } else {
      const v = this.check(msg, rec);
      if (v.error !== TSIG_ERROR.NONE) {
        const reply = this.bare(msg, question, RCODE_NOTAUTH, maxUdp);
        out = this.signedRefusal(
          source,
          `TSIG ${tsigErrorName(v.error)}${v.replay ? ' (Time Signed older than the last accepted)' : ''} (key ${rec.keyName})`,
          v.error === TSIG_ERROR.BADTIME && this.options.key
            ? sign(reply, this.options.key, { timeSigned: rec.timeSigned, fudge: rec.fudge, error: v.error, otherData: time48(this.nowSec()) }, { requestMac: v.mac }).message
            : unsignedError(reply, rec, v.error),
        );
      } else {
        const key = this.options.key!;
        const stripped = Buffer.from(msg.subarray(0, rec.start));
        stripped.writeUInt16BE(stripped.readUInt16BE(10) - 1, 10);
        const plain = respond(table, stripped, stripped.length, tcp, counters, maxUdp, false, tsigLength(key));
        if (!plain || plain === SIGNED) return null;
        out = sign(Buffer.from(tcp ? plain.subarray(2) : plain), key, { timeSigned: this.nowSec() }, { requestMac: v.mac }).message;
      }
    }
    if (!tcp) return out;
    const len = Buffer.alloc(2);
    len.writeUInt16BE(out.length);
    return Buffer.concat([len, out]);
  }

  /**
   * verify(), then replay protection (RFC 8945 §5.2.3): a request whose Time
   * Signed is older than the last one accepted with the key is BADTIME; the
   * same second again is accepted (a secondary sends its SOA query and the
   * transfer together).
   */
  private check(msg: Buffer, rec: TsigRecord): Verified & { replay?: true } {
    const v = verify(msg, rec, this.options.key, this.nowSec());
    if (v.error !== TSIG_ERROR.NONE) return v;
    if (rec.timeSigned < this.lastSigned) return { error: TSIG_ERROR.BADTIME, mac: v.mac, replay: true };
    this.lastSigned = rec.timeSigned;
    return v;
  }

  /** A signed ordinary query refused: counted, logged at the 1st, 2nd, 4th, 8th … */
  private signedRefusal(source: string, reason: string, reply: Buffer): Buffer {
    const n = ++this.counters.tsigRefused;
    if ((n & (n - 1)) === 0) logEvent(this.log, 'TSIG_REFUSED', { client: plainAddress(source), reason, count: n });
    return reply;
  }

  /**
   * A response with no records: the header (ID, RD, rcode), the question when
   * there is one (it follows the header), and an OPT when the request had one
   * (RFC 6891 §7), written by the one response writer.
   */
  private bare(msg: Buffer, question: Buffer | null, rcode: number, maxUdp: number): Buffer {
    readOpt(msg, msg.length, scratch);
    const flags = FLAG.QR | (((msg[2]! << 8) | msg[3]!) & FLAG.RD);
    return writeResponse(msg, HEADER + (question?.length ?? 0), scratch, flags, rcode, NO_SECTIONS, 0, 0, 0, 0, false, maxUdp);
  }

  private refuse(source: string, zone: string, reason: string, reply: Buffer): Buffer {
    const n = ++this.counters.refused;
    // Logged at 1, 2, 4, 8, ... refusals: a scanner cannot flood the log.
    if ((n & (n - 1)) === 0) logEvent(this.log, 'ZONE_TRANSFER_REFUSED', { zone, client: plainAddress(source), reason, count: n });
    return reply;
  }
}

function time48(sec: number): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(Math.floor(sec / 2 ** 32) & 0xffff, 0);
  b.writeUInt32BE(sec % 2 ** 32 >>> 0, 2);
  return b;
}

/** The serial of the SOA in an IXFR request's authority section. */
function ixfrSerial(msg: Buffer, soa: { type: number; rdata: number; rdlength: number }): number | undefined {
  if (soa.type !== TYPE.SOA) return undefined;
  const end = soa.rdata + soa.rdlength;
  const mname = readName(msg, soa.rdata, end);
  const rname = mname && readName(msg, mname.end, end);
  if (!rname || rname.end + 20 !== end) return undefined;
  return msg.readUInt32BE(rname.end);
}
