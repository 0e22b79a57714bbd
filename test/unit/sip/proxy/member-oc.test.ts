import { expect } from 'chai';
import { FakeClock } from '../../../../src/shared/clock.js';
import { silentLogger, withRecentEvents } from '../../../../src/shared/log.js';
import { RecentEvents } from '../../../../src/shared/recent-events.js';
import {
  compareOcSeq,
  DEFAULT_VALIDITY_MS,
  isEmergencyUri,
  MAX_VALIDITY_MS,
  MemberOverload,
  offerOc,
  parseOcReport,
  parseOcSeq,
} from '../../../../src/sip/proxy/member-oc.js';
import { ownVia } from '../../../../src/sip/codec/messages.js';
import { encode } from '../../../../src/sip/codec/codec.js';

type Params = Record<string, string | null>;
const P = (p: Params): Params => p;

function setup() {
  const clock = new FakeClock();
  const events = new RecentEvents(50);
  const oc = new MemberOverload(clock, withRecentEvents(silentLogger, events));
  const names = () => events.list().map((e) => e.name).reverse();
  return { clock, events, oc, names };
}

/** Of `n` requests to `member`, how many are refused. */
function refusedOf(oc: MemberOverload, member: string, n: number): number {
  let r = 0;
  for (let i = 0; i < n; i++) if (oc.reduce(member)) r++;
  return r;
}

