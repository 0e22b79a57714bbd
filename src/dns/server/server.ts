/**
 * dns/server/server: DnsServer — UDP and TCP listeners on a list of addresses
 * (IPv4 and IPv6) and one port, answering from the current AnswerTable.
 *
 * Every message goes through the one handler chain (chain.ts: transfer,
 * TSIG, authority, forwarding), with the transport's differences as its
 * parameters. setTable() swaps the table by one reference assignment. A query
 * is answered synchronously from the table read when it arrived, so no query
 * sees half a table and none is dropped during a swap. Sockets are built on node:dgram and
 * node:net directly (not dns2's server: see wire.ts for why). Nothing thrown
 * on the query path escapes a socket handler: it is counted and logged.
 *
 * May import: shared, dns/wire, dns/counters, dns/authority, dns/secondary,
 * dns/forward, dns/server.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { SrvError } from '../../shared/errors.js';
import { literalLookup } from '../../shared/literal-lookup.js';
import { logEvent, silentLogger, type Logger } from '../../shared/log.js';
import type { AnswerTable } from '../authority/answers.js';
import { newCounters, type DnsCounters } from '../counters.js';
import { Forwarder, newForwardCounters, type ForwardCounters, type ForwardOptions } from '../forward/forwarder.js';
import { QueryChain, type Transport } from './chain.js';
import { ResponseRateLimiter, type RrlCounters, type RrlOptions } from './rrl.js';
import { DEFAULT_TCP_LIMITS, TcpConnections, type TcpLimits } from './tcp.js';
import { MAX_UDP_PAYLOAD } from '../wire/wire.js';
import type { ZoneTransfer } from '../secondary/xfr.js';

export interface DnsServerOptions {
  /** IP addresses to listen on (IPv4 or IPv6 literals). */
  addresses: readonly string[];
  /** Port for every address, UDP and TCP; 0 = one ephemeral port chosen at listen(). */
  port: number;
  /** The table to answer from; default: one that refuses every query. */
  table?: AnswerTable;
  /** Largest UDP answer (octets) and the payload size advertised in OPT; default 1232. */
  maxUdpPayload?: number;
  /** TCP limits; defaults in DEFAULT_TCP_LIMITS (10 s idle, 512 connections, 32 per source). */
  tcp?: Partial<TcpLimits>;
  /** Kernel receive buffer for each UDP socket (bytes); default 4 MiB (the kernel may cap it). */
  udpReceiveBuffer?: number;
  /** Forward names outside the served zones for allowed clients (forward.ts); default: REFUSED for all. */
  forward?: ForwardOptions;
  /** Response rate limiting of UDP answers per client prefix (rrl.ts); default: off. */
  rrl?: RrlOptions;
  /** Zone transfers (AXFR/IXFR over TCP) to secondaries (xfr.ts); default: transfers REFUSED. */
  transfer?: ZoneTransfer;
  log?: Logger;
}

export interface BoundAddress {
  transport: 'udp' | 'tcp';
  address: string;
  port: number;
}

const REASONS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied (a port below 1024 needs CAP_NET_BIND_SERVICE)',
  EADDRNOTAVAIL: 'address not available on this host',
  EINVAL: 'invalid address',
};

function listenError(transport: string, address: string, port: number, err: NodeJS.ErrnoException): SrvError {
  const code = err.code ?? 'ERROR';
  const host = address.includes(':') ? `[${address}]` : address;
  const e = new SrvError('SRV_ERR_LISTEN', `cannot listen for DNS on ${transport} ${host}:${port}: ${REASONS[code] ?? err.message} (${code})`);
  return e;
}

export class DnsServer {
  readonly counters: DnsCounters = newCounters();
  /** Forwarding counters (all zero without forwarding). */
  readonly forwardCounters: ForwardCounters = newForwardCounters();
  /** Null unless options.forward was given. */
  readonly forwarder: Forwarder | null;
  /** Null unless options.rrl has a rate above 0. */
  readonly rrl: ResponseRateLimiter | null;
  private readonly chain: QueryChain;
  private readonly udp: dgram.Socket[] = [];
  private readonly tcpServers: net.Server[] = [];
  private readonly tcp: TcpConnections;
  private readonly log: Logger;
  private readonly maxUdp: number;
  private boundPort = 0;

  constructor(private readonly options: DnsServerOptions) {
    if (options.addresses.length === 0) throw new SrvError('SRV_ERR_LISTEN', 'DNS server needs at least one address');
    for (const a of options.addresses) {
      if (!net.isIP(a)) throw new SrvError('SRV_ERR_LISTEN', `DNS listen address is not an IP address: ${a}`);
    }
    this.log = options.log ?? silentLogger;
    this.maxUdp = Math.max(512, Math.min(65535, options.maxUdpPayload ?? MAX_UDP_PAYLOAD));
    this.rrl = options.rrl && options.rrl.rate > 0 ? new ResponseRateLimiter(options.rrl) : null;
    const limits = { ...DEFAULT_TCP_LIMITS, ...options.tcp };
    this.forwarder = options.forward ? new Forwarder(options.forward, this.counters, this.maxUdp, this.log, this.forwardCounters) : null;
    this.chain = new QueryChain({
      counters: this.counters,
      maxUdp: this.maxUdp,
      forwarder: this.forwarder,
      transfer: options.transfer,
      onError: (err) => this.internalError(err),
    });
    if (options.table) this.chain.table = options.table;
    const chain = this.chain;
    const tcp: Transport<net.Socket> = {
      tcp: true,
      rrl: null,
      send: (socket, answer) => this.tcp.send(socket, answer),
    };
    this.tcp = new TcpConnections(
      limits,
      this.counters,
      (msg, socket) => chain.handle(msg, socket.remoteAddress ?? '', tcp, socket),
      (err) => this.internalError(err),
    );
  }

