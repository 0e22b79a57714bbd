/**
 * test/support/sip-peer: a minimal SIP endpoint for tests (UDP and TCP on one
 * loopback address), independent of srvproxy's stack: it parses and writes
 * messages with package `sip` directly, records what it receives (parsed, and
 * the raw bytes of every message, parseable or not), and lets a test wait for
 * a message. Used by the scripted user agent and servers.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import sip, { type SipMessage } from 'sip';

export interface Received {
  msg: SipMessage;
  address: string;
  port: number;
  protocol: 'udp' | 'tcp';
  socket?: net.Socket;
}

export interface RawReceived {
  data: Buffer;
  address: string;
  port: number;
  protocol: 'udp' | 'tcp';
}

export class SipPeer {
  readonly received: Received[] = [];
  /** Every message as it came off the wire (when `keepRaw`), before and whether or not package sip parses it. */
  readonly raw: RawReceived[] = [];
  keepRaw = true;
  /**
   * Called with the raw bytes of each message before parsing; returning true consumes the message
   * (not parsed, not recorded in `received`): a fast path for suites that see 100k messages.
   */
  onRaw: ((data: Buffer, from: { address: string; port: number; protocol: 'udp' | 'tcp'; socket?: net.Socket }) => boolean) | undefined;
  private udp: dgram.Socket | undefined;
  private tcp: net.Server | undefined;
  private readonly conns = new Set<net.Socket>();
  private waiters: { pred: (r: Received) => boolean; resolve: (r: Received) => void }[] = [];
  port = 0;
  /** Called for each message before waiters see it. */
  onMessage: ((r: Received) => void) | undefined;

  constructor(readonly address: string) {}

  async start(port = 0): Promise<void> {
    // a SIP server's receive buffer, not the 208 KB default: a TCP chunk of 150 requests reaches srvproxy at once and
    // leaves it as a burst of 150 datagrams, which a loopback socket with the default buffer partly drops
    // (srvproxy asks the same for its own sockets, sip/transport/udp)
    this.udp = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    this.udp.on('message', (buf, rinfo) => this.deliver(buf, rinfo.address, rinfo.port, 'udp'));
    await new Promise<void>((resolve, reject) => {
      this.udp!.once('error', reject);
      this.udp!.bind(port, this.address, () => resolve());
    });
    this.port = this.udp.address().port;
    this.tcp = net.createServer((s) => this.attach(s));
    await new Promise<void>((resolve, reject) => {
      this.tcp!.once('error', reject);
      this.tcp!.listen(this.port, this.address, () => resolve());
    });
  }

  /** Closes every socket. */
  async stop(): Promise<void> {
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    await new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r()));
    await new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r()));
    this.udp = undefined;
    this.tcp = undefined;
  }

  /** Stops reading: models a frozen host (no answer, no ICMP). */
  freeze(): void {
    this.frozen = true;
  }
  frozen = false;

  sendUdp(msg: SipMessage | string, address: string, port: number): void {
    const data = typeof msg === 'string' ? Buffer.from(msg, 'latin1') : Buffer.from(sip.stringify(msg), 'latin1');
    this.udp!.send(data, port, address);
  }

  /** Opens a TCP connection from this peer's address to `address:port`. */
  async connectTcp(address: string, port: number): Promise<net.Socket> {
    const s = net.connect({ host: address, port, localAddress: this.address });
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
    this.attach(s);
    return s;
  }

  sendTcp(socket: net.Socket, msg: SipMessage | string): void {
    socket.write(typeof msg === 'string' ? Buffer.from(msg, 'latin1') : Buffer.from(sip.stringify(msg), 'latin1'));
  }

  /** Resolves with the first received message (already received or future) that matches. */
  waitFor(pred: (r: Received) => boolean, timeoutMs = 3000, what = 'message'): Promise<Received> {
    const have = this.received.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise<Received>((resolve, reject) => {
      const w = {
        pred,
        resolve: (r: Received) => {
          clearTimeout(t);
          resolve(r);
        },
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${this.address}:${this.port}: timed out waiting for ${what}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  private attach(s: net.Socket): void {
    this.conns.add(s);
    let buf = '';
    s.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const m = /\r\n(?:content-length|l)\s*:\s*(\d+)/i.exec(buf.slice(0, end + 2));
        const len = m ? Number(m[1]) : 0;
        if (buf.length < end + 4 + len) return;
        const one = buf.slice(0, end + 4 + len);
        buf = buf.slice(end + 4 + len);
        this.deliver(Buffer.from(one, 'latin1'), s.remoteAddress ?? '', s.remotePort ?? 0, 'tcp', s);
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => this.conns.delete(s));
  }

  private deliver(buf: Buffer, address: string, port: number, protocol: 'udp' | 'tcp', socket?: net.Socket): void {
    if (this.frozen) return;
    if (this.keepRaw) this.raw.push({ data: buf, address, port, protocol });
    if (this.onRaw?.(buf, { address, port, protocol, socket })) return;
    let msg: SipMessage | undefined;
    try {
      msg = sip.parse(buf);
    } catch {
      return;
    }
    if (!msg) return;
    const r: Received = { msg, address, port, protocol, socket };
    this.received.push(r);
    this.onMessage?.(r);
    for (const w of this.waiters.slice()) {
      if (w.pred(r)) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(r);
      }
    }
  }

  /** Replies to a received request: over its TCP connection, else by the top Via (received/rport). */
  reply(to: Received, res: SipMessage): void {
    if (to.protocol === 'tcp' && to.socket) {
      this.sendTcp(to.socket, res);
      return;
    }
    const via = to.msg.headers.via![0];
    const address = via.params.received ?? to.address;
    const port = via.params.rport ? Number(via.params.rport) : via.port ?? 5060;
    this.sendUdp(res, address, port);
  }
}

export function response(req: SipMessage, status: number, reason: string, extra: Record<string, unknown> = {}, content?: string): SipMessage {
  const h = req.headers;
  return {
    status,
    reason,
    version: '2.0',
    headers: { via: h.via, from: h.from, to: h.to, 'call-id': h['call-id'], cseq: h.cseq, ...extra },
    content,
  };
}
