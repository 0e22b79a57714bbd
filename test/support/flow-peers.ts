/**
 * test/support/flow-peers: the peers of the flow tests (RFC 5626 / RFC 3327
 * end to end), written on raw sockets and reading messages as text (the
 * unfolded header lines of sip-server's `rawHead`), independent of srvproxy's
 * codec:
 * - phones: one over TCP from an ephemeral port that never listens, one over
 *   TLS, one over UDP whose Via and Contact name another address (a NAT's
 *   private side); each registers through an instance and answers an INVITE
 *   on the flow it registered on (486, or 200 for a call), a BYE with 200;
 * - the registrar stand-in, which is also the pair's active member (OPTIONS
 *   200, REGISTER 200 echoing the Contacts, storing Contact and Path; modes:
 *   honours Path, ignores Path) and sends the calls to phones;
 * - a trap: a UDP socket and a TCP server that never answer and count what
 *   reaches them.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { rawHead, type RawLine } from './sip-server.js';

const rnd = (n = 6) => randomBytes(n).toString('hex');
export const newBranch = () => 'z9hG4bK' + rnd();

/** A message as received: its text, start line and unfolded header lines, and where it came from. */
export interface Msg {
  text: string;
  start: string;
  status: number | undefined;
  method: string | undefined;
  /** The Request-URI as written (requests). */
  uri: string | undefined;
  lines: RawLine[];
  /** Values of every line of a header (compact names expanded), in order. */
  get(name: string): string[];
  callId: string;
  cseqMethod: string;
  body: string;
  source: { address: string; port: number };
  receivedAt: number;
}

export function parseMsg(text: string, source: { address: string; port: number }): Msg | undefined {
  const h = rawHead(text);
  if (!h) return undefined;
  const sm = /^SIP\/2\.0 (\d{3}) /.exec(h.startLine);
  const rm = sm ? null : /^([A-Z]+) (\S+) SIP\/2\.0$/.exec(h.startLine);
  if (!sm && !rm) return undefined;
  const cseq = h.get('cseq')[0] ?? '';
  return {
    text,
    start: h.startLine,
    status: sm ? Number(sm[1]) : undefined,
    method: rm ? rm[1] : undefined,
    uri: rm ? rm[2] : undefined,
    lines: h.lines,
    get: (name: string) => h.get(name),
    callId: (h.get('call-id')[0] ?? '').trim(),
    cseqMethod: cseq.trim().split(/\s+/)[1] ?? '',
    body: h.body,
    source,
    receivedAt: performance.now(),
  };
}

/** The URI inside a name-addr (`<...>`), or the value itself up to the first `;`. */
export function uriOf(value: string): string {
  const m = /<([^>]*)>/.exec(value);
  return m ? m[1]! : value.split(';')[0]!.trim();
}

/** The value of URI parameter `name` in `uri` (undefined when absent). */
export function uriParam(uri: string, name: string): string | undefined {
  const m = new RegExp(`;${name}(?:=([^;>?]*))?(?=[;>?]|$)`, 'i').exec(uri);
  return m ? (m[1] ?? '') : undefined;
}

/** Messages received, and waiting for one that matches (already received or future). */
export class Inbox {
  readonly all: Msg[] = [];
  private waiters: { pred: (m: Msg) => boolean; resolve: (m: Msg) => void }[] = [];
  constructor(readonly name: string) {}

  push(m: Msg): void {
    this.all.push(m);
    for (const w of this.waiters.slice()) {
      if (w.pred(m)) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(m);
      }
    }
  }

  waitFor(pred: (m: Msg) => boolean, ms: number, what: string): Promise<Msg> {
    const have = this.all.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise<Msg>((resolve, reject) => {
      const w = {
        pred,
        resolve: (m: Msg) => {
          clearTimeout(t);
          resolve(m);
        },
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        const got = this.all.filter((m) => m.method !== 'OPTIONS' && m.cseqMethod !== 'OPTIONS').map((m) => `  ${m.start} (${m.callId})`);
        reject(new Error(`${this.name}: no ${what} within ${ms} ms; got (OPTIONS left out):\n${got.join('\n')}`));
      }, ms);
      this.waiters.push(w);
    });
  }
}

export const isRequest = (method: string, callId?: string) => (m: Msg) => m.method === method && (callId === undefined || m.callId === callId);
export const isResponse = (status: number, callId: string, method = 'INVITE') => (m: Msg) =>
  m.status === status && m.callId === callId && m.cseqMethod === method;
