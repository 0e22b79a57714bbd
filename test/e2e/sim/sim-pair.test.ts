/**
 * The simulated SIP Server HA pair (two real processes) against the test user
 * agent directly, no proxy: the active member completes calls, the standby
 * answers 503, a killed or frozen primary is replaced by the backup within
 * about half a second, and the backup ends (BYE) dialogs set up on the primary.
 */
import { expect } from 'chai';
import dgram from 'node:dgram';
import net from 'node:net';
import { startSimPair, type SimPair } from '../../../src/sim/ha-pair.js';
import { freePort } from '../../support/ports.js';
import { UserAgent, runCalls, type UaDialog } from '../../../src/sim/ua.js';

const PRIMARY = '127.0.0.21';
const BACKUP = '127.0.0.22';
const TO = 'sip:x@tserver.example.com';

/** What a proxy does after a switchover: in-dialog requests go to the new active member. */
function retarget(d: UaDialog, address: string, port: number): void {
  d.remoteTarget = `sip:sim@${address}:${port}`;
}

async function options(address: string, port: number): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  try {
    const lp = s.address().port;
    const msg =
      `OPTIONS sip:${address}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${lp};branch=z9hG4bK${Math.random().toString(36).slice(2)};rport\r\n` +
      `Max-Forwards: 70\r\nFrom: <sip:probe@example.com>;tag=p1\r\nTo: <sip:${address}>\r\nCall-ID: ${Math.random()}@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
    const got = new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no OPTIONS response')), 2000);
      s.on('message', (b) => {
        clearTimeout(t);
        resolve(Number(/^SIP\/2\.0 (\d{3})/.exec(b.toString('latin1'))?.[1]));
      });
    });
    s.send(msg, port, address);
    return await got;
  } finally {
    s.close();
  }
}

describe('e2e: simulated HA pair', function () {
  this.timeout(30000);
  let pair: SimPair | undefined;
  let ua: UserAgent | undefined;
  let port = 0;

  beforeEach(async () => {
    port = await freePort(PRIMARY);
    pair = await startSimPair({ primary: { address: PRIMARY, port }, backup: { address: BACKUP, port }, tcp: true });
    ua = await UserAgent.open({ proxy: { address: PRIMARY, port }, transactionTimeoutMs: 3000 });
  });

  afterEach(async () => {
    ua?.close();
    await pair?.stop();
    pair = undefined;
    ua = undefined;
  });

  it('the active member completes calls; the standby answers OPTIONS and INVITE with 503', async () => {
    const summary = await runCalls(ua!, { to: TO, count: 20, rate: 100 });
    expect(summary).to.include({ calls: 20, ok: 20, failed: 0 });
    expect(summary.answeredBy).to.deep.equal({ [`${PRIMARY}:${port}`]: 20 });
    expect(await options(PRIMARY, port)).to.equal(200);
    expect(await options(BACKUP, port)).to.equal(503);
    const toStandby = await UserAgent.open({ proxy: { address: BACKUP, port }, transactionTimeoutMs: 3000 });
    try {
      const r = await toStandby.invite({ to: TO });
      expect(r.status).to.equal(503);
      expect(r.dialog).to.equal(undefined);
    } finally {
      toStandby.close();
    }
  });

  it('answers over TCP too (two pipelined OPTIONS on one connection)', async () => {
    for (const [address, want] of [[PRIMARY, 200], [BACKUP, 503]] as const) {
      const sock = net.connect(port, address);
      try {
        await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
        let got = '';
        sock.on('data', (d) => (got += d.toString('latin1')));
        const msg = (n: number) =>
          `OPTIONS sip:${address} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKtcp${n}\r\nMax-Forwards: 70\r\n` +
          `From: <sip:probe@example.com>;tag=t\r\nTo: <sip:${address}>\r\nCall-ID: tcp${n}@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
        sock.write(msg(1) + msg(2));
        const end = Date.now() + 2000;
        while ((got.match(/^SIP\/2\.0 /gm) ?? []).length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
        expect(got.match(/^SIP\/2\.0 (\d+)/gm)).to.deep.equal([`SIP/2.0 ${want}`, `SIP/2.0 ${want}`]);
      } finally {
        sock.destroy();
      }
    }
  });

  it('a BYE for an unknown dialog gets 481', async () => {
    const inv = await ua!.invite({ to: TO });
    expect(inv.status).to.equal(200);
    const d = inv.dialog!;
    const bogus: UaDialog = { ...d, remoteTag: 'nope', to: { ...d.to, params: { tag: 'nope' } } };
    expect((await ua!.bye(bogus)).status).to.equal(481);
    expect((await ua!.bye(d)).status).to.equal(200);
    expect((await ua!.bye(d)).status).to.equal(481);
  });

  it('primary killed: the backup promotes within ~0.5 s and ends the dialogs set up on the primary', async () => {
    const dialogs: UaDialog[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await ua!.invite({ to: TO });
      expect(r.status).to.equal(200);
      dialogs.push(r.dialog!);
    }
    const t0 = Date.now();
    await pair!.primary.kill();
    const ev = await pair!.backup.waitForState('active', 3000);
    const took = ev.at - t0;
    expect(took).to.be.below(800);
    expect(await options(BACKUP, port)).to.equal(200);
    for (const d of dialogs) {
      retarget(d, BACKUP, port);
      const bye = await ua!.bye(d);
      expect(bye.status, `BYE ${d.callId}`).to.equal(200);
    }
    // New calls work on the backup.
    const ua2 = await UserAgent.open({ proxy: { address: BACKUP, port }, transactionTimeoutMs: 3000 });
    try {
      const s = await runCalls(ua2, { to: TO, count: 5, rate: 100 });
      expect(s.ok).to.equal(5);
    } finally {
      ua2.close();
    }
    console.log(`      (promotion after SIGKILL: ${took} ms)`);
  });

  it('primary frozen (SIGSTOP): the backup promotes within ~0.5 s; thawed, the primary stands by', async () => {
    const r = await ua!.invite({ to: TO });
    expect(r.status).to.equal(200);
    const t0 = Date.now();
    pair!.primary.freeze();
    const ev = await pair!.backup.waitForState('active', 3000);
    const took = ev.at - t0;
    expect(took).to.be.below(800);
    retarget(r.dialog!, BACKUP, port);
    expect((await ua!.bye(r.dialog!)).status).to.equal(200);
    pair!.primary.thaw();
    await pair!.primary.waitForState('standby', 3000);
    expect(await options(PRIMARY, port)).to.equal(503);
    expect(await options(BACKUP, port)).to.equal(200);
    expect(pair!.backup.state).to.equal('active');
    console.log(`      (promotion after SIGSTOP: ${took} ms)`);
  });

  it('a forced switchover (SIGUSR1 on the active member) moves activity to the partner, with the dialogs', async () => {
    const r = await ua!.invite({ to: TO });
    expect(r.status).to.equal(200);
    pair!.primary.demote();
    await pair!.backup.waitForState('active', 3000);
    await pair!.primary.waitForState('standby', 3000);
    expect(await options(PRIMARY, port)).to.equal(503);
    retarget(r.dialog!, BACKUP, port);
    expect((await ua!.bye(r.dialog!)).status).to.equal(200);
    pair!.primary.promote();
    await pair!.primary.waitForState('active', 3000);
    await pair!.backup.waitForState('standby', 3000);
    expect(await options(PRIMARY, port)).to.equal(200);
  });

  it('a killed primary restarted as standby learns the dialogs and does not take over', async () => {
    const r = await ua!.invite({ to: TO });
    await pair!.primary.kill();
    await pair!.backup.waitForState('active', 3000);
    const since = pair!.primary.events.length;
    await pair!.primary.start('standby');
    await pair!.primary.waitFor((e) => e.ev === 'partner' && e.up === true, 3000, since);
    expect(pair!.primary.state).to.equal('standby');
    pair!.backup.demote();
    await pair!.primary.waitForState('active', 3000);
    expect((await ua!.bye(r.dialog!)).status).to.equal(200);
  });
});
