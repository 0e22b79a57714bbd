/**
 * sip/transport/tcp: TCP listeners and the connection table. Accepted and
 * outgoing connections are framed per RFC 3261 §18.3
 * (sip/transport/tcp-framer); a framing error is answered with 400 (or 513)
 * when the head can be read, then the connection is closed. Connections close
 * after an idle timeout; the total is capped. A connection hands on at most
 * MESSAGES_PER_TURN messages per event-loop turn (the socket paused
 * meanwhile). A double CRLF between messages (RFC 5626 ping) is answered
 * with a CRLF (pong) on the same connection, one per ping, none while more
 * than PONG_BACKLOG_BYTES wait to be written (a peer that does not read).
 * Sending to a remote reuses an
 * open connection to it, else connects from the listen address of the same
 * family. No exception leaves a socket handler. May import: shared,
 * sip/codec, sip/transport.
 */
import net from 'node:net';
import type tls from 'node:tls';
import { SrvError } from '../../shared/errors.js';
import { logEvent, type Logger } from '../../shared/log.js';
import { answerableHead, decode, encode, MAX_MESSAGE_BYTES } from '../codec/codec.js';
import { makeResponse, rawResponse } from '../codec/messages.js';
import { TcpFramer, type FrameError } from './tcp-framer.js';
import { connectTls, createTlsServer, type TlsConfig } from './tls.js';
import { countedSend, type ListenAddress, type Remote, type TransportCounters, type TransportSink } from './types.js';

export interface TcpOptions {
  /** A connection with no traffic for this long is closed. */
  idleTimeoutMs: number;
  /** Connections open at once, accepted and outgoing together. */
  maxConnections: number;
  /** Accepted connections open at once from one source address. */
  maxConnectionsPerSource: number;
  connectTimeoutMs: number;
}

interface Conn {
  id: number;
  socket: net.Socket;
  key: string;
  /** Accepted: the source address counted in perSource. */
  source?: string;
  secure: boolean;
  framer: TcpFramer;
  connected: boolean;
  closing: boolean;
}

/**
 * Messages handled from one connection before the event loop turns: a chunk of hundreds of
 * requests would otherwise hold the loop while the members' answers to the first ones wait
 * (and their per-hop timers run out).
 */
const MESSAGES_PER_TURN = 16;
const EMPTY = Buffer.alloc(0);
/** RFC 5626 §3.5.1 pong. */
const CRLF = Buffer.from('\r\n');
/** Pings go unanswered (counted) while more than this many bytes wait to be written to the peer. */
export const PONG_BACKLOG_BYTES = 4096;

function keyOf(address: string, port: number, secure: boolean): string {
  return (secure ? 's|' : '') + address + '|' + port;
}

export class TcpTransport {
  private readonly servers: net.Server[] = [];
  private readonly conns = new Map<number, Conn>();
  private readonly byRemote = new Map<string, Conn>();
  /** Accepted connections open, by source address. */
  private readonly perSource = new Map<string, number>();
  private nextId = 1;
  private limitLogged = false;
  private stopped = false;

  private listen: readonly ListenAddress[] = [];

  constructor(
    private readonly sink: TransportSink,
    private readonly counters: TransportCounters,
    private readonly log: Logger,
    private readonly opts: TcpOptions,
    private readonly maxBytes = MAX_MESSAGE_BYTES,
    private readonly tls?: TlsConfig,
  ) {}

  /** TLS listeners, one per listen address (after start). */
  private readonly tlsServers: net.Server[] = [];

  /** Listens on each address (ports already chosen: the transport binds UDP first). */
  async start(listen: readonly ListenAddress[]): Promise<void> {
    this.stopped = false;
    this.listen = listen;
    for (const l of listen) {
      const server = net.createServer((socket) => this.onAccept(socket));
      await new Promise<void>((resolve, reject) => {
        const onErr = (err: NodeJS.ErrnoException) => {
          server.close();
          reject(new SrvError('SRV_ERR_LISTEN', `cannot listen on SIP TCP ${l.address}:${l.port}: ${err.code ?? err.message}`));
        };
        server.once('error', onErr);
        server.listen({ host: l.address, port: l.port, ipv6Only: net.isIP(l.address) === 6 }, () => {
          server.removeListener('error', onErr);
          server.on('error', (err) => logEvent(this.log, 'INTERNAL_ERROR', { where: 'sip-tcp', error: String(err) }));
          resolve();
        });
      });
      this.servers.push(server);
    }
    if (this.tls) {
      const cfg = this.tls;
      let port = cfg.port;
      for (const l of listen) {
        const server = createTlsServer(cfg, (socket) => this.onAccept(socket, true), () => this.counters.tlsHandshakeFailures++);
        port = await this.bind(server, l.address, port, 'SIP TLS');
        this.tlsServers.push(server);
      }
    }
  }

