/**
 * dns/secondary/notify: NOTIFY (RFC 1996) to secondaries when a zone's served
 * SOA serial moves, so they transfer at once instead of at their next
 * refresh.
 *
 * One job per (zone, secondary): the NOTIFY is sent, and sent again every
 * `intervalMs` until a response with its ID comes back from that address,
 * at most `tries` times; then NOTIFY_FAILED is logged. A newer serial
 * replaces a job still retrying. Any response ends the job (one that is not
 * NOERROR is logged: the secondary does not take NOTIFY from us).
 *
 * NOTIFYs leave from a UDP socket bound to this instance's own address (the
 * first of each family given), because a secondary accepts NOTIFY only from
 * an address it lists as its primary. With a TSIG key they are signed, and a
 * response counts only when it is signed over the MAC of one of the job's
 * NOTIFYs and in time (RFC 8945 §5.4): an unsigned or badly signed one
 * (anyone can send a datagram with a guessed ID) is counted as unverified,
 * logged once per job (NOTIFY_UNVERIFIED) and the NOTIFY goes on retrying.
 *
 * May import: shared, zone/types, dns/wire, dns/secondary.
 */
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '../../shared/clock.js';
import { logEvent, silentLogger, type Logger } from '../../shared/log.js';
import type { RRsetOf } from '../../zone/types.js';
import { encodeBody } from '../wire/encode.js';
import { findTsig, inTime, sign, tsigErrorName, verifyResponse, type TsigKey } from './tsig.js';
import { CLASS_IN, FLAG, TYPE, nameToWire } from '../wire/wire.js';

export const OPCODE_NOTIFY = 4;

export interface NotifyTarget {
  address: string;
  port: number;
}

export interface NotifierOptions {
  /** This instance's addresses; NOTIFYs leave from the first of each family. */
  sourceAddresses: readonly string[];
  /** Sends per NOTIFY before giving up; default 3. */
  tries?: number;
  /** Between sends, ms; default 2000. */
  intervalMs?: number;
  key?: TsigKey;
  /** Timers (retries); default the system clock. */
  clock?: Clock;
  /** Milliseconds since the Unix epoch, for TSIG; default Date.now. */
  wallClock?: () => number;
  log?: Logger;
}

export interface NotifyCounters {
  sent: number;
  answered: number;
  failed: number;
  /** Responses to a signed NOTIFY that were unsigned or did not verify. */
  unverified: number;
}

interface Job {
  key: string;
  zone: string;
  serial: number;
  target: NotifyTarget;
  id: number;
  message: Buffer;
  sends: number;
  timer: TimerHandle | undefined;
  /** The MACs of the signed NOTIFYs sent (one a send): a response must be signed over one of them. */
  macs: Buffer[];
  /** NOTIFY_UNVERIFIED logged for this job. */
  unverified: boolean;
}

