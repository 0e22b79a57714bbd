/**
 * Interop: the switchover of a SIP Server HA pair driven by sipp through one
 * srvproxy instance. sipp UAS stand-ins play the pair (both answer OPTIONS
 * with 200, -aa; the backup also answers BYEs for dialogs it did not create,
 * as a backup that shares dialog state would); a sipp UAC makes calls with
 * Record-Route (ACK and BYE follow the route set through the proxy). The
 * primary is SIGKILLed mid-run: no call may fail, and calls held across the
 * switchover must end with their BYE reaching the backup.
 * Needs sipp (scripts/install-interop.sh) and ss (iproute2).
 */
import { expect } from 'chai';
import fs from 'node:fs';
import { freePort } from '../support/ports.js';
import { eventually, sleep, startSrvproxy, stopAll, type Proc } from '../support/processes.js';
import { requireTools, startUac, startUas, stopAllSipp, uacStats, type Sipp } from '../support/sipp.js';
import { writeSiteZone } from '../support/site-zone.js';

const UAC = '127.0.0.160';
const PROXY = '127.0.0.161';
const PRIMARY = '127.0.0.162';
const BACKUP = '127.0.0.163';

interface Site {
  proxy: Proc;
  primary: Sipp;
  backup: Sipp;
  sipPort: number;
  httpPort: number;
  uacPort: number;
}

const zoneDirs: string[] = [];

async function activeMember(httpPort: number): Promise<string | null> {
  const r = await fetch(`http://127.0.0.1:${httpPort}/status`, { signal: AbortSignal.timeout(1000) });
  const st = (await r.json()) as { pairs: Array<{ active: string | null }> };
  return st.pairs[0]?.active ?? null;
}

/** One instance (proxy1) in front of the pair tserver = sips-a (primary), sips-b (backup). */
async function startSite(tag: string): Promise<Site> {
  const sipPort = await freePort(PROXY);
  const dnsPort = await freePort(PROXY);
  const aPort = await freePort(PRIMARY);
  const bPort = await freePort(BACKUP);
  const httpPort = await freePort('127.0.0.1');
  const uacPort = await freePort(UAC);
  const zones = writeSiteZone({
    proxies: [{ name: 'proxy1', address: PROXY, port: sipPort }],
    pairs: {
      tserver: [
        { name: 'sips-a', address: PRIMARY, port: aPort },
        { name: 'sips-b', address: BACKUP, port: bPort },
      ],
    },
  });
  zoneDirs.push(zones);
  const primary = await startUas(`${tag}-primary`, 'uas-rr.xml', PRIMARY, aPort);
  const backup = await startUas(`${tag}-backup`, 'uas-backup.xml', BACKUP, bPort);
  const proxy = await startSrvproxy(
    ['--self', 'proxy1.example.com', '--pair', 'tserver.example.com', '--zones', zones, '--dns-port', String(dnsPort)],
    httpPort,
    `srvproxy-${tag}`,
  );
  await eventually(async () => (await activeMember(httpPort)) === 'sips-a.example.com', 10_000, 'sips-a active');
  return { proxy, primary, backup, sipPort, httpPort, uacPort };
}

/** Runs a UAC through the instance and SIGKILLs the primary `killAfterMs` into the run. */
async function callsAcrossKill(
  site: Site,
  tag: string,
  o: { scenario: string; rate: number; calls: number; holdMs?: number; killAfterMs: number },
) {
  const uac = startUac(`${tag}-uac`, {
    scenario: o.scenario,
    address: UAC,
    port: site.uacPort,
    target: `${PROXY}:${site.sipPort}`,
    rate: o.rate,
    calls: o.calls,
    ...(o.holdMs !== undefined ? { holdMs: o.holdMs } : {}),
  });
  await sleep(o.killAfterMs);
  expect(uac.running, `sipp UAC ended before the kill:\n${uac.output.slice(-1000)}`).to.equal(true);
  site.primary.signal('SIGKILL');
  const limit = ((o.calls / o.rate) * 1000 + (o.holdMs ?? 0) + 40_000) | 0;
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    uac.exited,
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), limit))),
  ]);
  clearTimeout(timer);
  if (code === 'timeout') await uac.kill();
  const stats = uacStats(uac);
  const evidence =
    `sipp exit ${String(code)}, ${JSON.stringify(stats)}\n` +
    `sipp events by kind:\n${uac.errorSummary()}\nfirst sipp events:\n${uac.errors(1500)}\n` +
    `srvproxy output:\n${site.proxy.output.slice(-3000)}`;
  return { stats, evidence };
}

describe('interop: sipp calls through srvproxy while the active member dies', function () {
  this.timeout(120_000);

  before(async () => {
    await requireTools('sipp', 'ss');
  });

  afterEach(async () => {
    await stopAllSipp();
    await stopAll();
  });

  after(async () => {
    await stopAllSipp();
    await stopAll();
    for (const d of zoneDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('200 calls/s, primary SIGKILLed mid-run: 0 failed calls, new calls go to the backup', async () => {
    const site = await startSite('kill');
    const { stats, evidence } = await callsAcrossKill(site, 'kill', {
      scenario: 'uac-rr.xml',
      rate: 200,
      calls: 1200,
      killAfterMs: 2500,
    });
    expect(stats.created, evidence).to.equal(1200);
    expect(stats.failed, evidence).to.equal(0);
    expect(await activeMember(site.httpPort), evidence).to.equal('sips-b.example.com');
  });

  it('calls held 3 s across the SIGKILL: 0 failed, their BYEs follow the pair to the backup', async () => {
    const site = await startSite('hold');
    // At the kill, every call of the last 3 s is established on the primary
    // and still held: its BYE is sent after the primary is gone.
    const { stats, evidence } = await callsAcrossKill(site, 'hold', {
      scenario: 'uac-rr-hold.xml',
      rate: 200,
      calls: 1200,
      holdMs: 3000,
      killAfterMs: 3500,
    });
    expect(stats.created, evidence).to.equal(1200);
    expect(stats.failed, evidence).to.equal(0);
    expect(await activeMember(site.httpPort), evidence).to.equal('sips-b.example.com');
  });
});
