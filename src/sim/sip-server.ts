/**
 * sim/sip-server: the SIP side of one simulated SIP Server (a member of an HA
 * pair), over UDP and TCP on one address and port. While active: OPTIONS 200;
 * INVITE → 100, (180 and a ring delay when asked), 200 with a To tag, the
 * Record-Route mirrored and a Contact of itself, retransmitted until the ACK
 * (UDP); BYE → 200 for a known dialog, 481 otherwise; CANCEL → 200 and 487
 * while ringing. While standby: every request but ACK gets 503. Dialogs live
 * in a table the HA logic replicates to the partner (see member.ts).
 * May import: sim/sip-msg, node.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import sip from 'sip';
import { decodeMessage, encodeMessage, makeResponse, randomToken, responseDestination, tagOf, T1, T2, type SipMessage } from './sip-msg.js';

export type MemberState = 'active' | 'standby';

export interface Dialog {
  callId: string;
  /** Our tag (To tag of the INVITE's 200). */
  localTag: string;
  /** The caller's tag (From tag of the INVITE). */
  remoteTag: string;
}

function dialogKey(callId: string, localTag: string): string {
  return callId + '|' + localTag;
}

export interface SimServerOptions {
  address: string;
  port: number;
  /** Also listen on TCP (same port). */
  tcp?: boolean;
  /** > 0: answer INVITE with 180 and send the 200 this many ms later (CANCEL can hit it). */
  ringMs?: number;
  /** Largest number of dialogs kept (oldest dropped first). */
  maxDialogs?: number;
  log?: (line: string) => void;
}

type Reply = (buf: Buffer) => void;
type StreamParserFactory = (onMessage: (m: SipMessage) => void, onFlood: () => void) => (data: string) => void;

interface ServerTxn {
  last: Buffer | undefined;
  reply: Reply;
  at: number;
}

interface PendingInvite {
  rq: SipMessage;
  reply: Reply;
  toTag: string;
  timer: NodeJS.Timeout | undefined;
  txnKey: string;
}

interface Pending2xx {
  buf: Buffer;
  reply: Reply;
  interval: number;
  timer: NodeJS.Timeout;
  started: number;
}

const TXN_TTL_MS = 32_000;
/** Bytes of UDP receive buffer asked for (the kernel caps it at net.core.rmem_max). */
const UDP_RECV_BUFFER = 4 * 1024 * 1024;
const MAX_TXNS = 50_000;

export class SimSipServer {
  state: MemberState;
  readonly dialogs = new Map<string, Dialog>();
  /** Called when a dialog is created or ended here (not when replicated in). */
  onDialog: (ev: { t: 'add'; d: Dialog } | { t: 'del'; callId: string; localTag: string }) => void = () => {};
  /** Called before each request is handled (the HA logic checks for its own freeze here). */
  beforeRequest: () => void = () => {};
  readonly counters = { requests: 0, invites: 0, answered: 0, byes: 0, rejected503: 0 };

  private readonly opts: Required<Omit<SimServerOptions, 'log'>> & { log: (line: string) => void };
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly conns = new Set<net.Socket>();
  private readonly txns = new Map<string, ServerTxn>();
  private readonly ringing = new Map<string, PendingInvite>();
  private readonly pending2xx = new Map<string, Pending2xx>();
  private sweep: NodeJS.Timeout | undefined;
  private readonly contact: string;

  constructor(opts: SimServerOptions, state: MemberState) {
    this.opts = { tcp: false, ringMs: 0, maxDialogs: 200_000, log: () => {}, ...opts };
    this.state = state;
    this.contact = `<sip:sim@${opts.address.includes(':') ? `[${opts.address}]` : opts.address}:${opts.port}>`;
  }

