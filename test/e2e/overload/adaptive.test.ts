/**
 * Adaptive overload control through a real srvproxy instance (the CLI, its
 * own process, default settings) in front of the simulated HA pair. The
 * instance is made slow on purpose (SRVPROXY_TEST_DELAY_PER_MESSAGE_MS: 4 ms
 * of CPU per incoming message, so that it carries a few dozen calls/s: a call
 * is six messages in) and offered 100 new calls/s, more than twice what it
 * can carry. While it sheds: BYEs of
 * dialogs set up before, and OPTIONS, are never answered 503, and the pair
 * stays in service; new INVITEs get 503 with a Retry-After of 5-10 s; calls
 * that are admitted complete. When the load stops it admits everything again
 * within seconds. Figures are printed.
 */
import { expect } from 'chai';
import { startSimPair, type SimPair } from '../../../src/sim/ha-pair.js';
import { UserAgent, type CallResult, type UaDialog } from '../../../src/sim/ua.js';
import { freePort } from '../../support/ports.js';
import { eventually, sleep, startSrvproxy, stopAll, type Proc } from '../../support/processes.js';
import { SipPeer } from '../../support/sip-peer.js';
import { request } from '../../support/sip-ua.js';
import { writeSiteZone } from '../../support/site-zone.js';

const PROXY = '127.0.0.11';
const PRIMARY = '127.0.0.21';
const BACKUP = '127.0.0.22';
const PAIR = 'tserver.example.com';
const TO = `sip:1000@${PAIR}`;

interface Adaptive {
  state: 'off' | 'open' | 'limiting';
  targetMs: number;
  rate: number | null;
  latenessMs: number;
  shed: number;
  admitted: number;
}

interface Status {
  pairs: { name: string; inService: boolean; active: string | null }[];
  overload: { active: boolean; rejections: number; adaptive: Adaptive };
}

