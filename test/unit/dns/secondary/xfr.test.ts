/**
 * Zone transfer: the AXFR message stream (SOA first and last, every record
 * once, several messages when large, each under the size limit), IXFR
 * answered in full or with the SOA alone, access (allow list, TSIG, apex),
 * the health filter seen in the transfer, and a transfer over a real TCP
 * connection to a DnsServer.
 */
import { expect } from 'chai';
import { buildAnswerTable } from '../../../../src/dns/authority/answers.js';
import { newCounters } from '../../../../src/dns/counters.js';
import { respond, SIGNED } from '../../../../src/dns/authority/respond.js';
import { SerialCounter } from '../../../../src/dns/authority/serial.js';
import { DnsServer } from '../../../../src/dns/server/server.js';
import { findTsig, sign, tsigLength, verifyResponse, type TsigKey } from '../../../../src/dns/secondary/tsig.js';
import { isTransferQuery, transferRecords, transferStream, ZoneTransfer } from '../../../../src/dns/secondary/xfr.js';
import { buildQuery, decode, encodeName, tcpExchange } from '../../../support/dns-wire.js';
import { DNS_TEST_ZONE, testPoolMembers, zonesFromText } from '../../../support/dns-zone.js';

const KEY: TsigKey = { name: 'xfr-key', algorithm: 'hmac-sha256', secret: Buffer.from('sLcCy7iZH4GsmR4pP/+FulJv0Y+0MZFcA/fGt9b//xs=', 'base64') };
const NOW = 1_795_000_000_000;

/** Split a framed TCP stream into messages. */
function unframe(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let p = 0; p < buf.length; ) {
    const n = buf.readUInt16BE(p);
    out.push(buf.subarray(p + 2, p + 2 + n));
    p += 2 + n;
  }
  return out;
}

/** An IXFR query whose authority section holds an SOA with `serial`. */
function ixfrQuery(zone: string, serial: number, id = 0x4242): Buffer {
  const q = buildQuery(zone, 251, { id, flags: 0 });
  q.writeUInt16BE(1, 8); // NSCOUNT
  const rdata = Buffer.concat([encodeName('ns1.' + zone), encodeName('hostmaster.' + zone), Buffer.alloc(20)]);
  rdata.writeUInt32BE(serial, rdata.length - 20);
  const head = Buffer.alloc(10);
  head.writeUInt16BE(6, 0);
  head.writeUInt16BE(1, 2);
  head.writeUInt32BE(30, 4);
  head.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([q, Buffer.from([0xc0, 12]), head, rdata]);
}

function bigZone(n: number): string {
  const lines = ['$ORIGIN big.test.', '$TTL 60', '@ SOA ns1 hostmaster 7 3600 600 86400 5', '@ NS ns1', 'ns1 A 127.0.0.1'];
  for (let i = 0; i < n; i++) lines.push(`h${i} TXT "${'record '.repeat(8)}${i}"`);
  return lines.join('\n') + '\n';
}

