import { expect } from 'chai';
import { FakeClock, type TimerHandle } from '../../../../src/shared/clock.js';
import { LaneClock } from '../../../../src/sip/transaction/timers.js';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('sip/transaction-timers LaneClock (one lane per duration over one underlying timer)', () => {
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
