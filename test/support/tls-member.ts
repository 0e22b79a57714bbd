/**
 * test/support/tls-member: a stand-in SIP Server reached over TLS: a
 * node:tls server presenting the given certificate, framing the stream with
 * srvproxy's TcpFramer and reading with its codec. OPTIONS 200, INVITE 100 +
 * 200 (To tag, Contact), BYE 200, ACK absorbed, anything else 200; answers
 * go back on the connection. Records every request and every connection.
 */
import { randomBytes } from 'node:crypto';
import tls from 'node:tls';
import type net from 'node:net';
import { decode, encode, MAX_MESSAGE_BYTES, type SipMessage, type SipRequest } from '../../src/sip/codec/codec.js';
import { makeResponse } from '../../src/sip/codec/messages.js';
import { TcpFramer } from '../../src/sip/transport/tcp-framer.js';
import type { Pem } from './tls-certs.js';

export class TlsMember {
  readonly requests: SipRequest[] = [];
  /** TLS connections that completed a handshake / that failed one. */
  secured = 0;
  failed = 0;
  private server: tls.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(
    readonly address: string,
    readonly name: string,
    private readonly pem: Pem,
  ) {}

  async start(): Promise<void> {
    const server = tls.createServer({ cert: this.pem.cert, key: this.pem.key });
    server.on('secureConnection', (s) => this.attach(s));
    server.on('tlsClientError', (_e, s) => {
      this.failed++;
      s.destroy();
    });
    server.on('connection', (s: net.Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, this.address, () => resolve()));
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private attach(s: tls.TLSSocket): void {
    this.secured++;
    const framer = new TcpFramer(MAX_MESSAGE_BYTES);
    s.on('error', () => undefined);
    s.on('data', (chunk: Buffer) =>
      framer.push(
        chunk,
        (bytes) => this.onMessage(bytes, s),
        () => s.destroy(),
      ),
    );
  }

  private onMessage(bytes: Buffer, s: tls.TLSSocket): void {
    const r = decode(Buffer.from(bytes));
    if (!r.ok || r.msg.kind !== 'request') return;
    const rq = r.msg;
    this.requests.push(rq);
    if (rq.method === 'ACK') return;
    const send = (m: SipMessage) => s.write(encode(m));
    if (rq.method === 'INVITE') {
      send(makeResponse(rq, 100, 'Trying'));
      const ok = makeResponse(rq, 200, 'OK');
      ok.headers.to = { ...rq.headers.to, params: { ...rq.headers.to.params, tag: randomBytes(4).toString('hex') } };
      ok.headers.contact = [{ uri: `sip:member@${this.name}:${this.port};transport=tls`, params: {} }];
      if (rq.headers['record-route']) ok.headers['record-route'] = rq.headers['record-route'];
      ok.headers['content-length'] = 0;
      send(ok);
      return;
    }
    send(makeResponse(rq, 200, 'OK'));
  }
}
