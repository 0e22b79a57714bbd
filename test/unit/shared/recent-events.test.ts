/**
 * shared/recent-events and logEvent: the ring keeps the last N events newest
 * first, `holds` tells whether a bracketed state is on, and a logger made by
 * withRecentEvents fills its ring (debug-level events excepted) while other
 * loggers fill none.
 */
import { expect } from 'chai';
import { EVENTS } from '../../../src/shared/events.js';
import { logEvent, silentLogger, withRecentEvents } from '../../../src/shared/log.js';
import { RecentEvents } from '../../../src/shared/recent-events.js';

describe('shared/recent-events', () => {
  it('keeps the last `capacity` events, newest first, with time and detail', () => {
    let t = Date.parse('2026-12-03T02:00:00.000Z');
    const r = new RecentEvents(3, () => t);
    expect(r.list()).to.deep.equal([]);
    r.record('STARTED', { self: 'proxy1.example.com' });
    t += 1000;
    r.record('PEER_WITHDRAWN', { peer: 'proxy2.example.com', cause: '3 consecutive failed probes', n: 3, skip: undefined });
    r.record('PEER_RESTORED', {});
    r.record('PAIR_SWITCHOVER', { pair: 'tserver.example.com' });
    const l = r.list();
    expect(l.map((e) => e.name)).to.deep.equal(['PAIR_SWITCHOVER', 'PEER_RESTORED', 'PEER_WITHDRAWN']);
    expect(l[2]).to.deep.equal({
      code: EVENTS.PEER_WITHDRAWN.code,
      name: 'PEER_WITHDRAWN',
      at: '2026-12-03T02:00:01.000Z',
      text: EVENTS.PEER_WITHDRAWN.text,
      detail: 'peer=proxy2.example.com cause=3 consecutive failed probes n=3',
    });
  });

  it('shortens a long detail', () => {
    const r = new RecentEvents(2);
    r.record('ZONE_REJECTED', { error: 'x'.repeat(1000) });
    expect(r.list()[0]!.detail).to.have.length(160);
  });

  it('logEvent fills the ring of a logger made by withRecentEvents only, debug events excepted', () => {
    const a = new RecentEvents();
    const b = new RecentEvents();
    const la = withRecentEvents(silentLogger, a);
    const lb = withRecentEvents(silentLogger, b);
    logEvent(la, 'DRAIN_ON', { self: 'proxy1.example.com' });
    logEvent(la, 'DNS_ANSWERS_REBUILT', {});
    logEvent(lb, 'PEER_WITHDRAWN', { peer: 'proxy1.example.com' });
    logEvent(silentLogger, 'STARTED', {});
    expect(a.list().map((e) => e.code)).to.deep.equal([EVENTS.DRAIN_ON.code]);
    expect(b.list().map((e) => e.code)).to.deep.equal([EVENTS.PEER_WITHDRAWN.code]);
  });
});
