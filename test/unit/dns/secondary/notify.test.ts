/**
 * NOTIFY on a fake clock over real UDP sockets on loopback: retries every
 * interval until the secondary answers, gives up after the tries with
 * NOTIFY_FAILED, a newer serial replaces a pending NOTIFY; with a TSIG key,
 * only a reply signed over the NOTIFY's MAC and in time is an answer; who is notified
 * (Secondaries: --notify, NS hosts but never the pool's instances); the
 * time-based serial.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import { Writable } from 'node:stream';
import winston from 'winston';
import { buildAnswerTable } from '../../../../src/dns/authority/answers.js';
import { notifyMessage, Notifier, OPCODE_NOTIFY } from '../../../../src/dns/secondary/notify.js';
import { Secondaries, nsTargets } from '../../../../src/dns/secondary/secondaries.js';
import { SERIAL_EPOCH, SerialCounter } from '../../../../src/dns/authority/serial.js';
import { findTsig, sign, verify, type TsigKey } from '../../../../src/dns/secondary/tsig.js';
import { FakeClock } from '../../../../src/shared/clock.js';
import { EVENTS } from '../../../../src/shared/events.js';
import type { RRsetOf } from '../../../../src/zone/types.js';
import { decode } from '../../../support/dns-wire.js';
import { DNS_TEST_ZONE, zonesFromText } from '../../../support/dns-zone.js';
import { sleep } from '../../../support/processes.js';

/**
 * A secondary stand-in: records every NOTIFY; answers when `answer(n)` says
 * so for the n-th (1-based), signed with `signWith` over the NOTIFY's MAC
 * when given (as BIND answers a signed NOTIFY), else unsigned.
 */
class FakeSecondary {
  readonly sock = dgram.createSocket('udp4');
  readonly got: { msg: Buffer; from: string }[] = [];
  constructor(
    private readonly answer: (n: number) => boolean,
    signWith?: { key: TsigKey; timeSigned: number },
  ) {
    this.sock.on('message', (msg, rinfo) => {
      this.got.push({ msg, from: rinfo.address });
      if (this.answer(this.got.length)) {
        let out: Buffer = Buffer.from(msg.subarray(0, 12));
        out[2] = 0x80 | (OPCODE_NOTIFY << 3) | 0x04;
        out[3] = 0;
        out.writeUInt16BE(0, 4);
        out.writeUInt16BE(0, 6);
        out.writeUInt16BE(0, 10);
        const rec = findTsig(msg);
        if (signWith && rec && rec !== 'malformed') out = sign(out, signWith.key, { timeSigned: signWith.timeSigned }, { requestMac: rec.mac }).message;
        this.sock.send(out, rinfo.port, rinfo.address);
      }
    });
  }
  async bind(): Promise<number> {
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.1', () => r()));
    return this.sock.address().port;
  }
  close(): void {
    this.sock.close();
  }
}

function capture(): { log: winston.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      cb();
    },
  });
  return { log: winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }), lines };
}

/** Let the sockets deliver what is in flight (real UDP on loopback). */
async function settle(until: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !until(); i++) await sleep(5);
}

const zones = zonesFromText({ 'example.com.zone': DNS_TEST_ZONE });
const soa = (serial: number): RRsetOf<'SOA'> => {
  const s = zones.zones[0]!.soa;
  return { ...s, data: { ...s.data, serial } };
};

