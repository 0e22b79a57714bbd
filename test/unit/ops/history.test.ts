/**
 * ops/history on a hand-driven health view and clock: since-times move only
 * on a real change of a member's health or a pair's state; a switchover
 * counted by the health plane is recorded with its time, from and to; a
 * pair going out of service and back to the same member is no switchover.
 */
import { expect } from 'chai';
import { StatusHistory } from '../../../src/ops/history.js';
import type { HealthChange, HealthView, PairState } from '../../../src/shared/health.js';

class View implements HealthView {
  version = 0;
  draining = false;
  readonly healthy = new Map<string, boolean>();
  readonly pairs = new Map<string, PairState>();
  switchovers = 0;
  private readonly listeners = new Set<(c: HealthChange) => void>();

  isMemberHealthy(target: string): boolean {
    return target === 'proxy1.example.com' ? !this.draining : (this.healthy.get(target) ?? true);
  }
  pairState(pair: string): PairState | undefined {
    return this.pairs.get(pair);
  }
  onChange(l: (c: HealthChange) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  emit(c: HealthChange): void {
    for (const l of this.listeners) l(c);
  }
  setPair(active: string | null, mode: 'check' | 'force' = active ? 'check' : 'force'): void {
    this.pairs.set(PAIR, { name: PAIR, mode, active, inService: active !== null, outOfService: active === null });
    this.emit({ kind: 'pair', pair: PAIR });
  }
}

const PAIR = 'tserver.example.com';
const T0 = Date.parse('2026-12-03T02:00:00.000Z');

describe('ops/history', () => {
  let t: number;
  let view: View;
  let h: StatusHistory;

  beforeEach(() => {
    t = T0;
    view = new View();
    view.pairs.set(PAIR, { name: PAIR, mode: 'check', active: 'sips-a.example.com', inService: true, outOfService: false });
    h = new StatusHistory({
      view,
      self: () => 'proxy1.example.com',
      switchovers: () => view.switchovers,
      pairs: [PAIR],
      members: ['proxy1.example.com', 'proxy2.example.com'],
      now: () => t,
    });
  });

  afterEach(() => h.stop());

  it('member since: start, then the time of each real change (peer events and drain)', () => {
    expect(h.startedAt).to.equal(T0);
    expect(h.memberSince('proxy2.example.com')).to.equal(T0);
    t += 5000;
    view.healthy.set('proxy2.example.com', false);
    view.emit({ kind: 'peer', target: 'proxy2.example.com', healthy: false });
    t += 1000;
    view.emit({ kind: 'peer', target: 'proxy2.example.com', healthy: false }); // no change
    expect(h.memberSince('proxy2.example.com')).to.equal(T0 + 5000);
    t += 1000;
    view.draining = true;
    view.emit({ kind: 'drain', draining: true });
    expect(h.memberSince('proxy1.example.com')).to.equal(T0 + 7000);
    expect(h.memberSince('proxy2.example.com')).to.equal(T0 + 5000);
  });

  it('a switchover: pair since and last switchover (at, from, to); back to the same member is none', () => {
    expect(h.lastSwitchover(PAIR)).to.equal(null);
    t += 1000;
    view.setPair(null); // force mode, nobody active yet
    expect(h.pairSince(PAIR)).to.equal(T0 + 1000);
    t += 500;
    view.switchovers = 1;
    view.setPair('sips-b.example.com');
    expect(h.pairSince(PAIR)).to.equal(T0 + 1500);
    expect(h.lastSwitchover(PAIR)).to.deep.equal({ at: new Date(T0 + 1500).toISOString(), from: 'sips-a.example.com', to: 'sips-b.example.com' });
    // out of service and back to sips-b: the count does not move, nor does the last switchover
    t += 10_000;
    view.setPair(null);
    t += 500;
    view.setPair('sips-b.example.com');
    expect(h.pairSince(PAIR)).to.equal(T0 + 12_000);
    expect(h.lastSwitchover(PAIR)!.at).to.equal(new Date(T0 + 1500).toISOString());
  });
});