describe('e2e: adaptive overload control (a slowed instance offered several times what it carries)', function () {
  this.timeout(90_000);
  let proxy: Proc | undefined;
  let pair: SimPair | undefined;
  let sipPort = 0;
  let httpPort = 0;
  const peers: SipPeer[] = [];
  const uas: UserAgent[] = [];

  const status = async (): Promise<Status> => {
    const r = await fetch(`http://127.0.0.1:${httpPort}/status`, { signal: AbortSignal.timeout(3000) });
    return (await r.json()) as Status;
  };

  before(async () => {
    const dnsPort = await freePort(PROXY);
    sipPort = await freePort(PROXY);
    httpPort = await freePort('127.0.0.1');
    const simPort = await freePort(PRIMARY);
    const zones = writeSiteZone({
      proxies: [{ name: 'proxy1', address: PROXY, port: sipPort }],
      pairs: { tserver: [{ name: 'sips-a', address: PRIMARY, port: simPort }, { name: 'sips-b', address: BACKUP, port: simPort }] },
    });
    pair = await startSimPair({ primary: { address: PRIMARY, port: simPort }, backup: { address: BACKUP, port: simPort } });
    proxy = await startSrvproxy(
      // the adaptive control with its default settings (on, target 250 ms)
      ['--self', 'proxy1.example.com', '--pair', PAIR, '--zones', zones, '--dns-port', String(dnsPort)],
      httpPort,
      'srvproxy',
      { SRVPROXY_TEST_DELAY_PER_MESSAGE_MS: '4' },
    );
    await eventually(async () => (await status()).pairs[0]?.active === 'sips-a.example.com', 5000, 'primary active');
  });

  after(async () => {
    for (const ua of uas.splice(0)) ua.close();
    await Promise.all(peers.splice(0).map((p) => p.stop()));
    await pair?.stop();
    await stopAll();
  });

  it('sheds new INVITEs with 503 + Retry-After, never BYE or OPTIONS; the pair stays in service; admits everything again after the load', async () => {
    const before = await status();
    expect(before.overload.adaptive).to.include({ state: 'open', targetMs: 250 });

    // dialogs set up before the overload, ended during it
    const ua = await UserAgent.open({ proxy: { address: PROXY, port: sipPort }, transactionTimeoutMs: 10_000 });
    uas.push(ua);
    const dialogs: UaDialog[] = [];
    for (let i = 0; i < 20; i++) {
      const inv = await ua.invite({ to: TO });
      expect(inv.status).to.equal(200);
      dialogs.push(inv.dialog!);
    }

    // the load: 100 new calls/s for up to 12 s (the slowed instance carries a few dozen)
    const load = await UserAgent.open({ proxy: { address: PROXY, port: sipPort }, transactionTimeoutMs: 10_000 });
    uas.push(load);
    const calls: Promise<CallResult>[] = [];
    let offering = true;
    const loadStart = performance.now();
    const offered = (async () => {
      const t0 = performance.now();
      for (let i = 0; offering && i < 1200; i++) {
        const wait = t0 + (i * 1000) / 100 - performance.now();
        if (wait > 1) await sleep(wait);
        calls.push(load.call({ to: TO, holdMs: 200 }));
      }
    })();
    // the pair's health, sampled all along
    let pairOut = 0;
    let samples = 0;
    let maxLateness = 0;
    const watch = setInterval(() => {
      status().then(
        (s) => {
          samples++;
          if (!s.pairs[0]?.inService) pairOut++;
          maxLateness = Math.max(maxLateness, s.overload.adaptive.latenessMs);
        },
        () => undefined,
      );
    }, 500);

    try {
      const tLimit = await eventually(async () => (await status()).overload.adaptive.state === 'limiting', 6000, 'adaptive control limiting', 200);
      console.log(`      [figure] limiting ${tLimit} ms after the load began`);
      expect(proxy!.output).to.match(/"event":"SRV-50002"/);

      // while it sheds: BYEs of the earlier dialogs all get 200
      const byes = await Promise.all(dialogs.map((d) => ua.bye(d)));
      expect(byes.map((b) => b.status)).to.deep.equal(dialogs.map(() => 200));

      // OPTIONS to the instance (as a peer probes it) and to the pair through it: never 503
      const peer = new SipPeer('127.0.0.1');
      peers.push(peer);
      await peer.start();
      for (const ruri of ['sip:proxy1.example.com', `sip:${PAIR}`]) {
        for (let i = 0; i < 5; i++) {
          const rq = request(peer, 'OPTIONS', { ruri });
          peer.sendUdp(rq, PROXY, sipPort);
          const res = await peer.waitFor((r) => r.msg.headers['call-id'] === rq.headers['call-id'] && (r.msg.status ?? 0) >= 200, 5000, `OPTIONS ${ruri}`);
          expect(res.msg.status, `OPTIONS ${ruri}`).to.equal(200);
        }
      }

      // a new INVITE is shed sooner or later, with a Retry-After of 5-10 s
      let retryAfter: string | undefined;
      let shedTag: string | undefined;
      for (let i = 0; i < 40 && retryAfter === undefined; i++) {
        const rq = request(peer, 'INVITE', { ruri: TO });
        peer.sendUdp(rq, PROXY, sipPort);
        const res = await peer.waitFor((r) => r.msg.headers['call-id'] === rq.headers['call-id'] && (r.msg.status ?? 0) >= 200, 8000, 'INVITE final');
        if (res.msg.status === 503) {
          retryAfter = String(res.msg.headers['retry-after']);
          shedTag = res.msg.headers.to?.params.tag ?? undefined;
          expect(res.msg.headers['call-id']).to.equal(rq.headers['call-id']);
          expect(res.msg.headers.cseq).to.deep.include({ method: 'INVITE' });
          // its ACK (RFC 3261 §17.1.1.3) is taken and goes nowhere
          const ack = request(peer, 'ACK', { ruri: TO, callId: rq.headers['call-id'], fromTag: rq.headers.from!.params.tag!, toTag: String(shedTag), branch: rq.headers.via![0]!.params.branch as string });
          peer.sendUdp(ack, PROXY, sipPort);
        }
        else if (res.msg.status === 200) {
          const ack = request(peer, 'ACK', { ruri: TO, callId: rq.headers['call-id'], fromTag: rq.headers.from!.params.tag!, toTag: res.msg.headers.to!.params.tag! });
          peer.sendUdp(ack, PROXY, sipPort);
        }
      }
      expect(retryAfter, 'a 503 to a new INVITE').to.not.equal(undefined);
      expect(Number(retryAfter)).to.be.within(5, 10);
      // a plain UDP INVITE is refused from its bytes, before decoding (sip/proxy/fast-shed)
      expect(shedTag, 'the To tag of a refusal made before decoding').to.match(/^srvshed-[0-9a-f]{8}$/);
      // the overload lasts 4 s at least, so that the pair's health is watched through it
      await sleep(4000 - (performance.now() - loadStart));
    } finally {
      offering = false;
      await offered;
    }

    const results = await Promise.all(calls);
    clearInterval(watch);
    const shed = results.filter((r) => r.status === 503).length;
    const admitted = results.filter((r) => r.status === 200);
    const other = results.filter((r) => r.status !== 503 && r.status !== 200);
    const setups = admitted.map((r) => r.setupMs).sort((a, b) => a - b);
    const p99 = setups[Math.floor(setups.length * 0.99)] ?? 0;
    console.log(`      [figure] offered ${results.length} calls: ${admitted.length} admitted (${admitted.filter((r) => r.ok).length} completed with BYE 200), ${shed} shed 503, ${other.length} other; admitted setup p99 ${Math.round(p99)} ms; lateness at most ${Math.round(maxLateness)} ms`);
    expect(shed).to.be.greaterThan(results.length / 4);
    expect(admitted.length).to.be.greaterThan(20);
    // admitted calls complete: their BYE gets 200
    expect(admitted.filter((r) => !r.ok).map((r) => r.error)).to.deep.equal([]);
    expect(other.map((r) => r.status)).to.deep.equal([]);
    expect(samples).to.be.greaterThan(4);
    expect(pairOut, 'the pair stayed in service').to.equal(0);
    const during = await status();
    expect(during.overload.adaptive.shed).to.be.greaterThan(0);

    // the load is gone: within seconds everything is admitted again
    const tOpen = await eventually(async () => (await status()).overload.adaptive.state === 'open', 15_000, 'adaptive control open again', 250);
    console.log(`      [figure] admitting everything again ${tOpen} ms after the load stopped`);
    expect(proxy!.output).to.match(/"event":"SRV-50003"/);
    const after: Promise<CallResult>[] = [];
    for (let i = 0; i < 30; i++) {
      after.push(ua.call({ to: TO }));
      await sleep(20);
    }
    expect((await Promise.all(after)).map((r) => r.status)).to.deep.equal(after.map(() => 200));
  });
});
