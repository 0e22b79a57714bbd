/**
 * A reload of a large zone does not stall the instance: a real instance (the
 * CLI as a child process) serving a 20k-record zone answers a closed loop of
 * UDP queries while POST /reload re-reads a changed copy; no gap between two
 * answers may exceed RELOAD_STALL_BOUND_MS, the new record is served after
 * the reload, and a broken copy is rejected with file:line while the loaded
 * zone keeps answering. The bound is generous so that the test holds on a
 * loaded two-core machine; the 50 ms goal is measured by `npm run bench:zone`
 * on the 200k-record zone. Parsing 20k records on the main thread takes
 * longer than the bound, so a reload that did would fail here.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import { promises as dnsp } from 'node:dns';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bigZoneText } from '../../support/big-zone.js';
import { freePort } from '../../support/ports.js';
import { sleep, startSrvproxy, stopAll } from '../../support/processes.js';

const RECORDS = 20_000;
const RELOAD_STALL_BOUND_MS = 400;

function aQuery(id: number, name: string): Buffer {
  const q = Buffer.alloc(12 + name.length + 2 + 4);
  q.writeUInt16BE(id, 0);
  q.writeUInt16BE(1, 4);
  let o = 12;
  for (const l of name.split('.')) {
    q[o++] = l.length;
    o += q.write(l, o, 'latin1');
  }
  q[o++] = 0;
  q.writeUInt16BE(1, o);
  q.writeUInt16BE(1, o + 2);
  return q;
}

/** Closed-loop UDP queries (8 in flight) for random names; the time of every answer and its RCODE. */
function queryLoop(port: number, names: readonly string[]) {
  const sock = dgram.createSocket('udp4');
  const times: number[] = [];
  const rcodes = new Map<number, number>();
  let id = 0;
  let inFlight = 0;
  let running = true;
  const send = (): void => {
    inFlight++;
    id = (id + 1) & 0xffff;
    sock.send(aQuery(id, names[Math.floor(Math.random() * names.length)]!), port, '127.0.0.1');
  };
  sock.on('message', (m: Buffer) => {
    times.push(performance.now());
    const rcode = m[3]! & 0xf;
    rcodes.set(rcode, (rcodes.get(rcode) ?? 0) + 1);
    inFlight--;
    if (running) send();
  });
  const topUp = setInterval(() => {
    while (running && inFlight < 8) send();
  }, 20);
  sock.bind(0, '127.0.0.1', () => {
    for (let i = 0; i < 8; i++) send();
  });
  return {
    times,
    rcodes,
    stop: (): Promise<void> =>
      new Promise((resolve) => {
        running = false;
        clearInterval(topUp);
        sock.close(() => resolve());
      }),
  };
}

/** The longest time without an answer in [from, to]. */
function longestGap(times: readonly number[], from: number, to: number): number {
  let max = 0;
  let prev = from;
  for (const t of times) {
    if (t < from) continue;
    if (t > to) break;
    max = Math.max(max, t - prev);
    prev = t;
  }
  return Math.max(max, to - prev);
}

describe('e2e dns: reloading a 20k-record zone does not stall answers', function () {
  this.timeout(90_000);
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-reload-stall-'));
  });
  after(async () => {
    await stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`answers queries during the reload with no gap over ${RELOAD_STALL_BOUND_MS} ms, then serves the new data; a broken copy is rejected with file:line`, async () => {
    const file = path.join(dir, 'example.com.zone');
    fs.writeFileSync(file, bigZoneText(RECORDS));
    const [dnsPort, sipPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    await startSrvproxy(['--self', 'proxy1.example.com', '--pair', 'tserver.example.com', '--zones', dir, '--listen', '127.0.0.1',
      '--dns-port', String(dnsPort), '--sip-port', String(sipPort), '--log-level', 'warn'], httpPort, 'big-zone');
    const http = `http://127.0.0.1:${httpPort}`;
    const resolver = new dnsp.Resolver({ timeout: 2000, tries: 2 });
    resolver.setServers([`127.0.0.1:${dnsPort}`]);
    expect(await resolver.resolve4('h1998.example.com')).to.deep.equal(['10.0.7.206']);

    const names = Array.from({ length: RECORDS / 10 - 1 }, (_, i) => `h${i}.example.com`);
    const loop = queryLoop(dnsPort, names);
    try {
      await sleep(500);
      fs.writeFileSync(file, bigZoneText(RECORDS, 'example.com', 2026120302) + 'reloaded A 127.0.0.99\n');
      const start = performance.now();
      const r = await fetch(`${http}/reload`, { method: 'POST', signal: AbortSignal.timeout(60_000) });
      expect(r.status, await r.text()).to.equal(200);
      const end = performance.now() + 200;
      await sleep(200);
      const gap = longestGap(loop.times, start, end);
      const during = loop.times.filter((t) => t >= start && t <= end).length;
      expect(during, 'answers during the reload').to.be.above(10);
      expect(gap, `longest gap between answers during a reload of ${Math.round(end - start)} ms`).to.be.below(RELOAD_STALL_BOUND_MS);
      expect([...loop.rcodes.keys()], 'every answer NOERROR').to.deep.equal([0]);
    } finally {
      await loop.stop();
    }
    expect(await resolver.resolve4('reloaded.example.com')).to.deep.equal(['127.0.0.99']);

    // A broken copy: rejected with file:line, the loaded zone keeps answering.
    const text = bigZoneText(RECORDS, 'example.com', 2026120303);
    fs.writeFileSync(file, text + 'broken A 300.0.0.1\n');
    const bad = await fetch(`${http}/reload`, { method: 'POST', signal: AbortSignal.timeout(60_000) });
    const body = await bad.text();
    expect(bad.status).to.equal(422);
    expect(body).to.contain(`${file}:${text.split('\n').length}: A: bad IPv4 address '300.0.0.1'`);
    expect(await resolver.resolve4('reloaded.example.com')).to.deep.equal(['127.0.0.99']);
  });
});
