/**
 * sip/transport/udp: one UDP socket per listen address. Drops datagrams from
 * source port 0 and above the size limit; never lets an exception out of a
 * socket handler. May import: shared, sip/codec, sip/transport.
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { SrvError } from '../../shared/errors.js';
import { logEvent, type Logger } from '../../shared/log.js';
import { decode, MAX_MESSAGE_BYTES } from '../codec/codec.js';
import { countedSend, type ListenAddress, type Remote, type TransportCounters, type TransportSink } from './types.js';

/** Bytes of UDP receive buffer asked for per socket. */
const UDP_RECV_BUFFER = 4 * 1024 * 1024;

export class UdpListener {
  private socket: dgram.Socket | undefined;
  readonly family: 4 | 6;

  constructor(
    readonly listen: ListenAddress,
    private readonly sink: TransportSink,
    private readonly counters: TransportCounters,
    private readonly log: Logger,
    private readonly maxBytes = MAX_MESSAGE_BYTES,
  ) {
    this.family = isIP(listen.address) === 6 ? 6 : 4;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      // A switchover releases every request held during it at once, and their answers come
      // back as a burst: the 208 KB default receive buffer drops part of it (as Kamailio does,
      // ask for more; the kernel caps the size at net.core.rmem_max).
      const s = dgram.createSocket({ type: this.family === 6 ? 'udp6' : 'udp4', ipv6Only: this.family === 6, recvBufferSize: UDP_RECV_BUFFER });
      const onStartError = (err: NodeJS.ErrnoException) => {
        s.close();
        reject(new SrvError('SRV_ERR_LISTEN', `cannot listen on SIP UDP ${this.listen.address}:${this.listen.port}: ${err.code ?? err.message}`));
      };
      s.once('error', onStartError);
      s.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo));
      s.bind(this.listen.port, this.listen.address, () => {
        s.removeListener('error', onStartError);
        s.on('error', (err) => logEvent(this.log, 'INTERNAL_ERROR', { where: 'sip-udp', error: String(err) }));
        this.socket = s;
        resolve();
      });
    });
  }

  /** The port actually bound (useful when configured as 0). */
  get port(): number {
    return this.socket ? this.socket.address().port : this.listen.port;
  }

  stop(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => {
      try {
        s.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  send(dest: Remote, data: Buffer, onError?: (err: Error) => void): void {
    const s = this.socket;
    if (!s || dest.port <= 0 || dest.port > 65535) {
      this.counters.sendErrors++;
      onError?.(new Error(s ? 'bad destination port' : 'transport stopped'));
      return;
    }
    countedSend(this.counters, (done) => s.send(data, dest.port, dest.address, done), onError);
  }

  private onDatagram(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    try {
      if (rinfo.port === 0) {
        this.counters.droppedPort0++;
        return;
      }
      if (buf.length > this.maxBytes) {
        this.counters.droppedTooLarge++;
        return;
      }
      this.counters.received++;
      const remote: Remote = { protocol: 'udp', address: rinfo.address, port: rinfo.port };
      const r = decode(buf);
      if (r.ok) this.sink.onMessage(r.msg, remote);
      else if (r.error !== 'empty') {
        this.counters.droppedMalformed++;
        this.sink.onBadMessage(r, remote);
      }
    } catch (err) {
      logEvent(this.log, 'INTERNAL_ERROR', { where: 'sip-udp', error: String((err as Error)?.stack ?? err) });
    }
  }
}
