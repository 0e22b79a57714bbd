/**
 * sip/transport/udp: one UDP socket per listen address. Drops datagrams from
 * source port 0 and above the size limit; never lets an exception out of a
 * socket handler. With a lateness sink, it measures how old a datagram is
 * when it is read: every PROBE_INTERVAL_MS a small socket of its own sends
 * the listener a stamped datagram (a random token and the send time), which
 * queues behind whatever the kernel holds for the listener, and its age on
 * arrival goes to the sink (overload control); a probe not back by the next
 * round reports its age so far. A STUN Binding Request (RFC 5389, the RFC
 * 5626 keepalive) is answered with the source's XOR-MAPPED-ADDRESS
 * (sip/transport/stun); other STUN messages are ignored; neither reaches the
 * SIP decoder. May import: shared, sip/codec, sip/transport.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { SrvError } from '../../shared/errors.js';
import { literalLookup } from '../../shared/literal-lookup.js';
import { logEvent, type Logger } from '../../shared/log.js';
import { decode, MAX_MESSAGE_BYTES } from '../codec/codec.js';
import { bindingSuccess, stunKind } from './stun.js';
import { countedSend, type ListenAddress, type Remote, type TransportCounters, type TransportSink } from './types.js';

/** Bytes of UDP receive buffer asked for per socket. */
const UDP_RECV_BUFFER = 4 * 1024 * 1024;
/** How often a lateness probe is sent, ms. */
export const PROBE_INTERVAL_MS = 100;
const PROBE_BYTES = 16;

/** Most probes remembered as outstanding (sent, not yet read back). */
const PROBES_OUTSTANDING = 128;

/** The lateness probe of one listener: its socket, its token, its timer, the send times of the probes not read back yet. */
interface LatenessProbe {
  socket: dgram.Socket;
  port: number;
  token: Buffer;
  timer: NodeJS.Timeout;
  /** A FIFO of send times (ms): the probes outstanding, oldest at `head`. */
  sent: Float64Array;
  head: number;
  count: number;
  /** The age last reported, ms. */
  lastAge: number;
}

/** A keepalive answer that cannot be sent is not retried: the client pings again. */
function ignoreSendError(): void {}

export class UdpListener {
  private socket: dgram.Socket | undefined;
  private probe: LatenessProbe | undefined;
  readonly family: 4 | 6;

