/**
 * shared/lru: the one cache (DNS forwarder answers, SIP resolver records and
 * results) on a fake clock — expiry per entry, least recently used out first,
 * the entry and size bounds, replacement and clearing.
 */
import { expect } from 'chai';
import { LruCache } from '../../../src/shared/lru.js';

describe('shared/lru LruCache', () => {
  it('keeps an entry until its own expiry, then forgets it on lookup', () => {
    let now = 1000;
    const c = new LruCache<string>({ maxEntries: 10, now: () => now });
    expect(c.set('a', 'A', 500)).to.equal(true);
    expect(c.set('b', 'B', 2000)).to.equal(true);
    now += 499;
    expect(c.entry('a')).to.deep.include({ value: 'A', storedAt: 1000, expiresAt: 1500 });
    now += 1;
    expect(c.get('a')).to.equal(undefined);
    expect(c.size).to.equal(1);
    expect(c.get('b')).to.equal('B');
    now += 1500;
    expect(c.get('b')).to.equal(undefined);
    expect(c.size).to.equal(0);
  });

  it('does not keep a value with no lifetime, and such a set drops the old value', () => {
    const c = new LruCache<number>({ maxEntries: 10, now: () => 0 });
    c.set('k', 1, 1000);
    expect(c.set('k', 2, 0)).to.equal(false);
    expect(c.get('k')).to.equal(undefined);
    expect(c.size).to.equal(0);
  });

  it('evicts the least recently used entry beyond maxEntries (a hit refreshes, a set replaces)', () => {
    const c = new LruCache<number>({ maxEntries: 3, now: () => 0 });
    for (const [i, k] of ['a', 'b', 'c'].entries()) c.set(k, i, 60_000);
    c.get('a');
    c.set('d', 3, 60_000);
    expect(['a', 'b', 'c', 'd'].map((k) => c.get(k))).to.deep.equal([0, undefined, 2, 3]);
    c.set('c', 20, 60_000); // replaced: now the most recent
    c.set('e', 4, 60_000);
    expect(['a', 'c', 'd', 'e'].map((k) => c.get(k))).to.deep.equal([undefined, 20, 3, 4]);
    expect(c.size).to.equal(3);
    expect(c.evictions).to.equal(2);
  });

  it('is bounded in total size, and refuses a value larger than the whole cache', () => {
    const c = new LruCache<string>({ maxEntries: 1000, maxSize: 250, now: () => 0 });
    for (let i = 0; i < 50; i++) c.set(`k${i}`, 'v', 60_000, 100);
    expect(c.size).to.equal(2);
    expect(c.sizeHeld).to.equal(200);
    expect(c.evictions).to.equal(48);
    expect([c.get('k48'), c.get('k49')]).to.deep.equal(['v', 'v']);
    expect(c.set('big', 'v', 60_000, 251)).to.equal(false);
    expect(c.sizeHeld).to.equal(200);
    c.delete('k48');
    expect([c.size, c.sizeHeld]).to.deep.equal([1, 100]);
    c.clear();
    expect([c.size, c.sizeHeld]).to.deep.equal([0, 0]);
  });

  it('keeps size accounting exact through expiry and replacement', () => {
    let now = 0;
    const c = new LruCache<string>({ maxEntries: 10, maxSize: 1000, now: () => now });
    c.set('a', 'x', 10, 300);
    c.set('a', 'y', 10, 200);
    expect(c.sizeHeld).to.equal(200);
    now = 10;
    expect(c.get('a')).to.equal(undefined);
    expect(c.sizeHeld).to.equal(0);
  });
});
