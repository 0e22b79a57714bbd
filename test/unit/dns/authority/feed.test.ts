/**
 * AnswerFeed: health changes and reloads rebuild the table once each, the
 * serial moves forward, and fail open is logged on the transition only.
 */
import { expect } from 'chai';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { AnswerTable } from '../../../../src/dns/authority/answers.js';
import { newCounters } from '../../../../src/dns/counters.js';
import { AnswerFeed } from '../../../../src/dns/authority/feed.js';
import { respond } from '../../../../src/dns/authority/respond.js';
import { EVENTS } from '../../../../src/shared/events.js';
import type { HealthChange, HealthView } from '../../../../src/shared/health.js';
import { DNS_TEST_ZONE, testPoolMembers, zonesFromText } from '../../../support/dns-zone.js';
import { buildQuery, decode } from '../../../support/dns-wire.js';

class FakeHealth implements HealthView {
  version = 0;
  draining = false;
  readonly down = new Set<string>();
  private readonly listeners: ((c: HealthChange) => void)[] = [];
  isMemberHealthy(t: string): boolean {
    return !this.down.has(t);
  }
  pairState(): undefined {
    return undefined;
  }
  onChange(l: (c: HealthChange) => void): () => void {
    this.listeners.push(l);
    return () => this.listeners.splice(this.listeners.indexOf(l), 1);
  }
  set(target: string, healthy: boolean): void {
    if (healthy) this.down.delete(target);
    else this.down.add(target);
    this.version++;
    for (const l of [...this.listeners]) l({ kind: 'peer', target, healthy });
  }
}

function capture(): { log: winston.Logger; events: string[] } {
  const events: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      events.push((JSON.parse(String(chunk)) as { event: string }).event);
      cb();
    },
  });
  return { log: winston.createLogger({ level: 'info', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }), events };
}

describe('dns feed: answers follow health and reloads', () => {
  const zones = zonesFromText({ 'example.com.zone': DNS_TEST_ZONE });
  const srvTargets = (t: AnswerTable): string[] => {
    const q = buildQuery('_sip._udp.sipproxy.example.com', 'SRV');
    return decode(respond(t, q, q.length, false, newCounters())!).answer.map((a) => a.split(' ').pop()!.split('.')[0]!);
  };

  it('rebuilds on peer changes, logs fail open once on each transition, and stops following when stopped', () => {
    const health = new FakeHealth();
    const tables: AnswerTable[] = [];
    const { log, events } = capture();
    const feed = new AnswerFeed({
      target: { setTable: (t) => tables.push(t) }, zones, health, log,
      pool: { name: 'sipproxy.example.com', members: testPoolMembers() },
    });
    feed.start();
    expect(tables).to.have.length(1);
    health.set('proxy2.example.com', false);
    expect(srvTargets(tables.at(-1)!)).to.deep.equal(['proxy1', 'proxy3']);
    const serial2 = feed.last!.serials.get('example.com')!;
    health.set('proxy1.example.com', false);
    health.set('proxy3.example.com', false);
    expect(feed.last!.failOpen).to.equal(true);
    expect(srvTargets(tables.at(-1)!)).to.deep.equal(['proxy1', 'proxy2', 'proxy3']);
    health.set('proxy3.example.com', true);
    expect(srvTargets(tables.at(-1)!)).to.deep.equal(['proxy3']);
    expect(feed.last!.serials.get('example.com')!).to.be.above(serial2);
    expect(events).to.deep.equal([EVENTS.POOL_FAIL_OPEN.code, EVENTS.POOL_FAIL_OPEN_END.code]);
    expect(tables).to.have.length(5);
    feed.stop();
    health.set('proxy1.example.com', true);
    expect(tables).to.have.length(5);
  });

  it('a reload swaps in the new zones with a serial that never goes back', () => {
    const tables: AnswerTable[] = [];
    const feed = new AnswerFeed({ target: { setTable: (t) => tables.push(t) }, zones });
    feed.start();
    const before = feed.last!.serials.get('example.com')!;
    const changed = zonesFromText({ 'example.com.zone': DNS_TEST_ZONE.replace('proxy3            A     127.0.0.13', 'proxy3            A     127.0.0.99') });
    feed.setZones(changed);
    expect(feed.last!.serials.get('example.com')).to.equal(before + 1);
    const q = buildQuery('proxy3.example.com', 'A');
    expect(decode(respond(tables.at(-1)!, q, q.length, false, newCounters())!).answer).to.deep.equal(['proxy3.example.com. 30 IN A 127.0.0.99']);
  });
});