  constructor(
    readonly listen: ListenAddress,
    private readonly sink: TransportSink,
    private readonly counters: TransportCounters,
    private readonly log: Logger,
    private readonly maxBytes = MAX_MESSAGE_BYTES,
    /** Receives the age (ms) of each lateness probe, and whether it is older than this listener's last; absent: no probe. */
    private readonly lateness?: (ageMs: number, rising: boolean) => void,
  ) {
    this.family = isIP(listen.address) === 6 ? 6 : 4;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      // A switchover releases every request held during it at once, and their answers come
      // back as a burst: the 208 KB default receive buffer drops part of it (as Kamailio does,
      // ask for more; the kernel caps the size at net.core.rmem_max).
      const s = dgram.createSocket({
        type: this.family === 6 ? 'udp6' : 'udp4',
        ipv6Only: this.family === 6,
        recvBufferSize: UDP_RECV_BUFFER,
        lookup: literalLookup(this.family) as never,
      });
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
        if (!this.lateness) return resolve();
        this.startProbe().then(resolve, (err: Error) => {
          this.socket = undefined;
          s.close();
          reject(new SrvError('SRV_ERR_LISTEN', `cannot start the lateness probe of SIP UDP ${this.listen.address}:${this.listen.port}: ${err.message}`));
        });
      });
    });
  }

  /**
   * Sends the next probe. A probe still outstanding from an earlier round is already late by
   * its age: that is reported now, so that a backlog older than the window is seen before
   * its probes come out of it.
   */
  private sendProbe(packet: Buffer, port: number, to: string): void {
    const p = this.probe;
    if (!p) return;
    const now = performance.now();
    if (p.count > 0) this.report(p, now - p.sent[p.head]);
    if (p.count === PROBES_OUTSTANDING) {
      p.head = (p.head + 1) % PROBES_OUTSTANDING; // forget the oldest (lost, or very late)
      p.count--;
    }
    p.sent[(p.head + p.count) % PROBES_OUTSTANDING] = now;
    p.count++;
    packet.writeDoubleLE(now, 8);
    p.socket.send(packet, port, to);
  }

  /** A probe came back: its age is reported, and it and any probe sent before it (lost) are no longer outstanding. */
  private probeBack(p: LatenessProbe, sentAt: number): void {
    while (p.count > 0 && p.sent[p.head] <= sentAt) {
      p.head = (p.head + 1) % PROBES_OUTSTANDING;
      p.count--;
    }
    this.report(p, performance.now() - sentAt);
  }

  /** One age to the sink, with whether it grew since the last one (a backlog growing, not draining). */
  private report(p: LatenessProbe, ageMs: number): void {
    const rising = ageMs > p.lastAge;
    p.lastAge = ageMs;
    this.lateness!(ageMs, rising);
  }

  /** A socket on the loopback (or the listen address) that sends the listener a stamped datagram every PROBE_INTERVAL_MS. */
  private startProbe(): Promise<void> {
    const wildcard = this.listen.address === '0.0.0.0' || this.listen.address === '::';
    const to = wildcard ? (this.family === 6 ? '::1' : '127.0.0.1') : this.listen.address;
    const port = this.port;
    return new Promise((resolve, reject) => {
      const ps = dgram.createSocket({ type: this.family === 6 ? 'udp6' : 'udp4', ipv6Only: this.family === 6 });
      ps.once('error', reject);
      ps.bind(0, to, () => {
        ps.removeListener('error', reject);
        ps.on('error', () => undefined); // a lost probe is only a missing sample
        const token = randomBytes(8);
        const packet = Buffer.alloc(PROBE_BYTES);
        token.copy(packet, 0);
        const timer = setInterval(() => this.sendProbe(packet, port, to), PROBE_INTERVAL_MS);
        timer.unref();
        this.probe = { socket: ps, port: ps.address().port, token, timer, sent: new Float64Array(PROBES_OUTSTANDING), head: 0, count: 0, lastAge: 0 };
        resolve();
      });
    });
  }

  /** The port actually bound (useful when configured as 0). */
  get port(): number {
    return this.socket ? this.socket.address().port : this.listen.port;
  }

  stop(): Promise<void> {
    const p = this.probe;
    this.probe = undefined;
    if (p) {
      clearInterval(p.timer);
      p.socket.close();
    }
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

  /** RFC 5626 §3.5.2: a Binding Success Response with the address:port the request came from. */
  private answerStun(req: Buffer, rinfo: dgram.RemoteInfo): void {
    const s = this.socket;
    const reply = s && bindingSuccess(req, rinfo.address, rinfo.port);
    if (!s || !reply) return;
    this.counters.keepalivesStun++;
    s.send(reply, rinfo.port, rinfo.address, ignoreSendError);
  }

  private onDatagram(buf: Buffer, rinfo: dgram.RemoteInfo): void {
    try {
      const p = this.probe;
      if (p && rinfo.port === p.port && buf.length === PROBE_BYTES && buf.compare(p.token, 0, 8, 0, 8) === 0) {
        this.probeBack(p, buf.readDoubleLE(8));
        return;
      }
      if (rinfo.port === 0) {
        this.counters.droppedPort0++;
        return;
      }
      if (buf.length > this.maxBytes) {
        this.counters.droppedTooLarge++;
        return;
      }
      // STUN starts with two zero bits; a SIP message with a letter (or whitespace, which is cheap to rule out)
      if (buf.length > 0 && (buf[0]! & 0xc0) === 0) {
        const kind = stunKind(buf);
        if (kind === 'binding-request') return this.answerStun(buf, rinfo);
        if (kind === 'other') return;
      }
      this.counters.received++;
      const early = this.sink.preview?.(buf, rinfo.address, rinfo.port);
      if (early !== undefined) {
        if (early !== null) this.send({ protocol: 'udp', address: rinfo.address, port: rinfo.port }, early);
        return;
      }
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