/** The NOTIFY message for `soa`'s zone (ID 0, unsigned): question `zone SOA IN`, the SOA as the answer. */
export function notifyMessage(soa: RRsetOf<'SOA'>): Buffer {
  const body = encodeBody(soa.name, { answer: [soa], authority: [], additional: [] }, 0, true);
  const head = Buffer.alloc(12);
  head.writeUInt16BE((OPCODE_NOTIFY << 11) | FLAG.AA, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(1, 6);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(TYPE.SOA, 0);
  q.writeUInt16BE(CLASS_IN, 2);
  return Buffer.concat([head, nameToWire(soa.name), q, body.bytes]);
}

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

export class Notifier {
  readonly counters: NotifyCounters = { sent: 0, answered: 0, failed: 0, unverified: 0 };
  private readonly sockets = new Map<4 | 6, dgram.Socket>();
  private readonly jobs = new Map<string, Job>();
  private readonly byId = new Map<number, Job>();
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly tries: number;
  private readonly intervalMs: number;
  private started = false;

  constructor(private readonly options: NotifierOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? silentLogger;
    this.tries = Math.max(1, options.tries ?? 3);
    this.intervalMs = Math.max(1, options.intervalMs ?? 2000);
  }

  /** Bind the sending sockets (port 0 on this instance's first IPv4 and IPv6 address). */
  async start(): Promise<void> {
    const firstOf = (family: 4 | 6) => this.options.sourceAddresses.find((a) => net.isIP(a) === family);
    for (const family of [4, 6] as const) {
      const address = firstOf(family);
      if (!address) continue;
      const sock = dgram.createSocket({ type: family === 4 ? 'udp4' : 'udp6', ipv6Only: family === 6 });
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind({ address, port: 0 }, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      sock.on('error', (err) => {
        if (this.log.isDebugEnabled()) this.log.debug('NOTIFY socket error', { error: String(err) });
      });
      sock.on('message', (msg, rinfo) => this.response(msg, rinfo));
      this.sockets.set(family, sock);
    }
    this.started = true;
  }

  /** Jobs still waiting for a response. */
  get pending(): number {
    return this.jobs.size;
  }

  /** Tell `targets` that `soa`'s zone now has `soa`'s serial. */
  notify(soa: RRsetOf<'SOA'>, targets: readonly NotifyTarget[]): void {
    if (!this.started) return;
    const base = notifyMessage(soa);
    for (const target of targets) {
      const family = net.isIP(target.address) as 0 | 4 | 6;
      if (family === 0 || !this.sockets.has(family)) continue;
      const key = `${soa.name}|${target.address}|${target.port}`;
      const old = this.jobs.get(key);
      if (old) this.end(old);
      const job: Job = { key, zone: soa.name, serial: soa.data.serial, target, id: this.newId(), message: base, sends: 0, timer: undefined, macs: [], unverified: false };
      this.jobs.set(key, job);
      this.byId.set(job.id, job);
      this.send(job);
    }
  }

  private newId(): number {
    for (;;) {
      const id = crypto.randomInt(0, 0x10000);
      if (!this.byId.has(id)) return id;
    }
  }

  private send(job: Job): void {
    job.sends++;
    let msg: Buffer = Buffer.from(job.message);
    msg.writeUInt16BE(job.id, 0);
    const key = this.options.key;
    if (key) {
      const signed = sign(msg, key, { timeSigned: this.nowSec() });
      msg = signed.message;
      job.macs.push(signed.mac);
    }
    const sock = this.sockets.get(net.isIP(job.target.address) as 4 | 6)!;
    this.counters.sent++;
    sock.send(msg, job.target.port, job.target.address);
    job.timer = this.clock.setTimeout(() => {
      job.timer = undefined;
      if (job.sends < this.tries) this.send(job);
      else {
        this.counters.failed++;
        const reason = job.unverified ? `no verified answer after ${job.sends} tries` : `no answer after ${job.sends} tries`;
        logEvent(this.log, 'NOTIFY_FAILED', { zone: job.zone, serial: job.serial, secondary: where(job.target), reason });
        this.end(job);
      }
    }, this.intervalMs);
  }

  private response(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length < 12 || (msg[2]! & 0x80) === 0 || ((msg[2]! >> 3) & 0xf) !== OPCODE_NOTIFY) return;
    const job = this.byId.get(msg.readUInt16BE(0));
    if (!job || job.target.address !== rinfo.address || job.target.port !== rinfo.port) return;
    const unverified = this.options.key ? this.unverified(msg, job, this.options.key) : undefined;
    if (unverified !== undefined) {
      this.counters.unverified++;
      if (!job.unverified) {
        job.unverified = true;
        logEvent(this.log, 'NOTIFY_UNVERIFIED', { zone: job.zone, serial: job.serial, secondary: where(job.target), reason: unverified });
      }
      return;
    }
    this.counters.answered++;
    const rcode = msg[3]! & 0xf;
    if (rcode !== 0) {
      logEvent(this.log, 'NOTIFY_FAILED', { zone: job.zone, serial: job.serial, secondary: where(job.target), reason: `answered ${RCODES[rcode] ?? rcode}` });
    } else if (this.log.isDebugEnabled()) {
      this.log.debug('NOTIFY answered', { zone: job.zone, serial: job.serial, secondary: where(job.target), tries: job.sends });
    }
    this.end(job);
  }

  /** Why the response `msg` to the signed NOTIFYs of `job` does not verify; undefined when it does. */
  private unverified(msg: Buffer, job: Job, key: TsigKey): string | undefined {
    const rec = findTsig(msg);
    if (rec === null) return 'unsigned';
    if (rec === 'malformed') return 'malformed TSIG';
    if (rec.error !== 0) return `TSIG error ${tsigErrorName(rec.error)}`;
    if (!job.macs.some((requestMac) => verifyResponse(msg, key, { requestMac }) !== null)) return 'TSIG does not verify';
    if (!inTime(rec.timeSigned, rec.fudge, this.nowSec())) return 'TSIG time outside the fudge';
    return undefined;
  }

  private nowSec(): number {
    return Math.floor((this.options.wallClock ?? Date.now)() / 1000);
  }

  private end(job: Job): void {
    this.clock.clearTimeout(job.timer);
    job.timer = undefined;
    if (this.jobs.get(job.key) === job) this.jobs.delete(job.key);
    if (this.byId.get(job.id) === job) this.byId.delete(job.id);
  }

  async close(): Promise<void> {
    for (const job of [...this.jobs.values()]) this.end(job);
    this.started = false;
    const socks = [...this.sockets.values()];
    this.sockets.clear();
    await Promise.all(socks.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function where(t: NotifyTarget): string {
  return net.isIPv6(t.address) ? `[${t.address}]:${t.port}` : `${t.address}:${t.port}`;
}