describe('dns/secondary/notify', () => {
  const open: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
  });

  it('the message: opcode NOTIFY, AA, question zone SOA, the new SOA as the answer', () => {
    const d = decode(notifyMessage(soa(77)));
    expect(d.opcode).to.equal(OPCODE_NOTIFY);
    expect(d.aa).to.equal(true);
    expect(d.qr).to.equal(false);
    expect(d.question).to.deep.equal({ name: 'example.com.', type: 'SOA', qclass: 1 });
    expect(d.answer[0]).to.match(/^example\.com\. 30 IN SOA .* 77 3600 600 86400 5$/);
  });

  it('retries every 2 s until the secondary answers, then stops', async () => {
    const sec = new FakeSecondary((n) => n === 3);
    open.push(sec);
    const port = await sec.bind();
    const clock = new FakeClock();
    const n = new Notifier({ sourceAddresses: ['127.0.0.1'], clock });
    open.push(n);
    await n.start();
    n.notify(soa(5), [{ address: '127.0.0.1', port }]);
    await settle(() => sec.got.length === 1);
    expect(sec.got).to.have.length(1);
    clock.advance(1999);
    await sleep(20);
    expect(sec.got).to.have.length(1);
    clock.advance(1);
    await settle(() => sec.got.length === 2);
    expect(sec.got).to.have.length(2);
    clock.advance(2000);
    await settle(() => n.pending === 0);
    expect(sec.got).to.have.length(3);
    expect(n.pending).to.equal(0);
    clock.advance(10_000);
    await sleep(20);
    expect(sec.got).to.have.length(3);
    expect(n.counters).to.deep.equal({ sent: 3, answered: 1, failed: 0, unverified: 0 });
    expect(clock.timerCount).to.equal(0);
    // The same ID each time, from the instance's address.
    expect(new Set(sec.got.map((g) => g.msg.readUInt16BE(0))).size).to.equal(1);
    expect(sec.got[0]!.from).to.equal('127.0.0.1');
  });

  it('gives up after 3 tries and logs NOTIFY_FAILED once', async () => {
    const sec = new FakeSecondary(() => false);
    open.push(sec);
    const port = await sec.bind();
    const clock = new FakeClock();
    const { log, lines } = capture();
    const n = new Notifier({ sourceAddresses: ['127.0.0.1'], clock, log });
    open.push(n);
    await n.start();
    n.notify(soa(6), [{ address: '127.0.0.1', port }]);
    for (let i = 0; i < 5; i++) {
      clock.advance(2000);
      await sleep(10);
    }
    await settle(() => sec.got.length === 3);
    expect(sec.got).to.have.length(3);
    expect(n.pending).to.equal(0);
    expect(n.counters).to.deep.equal({ sent: 3, answered: 0, failed: 1, unverified: 0 });
    const failed = lines.filter((l) => l.event === EVENTS.NOTIFY_FAILED.code);
    expect(failed).to.have.length(1);
    expect(failed[0]).to.include({ zone: 'example.com', serial: 6, secondary: `127.0.0.1:${port}`, reason: 'no answer after 3 tries' });
  });

  it('a newer serial replaces a NOTIFY still retrying', async () => {
    const sec = new FakeSecondary(() => false);
    open.push(sec);
    const port = await sec.bind();
    const clock = new FakeClock();
    const n = new Notifier({ sourceAddresses: ['127.0.0.1'], clock });
    open.push(n);
    await n.start();
    n.notify(soa(7), [{ address: '127.0.0.1', port }]);
    clock.advance(2000);
    n.notify(soa(8), [{ address: '127.0.0.1', port }]);
    await settle(() => sec.got.length === 3);
    expect(n.pending).to.equal(1);
    expect(clock.timerCount).to.equal(1);
    const serials = sec.got.map((g) => decode(g.msg).answer[0]!.split(' ')[6]);
    expect(serials).to.deep.equal(['7', '7', '8']);
  });

  describe('with a TSIG key', () => {
    const key: TsigKey = { name: 'xfr-key', algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 3) };
    const NOW = 1_795_000_000_000;

    /** A signed Notifier toward `sec`; the clock advanced 2 s `rounds` times. */
    async function run(sec: FakeSecondary, rounds: number) {
      open.push(sec);
      const port = await sec.bind();
      const clock = new FakeClock();
      const { log, lines } = capture();
      const n = new Notifier({ sourceAddresses: ['127.0.0.1'], clock, key, wallClock: () => NOW, log });
      open.push(n);
      await n.start();
      n.notify(soa(9), [{ address: '127.0.0.1', port }]);
      await settle(() => sec.got.length === 1 && (n.pending === 0 || n.counters.unverified > 0));
      for (let i = 0; i < rounds; i++) {
        clock.advance(2000);
        await settle(() => n.counters.unverified === sec.got.length && (sec.got.length === i + 2 || n.pending === 0));
      }
      return { n, lines, port };
    }

    it('signs NOTIFY, and takes a reply signed over its MAC as the answer', async () => {
      const { n } = await run(new FakeSecondary(() => true, { key, timeSigned: NOW / 1000 }), 0);
      expect(n.pending).to.equal(0);
      expect(n.counters).to.deep.include({ sent: 1, answered: 1, unverified: 0 });
    });

    for (const [what, signWith] of [
      ['unsigned', undefined],
      ['signed with another secret', { key: { ...key, secret: Buffer.alloc(32, 4) }, timeSigned: NOW / 1000 }],
      ['signed an hour off', { key, timeSigned: NOW / 1000 - 3600 }],
    ] as const) {
      it(`a reply ${what} is not an answer: counted, NOTIFY_UNVERIFIED once, retried, then NOTIFY_FAILED`, async () => {
        const sec = new FakeSecondary(() => true, signWith);
        const { n, lines, port } = await run(sec, 3);
        expect(sec.got).to.have.length(3);
        const rec = findTsig(sec.got[0]!.msg);
        if (!rec || rec === 'malformed') throw new Error('NOTIFY not signed');
        expect(verify(sec.got[0]!.msg, rec, key, NOW / 1000).error).to.equal(0);
        expect(n.pending).to.equal(0);
        expect(n.counters).to.deep.equal({ sent: 3, answered: 0, failed: 1, unverified: 3 });
        const unverified = lines.filter((l) => l.event === EVENTS.NOTIFY_UNVERIFIED.code);
        expect(unverified).to.have.length(1);
        expect(unverified[0]).to.include({ zone: 'example.com', serial: 9, secondary: `127.0.0.1:${port}` });
        const failed = lines.filter((l) => l.event === EVENTS.NOTIFY_FAILED.code);
        expect(failed.map((l) => l.reason)).to.deep.equal(['no verified answer after 3 tries']);
      });
    }
  });

  it('Secondaries: --notify always; NS hosts only with --allow-transfer, never self or the pool', () => {
    const table = buildAnswerTable(zones).table;
    const zone = table.zones[0]!;
    expect(nsTargets(zone, table.zones)).to.deep.equal([
      { address: '127.0.0.1', port: 53 },
      { address: '127.0.0.2', port: 53 },
    ]);
    const explicit = [{ address: '127.0.0.9', port: 5300 }];
    const onlyNotify = new Secondaries({ allowTransfer: [], notify: explicit, ownAddresses: ['127.0.0.11'] });
    expect(onlyNotify.targets(zone, table.zones)).to.deep.equal(explicit);
    const both = new Secondaries({ allowTransfer: ['127.0.0.0/8'], notify: explicit, ownAddresses: ['127.0.0.1'], notNotified: () => ['127.0.0.2'] });
    expect(both.targets(zone, table.zones)).to.deep.equal(explicit);
    const ns = new Secondaries({ allowTransfer: ['127.0.0.0/8'], notify: [], ownAddresses: ['127.0.0.11'] });
    expect(ns.targets(zone, table.zones)).to.have.length(2);
  });

  it('Secondaries: NOTIFY once per serial change, after start', async () => {
    const sec = new FakeSecondary(() => true);
    open.push(sec);
    const port = await sec.bind();
    const s = new Secondaries({ allowTransfer: [], notify: [{ address: '127.0.0.1', port }], ownAddresses: ['127.0.0.1'], clock: new FakeClock() });
    open.push(s);
    const serials = new SerialCounter();
    s.tableChanged(buildAnswerTable(zones, { serials }).table); // before start: remembered, not sent
    await s.start();
    await settle(() => sec.got.length === 1);
    s.tableChanged(buildAnswerTable(zones, { serials }).table); // same serial: nothing
    const members = [{ target: 'proxy2.example.com', port: 5060, priority: 10, weight: 50, transports: ['udp' as const], addresses: ['127.0.0.12'] }];
    s.tableChanged(buildAnswerTable(zones, { serials, filter: { pool: 'sipproxy.example.com', members, isHealthy: () => false, local: [] } }).table);
    await sleep(30);
    // Fail open serves the same records: the serial did not move, no NOTIFY.
    expect(sec.got).to.have.length(1);
    const members2 = [...members, { ...members[0]!, target: 'proxy1.example.com', addresses: ['127.0.0.11'] }];
    s.tableChanged(buildAnswerTable(zones, { serials, filter: { pool: 'sipproxy.example.com', members: members2, isHealthy: (t) => t !== 'proxy2.example.com', local: [] } }).table);
    await settle(() => sec.got.length === 2);
    expect(sec.got.map((g) => decode(g.msg).answer[0]!.split(' ')[6])).to.deep.equal(['2026112501', '2026112502']);
  });
});

