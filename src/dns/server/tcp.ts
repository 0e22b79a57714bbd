/**
 * dns/server/tcp: DNS over TCP connections (RFC 7766): 2-byte length framing,
 * many queries per connection answered in order, an idle timeout, a limit on
 * connections in total and per source address, and bounded buffers (one
 * message of at most 65535 octets being reassembled; a client that does not
 * read its answers is disconnected).
 *
 * May import: dns/counters.
 */
import type { Socket } from 'node:net';
import type { DnsCounters } from '../counters.js';

export interface TcpLimits {
  /** Close a connection with no complete query for this long (ms). */
  idleTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerSource: number;
  /** Answers queued for a client that does not read, before it is cut off (bytes). */
  maxPendingWrite: number;
}

export const DEFAULT_TCP_LIMITS: TcpLimits = {
  idleTimeoutMs: 10_000,
  maxConnections: 512,
  maxConnectionsPerSource: 32,
  maxPendingWrite: 1 << 20,
};

/**
 * Answers one framed message (without its length prefix) through send(),
 * now or later (forwarding: RFC 7766 §6.2.1.1 allows answers out of order);
 * `msg` is only valid during the call.
 */
export type TcpHandler = (msg: Buffer, socket: Socket) => void;

const MAX_FRAME = 2 + 65535;

interface Conn {
  socket: Socket;
  source: string;
  /** Reassembly buffer for a partial frame, allocated on demand. */
  pending: Buffer | null;
  pendingLen: number;
}

export class TcpConnections {
  private readonly conns = new Set<Conn>();
  private readonly perSource = new Map<string, number>();

  constructor(
    private readonly limits: TcpLimits,
    private readonly counters: DnsCounters,
    private readonly handle: TcpHandler,
    private readonly onError: (err: unknown) => void,
  ) {}

  accept(socket: Socket): void {
    const source = socket.remoteAddress ?? '';
    const n = this.perSource.get(source) ?? 0;
    if (this.conns.size >= this.limits.maxConnections || n >= this.limits.maxConnectionsPerSource || socket.remotePort === 0) {
      this.counters.tcpRejected++;
      socket.on('error', noop);
      socket.destroy();
      return;
    }
    const conn: Conn = { socket, source, pending: null, pendingLen: 0 };
    this.conns.add(conn);
    this.perSource.set(source, n + 1);
    this.counters.tcpAccepted++;
    this.counters.tcpOpen++;
    socket.setNoDelay(true);
    socket.setTimeout(this.limits.idleTimeoutMs);
    socket.on('timeout', () => {
      this.counters.tcpIdleClosed++;
      this.release(conn);
      socket.destroy();
    });
    socket.on('error', noop);
    socket.on('close', () => this.release(conn));
    socket.on('data', (chunk: Buffer) => {
      try {
        this.data(conn, chunk);
      } catch (err) {
        this.onError(err);
        socket.destroy();
      }
    });
  }

  private release(conn: Conn): void {
    if (!this.conns.delete(conn)) return;
    this.counters.tcpOpen--;
    const n = (this.perSource.get(conn.source) ?? 1) - 1;
    if (n <= 0) this.perSource.delete(conn.source);
    else this.perSource.set(conn.source, n);
    conn.pending = null;
  }

  private data(conn: Conn, chunk: Buffer): void {
    let pos = 0;
    // First finish a frame left partial by earlier chunks.
    while (conn.pendingLen > 0 && pos < chunk.length) {
      const p = conn.pending!;
      if (conn.pendingLen < 2) {
        p[conn.pendingLen++] = chunk[pos++]!;
        continue;
      }
      const need = 2 + ((p[0]! << 8) | p[1]!);
      const take = Math.min(need - conn.pendingLen, chunk.length - pos);
      chunk.copy(p, conn.pendingLen, pos, pos + take);
      conn.pendingLen += take;
      pos += take;
      if (conn.pendingLen === need) {
        conn.pendingLen = 0;
        this.frame(conn, p.subarray(2, need));
        if (conn.socket.destroyed) return;
      }
    }
    if (conn.pendingLen > 0) return;
    // Whole frames straight from the chunk, without copying.
    while (chunk.length - pos >= 2) {
      const need = 2 + ((chunk[pos]! << 8) | chunk[pos + 1]!);
      if (chunk.length - pos < need) break;
      this.frame(conn, chunk.subarray(pos + 2, pos + need));
      pos += need;
      if (conn.socket.destroyed) return;
    }
    if (pos < chunk.length) {
      if (!conn.pending) conn.pending = Buffer.allocUnsafe(MAX_FRAME);
      chunk.copy(conn.pending, 0, pos);
      conn.pendingLen = chunk.length - pos;
    }
  }

  private frame(conn: Conn, msg: Buffer): void {
    this.counters.tcpReceived++;
    this.handle(msg, conn.socket);
  }

  /** Writes a framed answer; a client with more than maxPendingWrite octets unread is cut off. */
  send(socket: Socket, out: Buffer): void {
    if (socket.destroyed) return;
    socket.write(out);
    if (socket.writableLength > this.limits.maxPendingWrite) socket.destroy();
  }

  /** Destroy every open connection. */
  closeAll(): void {
    for (const c of this.conns) c.socket.destroy();
  }
}

function noop(): void {}