describe('sip/proxy/member-oc (RFC 7339 toward the pair members)', () => {
  describe('the Via parameters', () => {
    it('offers ;oc;oc-algo="loss" on our Via', () => {
      const v = offerOc(ownVia('udp', '127.0.0.11', 5060, 'z9hG4bKabc'));
      const text = encode({ kind: 'request', method: 'OPTIONS', uri: 'sip:x', version: '2.0', headers: { via: [v] } as never, content: undefined }).toString('latin1');
      expect(text).to.include('Via: SIP/2.0/UDP 127.0.0.11:5060;branch=z9hG4bKabc;oc;oc-algo="loss"\r\n');
    });

    it('reads good reports: oc 0..100, oc-validity (default 500 ms, capped at an hour), oc-seq, oc-algo loss (quoted or not, any case, or absent)', () => {
      expect(parseOcReport(P({ branch: 'z9hG4bK1', oc: '50', 'oc-validity': '2000', 'oc-seq': '1282321615.782', 'oc-algo': '"loss"' }))).to.deep.equal({
        percent: 50,
        validityMs: 2000,
        seq: { int: 1282321615, frac: 78200 },
      });
      expect(parseOcReport(P({ oc: '100' }))).to.deep.equal({ percent: 100, validityMs: DEFAULT_VALIDITY_MS, seq: undefined });
      expect(parseOcReport(P({ oc: '0', 'oc-validity': '0' }))).to.deep.include({ percent: 0, validityMs: 0 });
      expect(parseOcReport(P({ oc: '20', 'oc-validity': null }))!.validityMs).to.equal(DEFAULT_VALIDITY_MS);
      expect(parseOcReport(P({ oc: '20', 'oc-validity': '9999999999' }))!.validityMs).to.equal(MAX_VALIDITY_MS);
      expect(parseOcReport(P({ oc: '20', 'oc-algo': 'LOSS' }))!.percent).to.equal(20);
      expect(parseOcReport(P({ oc: '20', 'oc-algo': '" loss "' }))!.percent).to.equal(20);
      expect(parseOcReport(P({ oc: '007' }))!.percent).to.equal(7);
    });

    it('ignores bad, out-of-range and huge values: the whole report, never a throw', () => {
      const bad: Params[] = [
        { oc: '101' },
        { oc: '-1' },
        { oc: '5O' },
        { oc: '' },
        { oc: '1000' },
        { oc: '9'.repeat(100_000) },
        { oc: '50', 'oc-validity': 'soon' },
        { oc: '50', 'oc-validity': '-5' },
        { oc: '50', 'oc-validity': '1'.repeat(11) },
        { oc: '50', 'oc-validity': '1'.repeat(100_000) },
        { oc: '50', 'oc-seq': '12' },
        { oc: '50', 'oc-seq': '1.' },
        { oc: '50', 'oc-seq': '.5' },
        { oc: '50', 'oc-seq': '1234567890123.1' },
        { oc: '50', 'oc-seq': '1.123456' },
        { oc: '50', 'oc-seq': '1.2.3' },
        { oc: '50', 'oc-seq': null },
        { oc: '50', 'oc-seq': '1'.repeat(100_000) + '.1' },
        { oc: '50', 'oc-algo': '"rate"' },
        { oc: '50', 'oc-algo': '"loss,rate"' },
        { oc: '50', 'oc-algo': null },
        { oc: '50', 'oc-algo': '"' + 'l'.repeat(100_000) + '"' },
      ];
      for (const p of bad) expect(parseOcReport(p), JSON.stringify(p).slice(0, 80)).to.equal(undefined);
      expect(parseOcReport(P({ branch: 'z9hG4bK1', received: '127.0.0.1' }))).to.equal(undefined);
      expect(parseOcReport(P({ oc: null, 'oc-algo': '"loss"' }))).to.equal(undefined);
      // a member without RFC 7339 echoes our offer: not a report, and not counted as malformed
      const echo = setup().oc;
      echo.onResponseVia('tserver', 'sips-a', offerOc(ownVia('udp', '127.0.0.11', 5060, 'z9hG4bK1')).params);
      echo.onResponseVia('tserver', 'sips-a', { branch: 'z9hG4bK2', received: '127.0.0.1', rport: '5060' });
      expect(echo.malformedReports).to.equal(0);
      expect(echo.active).to.equal(false);

      const { oc } = setup();
      for (const p of bad) oc.onResponseVia('tserver', 'sips-a', p);
      expect(oc.active).to.equal(false);
      expect(oc.malformedReports).to.equal(bad.length);
      // random bytes as values: nothing throws, nothing is taken that is not well formed
      let seed = 7;
      const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
      for (let i = 0; i < 2000; i++) {
        const s = Array.from({ length: rnd() % 24 }, () => String.fromCharCode(rnd())).join('');
        const key = ['oc', 'oc-validity', 'oc-seq', 'oc-algo'][i % 4]!;
        expect(() => oc.onResponseVia('tserver', 'sips-b', { oc: i % 4 === 0 ? s : '30', [key]: s })).to.not.throw();
      }
    });

    it('orders oc-seq exactly on both parts (12 + 5 digits, beyond a double\'s precision)', () => {
      const a = parseOcSeq('999999999999.99998')!;
      const b = parseOcSeq('999999999999.99999')!;
      expect(compareOcSeq(a, b)).to.be.lessThan(0);
      expect(compareOcSeq(parseOcSeq('10.5')!, parseOcSeq('10.50000')!)).to.equal(0);
      expect(compareOcSeq(parseOcSeq('10.5')!, parseOcSeq('10.49999')!)).to.be.greaterThan(0);
      expect(compareOcSeq(parseOcSeq('11.0')!, parseOcSeq('10.99999')!)).to.be.greaterThan(0);
    });
  });

  describe('the reduction', () => {
    it('refuses exactly the share asked for, over any window', () => {
      for (const pct of [1, 10, 33, 50, 67, 99, 100]) {
        const { oc } = setup();
        oc.onResponseVia('tserver', 'sips-a', { oc: String(pct), 'oc-validity': '60000', 'oc-seq': '1.0' });
        // 1000 requests in windows of 100: each window loses exactly pct
        for (let w = 0; w < 10; w++) expect(refusedOf(oc, 'sips-a', 100), `${pct}% window ${w}`).to.equal(pct);
        // another member is untouched
        expect(refusedOf(oc, 'sips-b', 100)).to.equal(0);
      }
      const { oc } = setup();
      oc.onResponseVia('tserver', 'sips-a', { oc: '50', 'oc-validity': '60000' });
      // 50%: every second request, from the first window on
      expect(Array.from({ length: 6 }, () => oc.reduce('sips-a'))).to.deep.equal([false, true, false, true, false, true]);
      expect([...oc.view()]).to.deep.equal([{ pair: 'tserver', member: 'sips-a', percent: 50, reduced: 3 }]);
    });

    it('a newer oc-seq replaces the state, an older or equal one is ignored; oc=0 and oc-validity=0 end it; events once per transition', () => {
      const { oc, names, events } = setup();
      oc.onResponseVia('tserver', 'sips-a', { oc: '50', 'oc-validity': '10000', 'oc-seq': '100.5' });
      expect(names()).to.deep.equal(['SIP_MEMBER_OC']);
      expect(events.list()[0]!.detail).to.include('percent=50');
      oc.onResponseVia('tserver', 'sips-a', { oc: '20', 'oc-validity': '10000', 'oc-seq': '100.4' }); // older
      oc.onResponseVia('tserver', 'sips-a', { oc: '20', 'oc-validity': '10000', 'oc-seq': '100.50' }); // the same
      expect([...oc.view()][0]!.percent).to.equal(50);
      expect(oc.malformedReports).to.equal(0);
      oc.onResponseVia('tserver', 'sips-a', { oc: '20', 'oc-validity': '10000', 'oc-seq': '101.0' }); // newer
      expect([...oc.view()][0]!.percent).to.equal(20);
      expect(names()).to.deep.equal(['SIP_MEMBER_OC']); // a change of share is no new event
      oc.onResponseVia('tserver', 'sips-a', { oc: '0', 'oc-validity': '10000', 'oc-seq': '100.9' }); // older: ignored
      expect(oc.active).to.equal(true);
      oc.onResponseVia('tserver', 'sips-a', { oc: '0', 'oc-validity': '10000', 'oc-seq': '102.0' });
      expect(oc.active).to.equal(false);
      expect(oc.reduce('sips-a')).to.equal(false);
      expect(names()).to.deep.equal(['SIP_MEMBER_OC', 'SIP_MEMBER_OC_END']);
      expect(events.list()[0]!.detail).to.include('reason=oc=0');
      // after it ended, a late older report still does not restart it
      oc.onResponseVia('tserver', 'sips-a', { oc: '70', 'oc-validity': '10000', 'oc-seq': '101.5' });
      expect(oc.active).to.equal(false);
      oc.onResponseVia('tserver', 'sips-a', { oc: '70', 'oc-validity': '10000', 'oc-seq': '103.0' });
      expect(oc.active).to.equal(true);
      oc.onResponseVia('tserver', 'sips-a', { oc: '70', 'oc-validity': '0', 'oc-seq': '104.0' });
      expect(oc.active).to.equal(false);
      expect(names()).to.deep.equal(['SIP_MEMBER_OC', 'SIP_MEMBER_OC_END', 'SIP_MEMBER_OC', 'SIP_MEMBER_OC_END']);
      expect(events.list()[0]!.detail).to.include('reason=oc-validity=0');
      // a member that never asked for anything is not kept
      oc.onResponseVia('tserver', 'sips-b', { oc: '0', 'oc-seq': '1.0' });
      expect([...oc.view()].map((v) => v.member)).to.deep.equal(['sips-a']);
    });

    it('expires at the validity on a fake clock (the default 500 ms without oc-validity), logged once; a newer report extends it', () => {
      const { oc, clock, names } = setup();
      oc.onResponseVia('tserver', 'sips-a', { oc: '100' });
      clock.advance(499);
      expect(oc.reduce('sips-a')).to.equal(true);
      clock.advance(1);
      expect(oc.active).to.equal(false); // the timer ended it without a request
      expect(oc.reduce('sips-a')).to.equal(false);
      expect(names()).to.deep.equal(['SIP_MEMBER_OC', 'SIP_MEMBER_OC_END']);

      oc.onResponseVia('tserver', 'sips-a', { oc: '100', 'oc-validity': '1000', 'oc-seq': '5.0' });
      clock.advance(900);
      oc.onResponseVia('tserver', 'sips-a', { oc: '100', 'oc-validity': '1000', 'oc-seq': '6.0' });
      clock.advance(900); // 1800 ms after the first, 900 after the second
      expect(oc.reduce('sips-a')).to.equal(true);
      expect([...oc.view()][0]!.percent).to.equal(100);
      clock.advance(100);
      expect(oc.reduce('sips-a')).to.equal(false);
      expect([...oc.view()][0]!.percent).to.equal(0);
      expect(names()).to.deep.equal(['SIP_MEMBER_OC', 'SIP_MEMBER_OC_END', 'SIP_MEMBER_OC', 'SIP_MEMBER_OC_END']);
      oc.close();
    });

    it('knows emergency Request-URIs (RFC 5031 urn:service:sos and its sub-services)', () => {
      for (const u of ['urn:service:sos', 'URN:Service:SOS', 'urn:service:sos.police', 'urn:service:sos.ambulance']) expect(isEmergencyUri(u), u).to.equal(true);
      for (const u of ['urn:service:sossy', 'urn:service:counseling', 'sip:sos@example.com', 'urn:service:so', '']) expect(isEmergencyUri(u), u).to.equal(false);
    });
  });
});