export const isFinal = (callId: string, method = 'INVITE') => (m: Msg) => m.status !== undefined && m.status >= 200 && m.callId === callId && m.cseqMethod === method;

/**
 * Reads SIP messages off a stream (Content-Length framing); a CRLF between messages is
 * a keepalive pong (RFC 5626 §4.4.1), counted.
 */
function readStream(s: net.Socket, onMsg: (text: string) => void, onPong: () => void): void {
  let buf = '';
  s.on('data', (chunk: Buffer) => {
    buf += chunk.toString('latin1');
    for (;;) {
      while (buf.startsWith('\r\n')) {
        buf = buf.slice(2);
        onPong();
      }
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const m = /\r\n(?:content-length|l)\s*:\s*(\d+)/i.exec(buf.slice(0, end + 2));
      const len = m ? Number(m[1]) : 0;
      if (buf.length < end + 4 + len) return;
      const one = buf.slice(0, end + 4 + len);
      buf = buf.slice(end + 4 + len);
      onMsg(one);
    }
  });
}

/** A response to `req` as its UAS writes it: Via, From, Call-ID, CSeq copied, To tagged. */
export function responseTo(req: Msg, status: number, reason: string, extra: string[] = [], body = '', toTag = 'ph' + rnd(3)): string {
  const keep = req.lines
    .filter((l) => ['via', 'from', 'to', 'call-id', 'cseq'].includes(l.name))
    .map((l) => (l.name === 'to' && !/;\s*tag\s*=/i.test(l.value) ? `${l.raw};tag=${toTag}` : l.raw));
  return [`SIP/2.0 ${status} ${reason}`, ...keep, ...extra, `Content-Length: ${Buffer.byteLength(body, 'latin1')}`, '', body].join('\r\n');
}

export type FlowTransport = 'tcp' | 'tls' | 'udp';

export interface Endpoint {
  address: string;
  port: number;
}

/** What a phone does with an INVITE: answer it with this status (486 Busy Here, or 200 with a Contact). */
export type InvitePolicy = 486 | 200;

/**
 * A phone: registers through an instance and answers what reaches it on its flow.
 * INVITE: `policy` (486, or 200 copying Record-Route); BYE and other requests: 200; ACK: nothing.
 */
export abstract class Phone {
  readonly inbox: Inbox;
  policy: InvitePolicy = 486;
  /** CRLF keepalive pongs received (stream phones). */
  pongs = 0;
  /** The Contact header value it registers (set once connected). */
  contact = '';
  /** The text of its last REGISTER. */
  lastRegister = '';
  protected registerSeq = 0;
  private readonly regCallId = rnd() + '@phone';
  /** Extra header lines of its REGISTER (e.g. Supported: outbound). */
  registerExtra: string[] = [];

  constructor(
    readonly transport: FlowTransport,
    readonly user: string,
    /** The address its socket is bound to. */
    readonly address: string,
  ) {
    this.inbox = new Inbox(`${transport} phone ${user}`);
  }

  /** The URI of its Contact. */
  get contactUri(): string {
    return uriOf(this.contact);
  }

  abstract send(text: string): void;
  /** Sends a response to `req` back where it came from (its flow). */
  abstract reply(req: Msg, text: string): void;
  abstract close(): Promise<void>;
  /** The sent-by of its Via (what it believes its address is). */
  protected abstract viaSentBy(): string;

  protected onMessage(m: Msg): void {
    this.inbox.push(m);
    if (!m.method || m.method === 'ACK') return;
    if (m.method === 'INVITE') {
      if (this.policy === 486) this.reply(m, responseTo(m, 486, 'Busy Here'));
      else {
        const rr = m.lines.filter((l) => l.name === 'record-route').map((l) => l.raw);
        this.reply(m, responseTo(m, 200, 'OK', [...rr, `Contact: ${this.contact}`, 'Content-Type: application/sdp'], 'v=0\r\n'));
      }
      return;
    }
    this.reply(m, responseTo(m, 200, 'OK'));
  }

