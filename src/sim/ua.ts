#!/usr/bin/env node
/**
 * sim/ua: a small SIP user agent client over UDP, a stand-in for sipp's UAC
 * that tests and the demo drive in-process or from the command line. It places
 * calls INVITE → 2xx → ACK → (hold) → BYE per RFC 3261: client transactions
 * with retransmission (INVITE: timer A from T1 doubling, timer B at 64×T1;
 * BYE: timer E from T1 doubling up to T2, timer F at 64×T1), ACK for non-2xx
 * in the INVITE transaction, ACK for 2xx end to end (and again for each 2xx
 * retransmission), and in-dialog requests along the route set taken from the
 * 2xx's Record-Route in reverse (§12.1.2, loose and strict routing).
 *
 * Initial requests go to the configured outbound proxy. An in-dialog request
 * goes to its first Route (or the remote target): an IP address is used as is;
 * a name is resolved with the `resolve` option when given, else the request
 * goes to the outbound proxy (as sipp does with its fixed remote address).
 *
 *   node dist/src/sim/ua.js call --proxy 127.0.0.11:5060 --to sip:x@tserver.example.com \
 *        [--from sip:ua@example.com] [--local 127.0.0.1] [--hold-ms 0] [--count 1] [--rate 10]
 *        [--timeout-ms 32000]
 * prints a JSON summary on stdout; exit 0 when every call succeeded, 1 otherwise, 2 on bad flags.
 * May import: sim/sip-msg, node.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import sip, { type SipAor, type SipRouteEntry } from 'sip';
import { decodeMessage, encodeMessage, makeResponse, newBranch, randomToken, responseDestination, tagOf, T1, T2, type SipMessage } from './sip-msg.js';

export interface HostPort {
  address: string;
  port: number;
}

export interface UserAgentOptions {
  /** Outbound proxy: where every initial request goes. */
  proxy: HostPort;
  localAddress?: string;
  localPort?: number;
  /** Resolves a URI host that is a name, for in-dialog requests; default: send to the proxy. */
  resolve?: (host: string, port: number | undefined) => Promise<HostPort>;
  /** Transaction timeout (timers B and F), default 64 × T1 = 32 s. */
  transactionTimeoutMs?: number;
}

export interface UaDialog {
  callId: string;
  localTag: string;
  remoteTag: string;
  from: SipAor;
  to: SipAor;
  remoteTarget: string;
  /** UAC route set: the 2xx's Record-Route, reversed. */
  routeSet: SipRouteEntry[];
  cseq: number;
  /** host:port of the remote target (which server answered). */
  answeredBy: string;
  ack: { buf: Buffer; dest: HostPort } | undefined;
}

export interface InviteOutcome {
  /** Final status of the INVITE; null when no final response came (timer B) or it could not be sent. */
  status: number | null;
  /** Milliseconds from the first INVITE sent to its final response. */
  setupMs: number;
  retransmits: number;
  dialog?: UaDialog;
  error?: string;
}

export interface ByeOutcome {
  status: number | null;
  ms: number;
  retransmits: number;
  error?: string;
}

export interface CallResult {
  ok: boolean;
  callId: string;
  status: number | null;
  setupMs: number;
  byeStatus?: number | null;
  /** host:port of the server that answered the INVITE. */
  answeredBy?: string;
  inviteRetransmits: number;
  byeRetransmits: number;
  error?: string;
}

export interface CallOptions {
  to: string;
  from?: string;
  /** Milliseconds between the ACK and the BYE. */
  holdMs?: number;
  /** Extra headers for the INVITE (lower-case names). */
  headers?: Record<string, string>;
}

interface ClientTxn {
  method: string;
  buf: Buffer;
  dest: HostPort;
  retransmits: number;
  timer: NodeJS.Timeout | undefined;
  deadline: NodeJS.Timeout | undefined;
  onResponse: (rs: SipMessage) => void;
}

const SDP = 'v=0\r\no=ua 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=sendrecv\r\n';

export class UserAgent {
  private readonly opts: UserAgentOptions;
  private readonly sock: dgram.Socket;
  private readonly txns = new Map<string, ClientTxn>();
  /** Dialogs by Call-ID, kept while a 2xx retransmission may still arrive. */
  private readonly dialogs = new Map<string, UaDialog>();
  private readonly cleanup = new Set<NodeJS.Timeout>();
  private readonly via: string;
  private readonly contact: string;
  private readonly timeoutMs: number;
  private closed = false;

