/**
 * Error replies keep EDNS (RFC 6891 §7: a query with OPT gets an OPT back),
 * through a real instance (the CLI, a child process) on loopback, with raw
 * packets from a Node socket: NOTIMP, FORMERR with and without a question,
 * REFUSED, BADVERS, and an answer slipped out truncated by response rate
 * limiting; over UDP and TCP. A query without OPT gets none.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import { buildQuery, decode, tcpExchange, udpExchange, type Decoded } from '../../support/dns-wire.js';
import { startPoolSite, type PoolSite } from '../../support/pool-site.js';

const EDNS = { edns: 4096, dnssecOk: true };
const OURS = { udpSize: 1232, extRcode: 0, version: 0, dnssecOk: true };

/** `q` with its header's opcode set. */
function withOpcode(q: Buffer, opcode: number): Buffer {
  const out = Buffer.from(q);
  out[2] = (out[2]! & 0x87) | (opcode << 3);
  return out;
}

/** `q` (one question, then OPT) with the question written twice, or left out. */
function withQuestions(q: Buffer, n: 0 | 2): Buffer {
  const qEnd = q.indexOf(0, 12) + 5;
  const question = q.subarray(12, qEnd);
  const out = Buffer.concat([q.subarray(0, 12), ...Array.from({ length: n }, () => question), q.subarray(qEnd)]);
  out.writeUInt16BE(n, 4);
  return out;
}

describe('e2e dns: error replies carry OPT when the query did', function () {
  this.timeout(30_000);
  let site: PoolSite;
  let at: string;
  const RATE = 50;

  before(async () => {
    site = await startPoolSite({ instances: 1, args: ['--dns-rrl-rate', String(RATE), '--dns-rrl-slip', '1'] });
    at = site.instances[0]!.address;
  });
  after(async () => {
    await site?.stop();
  });

  const udp = async (q: Buffer): Promise<Decoded> => {
    const r = await udpExchange(site.dnsPort, q, 2000, at);
    if (!r) throw new Error('no answer');
    return decode(r);
  };

  it('NOTIMP for opcodes STATUS and NOTIFY: OPT with our size and the DO bit; none without OPT', async () => {
    const status = await udp(withOpcode(buildQuery('example.com', 'SOA', EDNS), 2));
    expect(status.rcode).to.equal('NOTIMP');
    expect(status.opt).to.deep.equal(OURS);
    const notify = await udp(withOpcode(buildQuery('example.com', 'SOA', EDNS), 4));
    expect(notify).to.deep.include({ rcode: 'NOTIMP', opcode: 4, opt: OURS });
    expect((await udp(withOpcode(buildQuery('example.com', 'SOA'), 2))).opt).to.equal(undefined);
  });

  it('FORMERR for two questions, for none, and for a question of type OPT: OPT kept', async () => {
    const two = await udp(withQuestions(buildQuery('example.com', 'SOA', EDNS), 2));
    expect(two).to.deep.include({ rcode: 'FORMERR', opt: OURS });
    const none = await udp(withQuestions(buildQuery('example.com', 'SOA', EDNS), 0));
    expect(none).to.deep.include({ rcode: 'FORMERR', opt: OURS });
    expect(none.question).to.equal(undefined);
    const optType = await udp(buildQuery('example.com', 'OPT', EDNS));
    expect(optType).to.deep.include({ rcode: 'FORMERR', opt: OURS });
    expect((await udp(withQuestions(buildQuery('example.com', 'SOA'), 2))).opt).to.equal(undefined);
  });

  it('REFUSED outside the zones and for a transfer over UDP: OPT kept', async () => {
    expect(await udp(buildQuery('www.example.org', 'A', EDNS))).to.deep.include({ rcode: 'REFUSED', opt: OURS });
    expect(await udp(buildQuery('example.com', 'AXFR', EDNS))).to.deep.include({ rcode: 'REFUSED', opt: OURS });
  });

  it('BADVERS for EDNS version 1: the extended RCODE in OPT, version 0, the question echoed', async () => {
    const d = await udp(buildQuery('Example.COM', 'SOA', { ...EDNS, ednsVersion: 1 }));
    expect(d.rcode).to.equal('BADVERS');
    expect(d.opt).to.deep.equal({ ...OURS, extRcode: 1 });
    expect(d.question?.name).to.equal('Example.COM.');
    expect(d.answer).to.deep.equal([]);
  });

  it('over TCP too: NOTIMP and FORMERR with OPT', async () => {
    const [notimp, formerr] = await tcpExchange(site.dnsPort, [withOpcode(buildQuery('example.com', 'SOA', EDNS), 2), withQuestions(buildQuery('example.com', 'SOA', EDNS), 2)], 2, 3000, at);
    expect(decode(notimp!)).to.deep.include({ rcode: 'NOTIMP', opt: OURS });
    expect(decode(formerr!)).to.deep.include({ rcode: 'FORMERR', opt: OURS });
  });

  it('an answer slipped out truncated by rate limiting keeps its OPT (was: TC with no OPT)', async () => {
    // A burst from its own /24, so that the other tests are not limited.
    const sock = dgram.createSocket('udp4');
    const got: Buffer[] = [];
    sock.on('message', (m) => got.push(m));
    await new Promise<void>((r) => sock.bind(0, '127.0.9.1', () => r()));
    try {
      for (let i = 0; i < RATE * 3; i++) sock.send(buildQuery('_sip._udp.sipproxy.example.com', 'SRV', { ...EDNS, id: i }), site.dnsPort, at);
      const end = Date.now() + 3000;
      while (got.length < RATE * 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    } finally {
      sock.close();
    }
    const all = got.map(decode);
    const tc = all.filter((d) => d.tc);
    expect(tc.length, 'slipped answers').to.be.greaterThan(RATE / 2);
    for (const d of tc) {
      expect(d.answer).to.deep.equal([]);
      expect(d.opt).to.deep.equal(OURS);
    }
    expect(all.filter((d) => !d.tc).every((d) => d.answer.length > 0 && d.opt?.udpSize === 1232)).to.equal(true);
  });
});