  async listen(): Promise<void> {
    // A real SIP Server's socket takes the burst a proxy releases at a switchover
    // (every request held during it at once); the 208 KB default drops part of it.
    const udp = dgram.createSocket({ type: this.opts.address.includes(':') ? 'udp6' : 'udp4', recvBufferSize: UDP_RECV_BUFFER });
    udp.on('error', (err) => this.opts.log(`udp error: ${err.message}`));
    udp.on('message', (buf, rinfo) => {
      if (rinfo.port === 0) return;
      this.onMessage(buf, (out) => udp.send(out, rinfo.port, rinfo.address), rinfo.address, rinfo.port, true);
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(this.opts.port, this.opts.address, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    this.udp = udp;
    if (this.opts.tcp) {
      const srv = net.createServer((sock) => this.onConnection(sock));
      srv.on('error', (err) => this.opts.log(`tcp error: ${err.message}`));
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(this.opts.port, this.opts.address, () => {
          srv.off('error', reject);
          resolve();
        });
      });
      this.tcp = srv;
    }
    this.sweep = setInterval(() => this.expire(), 5000);
    this.sweep.unref();
  }

  close(): void {
    clearInterval(this.sweep);
    for (const p of this.ringing.values()) clearTimeout(p.timer);
    for (const p of this.pending2xx.values()) clearTimeout(p.timer);
    this.ringing.clear();
    this.pending2xx.clear();
    this.udp?.close();
    this.udp = undefined;
    for (const c of this.conns) c.destroy();
    this.tcp?.close();
    this.tcp = undefined;
  }

  /**
   * A dialog is its Call-ID and tags (RFC 3261 §12), not its Call-ID alone: an INVITE answered
   * by both members around a switchover (the partner's 200 replicated, then the same INVITE
   * sent here) leaves two dialogs of one Call-ID, and the caller may keep either.
   */
  addDialog(d: Dialog): void {
    const key = dialogKey(d.callId, d.localTag);
    this.dialogs.delete(key);
    this.dialogs.set(key, d);
    if (this.dialogs.size > this.opts.maxDialogs) this.dialogs.delete(this.dialogs.keys().next().value as string);
  }

  removeDialog(callId: string, localTag: string): void {
    this.dialogs.delete(dialogKey(callId, localTag));
  }

  private onConnection(sock: net.Socket): void {
    this.conns.add(sock);
    sock.setNoDelay(true);
    const reply: Reply = (buf) => {
      if (!sock.destroyed) sock.write(buf);
    };
    // package sip's stream parser frames by Content-Length; it drops oversized input.
    const parse = (sip as unknown as { makeStreamParser: StreamParserFactory }).makeStreamParser;
    const feed = parse(
      (m) => {
        try {
          this.onMessage(encodeMessage(m), reply, sock.remoteAddress ?? '', sock.remotePort ?? 0, false);
        } catch (err) {
          this.opts.log(`tcp message error: ${String(err)}`);
        }
      },
      () => sock.destroy(),
    );
    sock.on('data', (d) => {
      try {
        feed(d.toString('latin1'));
      } catch {
        sock.destroy();
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => this.conns.delete(sock));
    sock.setTimeout(120_000, () => sock.destroy());
  }

  private onMessage(buf: Buffer, send: Reply, srcAddress: string, srcPort: number, udp: boolean): void {
    const m = decodeMessage(buf);
    if (!m || m.method === undefined) return; // responses and junk: a server sends no requests
    try {
      this.beforeRequest();
      const reply: Reply = udp ? this.udpReply(m, srcAddress, srcPort) : send;
      this.onRequest(m, reply, udp);
    } catch (err) {
      this.opts.log(`request error: ${String(err)}`);
    }
  }

  private udpReply(m: SipMessage, srcAddress: string, srcPort: number): Reply {
    const dest = responseDestination(m, srcAddress, srcPort);
    const udp = this.udp;
    return (out) => udp?.send(out, dest.port, dest.address);
  }

  private onRequest(rq: SipMessage, reply: Reply, udp: boolean): void {
    this.counters.requests++;
    const method = rq.method!.toUpperCase();
    const branch = String(rq.headers.via![0]!.params?.branch ?? '');
    if (method === 'ACK') return this.onAck(rq);
    const key = `${branch}|${method}|${rq.headers['call-id']}`;
    const txn = this.txns.get(key);
    if (txn) {
      // A retransmission: repeat the last response, if any.
      if (txn.last) txn.reply(txn.last);
      return;
    }
    const t: ServerTxn = { last: undefined, reply, at: Date.now() };
    this.txns.set(key, t);
    if (this.txns.size > MAX_TXNS) this.txns.delete(this.txns.keys().next().value as string);
    const respond = (status: number, reason: string, toTag?: string, extra?: Record<string, unknown>) => {
      const out = encodeMessage(makeResponse(rq, status, reason, toTag, extra));
      t.last = out;
      reply(out);
      return out;
    };

    if (this.state !== 'active') {
      this.counters.rejected503++;
      respond(503, 'Service Unavailable', undefined, { 'retry-after': '1' });
      return;
    }
    const toTag = tagOf(rq.headers.to);
    switch (method) {
      case 'OPTIONS':
        respond(200, 'OK', undefined, { allow: 'INVITE, ACK, BYE, CANCEL, OPTIONS', accept: 'application/sdp' });
        return;
      case 'INVITE':
        if (toTag) {
          if (this.findDialog(rq)) respond(200, 'OK', undefined, { contact: this.contact });
          else respond(481, 'Call/Transaction Does Not Exist');
          return;
        }
        this.onInvite(rq, reply, respond, key, udp);
        return;
      case 'BYE': {
        this.counters.byes++;
        const d = this.findDialog(rq);
        if (!d) {
          respond(481, 'Call/Transaction Does Not Exist');
          return;
        }
        // Answer first, then tell the partner (the reverse of a new dialog): a member stopped
        // between the two must not leave a BYE, retried on the partner, a dialog it already forgot
        // (481). A UDP send goes out from a later tick (the address lookup), so the partner is told
        // from the tick after that.
        this.removeDialog(d.callId, d.localTag);
        respond(200, 'OK');
        setImmediate(() => this.onDialog({ t: 'del', callId: d.callId, localTag: d.localTag }));
        return;
      }
      case 'CANCEL': {
        const p = this.ringing.get(branch);
        if (p) {
          clearTimeout(p.timer);
          this.ringing.delete(branch);
          respond(200, 'OK');
          const out = encodeMessage(makeResponse(p.rq, 487, 'Request Terminated', p.toTag));
          const inv = this.txns.get(p.txnKey);
          if (inv) inv.last = out;
          p.reply(out);
        } else if (this.txns.has(`${branch}|INVITE|${rq.headers['call-id']}`)) {
          respond(200, 'OK'); // the INVITE is already answered: the CANCEL has no effect
        } else {
          respond(481, 'Call/Transaction Does Not Exist');
        }
        return;
      }
      default:
        if (toTag) {
          if (this.findDialog(rq)) respond(200, 'OK');
          else respond(481, 'Call/Transaction Does Not Exist');
        } else if (method === 'REGISTER' || method === 'MESSAGE' || method === 'INFO' || method === 'NOTIFY') {
          respond(200, 'OK');
        } else {
          respond(405, 'Method Not Allowed', undefined, { allow: 'INVITE, ACK, BYE, CANCEL, OPTIONS' });
        }
    }
  }

  private onInvite(
    rq: SipMessage,
    reply: Reply,
    respond: (status: number, reason: string, toTag?: string, extra?: Record<string, unknown>) => Buffer,
    txnKey: string,
    udp: boolean,
  ): void {
    this.counters.invites++;
    respond(100, 'Trying');
    const toTag = randomToken(6);
    const answer = () => {
      const extra: Record<string, unknown> = { contact: this.contact };
      const rr = rq.headers['record-route'];
      if (Array.isArray(rr) && rr.length > 0) extra['record-route'] = rr;
      // Replicate first, then answer: a member killed between the two must not
      // leave the caller a dialog its partner never learnt (its BYE would draw 481).
      const d: Dialog = { callId: String(rq.headers['call-id']), localTag: toTag, remoteTag: tagOf(rq.headers.from) ?? '' };
      this.addDialog(d);
      this.onDialog({ t: 'add', d });
      const out = respond(200, 'OK', toTag, extra);
      this.counters.answered++;
      if (udp) this.retransmit2xx(rq, out, reply);
    };
    const ringMs = this.opts.ringMs;
    if (ringMs > 0) {
      respond(180, 'Ringing', toTag);
      const branch = String(rq.headers.via![0]!.params?.branch ?? '');
      const p: PendingInvite = { rq, reply, toTag, timer: undefined, txnKey };
      p.timer = setTimeout(() => {
        this.ringing.delete(branch);
        if (this.state === 'active') answer();
      }, ringMs);
      this.ringing.set(branch, p);
    } else {
      answer();
    }
  }

  /** RFC 3261 §13.3.1.4: the UAS retransmits its 2xx (T1 doubling up to T2) until the ACK, for 64×T1. */
  private retransmit2xx(rq: SipMessage, buf: Buffer, reply: Reply): void {
    const key = `${rq.headers['call-id']}|${rq.headers.cseq!.seq}`;
    const p: Pending2xx = { buf, reply, interval: T1, started: Date.now(), timer: undefined as unknown as NodeJS.Timeout };
    const fire = () => {
      if (Date.now() - p.started >= 64 * T1) {
        this.pending2xx.delete(key);
        return;
      }
      p.reply(p.buf);
      p.interval = Math.min(p.interval * 2, T2);
      p.timer = setTimeout(fire, p.interval);
    };
    p.timer = setTimeout(fire, p.interval);
    this.pending2xx.set(key, p);
  }

  private onAck(rq: SipMessage): void {
    const key = `${rq.headers['call-id']}|${rq.headers.cseq!.seq}`;
    const p = this.pending2xx.get(key);
    if (p) {
      clearTimeout(p.timer);
      this.pending2xx.delete(key);
    }
  }

  private findDialog(rq: SipMessage): Dialog | undefined {
    const callId = String(rq.headers['call-id']);
    const to = tagOf(rq.headers.to);
    const from = tagOf(rq.headers.from);
    return (to ? this.dialogs.get(dialogKey(callId, to)) : undefined) ?? (from ? this.dialogs.get(dialogKey(callId, from)) : undefined);
  }

  private expire(): void {
    const cutoff = Date.now() - TXN_TTL_MS;
    for (const [k, t] of this.txns) {
      if (t.at >= cutoff) break; // insertion order is time order
      this.txns.delete(k);
    }
  }
}
