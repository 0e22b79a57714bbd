/**
 * sip/transport/transport: the SIP transport of one instance: a UDP socket
 * and a TCP listener on each listen address (IPv4 or IPv6), one send() for
 * both. `start()` rejects with SRV_ERR_LISTEN when an address cannot be bound
 * (EADDRINUSE and the like), after closing what it had opened. May import:
 * shared, sip/codec, sip/transport.
 */
import { isIP } from 'node:net';
import type { Logger } from '../../shared/log.js';
import { MAX_MESSAGE_BYTES } from '../codec/codec.js';
import { TcpTransport, type TcpOptions } from './tcp.js';
import type { TlsConfig } from './tls.js';
import {
  newTransportCounters,
  type ListenAddress,
  type Remote,
  type TransportCounters,
  type TransportSink,
} from './types.js';
import { UdpListener } from './udp.js';

export type { ListenAddress, Remote, TransportSink, TransportCounters } from './types.js';

/** What a composition root may tune on the transport (input limits, TCP limits). */
export interface TransportTuning {
  tcp?: Partial<TcpOptions>;
  /** Largest message accepted on any transport, bytes (default MAX_MESSAGE_BYTES); larger UDP datagrams are dropped and counted. */
  maxMessageBytes?: number;
  /** SIP over TLS: a listener on each listen address at tls.port, and TLS to destinations with protocol 'tls'. */
  tls?: TlsConfig;
  /** Receives the age (ms) of every UDP lateness probe, and whether it is older than its listener's last (sip/transport/udp); absent: no probes. */
  lateness?: (ageMs: number, rising: boolean) => void;
}

export interface TransportOptions extends TransportTuning {
  listen: readonly ListenAddress[];
  log: Logger;
}

const DEFAULT_TCP_OPTIONS: TcpOptions = {
  idleTimeoutMs: 120_000,
  maxConnections: 4096,
  maxConnectionsPerSource: 64,
  connectTimeoutMs: 2000,
};

export class SipTransport {
  readonly counters: TransportCounters = newTransportCounters();
  private readonly udp: UdpListener[];
  private readonly tcp: TcpTransport;
  private sink: TransportSink | undefined;
  private started = false;
  /** Listen addresses with the ports actually bound (after start). */
  bound: ListenAddress[] = [];

  constructor(private readonly opts: TransportOptions) {
    if (opts.listen.length === 0) throw new Error('no SIP listen address');
    for (const l of opts.listen) if (!isIP(l.address)) throw new Error('SIP listen address is not an IP address: ' + l.address);
    const proxySink: TransportSink = {
      onMessage: (m, r) => this.sink?.onMessage(m, r),
      onBadMessage: (b, r) => this.sink?.onBadMessage(b, r),
      preview: (buf, a, p) => this.sink?.preview?.(buf, a, p),
    };
    const maxBytes = Math.min(opts.maxMessageBytes ?? MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES);
    this.udp = opts.listen.map((l) => new UdpListener(l, proxySink, this.counters, opts.log, maxBytes, opts.lateness));
    this.tcp = new TcpTransport(proxySink, this.counters, opts.log, { ...DEFAULT_TCP_OPTIONS, ...opts.tcp }, maxBytes, opts.tls);
  }

  /** The receiver of incoming messages (the transaction layer). */
  setSink(sink: TransportSink): void {
    this.sink = sink;
  }

  async start(): Promise<void> {
    if (this.started) return;
    try {
      // UDP first; with port 0 the TCP listener takes the port UDP got
      for (const u of this.udp) await u.start();
      const listen = this.opts.listen.map((l, i) => ({ address: l.address, port: this.udp[i].port }));
      await this.tcp.start(listen);
      this.bound = listen;
      this.started = true;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.started = false;
    await Promise.all([...this.udp.map((u) => u.stop()), this.tcp.stop()]);
  }

  send(dest: Remote, data: Buffer, onError?: (err: Error) => void): void {
    if (dest.protocol === 'tcp' || dest.protocol === 'tls') {
      this.tcp.send(dest, data, onError);
      return;
    }
    const u = this.udpFor(dest.address);
    if (!u) {
      this.counters.sendErrors++;
      onError?.(new Error('no UDP socket for ' + dest.address));
      return;
    }
    u.send(dest, data, onError);
  }

  /** The listen address whose socket sends to `address` (its family): what goes into Via sent-by. */
  localFor(address: string): ListenAddress {
    const fam = isIP(address) === 6 ? 6 : 4;
    const i = this.udp.findIndex((u) => u.family === fam);
    const l = this.bound.length ? this.bound : this.opts.listen;
    return l[i >= 0 ? i : 0];
  }

  /** TLS listen addresses with the ports bound ([] without TLS). */
  get tlsBound(): ListenAddress[] {
    const ports = this.tcp.tlsPorts;
    return ports.map((port, i) => ({ address: this.opts.listen[i]!.address, port }));
  }

  get tcpConnections(): number {
    return this.tcp.openConnections;
  }

  /** True while TCP/TLS connection `conn` is open (a flow on it can be used). */
  connectionOpen(conn: number): boolean {
    return this.tcp.isOpen(conn);
  }

  private udpFor(address: string): UdpListener | undefined {
    const fam = isIP(address) === 6 ? 6 : 4;
    return this.udp.find((u) => u.family === fam);
  }
}
