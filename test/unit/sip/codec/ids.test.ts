import { expect } from 'chai';
import { newBranch, newCallId, newTag, fnv1a } from '../../../../src/sip/codec/ids.js';

describe('sip/codec/ids', () => {
  it('100k branches are unique, carry the magic cookie and 96 random bits', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) seen.add(newBranch());
    expect(seen.size).to.equal(100_000);
    const b = newBranch('0a0b0c0d');
    expect(b).to.match(/^z9hG4bK[A-Za-z0-9_-]{16}\.0a0b0c0d$/);
  });

  it('tags and Call-IDs are unique too', () => {
    const t = new Set<string>();
    const c = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      t.add(newTag());
      c.add(newCallId());
    }
    expect(t.size).to.equal(20_000);
    expect(c.size).to.equal(20_000);
  });

  it('fnv1a is stable and spreads', () => {
    expect(fnv1a('')).to.equal('811c9dc5');
    expect(fnv1a('a')).to.equal('e40c292c');
    expect(fnv1a('sip:a@b|1')).to.not.equal(fnv1a('sip:a@b|2'));
  });
});
