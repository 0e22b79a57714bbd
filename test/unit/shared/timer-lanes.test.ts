import { expect } from 'chai';
import { FakeClock, type TimerHandle } from '../../../src/shared/clock.js';
import { LaneClock, TimerLanes } from '../../../src/shared/timer-lanes.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('shared/timer-lanes LaneClock (one lane per duration over one underlying timer)', () => {
  it('fires in exactly the order and at the times the underlying clock would, with clears mixed in', () => {
    const rnd = lcg(7);
    const a = new FakeClock();
    const b = new FakeClock();
    const lanes = new LaneClock(b);
    const firedA: string[] = [];
    const firedB: string[] = [];
    const ha: TimerHandle[] = [];
    const hb: TimerHandle[] = [];
    const durations = [0, 1, 500, 1000, 2000, 4000, 32_000];
    for (let step = 0; step < 400; step++) {
      const d = durations[Math.floor(rnd() * durations.length)];
      const name = `${step}@${d}`;
      ha.push(a.setTimeout(() => firedA.push(`${name}:${a.now()}`), d));
      hb.push(lanes.setTimeout(() => firedB.push(`${name}:${b.now()}`), d));
      if (rnd() < 0.3) {
        const k = Math.floor(rnd() * ha.length);
        a.clearTimeout(ha[k]);
        lanes.clearTimeout(hb[k]);
      }
      const adv = Math.floor(rnd() * 700);
      a.advance(adv);
      b.advance(adv);
    }
    a.advance(40_000);
    b.advance(40_000);
    expect(firedB).to.deep.equal(firedA);
    expect(firedB.length).to.be.greaterThan(200);
    expect(lanes.pending).to.equal(0);
    expect(b.timerCount).to.equal(0);
  });

  it('clearing every timer leaves no underlying timer; a timer set while others fire waits for the next turn', () => {
    const base = new FakeClock();
    const lanes = new LaneClock(base);
    const hs = Array.from({ length: 200 }, (_, i) => lanes.setTimeout(() => undefined, 1000 + (i % 3)));
    for (const h of hs) lanes.clearTimeout(h);
    expect(base.timerCount).to.equal(0);
    expect(lanes.pending).to.equal(0);
    const order: string[] = [];
    lanes.setTimeout(() => {
      order.push('first');
      lanes.setTimeout(() => order.push('zero-delay'), 0);
    }, 10);
    lanes.setTimeout(() => order.push('second'), 10);
    base.advance(10);
    expect(order).to.deep.equal(['first', 'second', 'zero-delay']);
    expect(base.timerCount).to.equal(0);
  });
});

describe('shared/timer-lanes TimerLanes (items on lanes, one function called with each)', () => {
  it('hands each due item to the one function, in due order across lanes, exactly on time', () => {
    const base = new FakeClock();
    const seen: string[] = [];
    const lanes = new TimerLanes<{ name: string }>(base, (x) => seen.push(`${x.name}@${base.now()}`));
    lanes.add({ name: 'long' }, 300);
    lanes.add({ name: 'short1' }, 100);
    base.advance(50);
    lanes.add({ name: 'short2' }, 100);
    const gone = lanes.add({ name: 'cancelled' }, 100);
    lanes.cancel(gone);
    lanes.cancel(gone); // twice: no effect
    expect(lanes.pending).to.equal(3);
    expect(base.timerCount).to.equal(1);
    base.advance(99);
    expect(seen).to.deep.equal(['short1@100']);
    base.advance(1);
    expect(seen).to.deep.equal(['short1@100', 'short2@150']);
    base.advance(200);
    expect(seen).to.deep.equal(['short1@100', 'short2@150', 'long@300']);
    expect(lanes.pending).to.equal(0);
    expect(base.timerCount).to.equal(0);
  });

  it('clear() forgets every entry: nothing fires, no underlying timer is left, and it is usable after', () => {
    const base = new FakeClock();
    let fired = 0;
    const lanes = new TimerLanes<number>(base, () => fired++);
    for (let i = 0; i < 100; i++) lanes.add(i, 1000 * (1 + (i % 4)));
    lanes.clear();
    expect([lanes.pending, base.timerCount]).to.deep.equal([0, 0]);
    base.advance(10_000);
    expect(fired).to.equal(0);
    lanes.add(1, 10);
    base.advance(10);
    expect([fired, lanes.pending, base.timerCount]).to.deep.equal([1, 0, 0]);
  });

  it('fires only the live entries of a long lane whose entries are mostly cancelled', () => {
    const base = new FakeClock();
    let fired = 0;
    const lanes = new TimerLanes<number>(base, () => fired++);
    const hs: TimerHandle[] = [];
    for (let i = 0; i < 10_000; i++) hs.push(lanes.add(i, 32_000));
    for (let i = 0; i < 10_000; i++) if (i % 100 !== 0) lanes.cancel(hs[i]);
    expect(lanes.pending).to.equal(100);
    base.advance(32_000);
    expect([fired, lanes.pending, base.timerCount]).to.deep.equal([100, 0, 0]);
  });
});