  private constructor(opts: UserAgentOptions, sock: dgram.Socket) {
    this.opts = opts;
    this.sock = sock;
    const a = sock.address();
    const host = a.address.includes(':') ? `[${a.address}]` : a.address;
    this.via = `${host}:${a.port}`;
    this.contact = `<sip:ua@${host}:${a.port}>`;
    this.timeoutMs = opts.transactionTimeoutMs ?? 64 * T1;
    sock.on('message', (buf, rinfo) => this.onMessage(buf, rinfo.address, rinfo.port));
    sock.on('error', () => {});
  }

  static async open(opts: UserAgentOptions): Promise<UserAgent> {
    const local = opts.localAddress ?? '127.0.0.1';
    // room for a burst of responses (the kernel caps it at net.core.rmem_max)
    const sock = dgram.createSocket({ type: local.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(opts.localPort ?? 0, local, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    return new UserAgent(opts, sock);
  }

  /** The local address:port in Via and Contact. */
  get local(): string {
    return this.via;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.txns.values()) {
      clearTimeout(t.timer);
      clearTimeout(t.deadline);
    }
    for (const t of this.cleanup) clearTimeout(t);
    this.txns.clear();
    this.sock.close();
  }

  /** One whole call: INVITE, ACK, hold, BYE. */
  async call(o: CallOptions): Promise<CallResult> {
    const inv = await this.invite(o);
    const base = { status: inv.status, setupMs: inv.setupMs, inviteRetransmits: inv.retransmits, byeRetransmits: 0 };
    if (!inv.dialog) {
      return { ok: false, callId: '', ...base, error: inv.error ?? `INVITE answered ${inv.status}` };
    }
    if (o.holdMs) await new Promise((r) => setTimeout(r, o.holdMs));
    const bye = await this.bye(inv.dialog);
    return {
      ok: bye.status === 200,
      callId: inv.dialog.callId,
      ...base,
      byeStatus: bye.status,
      answeredBy: inv.dialog.answeredBy,
      byeRetransmits: bye.retransmits,
      ...(bye.status === 200 ? {} : { error: bye.error ?? `BYE answered ${bye.status}` }),
    };
  }

  /** Send an INVITE through the proxy; on 2xx, ACK it and return the dialog. */
  invite(o: CallOptions): Promise<InviteOutcome> {
    const callId = `${randomToken(10)}@${this.via}`;
    const localTag = randomToken(6);
    const from: SipAor = { uri: o.from ?? 'sip:ua@example.com', params: { tag: localTag } };
    const to: SipAor = { uri: o.to, params: {} };
    const branch = newBranch();
    const rq: SipMessage = {
      method: 'INVITE',
      uri: o.to,
      version: '2.0',
      headers: {
        via: [{ version: '2.0', protocol: 'UDP', host: this.via, params: { branch, rport: null } }],
        'max-forwards': 70,
        to,
        from,
        'call-id': callId,
        cseq: { seq: 1, method: 'INVITE' },
        contact: [{ uri: this.contact.slice(1, -1), params: {} }],
        'content-type': 'application/sdp',
        ...o.headers,
      },
      content: SDP,
    };
    const buf = encodeMessage(rq);
    const dest = this.opts.proxy;
    const started = performance.now();
    return new Promise<InviteOutcome>((resolve) => {
      let done = false;
      let dialog: UaDialog | undefined;
      const t: ClientTxn = {
        method: 'INVITE', buf, dest, retransmits: 0, timer: undefined, deadline: undefined,
        onResponse: (rs) => {
          const st = rs.status!;
          if (st < 200) {
            clearTimeout(t.timer); // timer A stops on a provisional response
            t.timer = undefined;
            return;
          }
          if (st >= 300) {
            // ACK in the INVITE transaction (§17.1.1.3): same branch, same Request-URI and Route.
            const ack: SipMessage = {
              method: 'ACK', uri: rq.uri, version: '2.0',
              headers: {
                via: rq.headers.via, 'max-forwards': 70, to: rs.headers.to, from, 'call-id': callId,
                cseq: { seq: 1, method: 'ACK' },
              },
            };
            this.send(encodeMessage(ack), dest);
          } else if (dialog) {
            // A retransmitted 2xx: the ACK is sent again.
            if (dialog.ack) this.send(dialog.ack.buf, dialog.ack.dest);
            return;
          }
          if (done) return;
          done = true;
          const setupMs = performance.now() - started;
          clearTimeout(t.timer);
          clearTimeout(t.deadline);
          t.timer = undefined;
          if (st >= 300) {
            this.finish(branch, 64 * T1);
            resolve({ status: st, setupMs, retransmits: t.retransmits });
            return;
          }
          dialog = this.dialogFrom2xx(rs, from, localTag);
          if (!dialog) {
            this.finish(branch, 0);
            resolve({ status: st, setupMs, retransmits: t.retransmits, error: '2xx without a usable Contact or To tag' });
            return;
          }
          const d = dialog;
          this.dialogs.set(callId, d);
          this.finish(branch, 64 * T1);
          void this.sendAck(d).then(
            () => resolve({ status: st, setupMs, retransmits: t.retransmits, dialog: d }),
            (err: unknown) => resolve({ status: st, setupMs, retransmits: t.retransmits, dialog: d, error: `ACK not sent: ${String(err)}` }),
          );
        },
      };
      this.txns.set(branch, t);
      let interval = T1;
      const retransmit = () => {
        if (done || this.closed) return;
        t.retransmits++;
        this.send(buf, dest);
        interval *= 2;
        t.timer = setTimeout(retransmit, interval);
      };
      t.timer = setTimeout(retransmit, interval);
      t.deadline = setTimeout(() => {
        if (done) return;
        done = true;
        clearTimeout(t.timer);
        this.txns.delete(branch);
        resolve({ status: null, setupMs: performance.now() - started, retransmits: t.retransmits, error: 'no final response (timer B)' });
      }, this.timeoutMs);
      this.send(buf, dest);
    });
  }

  /** Send a BYE along the dialog's route set; resolves with its final status. */
  async bye(d: UaDialog): Promise<ByeOutcome> {
    d.cseq++;
    const { rq, dest } = await this.inDialog(d, 'BYE', d.cseq);
    const buf = encodeMessage(rq);
    const branch = String(rq.headers.via![0]!.params.branch);
    const started = performance.now();
    return new Promise<ByeOutcome>((resolve) => {
      let done = false;
      const t: ClientTxn = {
        method: 'BYE', buf, dest, retransmits: 0, timer: undefined, deadline: undefined,
        onResponse: (rs) => {
          const st = rs.status!;
          if (st < 200) {
            proceeding = true;
            return;
          }
          if (done) return;
          done = true;
          clearTimeout(t.timer);
          clearTimeout(t.deadline);
          this.txns.delete(branch);
          this.dialogs.delete(d.callId);
          resolve({ status: st, ms: performance.now() - started, retransmits: t.retransmits });
        },
      };
      let proceeding = false;
      let interval = T1;
      const retransmit = () => {
        if (done || this.closed) return;
        t.retransmits++;
        this.send(buf, dest);
        interval = proceeding ? T2 : Math.min(interval * 2, T2);
        t.timer = setTimeout(retransmit, interval);
      };
      this.txns.set(branch, t);
      t.timer = setTimeout(retransmit, interval);
      t.deadline = setTimeout(() => {
        if (done) return;
        done = true;
        clearTimeout(t.timer);
        this.txns.delete(branch);
        resolve({ status: null, ms: performance.now() - started, retransmits: t.retransmits, error: 'no final response (timer F)' });
      }, this.timeoutMs);
      this.send(buf, dest);
    });
  }

  private async sendAck(d: UaDialog): Promise<void> {
    const { rq, dest } = await this.inDialog(d, 'ACK', 1);
    d.ack = { buf: encodeMessage(rq), dest };
    this.send(d.ack.buf, dest);
  }

  /** Build an in-dialog request per §12.2.1.1 and find where it goes. */
  private async inDialog(d: UaDialog, method: string, seq: number): Promise<{ rq: SipMessage; dest: HostPort }> {
    let uri = d.remoteTarget;
    let route: SipRouteEntry[] = d.routeSet;
    if (route.length > 0 && route[0]!.uri && !('lr' in (route[0]!.uri.params ?? {}))) {
      // Strict routing: the first route becomes the Request-URI, the remote target the last Route.
      const first = route[0]!.uri!;
      uri = sip.stringifyUri({ ...first, params: {}, headers: {} });
      route = [...route.slice(1), { uri: sip.parseUri(d.remoteTarget) ?? undefined, params: {} }];
    }
    const rq: SipMessage = {
      method,
      uri,
      version: '2.0',
      headers: {
        via: [{ version: '2.0', protocol: 'UDP', host: this.via, params: { branch: newBranch(), rport: null } }],
        'max-forwards': 70,
        ...(route.length > 0 ? { route } : {}),
        to: d.to,
        from: d.from,
        'call-id': d.callId,
        cseq: { seq, method },
      },
    };
    const next = d.routeSet.length > 0 && d.routeSet[0]!.uri ? d.routeSet[0]!.uri : sip.parseUri(d.remoteTarget);
    const dest = next ? await this.hop(next.host, next.port) : this.opts.proxy;
    return { rq, dest };
  }

  private async hop(host: string, port: number | null | undefined): Promise<HostPort> {
    const p = port && Number.isFinite(port) ? port : undefined;
    const bare = host.startsWith('[') ? host.slice(1, -1) : host;
    if (net.isIP(bare)) return { address: bare, port: p ?? 5060 };
    if (this.opts.resolve) return this.opts.resolve(bare, p);
    return this.opts.proxy;
  }

  private dialogFrom2xx(rs: SipMessage, from: SipAor, localTag: string): UaDialog | undefined {
    const remoteTag = tagOf(rs.headers.to);
    const contact = Array.isArray(rs.headers.contact) ? rs.headers.contact[0] : undefined;
    if (!remoteTag || !contact || !contact.uri) return undefined;
    const target = sip.parseUri(contact.uri);
    if (!target) return undefined;
    const rr = Array.isArray(rs.headers['record-route']) ? rs.headers['record-route'] : [];
    return {
      callId: String(rs.headers['call-id']),
      localTag,
      remoteTag,
      from,
      to: rs.headers.to as SipAor,
      remoteTarget: contact.uri,
      routeSet: [...rr].reverse(),
      cseq: 1,
      answeredBy: `${target.host}:${target.port && Number.isFinite(target.port) ? target.port : 5060}`,
      ack: undefined,
    };
  }

  /** Keep a finished INVITE transaction a while to absorb retransmitted responses. */
  private finish(branch: string, keepMs: number): void {
    if (keepMs <= 0 || this.closed) {
      this.txns.delete(branch);
      return;
    }
    const t = setTimeout(() => {
      this.cleanup.delete(t);
      this.txns.delete(branch);
    }, keepMs);
    t.unref();
    this.cleanup.add(t);
  }

  private send(buf: Buffer, dest: HostPort): void {
    if (this.closed) return;
    this.sock.send(buf, dest.port, dest.address);
  }

  private onMessage(buf: Buffer, address: string, port: number): void {
    const m = decodeMessage(buf);
    if (!m) return;
    if (m.status !== undefined) {
      const branch = String(m.headers.via![0]!.params?.branch ?? '');
      const t = this.txns.get(branch);
      if (!t || m.headers.cseq!.method.toUpperCase() !== t.method) return;
      try {
        t.onResponse(m);
      } catch {
        // a response the UA cannot use is ignored
      }
      return;
    }
    // A request to the UA: answer in-dialog requests of known dialogs, OPTIONS; ACK is absorbed.
    const method = m.method!.toUpperCase();
    if (method === 'ACK') return;
    const dest = responseDestination(m, address, port);
    const d = this.dialogs.get(String(m.headers['call-id']));
    let status = 481;
    if (method === 'OPTIONS') status = 200;
    else if (d && tagOf(m.headers.to) === d.localTag) {
      status = 200;
      if (method === 'BYE') this.dialogs.delete(d.callId);
    }
    this.send(encodeMessage(makeResponse(m, status, status === 200 ? 'OK' : 'Call/Transaction Does Not Exist')), dest);
  }
}

// --- command line ------------------------------------------------------------

export interface LoadSummary {
  calls: number;
  ok: number;
  failed: number;
  setupMs: { max: number; p50: number; p99: number };
  answeredBy: Record<string, number>;
  failures: { callId: string; status: number | null; byeStatus?: number | null; error?: string }[];
}

/** Place `count` calls at `rate` per second; resolves when every call has ended. */
export async function runCalls(ua: UserAgent, o: CallOptions & { count: number; rate: number }): Promise<LoadSummary> {
  const results: Promise<CallResult>[] = [];
  const start = performance.now();
  for (let i = 0; i < o.count; i++) {
    const due = start + (i * 1000) / o.rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    results.push(ua.call(o));
  }
  const all = await Promise.all(results);
  const setups = all.filter((r) => r.status !== null).map((r) => r.setupMs).sort((a, b) => a - b);
  const q = (p: number) => (setups.length ? setups[Math.min(setups.length - 1, Math.floor(p * setups.length))]! : 0);
  const answeredBy: Record<string, number> = {};
  for (const r of all) if (r.answeredBy) answeredBy[r.answeredBy] = (answeredBy[r.answeredBy] ?? 0) + 1;
  const failed = all.filter((r) => !r.ok);
  return {
    calls: all.length,
    ok: all.length - failed.length,
    failed: failed.length,
    setupMs: { max: Math.round(setups.at(-1) ?? 0), p50: Math.round(q(0.5)), p99: Math.round(q(0.99)) },
    answeredBy,
    failures: failed.slice(0, 20).map((r) => ({ callId: r.callId, status: r.status, byeStatus: r.byeStatus, error: r.error })),
  };
}

function parseHostPort(s: string): HostPort | undefined {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(s);
  if (!m || !net.isIP(m[1]!)) return undefined;
  return { address: m[1]!, port: Number(m[2]) };
}

async function main(argv: string[]): Promise<number> {
  const usage = 'usage: ua call --proxy ADDRESS:PORT --to SIP-URI [--from SIP-URI] [--local ADDRESS] [--hold-ms N] [--count N] [--rate R] [--timeout-ms N]';
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        proxy: { type: 'string' }, to: { type: 'string' }, from: { type: 'string' }, local: { type: 'string' },
        'hold-ms': { type: 'string' }, count: { type: 'string' }, rate: { type: 'string' }, 'timeout-ms': { type: 'string' },
      },
    }));
  } catch (err) {
    process.stderr.write(`ua: ${err instanceof Error ? err.message : String(err)}\n${usage}\n`);
    return 2;
  }
  const bad = (msg: string) => {
    process.stderr.write(`ua: ${msg}\n${usage}\n`);
    return 2;
  };
  if (positionals[0] !== 'call') return bad('the only command is "call"');
  const proxy = parseHostPort(String(values.proxy ?? ''));
  if (!proxy) return bad('--proxy must be IP:PORT');
  const to = String(values.to ?? '');
  if (!sip.parseUri(to)) return bad('--to must be a SIP URI');
  const num = (k: string, d: number, min: number) => {
    const v = values[k];
    const n = v === undefined ? d : Number(v);
    return Number.isFinite(n) && n >= min ? n : NaN;
  };
  const holdMs = num('hold-ms', 0, 0);
  const count = num('count', 1, 1);
  const rate = num('rate', 10, 0.001);
  const timeoutMs = num('timeout-ms', 64 * T1, 1);
  for (const [k, v] of [['hold-ms', holdMs], ['count', count], ['rate', rate], ['timeout-ms', timeoutMs]] as const) {
    if (Number.isNaN(v)) return bad(`--${k} must be a positive number`);
  }
  let ua: UserAgent;
  try {
    ua = await UserAgent.open({ proxy, localAddress: values.local as string | undefined, transactionTimeoutMs: timeoutMs });
  } catch (err) {
    return bad(`cannot bind: ${err instanceof Error ? err.message : String(err)}`);
  }
  const summary = await runCalls(ua, { to, from: values.from as string | undefined, holdMs, count, rate });
  ua.close();
  process.stdout.write(JSON.stringify(summary) + '\n');
  return summary.failed === 0 ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