  private bind(server: net.Server, address: string, port: number, what: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const onErr = (err: NodeJS.ErrnoException) => {
        server.close();
        reject(new SrvError('SRV_ERR_LISTEN', `cannot listen on ${what} ${address}:${port}: ${err.code ?? err.message}`));
      };
      server.once('error', onErr);
      server.listen({ host: address, port, ipv6Only: net.isIP(address) === 6 }, () => {
        server.removeListener('error', onErr);
        server.on('error', (err) => logEvent(this.log, 'INTERNAL_ERROR', { where: 'sip-tls', error: String(err) }));
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Bound TLS ports, in listen order ([] without TLS). */
  get tlsPorts(): number[] {
    return this.tlsServers.map((s) => (s.address() as net.AddressInfo).port);
  }

  /** Bound ports, in listen order. */
  get ports(): number[] {
    return this.servers.map((s) => (s.address() as net.AddressInfo).port);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const c of this.conns.values()) c.socket.destroy();
    this.conns.clear();
    this.byRemote.clear();
    this.perSource.clear();
    const servers = [...this.servers.splice(0), ...this.tlsServers.splice(0)];
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  get openConnections(): number {
    return this.conns.size;
  }

  /** True while connection `id` is open and not closing (a flow on it can be used). */
  isOpen(id: number): boolean {
    const c = this.conns.get(id);
    return !!c && !c.closing && !c.socket.destroyed;
  }

  send(dest: Remote, data: Buffer, onError?: (err: Error) => void): void {
    const secure = dest.protocol === 'tls';
    let c = dest.conn !== undefined ? this.conns.get(dest.conn) : undefined;
    if (dest.flow && (!c || c.closing)) {
      this.counters.sendErrors++;
      onError?.(new Error('flow gone: connection ' + dest.conn + ' to ' + dest.address + ':' + dest.port + ' is closed'));
      return;
    }
    if (!c || c.closing) c = this.byRemote.get(keyOf(dest.address, dest.port, secure));
    if (c && c.closing) c = undefined;
    if (!c) {
      if (this.stopped || dest.port <= 0 || dest.port > 65535 || !net.isIP(dest.address) || (secure && !this.tls)) {
        this.counters.sendErrors++;
        onError?.(new Error('cannot connect to ' + dest.address + ':' + dest.port));
        return;
      }
      c = this.connect(dest);
      if (!c) {
        this.counters.sendErrors++;
        onError?.(new Error('TCP connection limit reached'));
        return;
      }
    }
    const conn = c;
    countedSend(this.counters, (done) => conn.socket.write(data, done), onError);
  }

  private connect(dest: Remote): Conn | undefined {
    if (this.conns.size >= this.opts.maxConnections) {
      this.onLimit();
      return undefined;
    }
    const family = net.isIP(dest.address);
    const local = this.listen.find((l) => net.isIP(l.address) === family);
    const secure = dest.protocol === 'tls';
    const socket = secure
      ? connectTls(this.tls!, dest.address, dest.port, local?.address)
      : net.connect({ host: dest.address, port: dest.port, localAddress: local?.address });
    const c = this.register(socket, keyOf(dest.address, dest.port, secure), false, secure);
    socket.setTimeout(this.opts.connectTimeoutMs);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      c.connected = true;
      socket.setTimeout(this.opts.idleTimeoutMs);
    });
    if (secure) {
      // a refused certificate ends the connection before it is usable: count it (writes fail, failover follows)
      socket.once('error', () => {
        if (!c.connected) this.counters.tlsHandshakeFailures++;
      });
    }
    return c;
  }

  private onAccept(socket: net.Socket | tls.TLSSocket, secure = false): void {
    try {
      if (this.stopped || this.conns.size >= this.opts.maxConnections) {
        this.counters.tcpConnectionsRefused++;
        this.onLimit();
        socket.on('error', () => undefined);
        socket.destroy();
        return;
      }
      if (socket.remotePort === 0 || socket.remoteAddress === undefined) {
        this.counters.droppedPort0++;
        socket.on('error', () => undefined);
        socket.destroy();
        return;
      }
      const source = socket.remoteAddress;
      const n = this.perSource.get(source) ?? 0;
      if (n >= this.opts.maxConnectionsPerSource) {
        this.counters.tcpConnectionsRefused++;
        this.counters.tcpRefusedPerSource++;
        socket.on('error', () => undefined);
        socket.destroy();
        return;
      }
      this.perSource.set(source, n + 1);
      const c = this.register(socket, keyOf(source, socket.remotePort!, secure), true, secure);
      c.source = source;
      socket.setTimeout(this.opts.idleTimeoutMs);
    } catch (err) {
      logEvent(this.log, 'INTERNAL_ERROR', { where: 'sip-tcp-accept', error: String(err) });
      socket.destroy();
    }
  }

  private onLimit(): void {
    if (!this.limitLogged) {
      this.limitLogged = true;
      logEvent(this.log, 'SIP_TCP_LIMIT', { max: this.opts.maxConnections });
    }
  }

  private register(socket: net.Socket, key: string, connected: boolean, secure = false): Conn {
    const c: Conn = { id: this.nextId++, socket, key, framer: new TcpFramer(this.maxBytes), connected, closing: false, secure };
    this.conns.set(c.id, c);
    this.byRemote.set(key, c);
    this.counters.tcpConnectionsOpen = this.conns.size;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(c, chunk));
    socket.on('timeout', () => {
      this.counters.tcpIdleClosed++;
      socket.destroy();
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.forget(c));
    return c;
  }

  private forget(c: Conn): void {
    if (!this.conns.delete(c.id)) return;
    if (c.source !== undefined) {
      const n = (this.perSource.get(c.source) ?? 1) - 1;
      if (n > 0) this.perSource.set(c.source, n);
      else this.perSource.delete(c.source);
    }
    if (this.byRemote.get(c.key) === c) this.byRemote.delete(c.key);
    this.counters.tcpConnectionsOpen = this.conns.size;
    if (this.conns.size < this.opts.maxConnections * 0.9) this.limitLogged = false;
  }

  private onData(c: Conn, chunk: Buffer): void {
    if (this.frame(c, chunk)) {
      // more whole messages wait in this chunk: let other sockets (the members' answers) in first
      c.socket.pause();
      setImmediate(() => this.drain(c));
    }
  }

  private drain(c: Conn): void {
    if (c.socket.destroyed || !this.conns.has(c.id)) return;
    if (this.frame(c, EMPTY)) setImmediate(() => this.drain(c));
    else if (!c.closing) c.socket.resume();
  }

  /** Frames and hands on at most MESSAGES_PER_TURN messages; true when more are waiting. */
  private frame(c: Conn, chunk: Buffer): boolean {
    try {
      const remote: Remote = { protocol: 'tcp', address: c.socket.remoteAddress ?? '', port: c.socket.remotePort ?? 0, conn: c.id };
      if (c.secure) remote.secure = true;
      return c.framer.push(
        chunk,
        (bytes) => {
          this.counters.received++;
          const r = decode(bytes);
          if (r.ok) this.sink.onMessage(r.msg, remote);
          else {
            this.counters.droppedMalformed++;
            this.sink.onBadMessage(r, remote);
          }
        },
        (e) => this.onFramingError(c, e),
        MESSAGES_PER_TURN,
        () => this.pong(c),
      );
    } catch (err) {
      logEvent(this.log, 'INTERNAL_ERROR', { where: 'sip-tcp', error: String((err as Error)?.stack ?? err) });
      c.socket.destroy();
      return false;
    }
  }

  /** Answers a ping (RFC 5626 §3.5.1), unless the peer leaves what it is sent unread. */
  private pong(c: Conn): void {
    const s = c.socket;
    if (c.closing || !s.writable || s.writableLength > PONG_BACKLOG_BYTES) {
      this.counters.keepalivesUnanswered++;
      return;
    }
    s.write(CRLF);
    this.counters.keepalivesCrlf++;
  }

  /** Answers a framing error when the head can be read (400/513), then closes: the stream cannot be resynchronised. */
  private onFramingError(c: Conn, e: FrameError): void {
    this.counters.tcpFramingErrors++;
    c.closing = true;
    if (this.byRemote.get(c.key) === c) this.byRemote.delete(c.key);
    let reply: Buffer | undefined;
    if (e.head !== undefined) {
      try {
        const m = answerableHead(e.head);
        if (m) reply = encode(makeResponse(m, e.status, e.reason));
        else {
          const raw = rawResponse(e.head, e.status, e.reason);
          if (raw !== undefined) reply = Buffer.from(raw, 'latin1');
        }
      } catch {
        reply = undefined;
      }
    }
    const s = c.socket;
    if (reply) s.end(reply);
    else s.end();
    // a peer that never reads must not hold the socket open
    setTimeout(() => s.destroy(), 1000).unref();
  }
}
