import { expect } from 'chai';
import dgram from 'node:dgram';
import { silentLogger } from '../../../../src/shared/log.js';
import { newTransportCounters } from '../../../../src/sip/transport/types.js';
import { PROBE_INTERVAL_MS, UdpListener } from '../../../../src/sip/transport/udp.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Keeps the event loop busy for `ms`. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy
  }
}

describe('sip/transport/udp lateness probe (a real socket on loopback)', () => {
  it('reports each probe age with whether it grew since the last: rising while the queue ages, falling as a backlog is worked off', async () => {
    const samples: { age: number; rising: boolean }[] = [];
    // each message costs the listener 1 ms: a burst of BURST messages queues for BURST ms
    const BURST = 600;
    let handled = 0;
    const slow = () => {
      block(1);
      handled++;
    };
    const udp = new UdpListener({ address: '127.0.0.1', port: 0 }, { onMessage: slow, onBadMessage: slow }, newTransportCounters(), silentLogger, undefined, (age, rising) => {
      samples.push({ age, rising });
    });
    await udp.start();
    const sender = dgram.createSocket('udp4');
    try {
      await sleep(3 * PROBE_INTERVAL_MS + 50);
      const before = samples.length;
      expect(before, 'probes came back').to.be.greaterThan(0);
      const msg = Buffer.from('OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKburst\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>\r\nCall-ID: burst\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n');
      for (let i = 0; i < BURST; i++) sender.send(msg, udp.port, '127.0.0.1');
      const deadline = performance.now() + 10_000;
      while (handled < BURST && performance.now() < deadline) await sleep(50);
      expect(handled, 'the burst was read').to.equal(BURST);
      await sleep(3 * PROBE_INTERVAL_MS);
      // every report says whether it is older than the one before it
      for (let i = 1; i < samples.length; i++) expect(samples[i]!.rising, `sample ${i}`).to.equal(samples[i]!.age > samples[i - 1]!.age);
      const after = samples.slice(before);
      const peak = after.reduce((k, s, i) => (s.age > after[k]!.age ? i : k), 0);
      // the probes queued behind the burst age, and are seen rising
      expect(after[peak]!.age).to.be.at.least(BURST / 2);
      expect(after[peak]!.rising).to.equal(true);
      // then they come out younger: a backlog being read, not growing
      expect(after.slice(peak + 1).some((s) => !s.rising), 'a falling report after the peak').to.equal(true);
      expect(after[after.length - 1]!.age).to.be.lessThan(PROBE_INTERVAL_MS);
    } finally {
      sender.close();
      await udp.stop();
    }
  });
});
