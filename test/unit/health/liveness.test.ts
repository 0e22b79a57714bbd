/**
 * Member liveness kept by the health plane (PairFeedback.memberHeard /
 * heardWithin): when a message last arrived from a pair member, on a fake
 * clock. It changes no pair state; a reload that moves the members forgets it.
 */
import { expect } from 'chai';
import { FakeClock } from '../../../src/shared/clock.js';
import { HealthMonitor } from '../../../src/health/health-monitor.js';
import { ScriptedProber, pairOf, poolMember, recordingLogger, siteOf } from './fakes.js';

const SELF = 'proxy1.example.com';
const T = 'tserver.example.com';
const A = 'sips-a.example.com';
const B = 'sips-b.example.com';
const members = [poolMember(SELF, '127.0.0.11')];

function setup() {
  const clock = new FakeClock();
  const health = new HealthMonitor({
    site: siteOf(SELF, members, [pairOf(T, A, B)]),
    prober: new ScriptedProber(clock), clock, oosCheckMs: 500, oosForceMs: 300,
    peerIntervalMs: 1000, peerDownAfter: 2, peerUpAfter: 2, log: recordingLogger().log,
  });
  return { clock, health };
}

describe('health liveness (memberHeard / heardWithin)', () => {
  it('a member never heard from is not heard within any period', () => {
    const { health } = setup();
    expect(health.heardWithin(T, A, 1_000_000)).to.equal(false);
  });

  it('heard within X ms holds up to exactly X ms after the last message, per member', () => {
    const { clock, health } = setup();
    clock.advance(100);
    health.memberHeard(T, A);
    clock.advance(250);
    expect(health.heardWithin(T, A, 250)).to.equal(true);
    expect(health.heardWithin(T, A, 249)).to.equal(false);
    expect(health.heardWithin(T, B, 250)).to.equal(false);
    health.memberHeard(T, B);
    clock.advance(1);
    expect(health.heardWithin(T, A, 250)).to.equal(false);
    expect(health.heardWithin(T, B, 1)).to.equal(true);
  });

  it('the latest message counts', () => {
    const { clock, health } = setup();
    health.memberHeard(T, A);
    clock.advance(400);
    health.memberHeard(T, A);
    clock.advance(100);
    expect(health.heardWithin(T, A, 100)).to.equal(true);
  });

  it('unknown pairs and targets are never heard; hearing one changes no pair state and raises no change', () => {
    const { health } = setup();
    const changes: unknown[] = [];
    health.onChange((c) => changes.push(c));
    const before = health.pairState(T);
    health.memberHeard('other.example.com', A);
    health.memberHeard(T, 'stranger.example.com');
    health.memberHeard(T, B);
    expect(health.heardWithin('other.example.com', A, 10)).to.equal(false);
    expect(health.heardWithin(T, 'stranger.example.com', 10)).to.equal(false);
    expect(health.pairState(T)).to.equal(before);
    expect(changes).to.deep.equal([]);
  });

  it('a reload that keeps the members keeps the times; one that moves them forgets them', () => {
    const { clock, health } = setup();
    health.memberHeard(T, A);
    clock.advance(10);
    health.setSite(siteOf(SELF, members, [pairOf(T, A, B)]));
    expect(health.heardWithin(T, A, 10)).to.equal(true);
    health.setSite(siteOf(SELF, members, [pairOf(T, A, B, 5070)]));
    expect(health.heardWithin(T, A, 10)).to.equal(false);
  });
});
