/**
 * shared/ip: addresses to octets (IPv4, IPv6, IPv4-mapped, bad input), CIDR
 * prefixes (/0, /32, /128, bad lengths) and the one allow-list type used by
 * --forward-allow and --allow-transfer, checked against node:net where the
 * two must agree.
 */
import { expect } from 'chai';
import net from 'node:net';
import { AllowList, formatIPv6, parseCidr, parseIp, plainAddress, unmapV4 } from '../../../src/shared/ip.js';

const hex = (b: Uint8Array | null): string | null => (b ? Buffer.from(b).toString('hex') : null);

describe('shared/ip', () => {
  describe('parseIp', () => {
    it('reads IPv4 dotted quads into 4 octets', () => {
      expect(hex(parseIp('127.0.0.1'))).to.equal('7f000001');
      expect(hex(parseIp('0.0.0.0'))).to.equal('00000000');
      expect(hex(parseIp('255.255.255.255'))).to.equal('ffffffff');
    });
    it('reads IPv6 in every shape into 16 octets', () => {
      const cases: [string, string][] = [
        ['::', '00'.repeat(16)],
        ['::1', '00'.repeat(15) + '01'],
        ['1::', '0001' + '00'.repeat(14)],
        ['2001:db8::5', '20010db8' + '00'.repeat(10) + '0005'],
        ['2001:DB8:0:0:0:0:0:5', '20010db8' + '00'.repeat(10) + '0005'],
        ['1:2:3:4:5:6:7::', '0001000200030004000500060007' + '0000'],
        ['::2:3:4:5:6:7:8', '0000' + '0002000300040005000600070008'],
        ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
        ['::ffff:127.0.0.1', '00'.repeat(10) + 'ffff7f000001'],
        ['1:2:3:4:5:6:1.2.3.4', '000100020003000400050006' + '01020304'],
        ['fe80::1%eth0', 'fe80' + '00'.repeat(13) + '01'],
      ];
      for (const [text, want] of cases) expect(hex(parseIp(text)), text).to.equal(want);
    });
    it('rejects what is not an address, as node:net does', () => {
      const bad = [
        '', 'junk', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.4 ', ' 1.2.3.4', '1..2.3', '1.2.3.',
        ':', ':::', '1:::2', '1::2::3', ':1::', '1::2:', '12345::', 'g::1', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7',
        '1:2:3:4:5:6:7:8::', '::1.2.3', '1:2:3:4:5:6:7:1.2.3.4', '::ffff:1.2.3.4:5', 'fe80::1%', '%eth0', '1.2.3.4%x',
        '[::1]', '::1/128',
      ];
      for (const text of bad) {
        expect(parseIp(text), text).to.equal(null);
        expect(net.isIP(text.replace(/%.*/, '')) === 0 || text.includes('%'), `node:net agrees on ${text}`).to.equal(true);
      }
    });
    it('agrees with node:net on random IPv6 texts', () => {
      let s = 12345;
      const rnd = (n: number): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) % n);
      const alphabet = '0123456789abcdef:.';
      for (let i = 0; i < 3000; i++) {
        let t = '';
        const len = 1 + rnd(20);
        for (let j = 0; j < len; j++) t += alphabet[rnd(alphabet.length)];
        expect(parseIp(t) !== null, t).to.equal(net.isIP(t) !== 0);
      }
    });
  });

  describe('IPv4-mapped IPv6', () => {
    it('unwraps ::ffff:a.b.c.d however written, and nothing else', () => {
      expect(hex(unmapV4(parseIp('::ffff:10.1.2.3')!))).to.equal('0a010203');
      expect(hex(unmapV4(parseIp('::FFFF:a01:203')!))).to.equal('0a010203');
      expect(hex(unmapV4(parseIp('::1.2.3.4')!))).to.have.length(32); // IPv4-compatible: not mapped
      expect(hex(unmapV4(parseIp('::fffe:1.2.3.4')!))).to.have.length(32);
      expect(hex(unmapV4(parseIp('10.1.2.3')!))).to.equal('0a010203');
      expect(plainAddress('::ffff:127.0.0.1')).to.equal('127.0.0.1');
      expect(plainAddress('::1')).to.equal('::1');
      expect(plainAddress('junk')).to.equal('junk');
    });
  });

  describe('formatIPv6', () => {
    it('writes RFC 5952 text', () => {
      expect(formatIPv6(parseIp('2001:DB8:0:0:1:0:0:1')!)).to.equal('2001:db8::1:0:0:1');
      expect(formatIPv6(parseIp('2001:db8:0:1:1:1:1:1')!)).to.equal('2001:db8:0:1:1:1:1:1');
      expect(formatIPv6(parseIp('::')!)).to.equal('::');
      expect(formatIPv6(parseIp('::ffff:1.2.3.4')!)).to.equal('::ffff:102:304');
    });
    it('agrees with the WHATWG URL serializer (node) on every pattern of zero groups and random values', () => {
      let s = 4242;
      const rnd = (n: number): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) % n);
      const node = (groups: number[]): string => new URL(`http://[${groups.map((g) => g.toString(16)).join(':')}]`).hostname.slice(1, -1);
      for (let zeros = 0; zeros < 256; zeros++) {
        for (let k = 0; k < 20; k++) {
          // Non-zero groups of 1 to 4 hex digits; the text read back in upper case gives the same octets.
          const groups = Array.from({ length: 8 }, (_, i) => (zeros & (1 << i) ? 0 : 1 + rnd(16 ** (1 + rnd(4)) - 1)));
          const b = new Uint8Array(16);
          groups.forEach((g, i) => { b[2 * i] = g >> 8; b[2 * i + 1] = g & 0xff; });
          const text = formatIPv6(b);
          expect(text, groups.join(',')).to.equal(node(groups));
          expect(hex(parseIp(text.toUpperCase()))).to.equal(hex(b));
        }
      }
    });
  });

  describe('parseCidr', () => {
    it('parses prefixes and bare addresses (host prefixes)', () => {
      expect(parseCidr('10.0.0.0/8')).to.include({ family: 4, address: '10.0.0.0', bits: 8 });
      expect(parseCidr('127.0.0.1')).to.include({ family: 4, bits: 32 });
      expect(parseCidr('127.0.0.1/32')).to.include({ family: 4, bits: 32 });
      expect(parseCidr('0.0.0.0/0')).to.include({ family: 4, bits: 0 });
      expect(parseCidr('::1')).to.include({ family: 6, bits: 128 });
      expect(parseCidr('::/0')).to.include({ family: 6, bits: 0 });
      expect(parseCidr('2001:db8::/32')).to.include({ family: 6, bits: 32 });
    });
    it('rejects bad prefixes', () => {
      for (const bad of ['10.0.0.0/33', '10.0.0/8', 'fe80::/129', 'x/1', '10.0.0.0/', '10.0.0.0/8/8', '10.0.0.0/-1', '10.0.0.0/0x8', 'fe80::1%eth0/64', '/8', ''])
        expect(parseCidr(bad), bad).to.equal(null);
    });
  });

  describe('AllowList', () => {
    it('matches IPv4 and IPv6 prefixes, IPv4-mapped sources as IPv4', () => {
      const a = new AllowList(['10.20.0.0/16', '127.0.0.1', '2001:db8:1::/48', '::1/128']);
      expect(['10.20.3.4', '127.0.0.1', '::ffff:10.20.0.1', '::ffff:a14:1', '2001:db8:1:ffff::5', '::1'].map((x) => a.contains(x))).to.deep.equal([
        true, true, true, true, true, true,
      ]);
      expect(['10.21.0.1', '127.0.0.2', '::ffff:127.0.0.2', '2001:db8:2::1', '::2', '::127.0.0.1', 'junk', ''].map((x) => a.contains(x))).to.deep.equal([
        false, false, false, false, false, false, false, false,
      ]);
      expect(a.empty).to.equal(false);
    });
    it('/0 matches its whole family and only it; /32 and /128 one host; odd lengths cut inside an octet', () => {
      const v4all = new AllowList(['0.0.0.0/0']);
      expect(v4all.contains('203.0.113.9')).to.equal(true);
      expect(v4all.contains('::ffff:203.0.113.9')).to.equal(true);
      expect(v4all.contains('::1')).to.equal(false);
      const v6all = new AllowList(['::/0']);
      expect(v6all.contains('2001:db8::1')).to.equal(true);
      expect(v6all.contains('127.0.0.1')).to.equal(false);
      const host = new AllowList(['127.0.0.7/32', '2001:db8::7/128']);
      expect(['127.0.0.7', '127.0.0.6', '2001:db8::7', '2001:db8::6'].map((x) => host.contains(x))).to.deep.equal([true, false, true, false]);
      const odd = new AllowList(['127.0.0.64/27', '2001:db8:8000::/33']);
      expect(['127.0.0.64', '127.0.0.95', '127.0.0.96', '127.0.0.63'].map((x) => odd.contains(x))).to.deep.equal([true, true, false, false]);
      expect(['2001:db8:8000::1', '2001:db8:ffff::1', '2001:db8:7fff::1'].map((x) => odd.contains(x))).to.deep.equal([true, true, false]);
    });
    it('is empty without prefixes, and refuses an invalid one', () => {
      const none = new AllowList([]);
      expect(none.empty).to.equal(true);
      expect(none.contains('127.0.0.1')).to.equal(false);
      expect(() => new AllowList(['10.0.0.0/33'])).to.throw(/not a CIDR prefix/);
    });
    it('matches a link-local source with its zone index', () => {
      expect(new AllowList(['fe80::/10']).contains('fe80::1%eth0')).to.equal(true);
    });
  });
});