describe('dns/secondary/xfr: zone transfer', () => {
  const zones = zonesFromText({ 'example.com.zone': DNS_TEST_ZONE });
  const table = buildAnswerTable(zones).table;
  const zone = table.zones.find((z) => z.origin === 'example.com')!;

  it('recognises AXFR and IXFR queries only', () => {
    expect(isTransferQuery(buildQuery('example.com', 'AXFR'))).to.equal(true);
    expect(isTransferQuery(ixfrQuery('example.com', 1))).to.equal(true);
    expect(isTransferQuery(buildQuery('example.com', 'SOA'))).to.equal(false);
    expect(isTransferQuery(buildQuery('example.com', 'AXFR').subarray(0, 14))).to.equal(false);
  });

  it('AXFR: SOA first and last, every record of the zone once, ID and question echoed', () => {
    const xfr = new ZoneTransfer({ allow: ['127.0.0.0/8'] });
    const msgs = unframe(xfr.answer(table, buildQuery('Example.COM', 'AXFR', { id: 0x7777, flags: 0 }), '127.0.0.9')!).map(decode);
    const all = msgs.flatMap((m) => m.answer);
    expect(all[0]).to.match(/^example\.com\. 30 IN SOA ns1\.example\.com\. hostmaster\.example\.com\. 2026112501 /);
    expect(all.at(-1)).to.equal(all[0]);
    expect(all.filter((l) => / SOA /.test(l))).to.have.length(2);
    expect(all.length).to.equal(zone.records.length + 1); // the SOA twice
    for (const m of msgs) {
      expect(m.id).to.equal(0x7777);
      expect(m.aa).to.equal(true);
      expect(m.rcode).to.equal('NOERROR');
      expect(m.question).to.deep.equal({ name: 'Example.COM.', type: 'AXFR', qclass: 1 });
    }
    expect(all).to.include('sub.example.com. 30 IN NS ns.sub.example.com.');
    expect(all).to.include('ns.sub.example.com. 30 IN A 127.0.0.53');
    expect(all.filter((l) => l.startsWith('big.example.com.'))).to.have.length(40);
    expect(xfr.counters.transfers).to.equal(1);
  });

  it('a large zone goes in several messages, each within the limit, none lost', () => {
    const big = buildAnswerTable(zonesFromText({ 'big.test.zone': bigZone(2000) })).table;
    const z = big.zones[0]!;
    const stream = transferStream(z, 16384);
    expect(stream.length).to.be.greaterThan(4);
    for (const m of stream) expect(m.length).to.be.at.most(16384);
    const xfr = new ZoneTransfer({ allow: ['127.0.0.1'], maxTransfer: 4 << 20 });
    const msgs = unframe(xfr.answer(big, buildQuery('big.test', 'AXFR'), '127.0.0.1')!).map(decode);
    expect(msgs.length).to.equal(stream.length);
    const all = msgs.flatMap((m) => m.answer);
    expect(all.length).to.equal(2000 + 2 + 2);
    expect(new Set(all.filter((l) => / TXT /.test(l))).size).to.equal(2000);
    expect(all[0]).to.match(/ SOA /);
    expect(all.at(-1)).to.match(/ SOA /);
    expect(transferRecords(z)).to.have.length(2004);
  });

  it('a transfer larger than the cap is refused with SERVFAIL rather than cut', () => {
    const big = buildAnswerTable(zonesFromText({ 'big.test.zone': bigZone(2000) })).table;
    const xfr = new ZoneTransfer({ allow: ['127.0.0.1'], maxTransfer: 50_000 });
    const msgs = unframe(xfr.answer(big, buildQuery('big.test', 'AXFR'), '127.0.0.1')!).map(decode);
    expect(msgs).to.have.length(1);
    expect(msgs[0]!.rcode).to.equal('SERVFAIL');
  });

  it('IXFR: the whole zone when the secondary is behind, the SOA alone when it is current', () => {
    const xfr = new ZoneTransfer({ allow: ['127.0.0.1'] });
    const behind = unframe(xfr.answer(table, ixfrQuery('example.com', 2026112500), '127.0.0.1')!).map(decode);
    const all = behind.flatMap((m) => m.answer);
    expect(all.length).to.equal(zone.records.length + 1);
    expect(behind[0]!.question!.type).to.equal('251');
    const current = unframe(xfr.answer(table, ixfrQuery('example.com', 2026112501), '127.0.0.1')!).map(decode);
    expect(current).to.have.length(1);
    expect(current[0]!.answer).to.have.length(1);
    expect(current[0]!.answer[0]).to.match(/ SOA .* 2026112501 /);
    expect(xfr.counters).to.include({ transfers: 1, upToDate: 1 });
  });

  it('refuses sources outside the allow list (none by default), and names that are not a zone apex', () => {
    const q = buildQuery('example.com', 'AXFR');
    expect(decode(unframe(new ZoneTransfer({ allow: [] }).answer(table, q, '127.0.0.1')!)[0]!).rcode).to.equal('REFUSED');
    const xfr = new ZoneTransfer({ allow: ['10.0.0.0/8', '2001:db8::/32'] });
    expect(decode(unframe(xfr.answer(table, q, '127.0.0.1')!)[0]!).rcode).to.equal('REFUSED');
    expect(decode(unframe(xfr.answer(table, q, '10.1.2.3')!)[0]!).rcode).to.equal('NOERROR');
    expect(decode(unframe(xfr.answer(table, q, '::ffff:10.1.2.3')!)[0]!).rcode).to.equal('NOERROR');
    expect(decode(unframe(xfr.answer(table, q, '2001:db8::5')!)[0]!).rcode).to.equal('NOERROR');
    const sub = decode(unframe(xfr.answer(table, buildQuery('www.example.com', 'AXFR'), '10.1.2.3')!)[0]!);
    expect(sub.rcode).to.equal('9');
    expect(decode(unframe(xfr.answer(table, buildQuery('example.org', 'AXFR'), '10.1.2.3')!)[0]!).rcode).to.equal('9');
    expect(xfr.counters.refused).to.equal(3);
  });

  it('error replies carry an OPT when the request had one (RFC 6891 §7), still signed last with TSIG', () => {
    const refused = (q: Buffer, xfr = new ZoneTransfer({ allow: [] })) => decode(unframe(xfr.answer(table, q, '127.0.0.1', 1400)!)[0]!);
    const r = refused(buildQuery('example.com', 'AXFR', { edns: 4096, dnssecOk: true }));
    expect(r.rcode).to.equal('REFUSED');
    expect(r.question!.name).to.equal('example.com.');
    expect(r.opt).to.deep.equal({ udpSize: 1400, extRcode: 0, version: 0, dnssecOk: true });
    expect(refused(buildQuery('example.com', 'AXFR')).opt).to.equal(undefined);
    const keyed = new ZoneTransfer({ allow: ['127.0.0.0/8'], key: KEY, wallClock: () => NOW });
    const signed = sign(buildQuery('www.example.com', 'AXFR', { edns: 1232 }), KEY, { timeSigned: NOW / 1000 });
    const raw = unframe(keyed.answer(table, signed.message, '127.0.0.1')!)[0]!;
    const d = decode(raw);
    expect(d.rcode).to.equal('9'); // NOTAUTH: not a zone apex
    expect(d.opt).to.deep.include({ udpSize: 1232, extRcode: 0 });
    expect(verifyResponse(raw, KEY, { requestMac: signed.mac })).to.not.equal(null);
  });

  it('transfers what the health filter serves: a withdrawn member is not in it, and the served serial is', () => {
    const serials = new SerialCounter();
    const members = testPoolMembers();
    const filter = (down: string[]) => ({ pool: 'sipproxy.example.com', members, isHealthy: (t: string) => !down.includes(t), local: [] });
    buildAnswerTable(zones, { filter: filter([]), serials });
    const withdrawn = buildAnswerTable(zones, { filter: filter(['proxy2.example.com']), serials }).table;
    const xfr = new ZoneTransfer({ allow: ['127.0.0.1'] });
    const all = unframe(xfr.answer(withdrawn, buildQuery('example.com', 'AXFR'), '127.0.0.1')!).flatMap((m) => decode(m).answer);
    expect(all.filter((l) => l.includes('_sip._udp.sipproxy') && l.includes('proxy2'))).to.deep.equal([]);
    expect(all.filter((l) => l.startsWith('sipproxy.example.com.') && l.endsWith(' A 127.0.0.12'))).to.deep.equal([]);
    expect(all).to.include('proxy2.example.com. 30 IN A 127.0.0.12'); // the host itself stays
    expect(all[0]).to.include(' 2026112502 ');
  });

  describe('with a TSIG key', () => {
    const xfr = new ZoneTransfer({ allow: ['127.0.0.0/8'], key: KEY, wallClock: () => NOW, maxMessage: 1024 });
    const signedQuery = (name: string, secret = KEY.secret, time = NOW / 1000) =>
      sign(buildQuery(name, 'AXFR', { id: 0x1111, flags: 0 }), { ...KEY, secret }, { timeSigned: time });

    it('answers a signed request with a stream whose every message verifies, chained', () => {
      const q = signedQuery('example.com');
      const msgs = unframe(xfr.answer(table, q.message, '127.0.0.1')!);
      expect(msgs.length).to.be.greaterThan(1);
      let mac: Buffer | null = verifyResponse(msgs[0]!, KEY, { requestMac: q.mac });
      expect(mac, 'first message').to.not.equal(null);
      for (const m of msgs.slice(1)) {
        mac = verifyResponse(m, KEY, { priorMac: mac! });
        expect(mac, 'later message').to.not.equal(null);
        expect(m.length).to.be.at.most(1024);
      }
      const records = msgs.flatMap((m) => decode(m).answer.filter((l) => !l.includes(' TSIG ')));
      expect(records.length).to.equal(zone.records.length + 1);
    });

    it('refuses an unsigned request, and answers a bad MAC, another key or a stale time with NOTAUTH and the TSIG error', () => {
      expect(decode(unframe(xfr.answer(table, buildQuery('example.com', 'AXFR'), '127.0.0.1')!)[0]!).rcode).to.equal('REFUSED');
      const tsigError = (msg: Buffer) => {
        const r = findTsig(unframe(xfr.answer(table, msg, '127.0.0.1')!)[0]!);
        if (!r || r === 'malformed') throw new Error('no TSIG in the answer');
        return r.error;
      };
      expect(tsigError(signedQuery('example.com', Buffer.alloc(32, 1)).message)).to.equal(16); // BADSIG
      expect(tsigError(sign(buildQuery('example.com', 'AXFR'), { ...KEY, name: 'other' }, { timeSigned: NOW / 1000 }).message)).to.equal(17); // BADKEY
      expect(tsigError(signedQuery('example.com', KEY.secret, NOW / 1000 - 3600).message)).to.equal(18); // BADTIME
    });

    it('answers a signed SOA query signed, and a forged one with NOTAUTH', () => {
      const q = sign(buildQuery('example.com', 'SOA', { id: 9 }), KEY, { timeSigned: NOW / 1000 });
      expect(respond(table, q.message, q.message.length, false, newCounters())).to.equal(SIGNED);
      const plain = buildQuery('example.com', 'SOA', { edns: 1232 });
      expect(respond(table, plain, plain.length, false, newCounters())).to.not.equal(SIGNED);
      const out = xfr.answerSigned(table, q.message, false, newCounters(), 1232)!;
      expect(verifyResponse(out, KEY, { requestMac: q.mac })).to.not.equal(null);
      expect(decode(out).answer[0]).to.match(/ SOA /);
      const tcp = xfr.answerSigned(table, q.message, true, newCounters(), 1232)!;
      expect(tcp.readUInt16BE(0)).to.equal(tcp.length - 2);
      const forged = sign(buildQuery('example.com', 'SOA', { id: 9 }), { ...KEY, secret: Buffer.alloc(32) }, { timeSigned: NOW / 1000 });
      expect(decode(xfr.answerSigned(table, forged.message, false, newCounters(), 1232)!).rcode).to.equal('9');
    });
  });

  describe('signed ordinary queries (RFC 8945 §5.2)', () => {
    const t0 = NOW / 1000;
    const soaQuery = (o: Parameters<typeof buildQuery>[2] = {}) => buildQuery('example.com', 'SOA', { id: 0x77, ...o });
    const tsigOf = (out: Buffer) => {
      const r = findTsig(out);
      if (!r || r === 'malformed') throw new Error('no TSIG in the answer');
      return r;
    };

    it('no key configured: NOTAUTH with BADKEY, unsigned (empty MAC), OPT kept; counted', () => {
      const xfr = new ZoneTransfer({ allow: [], wallClock: () => NOW });
      const c = newCounters();
      const out = xfr.answerSigned(table, sign(soaQuery({ edns: 1232 }), KEY, { timeSigned: t0 }).message, false, c, 1232)!;
      const d = decode(out);
      expect(d).to.deep.include({ rcode: '9', answer: [] });
      expect(d.opt?.udpSize).to.equal(1232);
      expect(tsigOf(out)).to.deep.include({ keyName: 'xfr-key', error: 17 });
      expect(tsigOf(out).mac).to.have.length(0);
      expect(xfr.counters.tsigRefused).to.equal(1);
    });

    it('a TSIG before another record, or two TSIGs: FORMERR with no TSIG (the question and OPT echoed)', () => {
      const xfr = new ZoneTransfer({ allow: [], key: KEY, wallClock: () => NOW });
      const plain = soaQuery();
      const tsig = sign(plain, KEY, { timeSigned: t0 }).message.subarray(plain.length);
      const opt = buildQuery('x', 'A', { edns: 1232 }).subarray(12 + 3 + 4);
      const add = (...rs: Buffer[]) => {
        const m = Buffer.concat([plain, ...rs]);
        m.writeUInt16BE(rs.length, 10);
        return m;
      };
      for (const [what, msg] of [['not last', add(tsig, opt)], ['twice', add(tsig, tsig)]] as const) {
        const c = newCounters();
        expect(respond(table, msg, msg.length, false, c), what).to.equal(SIGNED);
        const out = xfr.answerSigned(table, msg, false, c, 1232)!;
        const d = decode(out);
        expect(d.rcode, what).to.equal('FORMERR');
        expect(d.question?.name, what).to.equal('example.com.');
        expect(findTsig(out), what).to.equal(null);
        expect(c.formerr, what).to.equal(1);
      }
      expect(decode(xfr.answerSigned(table, add(tsig, opt), false, newCounters(), 1232)!).opt?.udpSize).to.equal(1232);
    });

    it('replay: a Time Signed older than the last accepted is BADTIME (signed), the same one again is taken; transfers share it', () => {
      let now = NOW;
      const xfr = new ZoneTransfer({ allow: ['127.0.0.0/8'], key: KEY, wallClock: () => now });
      const ask = (time: number) => {
        const q = sign(soaQuery(), KEY, { timeSigned: time });
        const out = xfr.answerSigned(table, q.message, false, newCounters(), 1232)!;
        return { rcode: decode(out).rcode, error: tsigOf(out).error, verified: verifyResponse(out, KEY, { requestMac: q.mac }) !== null };
      };
      expect(ask(t0)).to.deep.equal({ rcode: 'NOERROR', error: 0, verified: true });
      expect(ask(t0)).to.deep.equal({ rcode: 'NOERROR', error: 0, verified: true });
      expect(ask(t0 - 1)).to.deep.equal({ rcode: '9', error: 18, verified: true });
      now += 10_000;
      expect(ask(t0 + 10)).to.deep.equal({ rcode: 'NOERROR', error: 0, verified: true });
      const axfr = sign(buildQuery('example.com', 'AXFR', { flags: 0 }), KEY, { timeSigned: t0 + 5 }).message;
      const first = unframe(xfr.answer(table, axfr, '127.0.0.1')!)[0]!;
      expect(decode(first).rcode).to.equal('9');
      expect(tsigOf(first).error).to.equal(18);
    });

    it('a signed UDP answer fits the client size with the TSIG: the additional section goes first, then TC', () => {
      const xfr = new ZoneTransfer({ allow: [], key: KEY, wallClock: () => NOW });
      const plain = buildQuery('_sip._udp.wide.example.com', 'SRV', { edns: 700 });
      const full = respond(table, plain, plain.length, false, newCounters())!;
      expect(full.length, 'the case is meaningful').to.be.within(700 - tsigLength(KEY) + 1, 700);
      const q = sign(buildQuery('_sip._udp.wide.example.com', 'SRV', { edns: 700 }), KEY, { timeSigned: t0 });
      const out = xfr.answerSigned(table, q.message, false, newCounters(), 1232)!;
      expect(out.length).to.be.at.most(700);
      const d = decode(out);
      expect(d.answer).to.have.length(8);
      expect(d.additional.filter((l) => !l.includes(' TYPE250 '))).to.deep.equal([]);
      expect(verifyResponse(out, KEY, { requestMac: q.mac })).to.not.equal(null);
      // Without EDNS: 512, and the TC answer still signed.
      const big = sign(buildQuery('big.example.com', 'TXT'), KEY, { timeSigned: t0 });
      const tc = xfr.answerSigned(table, big.message, false, newCounters(), 1232)!;
      expect(tc.length).to.be.at.most(512);
      expect(decode(tc).tc).to.equal(true);
      expect(verifyResponse(tc, KEY, { requestMac: big.mac })).to.not.equal(null);
      // Over TCP, whole.
      const whole = xfr.answerSigned(table, big.message, true, newCounters(), 1232)!;
      expect(decode(whole.subarray(2)).answer).to.have.length(40);
    });
  });

  it('never throws on mutated transfer and signed queries (20k)', () => {
    const xfr = new ZoneTransfer({ allow: ['127.0.0.0/8'], key: KEY, wallClock: () => NOW });
    const seeds = [
      sign(buildQuery('example.com', 'AXFR'), KEY, { timeSigned: NOW / 1000 }).message,
      sign(ixfrQuery('example.com', 5), KEY, { timeSigned: NOW / 1000 }).message,
      sign(buildQuery('example.com', 'SOA', { edns: 1232 }), KEY, { timeSigned: NOW / 1000 }).message,
    ];
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    for (let i = 0; i < 20_000; i++) {
      const m = Buffer.from(seeds[i % seeds.length]!);
      for (let k = 1 + rnd(4); k > 0; k--) m[rnd(m.length)] = rnd(256);
      const cut = rnd(4) === 0 ? m.subarray(0, rnd(m.length)) : m;
      if (isTransferQuery(cut)) xfr.answer(table, cut, '127.0.0.1');
      else if (respond(table, cut, cut.length, false, newCounters()) === SIGNED) xfr.answerSigned(table, cut, rnd(2) === 0, newCounters(), 1232);
    }
  });

  it('over a real TCP connection to a DnsServer: AXFR streamed, other queries still answered', async () => {
    const server = new DnsServer({ addresses: ['127.0.0.1'], port: 0, table, transfer: new ZoneTransfer({ allow: ['127.0.0.1/32'] }) });
    await server.listen();
    try {
      const xfrMsgs = await tcpExchange(server.port, [buildQuery('example.com', 'AXFR')], 1);
      const first = decode(xfrMsgs[0]!);
      expect(first.answer[0]).to.match(/ SOA /);
      const [soa] = await tcpExchange(server.port, [buildQuery('example.com', 'SOA')]);
      expect(decode(soa!).answer[0]).to.match(/ SOA /);
    } finally {
      await server.close();
    }
  });
});
