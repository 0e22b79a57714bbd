import { expect } from 'chai';
import { FakeClock } from '../../../../src/shared/clock.js';
import { keyHash, RetiredRecords, type RetiredKind, type RetiredState } from '../../../../src/sip/transaction/retired.js';
import type { Remote } from '../../../../src/sip/transport/types.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Model {
  kind: RetiredKind;
  key: string;
  state: RetiredState;
  at: number;
  last?: Buffer;
  remote?: Remote;
}

/** What a lookup says, in one object (undefined: a miss). */
function look(r: RetiredRecords, kind: RetiredKind, key: string) {
  if (!r.find(kind, key)) return undefined;
  return { state: r.stateFound(), last: r.lastFound()?.toString('latin1'), remote: r.remoteFound() };
}

const UDP: Remote = { protocol: 'udp', address: '127.0.0.50', port: 5070 };

describe('sip/transaction/retired (records of answered transactions, in byte chunks and a typed-array table)', () => {
  it('keeps what each record needs: state, the response bytes and where they go, the upstream of an Accepted client', () => {
    const clock = new FakeClock();
    const r = new RetiredRecords(clock);
    const bye200 = Buffer.from('SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.50:5070;branch=z9hG4bKb\r\n\r\n', 'latin1');
    const tcp: Remote = { protocol: 'tcp', address: '127.0.0.60', port: 5060, conn: 12345678901 };
    const flow: Remote = { protocol: 'tls', address: '::1', port: 5061, conn: 7, secure: true, flow: true };
    r.add('server', 'z9hG4bKb|127.0.0.50:5070|BYE', 'completed', 32_000, bye200, UDP);
    r.add('server', 'z9hG4bKi|127.0.0.50:5070|INVITE', 'accepted', 32_000);
    r.add('client', 'z9hG4bKc|INVITE', 'accepted', 32_000, undefined, tcp);
    r.add('client', 'z9hG4bKf|INVITE', 'accepted', 32_000, undefined, flow);
    r.add('client', 'z9hG4bKn|OPTIONS', 'completed', 5000);
    expect(look(r, 'server', 'z9hG4bKb|127.0.0.50:5070|BYE')).to.deep.equal({ state: 'completed', last: bye200.toString('latin1'), remote: UDP });
    expect(look(r, 'server', 'z9hG4bKi|127.0.0.50:5070|INVITE')).to.deep.equal({ state: 'accepted', last: undefined, remote: undefined });
    expect(look(r, 'client', 'z9hG4bKc|INVITE')).to.deep.equal({ state: 'accepted', last: undefined, remote: tcp });
    expect(look(r, 'client', 'z9hG4bKf|INVITE')).to.deep.equal({ state: 'accepted', last: undefined, remote: flow });
    expect(look(r, 'client', 'z9hG4bKn|OPTIONS')).to.deep.equal({ state: 'completed', last: undefined, remote: undefined });
    // the kind is part of the key; a near miss is a miss
    expect(r.has('client', 'z9hG4bKi|127.0.0.50:5070|INVITE')).to.equal(false);
    expect(r.has('server', 'z9hG4bKi|127.0.0.50:5070|INVIT')).to.equal(false);
    expect(r.has('server', 'z9hG4bKi|127.0.0.50:5070|INVITEX')).to.equal(false);
    expect([r.size, r.count('server'), r.count('client')]).to.deep.equal([5, 2, 3]);
    // the resent bytes are a copy: a later send cannot see the chunk change under it
    r.find('server', 'z9hG4bKb|127.0.0.50:5070|BYE');
    const a = r.lastFound()!;
    a[0] = 0;
    expect(r.find('server', 'z9hG4bKb|127.0.0.50:5070|BYE') && r.lastFound()!.equals(bye200)).to.equal(true);
  });

  it('expires each record exactly at its time, in the order made, across lifetimes; a lookup after expiry misses', () => {
    const clock = new FakeClock();
    const r = new RetiredRecords(clock);
    const made: { key: string; at: number }[] = [];
    for (let i = 0; i < 40; i++) {
      const ms = i % 3 === 0 ? 5000 : 32_000;
      r.add(i % 2 ? 'client' : 'server', `k${i}`, 'accepted', ms);
      made.push({ key: `k${i}`, at: clock.now() + ms });
      clock.advance(i % 5 === 0 ? 0 : 100); // some made at the same time
    }
    const kindOf = (key: string) => (Number(key.slice(1)) % 2 ? 'client' : 'server');
    const times = [...new Set(made.map((m) => m.at))].sort((x, y) => x - y);
    for (const at of times) {
      clock.advance(at - 1 - clock.now());
      for (const m of made) expect(r.has(kindOf(m.key), m.key), `${m.key} (due ${m.at}) at ${clock.now()}`).to.equal(m.at > clock.now());
      clock.advance(1);
      for (const m of made) expect(r.has(kindOf(m.key), m.key), `${m.key} (due ${m.at}) at ${clock.now()}`).to.equal(m.at > clock.now());
    }
    expect(r.size).to.equal(0);
    expect(clock.timerCount).to.equal(0);
  });

  it('wraps around: chunks whose records all expired are reused, a record larger than a chunk gets its own, the memory stays bounded', () => {
    const clock = new FakeClock();
    const r = new RetiredRecords(clock, { chunkBytes: 256 });
    const live = new Map<string, string>();
    let peak = 0;
    for (let i = 0; i < 3000; i++) {
      const last = i % 97 === 0 ? 'X'.repeat(600) : `SIP/2.0 200 OK ${i}`; // some larger than a chunk
      r.add('server', `key-${i}`, 'completed', 1000, Buffer.from(last, 'latin1'), UDP);
      live.set(`key-${i}`, last);
      clock.advance(10); // 99 records live at a time: key-j is gone once 1000 ms passed, at (j + 100) * 10
      for (const k of [...live.keys()]) if (Number(k.slice(4)) <= i - 99) live.delete(k);
      if (i % 50 === 0) {
        for (const [k, v] of live) expect(look(r, 'server', k)?.last, k).to.equal(v);
        expect(r.has('server', `key-${i - 99}`)).to.equal(false);
      }
      peak = Math.max(peak, r.bytes);
    }
    expect(r.size).to.equal(99);
    // 99 records of ~60 bytes need ~24 chunks of 256 bytes, plus a few large ones; nothing grows with the 3000 made
    expect(peak).to.be.below(40_000);
    clock.advance(1000);
    expect(r.size).to.equal(0);
    expect(r.has('server', 'key-2999')).to.equal(false);
    r.add('server', 'again', 'completed', 1000, Buffer.from('Y'.repeat(700)), UDP);
    expect(look(r, 'server', 'again')?.last).to.equal('Y'.repeat(700));
  });

  it('tells colliding keys apart by their bytes, and keeps finding the rest while colliding ones expire', () => {
    const clock = new FakeClock();
    const r = new RetiredRecords(clock, { hashMask: 0 });
    for (let i = 0; i < 300; i++) {
      r.add('server', `z9hG4bK${i}|h:1|INVITE`, 'accepted', 5000);
      r.add('client', `z9hG4bK${i}|h:1|INVITE`, 'completed', 5000);
      clock.advance(10);
    }
    for (let step = 0; step < 300; step += 7) {
      clock.advance(5000 + step * 10 - clock.now());
      for (let i = 0; i < 300; i++) {
        const alive = i > step;
        expect(look(r, 'server', `z9hG4bK${i}|h:1|INVITE`)?.state, `server ${i} at step ${step}`).to.equal(alive ? 'accepted' : undefined);
        expect(look(r, 'client', `z9hG4bK${i}|h:1|INVITE`)?.state, `client ${i} at step ${step}`).to.equal(alive ? 'completed' : undefined);
      }
      expect(r.has('server', `z9hG4bK${step}|h:1|INVITEx`)).to.equal(false);
    }
  });

  it('a key outside latin1 is stored as UTF-8 and never equals a latin1 key with the same bytes', () => {
    const clock = new FakeClock();
    const r = new RetiredRecords(clock, { hashMask: 0 });
    const wide = 'br-\u0101|x|INVITE'; // U+0101 is C4 81 in UTF-8
    const narrow = 'br-\u00c4\u0081|x|INVITE';
    r.add('server', wide, 'accepted', 1000);
    expect(r.has('server', wide)).to.equal(true);
    expect(r.has('server', narrow)).to.equal(false);
    r.add('server', narrow, 'completed', 1000);
    expect(look(r, 'server', narrow)?.state).to.equal('completed');
    expect(look(r, 'server', wide)?.state).to.equal('accepted');
  });

  it('matches a Map of records under random adds, lookups and expiry (table growth and shrinking, small chunks, few hashes)', () => {
    const rnd = lcg(11);
    const clock = new FakeClock();
    const r = new RetiredRecords(clock, { chunkBytes: 512, hashMask: 0x7, seed: 5 });
    const model = new Map<string, Model>();
    const id = (kind: RetiredKind, key: string) => kind + ' ' + key;
    let n = 0;
    for (let step = 0; step < 6000; step++) {
      const x = rnd();
      if (x < 0.45 || step < 1500) {
        const kind: RetiredKind = rnd() < 0.5 ? 'server' : 'client';
        const key = `b${Math.floor(rnd() * 5000)}|${'h'.repeat(Math.floor(rnd() * 4))}`;
        if (model.has(id(kind, key))) continue;
        const ms = [5000, 32_000, 1][Math.floor(rnd() * 3)]!;
        const last = rnd() < 0.4 ? Buffer.from(`resp ${n++} `.repeat(1 + Math.floor(rnd() * 5)), 'latin1') : undefined;
        const remote: Remote | undefined = rnd() < 0.7 ? { protocol: 'udp', address: `127.0.0.${n % 250}`, port: 5000 + (n % 100) } : undefined;
        const state: RetiredState = rnd() < 0.5 ? 'accepted' : 'completed';
        r.add(kind, key, state, ms, last, remote);
        model.set(id(kind, key), { kind, key, state, at: clock.now() + ms, last, remote });
      } else if (x < 0.9) {
        const kind: RetiredKind = rnd() < 0.5 ? 'server' : 'client';
        const key = `b${Math.floor(rnd() * 5000)}|${'h'.repeat(Math.floor(rnd() * 4))}`;
        const m = model.get(id(kind, key));
        expect(look(r, kind, key)).to.deep.equal(m && { state: m.state, last: m.last?.toString('latin1'), remote: m.remote });
      } else {
        clock.advance(Math.floor(rnd() * 4000));
        for (const [k, m] of model) if (m.at <= clock.now()) model.delete(k);
        expect(r.size).to.equal(model.size);
      }
    }
    for (const m of model.values()) expect(r.has(m.kind, m.key)).to.equal(true);
    clock.advance(32_000);
    expect(r.size).to.equal(0);
    expect(clock.timerCount).to.equal(0);
    expect(r.bytes).to.be.below(64 * 1024); // the table shrank back, a few spare chunks
  });

  it('the key hash depends on a seed: keys sharing a table slot under one seed are spread under another', () => {
    const keys = Array.from({ length: 4096 }, (_, i) => `z9hG4bK-${i}|127.0.0.50:5070|INVITE`);
    const slot = (k: string, seed: number) => keyHash(k, seed) & 1023;
    const crowd = keys.filter((k) => slot(k, 1) === slot(keys[0]!, 1));
    expect(crowd.length).to.be.above(1);
    expect(new Set(crowd.map((k) => slot(k, 2))).size).to.be.above(crowd.length / 2);
    expect(keyHash(keys[0]!, 7)).to.equal(keyHash(keys[0]!, 7));
    // sequential keys fill the 1024 slots evenly (no slot with more than 16 of 4096)
    const per = new Map<number, number>();
    for (const k of keys) per.set(slot(k, 3), (per.get(slot(k, 3)) ?? 0) + 1);
    expect(Math.max(...per.values())).to.be.at.most(16);
  });

  it('clear forgets every record and the timer', () => {
    const clock = new FakeClock();
    const r = new RetiredRecords(clock);
    r.add('server', 'a', 'accepted', 1000);
    r.add('client', 'b', 'completed', 5000, Buffer.from('x'), UDP);
    r.clear();
    expect([r.size, r.has('server', 'a'), r.has('client', 'b'), clock.timerCount]).to.deep.equal([0, false, false, 0]);
    r.add('server', 'a', 'accepted', 1000);
    expect(r.has('server', 'a')).to.equal(true);
  });
});
