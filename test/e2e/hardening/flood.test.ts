/**
 * Floods against a real srvproxy instance (child process) in front of the
 * simulated HA pair: a burst of INVITEs above --overload-ctrl-dialog-rate
 * gets 503 + Retry-After while the pair monitor's OPTIONS probes keep the
 * pair in service and an established dialog still ends with BYE/200; a flood
 * of TCP connections from one source is capped and the instance serves others.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import net from 'node:net';
import { UserAgent } from '../../../src/sim/ua.js';
import { callThrough, crashLines, pairStatus, startHardenedSite, type HardenedSite } from '../../support/hardening-site.js';
import { eventually, sleep } from '../../support/processes.js';

const RATE = 20;

function invite(i: number, from: string, port: number, proxyPort: number): Buffer {
  return Buffer.from(
    [
      'INVITE sip:1000@tserver.example.com SIP/2.0',
      `Via: SIP/2.0/UDP ${from}:${port};branch=z9hG4bKflood${i};rport`,
      'Max-Forwards: 70',
      `From: <sip:flood@example.com>;tag=fl${i}`,
      'To: <sip:1000@tserver.example.com>',
      `Call-ID: flood-${i}-${proxyPort}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:flood@${from}:${port}>`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

describe('e2e: floods', function () {
  this.timeout(40_000);
  let site: HardenedSite;

  before(async () => {
    site = await startHardenedSite({ args: ['--overload-ctrl-dialog-rate', String(RATE)] });
    await eventually(async () => (await pairStatus(site)).inService, 5000, 'pair in service');
  });

  after(async () => {
    await site?.stop();
  });

  it(`an INVITE burst above ${RATE}/s gets 503 + Retry-After; probes keep the pair in service; an established dialog's BYE gets 200`, async () => {
    const ua = await UserAgent.open({ proxy: { address: site.address, port: site.sipPort }, localAddress: '127.0.0.61', transactionTimeoutMs: 4000 });
    const flood = dgram.createSocket('udp4');
    try {
      const inv = await ua.invite({ to: 'sip:1000@tserver.example.com' });
      expect(inv.status).to.equal(200);
      await new Promise<void>((r) => flood.bind(0, '127.0.0.53', () => r()));
      const fport = flood.address().port;
      const finals = new Map<string, { status: number; retryAfter: boolean }>();
      flood.on('message', (buf) => {
        const s = buf.toString('latin1');
        const st = /^SIP\/2\.0 (\d{3})/.exec(s);
        const cid = /\r\nCall-ID: (\S+)/i.exec(s);
        if (st && cid && Number(st[1]) >= 200 && !finals.has(cid[1]!)) finals.set(cid[1]!, { status: Number(st[1]), retryAfter: /\r\nRetry-After: \d+/i.test(s) });
      });
      // 600 INVITEs over ~3 s (200/s, ten times the limit), checking the pair's state as it goes
      let outOfService = 0;
      // overload state as /status and /metrics show it while shedding
      const seen = { status: false, metric: false };
      const http = `http://127.0.0.1:${site.httpPort}`;
      const N = 600;
      for (let i = 0; i < N; i++) {
        flood.send(invite(i, '127.0.0.53', fport, site.sipPort), site.sipPort, site.address);
        if (i % 20 === 19) {
          await sleep(100);
          if (!(await pairStatus(site)).inService) outOfService++;
        }
        if (i % 100 === 99) {
          const st = (await (await fetch(`${http}/status`)).json()) as { overload: { active: boolean; dialogRate: number; rejections: number } };
          seen.status ||= st.overload.active && st.overload.dialogRate === RATE && st.overload.rejections > 0;
          seen.metric ||= /^srvproxy_sip_overload_active 1$/m.test(await (await fetch(`${http}/metrics`)).text());
        }
      }
      expect(seen, 'overload seen active in /status and /metrics during the burst').to.deep.equal({ status: true, metric: true });
      await eventually(() => finals.size >= N * 0.98, 8000, 'final responses to the burst');
      const all = [...finals.values()];
      const shed = all.filter((f) => f.status === 503);
      const ok = all.filter((f) => f.status === 200);
      console.log(`      burst: ${N} INVITEs at ~200/s: ${ok.length} x 200, ${shed.length} x 503`);
      expect(shed.length, 'INVITEs shed').to.be.greaterThan(N * 0.7);
      expect(shed.every((f) => f.retryAfter), 'every 503 has Retry-After').to.equal(true);
      expect(ok.length, 'INVITEs admitted (about RATE a second)').to.be.within(RATE, RATE * 6);
      expect(outOfService, 'status polls that saw the pair out of service').to.equal(0);
      // the established dialog goes on
      const bye = await ua.bye(inv.dialog!);
      expect(bye.status).to.equal(200);
      expect((await pairStatus(site)).inService).to.equal(true);
    } finally {
      flood.close();
      ua.close();
    }
  });

  it('a flood of 2000 TCP connections from one source is capped; other sources are still served', async () => {
    const socks: net.Socket[] = [];
    let refused = 0;
    try {
      for (let i = 0; i < 2000; i++) {
        const c = net.connect({ host: site.address, port: site.sipPort, localAddress: '127.0.0.54' });
        c.on('error', () => undefined);
        c.on('close', () => refused++);
        socks.push(c);
        if (i % 200 === 199) await sleep(20);
      }
      await eventually(() => refused >= 2000 - 64, 10_000, 'connections over the per-source limit closed');
      await sleep(300);
      const open = socks.filter((c) => !c.destroyed).length;
      const metrics = await fetch(`http://127.0.0.1:${site.httpPort}/metrics`).then((r) => r.text());
      const held = Number(/^srvproxy_sip_tcp_connections (\d+)/m.exec(metrics)?.[1] ?? NaN);
      console.log(`      TCP flood: 2000 connections from one source, ${open} held open by the instance (metric: ${held})`);
      expect(open).to.be.at.most(64);
      expect(held).to.be.at.most(64);
      const refusedMetric = Number(/^srvproxy_sip_tcp_refused_total\{scope="per_source"\} (\d+)/m.exec(metrics)?.[1] ?? NaN);
      expect(refusedMetric).to.be.at.least(2000 - 64);
      // another source: a call over UDP and an OPTIONS over TCP
      const c = await callThrough(site, '127.0.0.62');
      expect(c.ok, c.detail).to.equal(true);
      const other = net.connect({ host: site.address, port: site.sipPort, localAddress: '127.0.0.55' });
      other.on('error', () => undefined);
      const got = new Promise<string>((resolve) => other.on('data', (d: Buffer) => resolve(d.toString('latin1'))));
      await new Promise<void>((r) => other.once('connect', () => r()));
      const lp = other.localPort;
      other.write(
        [`OPTIONS sip:proxy1.example.com:${site.sipPort} SIP/2.0`, `Via: SIP/2.0/TCP 127.0.0.55:${lp};branch=z9hG4bKtcpother`, 'Max-Forwards: 70',
          'From: <sip:a@example.com>;tag=1', `To: <sip:proxy1.example.com:${site.sipPort}>`, 'Call-ID: tcp-other', 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', ''].join('\r\n'),
      );
      expect(await Promise.race([got, sleep(3000).then(() => 'timeout')])).to.match(/^SIP\/2\.0 200/);
      other.destroy();
    } finally {
      for (const s of socks) s.destroy();
    }
    expect(crashLines(site.proc.output)).to.deep.equal([]);
  });
});
