/**
 * The one handler chain with fake transports: the same query gets the same
 * answer over UDP and TCP (framed over TCP), zone transfers are served over
 * TCP only (REFUSED over UDP), signed queries are answered signed on both,
 * and response rate limiting applies to what the UDP transport sends only.
 */
import { expect } from 'chai';
import { buildAnswerTable } from '../../../../src/dns/authority/answers.js';
import { newCounters } from '../../../../src/dns/counters.js';
import { QueryChain, type Transport } from '../../../../src/dns/server/chain.js';
import { ResponseRateLimiter } from '../../../../src/dns/server/rrl.js';
import { findTsig, sign, type TsigKey } from '../../../../src/dns/secondary/tsig.js';
import { ZoneTransfer } from '../../../../src/dns/secondary/xfr.js';
import { buildQuery, decode } from '../../../support/dns-wire.js';
import { DNS_TEST_ZONE, zonesFromText } from '../../../support/dns-zone.js';

const KEY: TsigKey = { name: 'xfr-key', algorithm: 'hmac-sha256', secret: Buffer.from('sLcCy7iZH4GsmR4pP/+FulJv0Y+0MZFcA/fGt9b//xs=', 'base64') };

/** A transport that records what it sends. */
function fake(tcp: boolean, rrl: ResponseRateLimiter | null = null): Transport<string> & { sent: Buffer[] } {
  const sent: Buffer[] = [];
  return {
    tcp,
    rrl,
    sent,
    send: (_ctx, answer) => {
      sent.push(answer);
    },
  };
}

describe('dns/server/chain: one handler chain for UDP and TCP', () => {
  const table = buildAnswerTable(zonesFromText({ 'example.com.zone': DNS_TEST_ZONE })).table;
  const chain = (transfer?: ZoneTransfer): QueryChain => {
    const c = new QueryChain({ counters: newCounters(), maxUdp: 1232, forwarder: null, transfer, onError: (e) => { throw e; } });
    c.table = table;
    return c;
  };

  it('answers a query alike over UDP and TCP, the TCP answer framed', () => {
    const c = chain();
    const udp = fake(false);
    const tcp = fake(true);
    const q = buildQuery('proxy1.example.com', 'A', { edns: 1232 });
    c.handle(q, '127.0.0.1', udp, 'u');
    c.handle(q, '127.0.0.1', tcp, 't');
    expect(udp.sent).to.have.length(1);
    expect(tcp.sent).to.have.length(1);
    expect(tcp.sent[0]!.readUInt16BE(0)).to.equal(tcp.sent[0]!.length - 2);
    expect(tcp.sent[0]!.subarray(2).equals(udp.sent[0]!)).to.equal(true);
    expect(decode(udp.sent[0]!).answer).to.deep.equal(['proxy1.example.com. 30 IN A 127.0.0.11']);
  });

  it('serves zone transfers over TCP only: over UDP an AXFR is REFUSED', () => {
    const c = chain(new ZoneTransfer({ allow: ['127.0.0.0/8'] }));
    const udp = fake(false);
    const tcp = fake(true);
    const q = buildQuery('example.com', 'AXFR', { flags: 0 });
    c.handle(q, '127.0.0.1', udp, 'u');
    c.handle(q, '127.0.0.1', tcp, 't');
    expect(decode(udp.sent[0]!).rcode).to.equal('REFUSED');
    const first = tcp.sent[0]!;
    const d = decode(first.subarray(2, 2 + first.readUInt16BE(0)));
    expect(d.rcode).to.equal('NOERROR');
    expect(d.answer[0]).to.match(/^example\.com\. 30 IN SOA /);
  });

  it('answers a TSIG-signed query signed, over both transports', () => {
    const c = chain(new ZoneTransfer({ allow: ['127.0.0.0/8'], key: KEY }));
    for (const t of [fake(false), fake(true)]) {
      const signed = sign(buildQuery('example.com', 'SOA', { flags: 0 }), KEY, { timeSigned: Math.floor(Date.now() / 1000) }).message;
      c.handle(signed, '127.0.0.1', t, 'x');
      const out = t.tcp ? t.sent[0]!.subarray(2) : t.sent[0]!;
      expect(decode(out).rcode, t.tcp ? 'tcp' : 'udp').to.equal('NOERROR');
      expect(findTsig(out), t.tcp ? 'tcp' : 'udp').to.not.equal(null);
    }
  });

  it('a signed query with no transfer part configured: NOTAUTH, TSIG error BADKEY, over both transports', () => {
    const c = chain();
    for (const t of [fake(false), fake(true)]) {
      const signed = sign(buildQuery('example.com', 'SOA', { edns: 1232 }), KEY, { timeSigned: Math.floor(Date.now() / 1000) }).message;
      c.handle(signed, '127.0.0.1', t, 'x');
      const out = t.tcp ? t.sent[0]!.subarray(2) : t.sent[0]!;
      const d = decode(out);
      expect(d.rcode, t.tcp ? 'tcp' : 'udp').to.equal('9');
      expect(d.answer).to.deep.equal([]);
      expect(d.opt?.udpSize).to.equal(1232);
      expect(findTsig(out), t.tcp ? 'tcp' : 'udp').to.deep.include({ keyName: 'xfr-key', error: 17 });
    }
  });

  it('rate-limits what the UDP transport sends (slip: truncated), never TCP', () => {
    const c = chain();
    const rrl = new ResponseRateLimiter({ rate: 2, slip: 2 }, () => 0);
    const udp = fake(false, rrl);
    const tcp = fake(true);
    const q = buildQuery('proxy1.example.com', 'A');
    for (let i = 0; i < 6; i++) {
      c.handle(q, '127.0.0.9', udp, 'u');
      c.handle(q, '127.0.0.9', tcp, 't');
    }
    // 2 within the rate; of the 4 limited, every 2nd slips out truncated
    expect(udp.sent.map((b) => decode(b).tc)).to.deep.equal([false, false, true, true]);
    expect(tcp.sent).to.have.length(6);
    expect(rrl.counters).to.deep.equal({ rrlDropped: 2, rrlSlipped: 2 });
  });
});