  /** Rate-limiting counters (zero while RRL is off). */
  get rrlCounters(): RrlCounters {
    return this.rrl ? this.rrl.counters : { rrlDropped: 0, rrlSlipped: 0 };
  }

  /** The table queries are answered from now. */
  get table(): AnswerTable {
    return this.chain.table;
  }

  /** Swap the answer table; queries arriving from now on use `table`. */
  setTable(table: AnswerTable): void {
    this.chain.table = table;
  }

  /** The port bound (after listen()). */
  get port(): number {
    return this.boundPort;
  }

  addresses(): BoundAddress[] {
    const out: BoundAddress[] = [];
    for (const s of this.udp) {
      const a = s.address();
      out.push({ transport: 'udp', address: a.address, port: a.port });
    }
    for (const s of this.tcpServers) {
      const a = s.address() as net.AddressInfo;
      out.push({ transport: 'tcp', address: a.address, port: a.port });
    }
    return out;
  }

  /** Bind every address over UDP and TCP. Rejects (and closes what it opened) if any bind fails. */
  async listen(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.bindAll();
        return;
      } catch (err) {
        await this.close();
        // With an ephemeral port, UDP chose a port TCP may not have free: try another.
        const retry = this.options.port === 0 && attempt < 5 && (err as SrvError).message.includes('EADDRINUSE');
        if (!retry) throw err;
      }
    }
  }

  private async bindAll(): Promise<void> {
    let port = this.options.port;
    for (const address of this.options.addresses) {
      port = await this.bindUdp(address, port);
      await this.bindTcp(address, port);
    }
    this.boundPort = port;
  }

  private bindUdp(address: string, port: number): Promise<number> {
    const type = net.isIPv6(address) ? 'udp6' : 'udp4';
    const sock = dgram.createSocket({ type, ipv6Only: type === 'udp6', lookup: literalLookup(type === 'udp6' ? 6 : 4) as never });
    this.udp.push(sock);
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => reject(listenError('udp', address, port, err));
      sock.once('error', onError);
      sock.once('listening', () => {
        sock.off('error', onError);
        sock.on('error', (err) => this.socketError(err));
        try {
          sock.setRecvBufferSize(this.options.udpReceiveBuffer ?? 4 << 20);
        } catch {
          // The kernel keeps its own cap; the default buffer still works.
        }
        const counters = this.counters;
        const chain = this.chain;
        const udp: Transport<dgram.RemoteInfo> = {
          tcp: false,
          rrl: this.rrl,
          send: (rinfo, answer) => sock.send(answer, rinfo.port, rinfo.address),
        };
        sock.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
          counters.udpReceived++;
          if (rinfo.port === 0) {
            counters.dropped++;
            return;
          }
          try {
            chain.handle(msg, rinfo.address, udp, rinfo);
          } catch (err) {
            this.internalError(err);
          }
        });
        resolve(sock.address().port);
      });
      sock.bind({ address, port, exclusive: true });
    });
  }

  private bindTcp(address: string, port: number): Promise<void> {
    const server = net.createServer({ noDelay: true });
    this.tcpServers.push(server);
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => reject(listenError('tcp', address, port, err));
      server.once('error', onError);
      server.once('listening', () => {
        server.off('error', onError);
        server.on('error', (err) => this.socketError(err));
        server.on('connection', (socket) => {
          try {
            this.tcp.accept(socket);
          } catch (err) {
            this.internalError(err);
            socket.destroy();
          }
        });
        resolve();
      });
      server.listen({ host: address, port, ipv6Only: net.isIPv6(address), exclusive: true });
    });
  }

  /** Close every socket and connection. */
  async close(): Promise<void> {
    const udp = this.udp.splice(0);
    const tcp = this.tcpServers.splice(0);
    this.forwarder?.close();
    this.tcp.closeAll();
    await Promise.all([
      ...udp.map(
        (s) =>
          new Promise<void>((resolve) => {
            try {
              s.close(() => resolve());
            } catch {
              resolve(); // never bound, or already closed
            }
          }),
      ),
      ...tcp.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))),
    ]);
  }

  private socketError(err: unknown): void {
    // Send errors (e.g. ICMP unreachable reported back) are not ours to act on.
    if (this.log.isDebugEnabled()) this.log.debug('DNS socket error', { error: String(err) });
  }

  private internalError(err: unknown): void {
    const n = ++this.counters.internalErrors;
    // Logged at 1, 2, 4, 8, ... so a storm cannot flood the log.
    if ((n & (n - 1)) === 0) logEvent(this.log, 'INTERNAL_ERROR', { plane: 'dns', count: n, error: err instanceof Error ? err.stack : String(err) });
  }
}