  /** REGISTER (AOR sip:USER@example.com) through the instance it is connected to; resolves with the final response. */
  async register(registrar = 'sip:example.com', ms = 4000): Promise<Msg> {
    const seq = ++this.registerSeq;
    const proto = this.transport.toUpperCase();
    const text = [
      `REGISTER ${registrar} SIP/2.0`,
      `Via: SIP/2.0/${proto} ${this.viaSentBy()};branch=${newBranch()};rport`,
      'Max-Forwards: 70',
      `From: <sip:${this.user}@example.com>;tag=${rnd(4)}`,
      `To: <sip:${this.user}@example.com>`,
      `Call-ID: ${this.regCallId}`,
      `CSeq: ${seq} REGISTER`,
      `Contact: ${this.contact}`,
      'Expires: 3600',
      ...this.registerExtra,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    this.lastRegister = text;
    this.send(text);
    return this.inbox.waitFor((m) => m.status !== undefined && m.status >= 200 && m.callId === this.regCallId && m.cseqMethod === 'REGISTER' && cseqNumber(m) === seq, ms, `final response to REGISTER ${seq}`);
  }
}

function cseqNumber(m: Msg): number {
  return Number((m.get('cseq')[0] ?? '').trim().split(/\s+/)[0]);
}

/** A phone over TCP or TLS: one connection it opened from an ephemeral port; it never listens. */
export class StreamPhone extends Phone {
  private sock!: net.Socket;
  closed = false;

  static async open(transport: 'tcp' | 'tls', user: string, address: string, to: Endpoint, ca?: string): Promise<StreamPhone> {
    const p = new StreamPhone(transport, user, address);
    await p.connect(to, ca);
    return p;
  }

  private async connect(to: Endpoint, ca?: string): Promise<void> {
    const s =
      this.transport === 'tls'
        ? tls.connect({ host: to.address, port: to.port, ca, localAddress: this.address } as tls.ConnectionOptions)
        : net.connect({ host: to.address, port: to.port, localAddress: this.address });
    s.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      s.once(this.transport === 'tls' ? 'secureConnect' : 'connect', () => resolve());
      s.once('error', reject);
      s.once('close', () => reject(new Error(`${this.transport} phone: connection to ${to.address}:${to.port} closed`)));
    });
    s.once('close', () => (this.closed = true));
    this.sock = s;
    this.contact = `<sip:${this.user}@${this.address}:${s.localPort};transport=${this.transport}>`;
    readStream(s, (text) => {
      const m = parseMsg(text, { address: s.remoteAddress ?? '', port: s.remotePort ?? 0 });
      if (m) this.onMessage(m);
    }, () => this.pongs++);
  }

  get localPort(): number {
    return this.sock.localPort ?? 0;
  }

  protected viaSentBy(): string {
    return `${this.address}:${this.localPort}`;
  }

  send(text: string): void {
    this.sock.write(Buffer.from(text, 'latin1'));
  }

  /** Writes raw bytes on the connection (e.g. a CRLFCRLF keepalive). */
  write(bytes: string): void {
    this.sock.write(Buffer.from(bytes, 'latin1'));
  }

  reply(_req: Msg, text: string): void {
    if (!this.closed) this.send(text);
  }

  /** Closes the connection (FIN); resolves when it is closed. */
  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((r) => this.sock.once('close', () => r()));
    this.sock.end();
    const t = setTimeout(() => this.sock.destroy(), 500);
    await done;
    clearTimeout(t);
  }
}

/**
 * A phone over UDP behind a NAT: its socket is at `address`, but its Via and Contact name
 * `advertised` (the private side), where it cannot be reached.
 */
export class UdpPhone extends Phone {
  private sock!: dgram.Socket;
  private to!: Endpoint;
  private open = false;

  constructor(user: string, address: string, readonly advertised: Endpoint) {
    super('udp', user, address);
  }

  static async open(user: string, address: string, to: Endpoint, advertised: Endpoint): Promise<UdpPhone> {
    const p = new UdpPhone(user, address, advertised);
    p.to = to;
    p.sock = dgram.createSocket('udp4');
    p.sock.on('message', (buf, rinfo) => {
      const m = parseMsg(buf.toString('latin1'), { address: rinfo.address, port: rinfo.port });
      if (m) p.onMessage(m);
    });
    await new Promise<void>((resolve, reject) => {
      p.sock.once('error', reject);
      p.sock.bind(0, address, () => resolve());
    });
    p.open = true;
    p.contact = `<sip:${user}@${advertised.address}:${advertised.port}>`;
    return p;
  }

  get localPort(): number {
    return this.sock.address().port;
  }

  protected viaSentBy(): string {
    return `${this.advertised.address}:${this.advertised.port}`;
  }

