import { expect } from 'chai';
import { decode, encode, MAX_LINE_BYTES, MAX_MESSAGE_BYTES } from '../../../../src/sip/codec/codec.js';
import { parseSipUri } from '../../../../src/sip/codec/uri.js';

const INVITE =
  'INVITE sip:bob@tserver.example.com SIP/2.0\r\n' +
  'Via: SIP/2.0/UDP 127.0.0.50:5070;branch=z9hG4bKabc;rport\r\n' +
  'Max-Forwards: 70\r\n' +
  'From: <sip:alice@example.com>;tag=1\r\n' +
  'To: <sip:bob@example.com>\r\n' +
  'Call-ID: c1\r\n' +
  'CSeq: 1 INVITE\r\n' +
  'Route: <sip:sipproxy.example.com;lr>\r\n' +
  'Content-Length: 4\r\n\r\nv=0\n';

function mutate(base: Buffer, rnd: () => number): Buffer {
  const b = Buffer.from(base);
  const n = 1 + Math.floor(rnd() * 8);
  for (let i = 0; i < n; i++) {
    const op = Math.floor(rnd() * 4);
    const at = Math.floor(rnd() * b.length);
    if (op === 0) b[at] = Math.floor(rnd() * 256);
    else if (op === 1) b[at] = [13, 10, 58, 59, 60, 62, 44, 32, 34, 91][Math.floor(rnd() * 10)];
    else if (op === 2) return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + Math.floor(rnd() * 40)))]);
    else return b.subarray(0, at);
  }
  return b;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('sip/codec/codec', () => {
  it('decodes a request and re-encodes it with the body intact', () => {
    const r = decode(Buffer.from(INVITE, 'latin1'));
    expect(r.ok).to.equal(true);
    if (!r.ok || r.msg.kind !== 'request') throw new Error('not a request');
    expect(r.msg.method).to.equal('INVITE');
    expect(r.msg.headers.via![0].params).to.deep.equal({ branch: 'z9hG4bKabc', rport: null });
    expect(r.msg.headers.route![0].uri!.host).to.equal('sipproxy.example.com');
    const again = encode(r.msg).toString('latin1');
    expect(again).to.contain('Content-Length: 4\r\n\r\nv=0\n');
  });

  it('reads IPv6 references in Via and Route that package sip mangles', () => {
    const text = INVITE.replace('127.0.0.50:5070', '[2001:db8::1]:5070').replace('<sip:sipproxy.example.com;lr>', '<sip:[::1]:5060;lr>, <sip:x.example.com;lr>');
    const r = decode(Buffer.from(text, 'latin1'));
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.msg.headers.via![0]).to.include({ host: '[2001:db8::1]', port: 5070 });
    expect(r.msg.headers.via![0].params.branch).to.equal('z9hG4bKabc');
    expect(r.msg.headers.route!.map((e) => e.uri!.host)).to.deep.equal(['[::1]', 'x.example.com']);
    expect(parseSipUri('sip:bob@[::1]:5070;transport=tcp')).to.include({ host: '[::1]', port: 5070, user: 'bob' });
  });

  const bad: [string, string, boolean][] = [
    ['missing Via', INVITE.replace(/Via:.*\r\n/, ''), false],
    ['bad CSeq', INVITE.replace('CSeq: 1 INVITE', 'CSeq: one'), false],
    ['CSeq method mismatch', INVITE.replace('CSeq: 1 INVITE', 'CSeq: 1 BYE'), true],
    ['bad Max-Forwards', INVITE.replace('Max-Forwards: 70', 'Max-Forwards: lots'), true],
    ['Content-Length beyond the datagram', INVITE.replace('Content-Length: 4', 'Content-Length: 40'), true],
    ['bad Request-URI', INVITE.replace('sip:bob@tserver.example.com', 'sip:bob@'), true],
    ['a header in the Request-URI (RFC 4475 §3.1.2.11)', INVITE.replace('sip:bob@tserver.example.com', 'sip:bob@tserver.example.com?Route=%3Csip:x%3E'), true],
    ['not a URI scheme', INVITE.replace('sip:bob@tserver.example.com', '1http://x'), true],
    ['bad version', INVITE.replace('SIP/2.0\r\nVia', 'SIP/3.0\r\nVia'), true],
  ];
  for (const [name, text, answerable] of bad) {
    it(`rejects: ${name}${answerable ? ' (answerable with 400)' : ''}`, () => {
      const r = decode(Buffer.from(text, 'latin1'));
      expect(r.ok).to.equal(false);
      if (r.ok) return;
      expect(r.error).to.be.a('string');
      expect(!!r.msg).to.equal(answerable);
    });
  }

  it('another SIP version: status 505; any other URI scheme decodes (the proxy core answers 416); tel: decodes', () => {
    const v = decode(Buffer.from(INVITE.replace('SIP/2.0\r\nVia', 'SIP/3.0\r\nVia'), 'latin1'));
    expect(v.ok === false && v.status).to.equal(505);
    expect(decode(Buffer.from(INVITE.replace('sip:bob@tserver.example.com', 'http://x'), 'latin1')).ok).to.equal(true);
    expect(decode(Buffer.from(INVITE.replace('sip:bob@tserver.example.com', 'tel:+15551234567'), 'latin1')).ok).to.equal(true);
    expect(decode(Buffer.from(INVITE.replace('sip:bob@tserver.example.com', 'SIP:bob@tserver.example.com'), 'latin1')).ok).to.equal(true);
  });

  it('one grammar: bare LF, bare CR, NUL refused in a head (NUL allowed as a quoted-pair); several Content-Length refused; repeated singletons refused', () => {
    const dec = (t: string) => decode(Buffer.from(t, 'latin1'));
    const err = (t: string) => {
      const r = dec(t);
      return r.ok ? 'ok' : r.error;
    };
    const at = INVITE.indexOf('\r\n') + 2;
    const withLine = (l: string) => INVITE.slice(0, at) + l + '\r\n' + INVITE.slice(at);
    expect(err(withLine('Subject: x\nRoute: <sip:evil;lr>'))).to.equal('bare LF in the head');
    expect(err(withLine('Subject: x\rRoute: <sip:evil;lr>'))).to.equal('bare CR in the head');
    expect(err(withLine('Subject: x\x00y'))).to.equal('NUL in the head');
    expect(err(withLine('To-Note: "a\\\x00b"'))).to.equal('ok');
    expect(err(withLine('Content-Length: 0'))).to.match(/Content-Length/);
    expect(err(withLine('Call-ID: second'))).to.equal('repeated call-id');
    expect(err(withLine('CSeq: 2 INVITE'))).to.equal('repeated CSeq');
    expect(err(withLine('Max-Forwards: 10'))).to.match(/Max-Forwards/);
    const mf = dec(INVITE.replace(/Max-Forwards: \d+/, 'Max-Forwards: 0068'));
    expect(mf.ok && mf.msg.headers['max-forwards']).to.equal(68);
    expect(err(INVITE.replace(/Max-Forwards: \d+/, 'Max-Forwards: 256'))).to.equal('bad Max-Forwards');
  });

  it('an over-long header line: 400 with the request read without it; a line just at the limit with its CR never recurses', () => {
    const at = INVITE.indexOf('\r\n') + 2;
    for (const n of [MAX_LINE_BYTES - 1, MAX_LINE_BYTES, MAX_LINE_BYTES + 1]) {
      const r = decode(Buffer.from(INVITE.slice(0, at) + 'X: ' + 'x'.repeat(n - 3) + '\r\n' + INVITE.slice(at), 'latin1'));
      if (r.ok) continue;
      expect(r.error).to.equal('header line too long');
      expect(r.msg?.method).to.equal('INVITE');
    }
  });

  it('refuses messages over the size limit and never hangs on pathological whitespace', () => {
    expect(decode(Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x41)).ok).to.equal(false);
    const t0 = performance.now();
    expect(decode(Buffer.alloc(MAX_MESSAGE_BYTES, 0x20)).ok).to.equal(false);
    expect(decode(Buffer.from(' '.repeat(30000) + 'INVITE sip:a@b SIP/2.0\r\n' + 'X: ' + ' '.repeat(30000) + '\r\n\r\n')).ok).to.equal(false);
    expect(decode(Buffer.from('SIP/2.0 200' + ' '.repeat(60000) + 'x\r\n\r\n')).ok).to.equal(false);
    expect(performance.now() - t0).to.be.lessThan(500);
  });

  it('survives 30k random and mutated inputs: no exception, every result ok or a clear error', () => {
    const rnd = lcg(42);
    const seed = Buffer.from(INVITE, 'latin1');
    const resp = Buffer.from('SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n');
    let ok = 0;
    const t0 = performance.now();
    for (let i = 0; i < 30000; i++) {
      let input: Buffer;
      if (i % 10 === 0) {
        input = Buffer.alloc(Math.floor(rnd() * 300));
        for (let j = 0; j < input.length; j++) input[j] = Math.floor(rnd() * 256);
      } else input = mutate(i % 2 ? seed : resp, rnd);
      const r = decode(input);
      if (r.ok) {
        ok++;
        encode(r.msg); // a message that decodes must encode
      } else expect(r.error).to.be.a('string');
    }
    expect(ok).to.be.greaterThan(100);
    expect(performance.now() - t0).to.be.lessThan(15000);
  });
});
