/**
 * Hostile zone text: random mutations of a valid zone never crash the
 * loader; it either loads or reports problems with file:line.
 */
import { expect } from 'chai';
import { checkZoneFiles } from '../../../src/zone/load.js';
import { HEAD, ZoneDir } from '../../support/zone-dir.js';

const SEED = HEAD + `_sip._udp.sipproxy SRV ( 10 50
  5060 ns1 ) ; c
sipproxy NAPTR 10 50 "s" "SIP+D2U" "" _sip._udp.sipproxy
t TXT "a\\"b\\065" x
$ORIGIN sub.example.com.
v6 AAAA ::1
$TTL 1h
c CAA 0 issue "x"
`;
const ALPHABET = ' \t\n;()"\\$@.*0123456789azAZ_-:#%\u0000\u00ff';

/** Deterministic pseudo-random numbers, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('zone loader robustness', () => {
  const dir = new ZoneDir();
  after(() => dir.cleanup());

  it('survives 400 random mutations of a valid zone (no exception, problems carry file:line)', () => {
    const rand = rng(42);
    const file = dir.write('fuzz/example.com.zone', SEED);
    let rejected = 0;
    for (let i = 0; i < 400; i++) {
      const chars = [...SEED];
      const edits = 1 + Math.floor(rand() * 6);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rand() * chars.length);
        const op = rand();
        const c = ALPHABET[Math.floor(rand() * ALPHABET.length)];
        if (op < 0.4) chars[at] = c;
        else if (op < 0.7) chars.splice(at, 1);
        else chars.splice(at, 0, c);
      }
      dir.write('fuzz/example.com.zone', chars.join(''));
      const problems = checkZoneFiles([file]).problems;
      if (problems.length > 0) rejected++;
      for (const p of problems) {
        expect(p.file).to.equal(file);
        expect(p.line).to.be.within(0, 100);
        expect(p.message).to.be.a('string').and.not.equal('');
      }
    }
    expect(rejected).to.be.greaterThan(100);
  });
});