  send(text: string): void {
    this.sock.send(Buffer.from(text, 'latin1'), this.to.port, this.to.address);
  }

  /** Sends raw bytes to the instance (e.g. a STUN binding request). */
  sendBytes(b: Buffer): void {
    this.sock.send(b, this.to.port, this.to.address);
  }

  /** Waits for one datagram that is not SIP (e.g. a STUN response). */
  nextBinary(ms: number): Promise<{ data: Buffer; address: string; port: number }> {
    return new Promise((resolve, reject) => {
      const on = (buf: Buffer, rinfo: dgram.RemoteInfo) => {
        if (buf.length > 0 && (buf[0]! & 0xc0) === 0) {
          clearTimeout(t);
          this.sock.off('message', on);
          resolve({ data: buf, address: rinfo.address, port: rinfo.port });
        }
      };
      const t = setTimeout(() => {
        this.sock.off('message', on);
        reject(new Error(`udp phone: no binary datagram within ${ms} ms`));
      }, ms);
      this.sock.on('message', on);
    });
  }

  /** Symmetric response (RFC 3581): back to the address and port the request came from. */
  reply(req: Msg, text: string): void {
    if (this.open) this.sock.send(Buffer.from(text, 'latin1'), req.source.port, req.source.address);
  }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await new Promise<void>((r) => this.sock.close(() => r()));
  }
}

/** What the registrar stored for an AOR (its user part). */
export interface Binding {
  /** Contact header values as received. */
  contacts: string[];
  /** Path header values as received, top first (empty when Path is ignored). */
  path: string[];
  register: Msg;
}

/**
 * The active member of the pair, as a registrar and a call source, on UDP and TCP at
 * one address. `mode`: 'path' honours Path (stores it, echoes it in the 200),
 * 'nopath' ignores it (stores the Contact only). Answers OPTIONS and REGISTER 200,
 * other requests (BYE) 200, ACK nothing; every message goes to `inbox`.
 */
export class MemberStandIn {
  readonly inbox: Inbox;
  mode: 'path' | 'nopath' = 'path';
  readonly bindings = new Map<string, Binding>();
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly conns = new Set<net.Socket>();
  port = 0;

  constructor(
    readonly address: string,
    readonly name: string,
  ) {
    this.inbox = new Inbox(`member ${name}`);
  }

