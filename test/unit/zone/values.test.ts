/**
 * Field syntaxes: TTL units, IPv6 canonical text (RFC 5952), names.
 */
import { expect } from 'chai';
import { canonicalIPv6, parseName, parseTtl, ValueError } from '../../../src/zone/values.js';

describe('zone values', () => {
  const TTLS: [string, number][] = [['0', 0], ['30', 30], ['1h30m', 5400], ['1H30M', 5400], ['2w', 1209600], ['1d12h', 129600], ['1h30', 3630], ['2147483647', 2147483647]];
  for (const [raw, want] of TTLS) it(`TTL ${raw} = ${want}`, () => expect(parseTtl(raw)).to.equal(want));
  for (const raw of ['', 'h', '1x', '1h-2m', '-5', '2147483648', '1.5h']) {
    it(`TTL '${raw}' is refused`, () => expect(() => parseTtl(raw)).to.throw(ValueError));
  }

  const V6: [string, string][] = [
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'], ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['0:0:0:0:0:0:0:0', '::'], ['::1', '::1'], ['1::', '1::'], ['fe80:0:0:0:1:0:0:0', 'fe80::1:0:0:0'], ['::ffff:127.0.0.1', '::ffff:7f00:1'],
  ];
  for (const [raw, want] of V6) it(`IPv6 ${raw} -> ${want}`, () => expect(canonicalIPv6(raw)).to.equal(want));

  it('names: relative, absolute, @, root, escapes, case', () => {
    expect(parseName('www', 'example.com')).to.equal('www.example.com');
    expect(parseName('WWW.Example.COM.', 'x')).to.equal('www.example.com');
    expect(parseName('@', 'example.com')).to.equal('example.com');
    expect(parseName('.', 'example.com')).to.equal('');
    expect(parseName('a\\065b', 'example.com')).to.equal('aab.example.com');
    expect(parseName('\\_x', 'example.com')).to.equal('_x.example.com');
    expect(() => parseName('a\\.b', 'example.com')).to.throw(ValueError, /escaped '\.'/);
    expect(() => parseName('a b', 'example.com')).to.throw(ValueError);
  });

  it('names: the plain form (letters, digits, - _ *) read in one pass agrees with the general one', () => {
    expect(parseName('_sip._UDP.Pool-1', 'example.com')).to.equal('_sip._udp.pool-1.example.com');
    expect(parseName('*.Wild', 'example.com')).to.equal('*.wild.example.com');
    expect(parseName('h0.example.com.', 'x')).to.equal('h0.example.com');
    expect(parseName('www', '')).to.equal('www');
    expect(parseName('a'.repeat(63), 'example.com')).to.equal(`${'a'.repeat(63)}.example.com`);
    expect(() => parseName('a'.repeat(64), 'example.com')).to.throw(ValueError, /64 octets \(at most 63\)/);
    expect(() => parseName('a..b', 'example.com')).to.throw(ValueError, /empty label/);
    expect(() => parseName('.a', 'example.com')).to.throw(ValueError, /empty label/);
    expect(() => parseName('a..', 'example.com')).to.throw(ValueError, /empty label/);
    expect(() => parseName(`${'a'.repeat(63)}.`.repeat(4), '')).to.throw(ValueError, /at most 255/);
  });
});
