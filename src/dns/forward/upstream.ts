/**
 * dns/forward/upstream: one query to one upstream resolver, over UDP or TCP,
 * with a deadline. Each exchange has its own socket, so each has its own
 * source port (bound to port 0: the kernel picks a random ephemeral port)
 * and its own random ID (chosen by the caller), the two things an off-path
 * spoofer must guess. A UDP socket is connected to the upstream, so the
 * kernel delivers only datagrams from that address and port; the source is
 * checked again here, and an answer must match the ID and the question
 * (message.ts) or it is dropped and the exchange keeps waiting.
 *
 * The only destinations ever used are the ones passed in, which come from
 * --forward: nothing in an answer (NS, glue, CNAME) makes srvproxy contact
 * another address.
 *
 * May import: shared, dns/forward.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { literalLookup } from '../../shared/literal-lookup.js';
import { readUpstreamAnswer, type CacheLimits, type ClientQuery, type UpstreamAnswer } from './message.js';

export interface Upstream {
  /** IP literal in canonical form (as sockets report sources). */
  readonly address: string;
  readonly port: number;
}

export type ExchangeResult = { ok: true; answer: UpstreamAnswer } | { ok: false; reason: string };

export interface ExchangeSpec {
  upstream: Upstream;
  id: number;
  query: Buffer;
  cq: ClientQuery;
  folded: Buffer;
  limits: CacheLimits;
  timeoutMs: number;
  /** Called for each message dropped because it did not match (spoofing or a stray answer). */
  onBogus: () => void;
}

/** Cancels an exchange; its callback is then never called. */
export type Cancel = () => void;

/** Send `spec.query` over UDP and call `done` once: with the matching answer, or a failure (timeout, ICMP unreachable). */
export function exchangeUdp(spec: ExchangeSpec, done: (r: ExchangeResult) => void): Cancel {
  const { upstream } = spec;
  const v6 = net.isIPv6(upstream.address);
  const sock = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', lookup: literalLookup(v6 ? 6 : 4) as never });
  let finished = false;
  const finish = (r: ExchangeResult | null): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    try {
      sock.close();
    } catch {
      // already closed
    }
    if (r) done(r);
  };
  const timer = setTimeout(() => finish({ ok: false, reason: 'timeout' }), spec.timeoutMs);
  sock.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, reason: err.code ?? err.message }));
  sock.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    if (rinfo.address !== upstream.address || rinfo.port !== upstream.port) {
      spec.onBogus();
      return;
    }
    const answer = readUpstreamAnswer(msg, msg.length, spec.id, spec.cq, spec.folded, spec.limits);
    if (!answer) {
      spec.onBogus();
      return;
    }
    finish({ ok: true, answer });
  });
  try {
    sock.connect(upstream.port, upstream.address, () => {
      if (finished) return;
      sock.send(spec.query, (err) => {
        if (err) finish({ ok: false, reason: (err as NodeJS.ErrnoException).code ?? err.message });
      });
    });
  } catch (err) {
    queueMicrotask(() => finish({ ok: false, reason: (err as Error).message }));
  }
  return () => finish(null);
}

/** The largest TCP answer accepted: one DNS message. */
const MAX_TCP_ANSWER = 2 + 65535;

/** Send `spec.query` over TCP (RFC 7766 framing) and call `done` once with the answer or a failure. */
export function exchangeTcp(spec: ExchangeSpec, done: (r: ExchangeResult) => void): Cancel {
  const { upstream } = spec;
  let finished = false;
  let buf: Buffer | null = null;
  let have = 0;
  const sock = net.connect({ host: upstream.address, port: upstream.port, noDelay: true, lookup: literalLookup(net.isIPv6(upstream.address) ? 6 : 4) as never });
  const finish = (r: ExchangeResult | null): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    sock.destroy();
    buf = null;
    if (r) done(r);
  };
  const timer = setTimeout(() => finish({ ok: false, reason: 'timeout' }), spec.timeoutMs);
  sock.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, reason: err.code ?? err.message }));
  sock.on('close', () => finish({ ok: false, reason: 'connection closed' }));
  sock.on('connect', () => {
    const framed = Buffer.allocUnsafe(2 + spec.query.length);
    framed.writeUInt16BE(spec.query.length, 0);
    spec.query.copy(framed, 2);
    sock.write(framed);
  });
  sock.on('data', (chunk: Buffer) => {
    if (finished) return;
    if (!buf) buf = Buffer.allocUnsafe(MAX_TCP_ANSWER);
    const take = Math.min(chunk.length, buf.length - have);
    chunk.copy(buf, have, 0, take);
    have += take;
    if (have < 2) return;
    const need = 2 + buf.readUInt16BE(0);
    if (have < need) return;
    const answer = readUpstreamAnswer(buf.subarray(2, need), need - 2, spec.id, spec.cq, spec.folded, spec.limits);
    if (!answer) {
      spec.onBogus();
      finish({ ok: false, reason: 'answer over TCP does not match the query' });
      return;
    }
    finish({ ok: true, answer });
  });
  return () => finish(null);
}
