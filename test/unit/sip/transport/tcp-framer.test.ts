import { expect } from 'chai';
import { TcpFramer, type FrameError } from '../../../../src/sip/transport/tcp-framer.js';

const msg = (body = '') =>
  `OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP 1.2.3.4;branch=z9hG4bKa\r\nCall-ID: c\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

function run(chunks: string[], max = 65535): { messages: string[]; errors: FrameError[] } {
  const f = new TcpFramer(max);
  const messages: string[] = [];
  const errors: FrameError[] = [];
  for (const c of chunks) f.push(Buffer.from(c, 'latin1'), (m) => messages.push(m.toString('latin1')), (e) => errors.push(e));
  return { messages, errors };
}

describe('sip/transport/tcp-framer (RFC 3261 §18.3)', () => {
  it('frames messages split anywhere and several per chunk, skipping keep-alive CRLFs', () => {
    const whole = '\r\n\r\n' + msg('hello') + msg() + '\r\n' + msg('x');
    for (let cut = 1; cut < whole.length; cut += 7) {
      const r = run([whole.slice(0, cut), whole.slice(cut)]);
      expect(r.errors).to.deep.equal([]);
      expect(r.messages).to.deep.equal([msg('hello'), msg(), msg('x')]);
    }
  });

  it('missing Content-Length: 400, then nothing more is read', () => {
    const r = run([msg().replace(/Content-Length: 0\r\n/, '') + msg()]);
    expect(r.errors).to.have.length(1);
    expect(r.errors[0]).to.include({ status: 400, reason: 'Content-Length Required' });
    expect(r.errors[0].head).to.contain('Call-ID: c');
    expect(r.messages).to.deep.equal([]);
  });

  it('compact form l: is accepted; a malformed value is 400', () => {
    expect(run([msg('ab').replace('Content-Length', 'l')]).messages).to.have.length(1);
    expect(run([msg().replace('Content-Length: 0', 'Content-Length: -1')]).errors[0].status).to.equal(400);
    expect(run([msg().replace('Content-Length: 0', 'Content-Length: 1e3')]).errors[0].status).to.equal(400);
  });

  it('the rules of sip/codec/head: a folded Content-Length is read; two Content-Length values, a bare LF or CR, a NUL: 400, nothing framed', () => {
    const folded = msg('abc').replace('Content-Length: 3', 'content-length  :\r\n  3');
    expect(run([folded + msg()]).messages).to.deep.equal([folded, msg()]);
    const inner = msg();
    const smuggle = msg(inner).replace('Content-Length:', 'Content-Length: 0\r\nContent-Length:');
    const r = run([smuggle]);
    expect(r.messages).to.deep.equal([]);
    expect(r.errors[0]).to.include({ status: 400, reason: 'Several Content-Length values' });
    expect(run([msg().replace('Call-ID: c', 'Subject: x\nRoute: <sip:e;lr>\r\nCall-ID: c')]).errors[0]).to.include({ status: 400, reason: 'Bare LF in the head' });
    expect(run([msg().replace('Call-ID: c', 'Subject: x\rCall-ID: c')]).errors[0]).to.include({ status: 400, reason: 'Bare CR in the head' });
    expect(run([msg().replace('Call-ID: c', 'Call-ID: c\x00')]).errors[0]).to.include({ status: 400, reason: 'NUL in the head' });
    expect(run([msg().replace('Content-Length: 0', 'Content-Length: 0007')]).errors).to.deep.equal([]);
  });

  it('hands on at most max messages per push; an empty push goes on where it stopped', () => {
    const f = new TcpFramer(65535);
    const got: string[] = [];
    const on = (m: Buffer) => got.push(m.toString('latin1'));
    expect(f.push(Buffer.from(msg('a') + msg('b') + msg('c'), 'latin1'), on, () => undefined, 2)).to.equal(true);
    expect(got).to.deep.equal([msg('a'), msg('b')]);
    expect(f.push(Buffer.alloc(0), on, () => undefined, 2)).to.equal(false);
    expect(got).to.deep.equal([msg('a'), msg('b'), msg('c')]);
  });

  it('bounded: an endless head or an oversize Content-Length is 513', () => {
    expect(run(['INVITE sip:x SIP/2.0\r\n' + 'X: y\r\n'.repeat(20000)], 65535).errors[0].status).to.equal(513);
    expect(run([msg().replace('Content-Length: 0', 'Content-Length: 999999')]).errors[0].status).to.equal(513);
    const f = new TcpFramer(1000);
    f.push(Buffer.from('INVITE sip:x SIP/2.0\r\n'), () => undefined, () => undefined);
    expect(f.buffered).to.be.lessThan(1000);
  });

  describe('RFC 5626 keepalives between messages', () => {
    /** Pushes each chunk; the order of messages ('M') and pings ('P'). */
    function events(chunks: string[], f = new TcpFramer(65535)): string {
      let out = '';
      for (const c of chunks) {
        f.push(Buffer.from(c, 'latin1'), () => (out += 'M'), () => (out += 'E'), Infinity, () => (out += 'P'));
      }
      return out;
    }

    it('a double CRLF is a ping; a single CRLF is skipped silently (RFC 3261 §7.5)', () => {
      expect(events(['\r\n\r\n'])).to.equal('P');
      expect(events(['\r\n'])).to.equal('');
      expect(events(['\r\n' + msg() + '\r\n'])).to.equal('M');
      expect(events(['\r\n\r\n' + msg() + '\r\n\r\n' + msg()])).to.equal('PMPM');
    });

    it('one ping per CRLFCRLF: three CRLFs are one ping, four are two', () => {
      expect(events(['\r\n\r\n\r\n'])).to.equal('P');
      expect(events(['\r\n\r\n\r\n\r\n'])).to.equal('PP');
      expect(events(['\r\n\r\n'.repeat(100)])).to.equal('P'.repeat(100));
    });

    it('a ping split over chunks at any byte is still one ping', () => {
      for (let cut = 1; cut < 4; cut++) expect(events(['\r\n\r\n'.slice(0, cut), '\r\n\r\n'.slice(cut)]), String(cut)).to.equal('P');
      expect(events(['\r', '\n', '\r', '\n'])).to.equal('P');
      // the CRLFs of a stream are one sequence: a single CRLF, later another, make a double CRLF
      expect(events(['\r\n', '\r\n'])).to.equal('P');
    });

    it('other whitespace between the CRLFs, or a message between them, makes no ping', () => {
      expect(events(['\r\n \r\n'])).to.equal('');
      expect(events(['\r\n\t\r\n'])).to.equal('');
      expect(events(['\r\r\n\n'])).to.equal('');
      expect(events(['\n\n\n\n'])).to.equal('');
      expect(events(['\r\n' + msg() + '\r\n'])).to.equal('M');
      // the empty line that ends a head is not a ping, nor is a CRLF at the start of a body
      expect(events([msg('\r\n\r\n')])).to.equal('M');
      expect(events([msg('\r\n'), '\r\n'])).to.equal('M');
    });

    it('pings count towards the per-push maximum; the rest waits for the next push', () => {
      const f = new TcpFramer(65535);
      let pings = 0;
      const more = f.push(Buffer.from('\r\n\r\n'.repeat(40), 'latin1'), () => undefined, () => undefined, 16, () => pings++);
      expect(more).to.equal(true);
      expect(pings).to.equal(16);
      expect(f.buffered).to.equal(24 * 4);
      while (f.push(Buffer.alloc(0), () => undefined, () => undefined, 16, () => pings++));
      expect(pings).to.equal(40);
      expect(f.buffered).to.equal(0);
    });

    it('after a framing error, pings are ignored too', () => {
      expect(events([msg().replace(/Content-Length: 0\r\n/, ''), '\r\n\r\n'])).to.equal('E');
    });
  });
});