describe('dns/authority/serial: time-based', () => {
  it('zone serial + seconds since 2026-01-01 at the change, at least previous + 1, unchanged while nothing changes', () => {
    let now = (SERIAL_EPOCH + 1000) * 1000;
    const c = new SerialCounter({ wallClock: () => now });
    expect(c.next('z', 2026112501, 'a')).to.equal(2026112501 + 1000);
    now += 5000;
    expect(c.next('z', 2026112501, 'a')).to.equal(2026112501 + 1000); // no change: no new serial
    expect(c.next('z', 2026112501, 'b')).to.equal(2026112501 + 1005);
    expect(c.next('z', 2026112501, 'c')).to.equal(2026112501 + 1006); // two changes in one second
    now += 60_000;
    expect(c.next('z', 2026112502, 'c')).to.equal(2026112502 + 1065); // the file serial raised
  });

  it('a restart (a new counter) later never serves a lower serial, nor does another instance started later', () => {
    let now = (SERIAL_EPOCH + 50_000) * 1000;
    const before = new SerialCounter({ wallClock: () => now });
    before.next('z', 100, 'a');
    const last = before.next('z', 100, 'b');
    now += 2000;
    const after = new SerialCounter({ wallClock: () => now });
    expect(after.next('z', 100, 'a')).to.be.greaterThan(last);
  });
});