  async start(): Promise<void> {
    const udp = dgram.createSocket('udp4');
    udp.on('message', (buf, rinfo) => {
      const m = parseMsg(buf.toString('latin1'), { address: rinfo.address, port: rinfo.port });
      if (m) this.handle(m, (text) => udp.send(Buffer.from(text, 'latin1'), rinfo.port, rinfo.address));
    });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, this.address, () => resolve());
    });
    this.udp = udp;
    this.port = udp.address().port;
    const tcp = net.createServer((s) => {
      this.conns.add(s);
      s.on('error', () => undefined);
      s.on('close', () => this.conns.delete(s));
      readStream(s, (text) => {
        const m = parseMsg(text, { address: s.remoteAddress ?? '', port: s.remotePort ?? 0 });
        if (m) this.handle(m, (out) => s.write(Buffer.from(out, 'latin1')));
      }, () => s.write('\r\n'));
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(this.port, this.address, () => resolve());
    });
    this.tcp = tcp;
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r()));
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
    this.udp = undefined;
    this.tcp = undefined;
  }

  /** Sends a message over UDP from the member's socket. */
  send(text: string, to: Endpoint): void {
    this.udp!.send(Buffer.from(text, 'latin1'), to.port, to.address);
  }

  private handle(m: Msg, reply: (text: string) => void): void {
    this.inbox.push(m);
    if (!m.method || m.method === 'ACK') return;
    if (m.method === 'REGISTER') {
      const aor = /sip:([^@>;]+)@/.exec(m.get('to')[0] ?? '')?.[1] ?? '';
      const contacts = m.get('contact');
      const path = this.mode === 'path' ? m.get('path') : [];
      this.bindings.set(aor, { contacts, path, register: m });
      const echoed = contacts.map((c) => `Contact: ${c}${/;\s*expires\s*=/i.test(c) ? '' : ';expires=3600'}`);
      reply(responseTo(m, 200, 'OK', [...echoed, ...path.map((p) => `Path: ${p}`), ...(this.mode === 'path' ? ['Supported: path'] : [])]));
      return;
    }
    reply(responseTo(m, 200, 'OK'));
  }

  /** The stored binding of `user`; throws when there is none. */
  binding(user: string): Binding {
    const b = this.bindings.get(user);
    if (!b) throw new Error(`registrar: no binding for ${user}`);
    return b;
  }

  /**
   * A request of the member to a registered phone, as a SIP Server builds it from the
   * binding: R-URI = the stored Contact URI; Route = the stored Path (when honoured).
   */
  requestTo(b: Binding, o: { method?: string; callId?: string; route?: string[]; ruri?: string; branch?: string; cseq?: number; toTag?: string; fromTag?: string } = {}): { text: string; callId: string; branch: string; fromTag: string } {
    const method = o.method ?? 'INVITE';
    const callId = o.callId ?? rnd() + '@member';
    const branch = o.branch ?? newBranch();
    const fromTag = o.fromTag ?? rnd(4);
    const ruri = o.ruri ?? uriOf(b.contacts[0]!);
    const route = o.route ?? b.path;
    const aor = /sip:([^@>;]+)@/.exec(b.register.get('to')[0] ?? '')?.[1] ?? 'x';
    const body = method === 'INVITE' ? 'v=0\r\n' : '';
    const text = [
      `${method} ${ruri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${this.address}:${this.port};branch=${branch};rport`,
      ...route.map((r) => `Route: ${r}`),
      'Max-Forwards: 70',
      `From: <sip:agent@${this.name}>;tag=${fromTag}`,
      `To: <sip:${aor}@example.com>${o.toTag ? `;tag=${o.toTag}` : ''}`,
      `Call-ID: ${callId}`,
      `CSeq: ${o.cseq ?? 1} ${method}`,
      `Contact: <sip:agent@${this.address}:${this.port}>`,
      ...(body ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${body.length}`,
      '',
      body,
    ].join('\r\n');
    return { text, callId, branch, fromTag };
  }

  /** The ACK for a non-2xx final response to an INVITE this member sent (same branch and Route, RFC 3261 §17.1.1.3). */
  ackFor(invite: string, res: Msg): string {
    const lines = invite.split('\r\n');
    const [start] = lines;
    const keep = lines.filter((l) => /^(via|route|max-forwards|from|call-id):/i.test(l));
    const to = res.lines.find((l) => l.name === 'to')!.raw;
    const seq = /^CSeq:\s*(\d+)/im.exec(invite)![1];
    return [start!.replace(/^INVITE /, 'ACK '), ...keep, to, `CSeq: ${seq} ACK`, 'Content-Length: 0', '', ''].join('\r\n');
  }
}

/** A UDP socket and a TCP server on one address and port that never answer, counting what reaches them. */
export class Trap {
  datagrams = 0;
  connections = 0;
  /** What reached it (datagrams, and bytes read on connections), as text, the first 64 KB. */
  private seen = '';
  port = 0;
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly conns = new Set<net.Socket>();
  constructor(readonly address: string) {}

  async start(): Promise<void> {
    for (let i = 0; i < 20; i++) {
      const udp = dgram.createSocket('udp4');
      udp.on('message', (b) => {
        this.datagrams++;
        this.keep(b);
      });
      const ok = await new Promise<boolean>((resolve) => {
        udp.once('error', () => resolve(false));
        udp.bind(0, this.address, () => resolve(true));
      });
      if (!ok) continue;
      const port = udp.address().port;
      const tcp = net.createServer((s) => {
        this.connections++;
        this.conns.add(s);
        s.on('data', (b: Buffer) => this.keep(b));
        s.on('error', () => undefined);
        s.on('close', () => this.conns.delete(s));
      });
      const tcpOk = await new Promise<boolean>((resolve) => {
        tcp.once('error', () => resolve(false));
        tcp.listen(port, this.address, () => resolve(true));
      });
      if (!tcpOk) {
        await new Promise<void>((r) => udp.close(() => r()));
        continue;
      }
      this.udp = udp;
      this.tcp = tcp;
      this.port = port;
      return;
    }
    throw new Error(`trap: no port free for UDP and TCP on ${this.address}`);
  }

  private keep(b: Buffer): void {
    if (this.seen.length < 65536) this.seen += b.toString('latin1') + '\n';
  }

  /** True when something that reached it carried this Call-ID. */
  saw(callId: string): boolean {
    return this.seen.includes(callId);
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r()));
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
    this.udp = undefined;
    this.tcp = undefined;
  }
}
