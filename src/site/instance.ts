/**
 * site/instance: the composition root. Builds one srvproxy instance from
 * settings and zone files: the zone snapshot and site model, the health
 * monitor, the DNS authority, the SIP proxy and the HTTP plane, and wires
 * them (health -> DNS answer rebuilds; SIP <-> health through the Prober and
 * PairFeedback interfaces; SIP's outbound resolution gets the zones through
 * zone/names and outside names through dns/client, as the NameSource and
 * SipDnsClient of sip/proxy/resolver). Owns reload (zones and site model
 * built in a worker thread, zone/reload.ts, then swapped in one step) and
 * graceful stop.
 * May import: every plane below cli.
 */
import type { Settings } from '../config/settings.js';
import { AnswerFeed } from '../dns/authority/feed.js';
import { StubResolver, systemServers } from '../dns/client/stub.js';
import { Secondaries } from '../dns/secondary/secondaries.js';
import { SerialCounter } from '../dns/authority/serial.js';
import { DnsServer } from '../dns/server/server.js';
import { loadKeyFile } from '../dns/secondary/tsig.js';
import { HealthMonitor } from '../health/health-monitor.js';
import { HttpPlane } from '../ops/http.js';
import { MetricsRegistry } from '../ops/metrics.js';
import { StatusHistory } from '../ops/history.js';
import { buildStatus } from '../ops/status.js';
import { SipService } from '../sip/service.js';
import { loadTlsConfig, sipsPortOf } from '../sip/transport/tls.js';
import { SiteError, ZoneError } from '../shared/errors.js';
import type { HealthChange, Prober } from '../shared/health.js';
import { logEvent, withRecentEvents, type Logger } from '../shared/log.js';
import { RecentEvents } from '../shared/recent-events.js';
import { loadZones } from '../zone/load.js';
import { ZoneNames } from '../zone/names.js';
import { buildSite } from '../zone/site.js';
import { loadSiteOffThread } from '../zone/reload.js';
import type { SiteModel, SiteOptions, ZoneSet } from '../zone/types.js';
import { instanceMetrics, ProbeStats } from './metrics.js';

export interface Instance {
  readonly site: SiteModel;
  readonly health: HealthMonitor;
  readonly dns: DnsServer;
  readonly sip: SipService;
  readonly http: HttpPlane;
  /** Re-read the zone files off the main thread, then swap zones, site and answers in one step. */
  reload(): Promise<{ ok: boolean; message: string }>;
  stop(reason: string): Promise<void>;
}

function siteOptions(s: Settings): SiteOptions {
  return { self: s.self, pairs: s.pairs, pool: s.pool, servingPair: s.servingPair, local: s.local };
}

function siteOf(zones: ZoneSet, s: Settings): SiteModel {
  return buildSite(zones, siteOptions(s));
}

/** Longest wait for in-flight transactions on a graceful stop. */
const STOP_DRAIN_MS = 5000;

/**
 * Test only: SRVPROXY_TEST_DELAY_PER_MESSAGE_MS makes the instance spend that many ms of CPU on
 * every incoming SIP message (tests of overload control need an instance that is easy to
 * overload). Not an option: nothing an operator should ever set.
 */
function testDelayPerMessage(): number {
  const v = Number(process.env.SRVPROXY_TEST_DELAY_PER_MESSAGE_MS ?? 0);
  return Number.isFinite(v) && v > 0 ? Math.min(v, 100) : 0;
}

export async function startInstance(settings: Settings, parentLog: Logger): Promise<Instance> {
  // Every event this instance logs is also kept for /status and the status page.
  const events = new RecentEvents();
  const log = withRecentEvents(parentLog, events);
  const zones = loadZones(settings.zones);
  let site = siteOf(zones, settings);
  logEvent(log, 'ZONE_LOADED', { zones: zones.zones.map((z) => z.origin), self: site.self.target, pool: site.pool.name });

  const listenAddresses = settings.listen ?? site.self.addresses;
  const sipPort = settings.sipPort ?? site.self.port;
  const probeStats = new ProbeStats();
  // health and sip need each other: health probes through SIP (`sip` is declared
  // below; the prober runs only after start), SIP reads health.
  const prober: Prober = probeStats.wrap({ probe: (target, ms) => sip.prober.probe(target, ms) });
  const health = new HealthMonitor({
    site,
    prober,
    oosCheckMs: settings.oosCheck * 1000,
    oosForceMs: settings.oosForce * 1000,
    peerIntervalMs: settings.peerInterval * 1000,
    peerDownAfter: settings.peerDownAfter,
    peerUpAfter: settings.peerUpAfter,
    log,
  });
  // Outbound SIP names: the zones' from the zone data, others through the DNS plane's stub resolver.
  let zoneNames = new ZoneNames(zones);
  const sip = new SipService({
    site: () => site,
    resolver: { client: new StubResolver({ servers: settings.resolver ?? systemServers() }), names: () => zoneNames },
    health,
    feedback: health,
    listen: listenAddresses.map((address) => ({ address, port: sipPort })),
    hopTimeoutMs: settings.hopTimeoutMs,
    overloadCtrlDialogRate: settings.overloadCtrlDialogRate,
    overloadTargetDelayMs: settings.overloadTargetDelayMs,
    testDelayPerMessageMs: testDelayPerMessage(),
    log,
    // SIP over TLS (--tls-cert/--tls-key): on --tls-port, else the _sips._tcp SRV port of self, else 5061
    transport:
      settings.tlsCert && settings.tlsKey
        ? {
            tls: loadTlsConfig(
              { cert: settings.tlsCert, key: settings.tlsKey, ca: settings.tlsCa },
              settings.tlsPort ?? sipsPortOf(zones, site.pool.name, site.self.target) ?? 5061,
            ),
          }
        : undefined,
  });
  // Zone transfers and NOTIFY to standard secondaries (--allow-transfer, --notify, --tsig-key).
  const secondaries = new Secondaries({
    allowTransfer: settings.allowTransfer ?? [],
    notify: settings.notify ?? [],
    key: settings.tsigKey ? loadKeyFile(settings.tsigKey) : undefined,
    ownAddresses: listenAddresses,
    notNotified: () => site.pool.members.flatMap((m) => m.addresses),
    log,
  });
  const dns = new DnsServer({
    rrl: { rate: settings.dnsRrlRate, slip: settings.dnsRrlSlip },
    transfer: secondaries.transfer,
    addresses: listenAddresses,
    port: settings.dnsPort,
    forward: settings.forward && settings.forwardAllow ? { upstreams: settings.forward, allow: settings.forwardAllow } : undefined,
    log,
  });
  // The answer table follows zones and health; every new table also goes to the secondaries.
  const feed = new AnswerFeed({
    target: {
      setTable: (t) => {
        dns.setTable(t);
        secondaries.tableChanged(t);
      },
    },
    zones,
    pool: site.pool,
    local: site.local,
    health,
    // Time-based serials: monotonic across restarts and instances (dns/authority/serial.ts).
    serials: new SerialCounter({ wallClock: Date.now }),
    log,
  });
  feed.start();
  const peerWithdrawals = new Map<string, number>();
  health.onChange((c: HealthChange) => {
    if (c.kind === 'peer' && !c.healthy) peerWithdrawals.set(c.target, (peerWithdrawals.get(c.target) ?? 0) + 1);
  });

  let stopping = false;
  // One reload at a time: a request while one runs starts after it (and reads the files then).
  let reloading: Promise<unknown> = Promise.resolve();
  const reload = (): Promise<{ ok: boolean; message: string }> => {
    const next = reloading.then(reloadNow, reloadNow);
    reloading = next;
    return next;
  };
  const reloadNow = async (): Promise<{ ok: boolean; message: string }> => {
    try {
      const t0 = performance.now();
      const { zones: z, site: s, thread, adoptMs } = await loadSiteOffThread(settings.zones, siteOptions(settings));
      if (stopping) return { ok: false, message: 'stopping' };
      const t1 = performance.now();
      site = s;
      zoneNames = new ZoneNames(z);
      health.setSite(s);
      feed.setZones(z, s.pool);
      // How long the reload took, and how long it held the main thread (adopting the worker's result and swapping).
      const mainMs = adoptMs + performance.now() - t1;
      logEvent(log, 'ZONE_RELOADED', { zones: z.zones.map((x) => x.origin), ms: Math.round(performance.now() - t0), mainThreadMs: Math.round(mainMs * 10) / 10, thread });
      return { ok: true, message: `reloaded ${z.zones.map((x) => x.origin).join(', ')}` };
    } catch (e) {
      const message = e instanceof ZoneError || e instanceof SiteError ? e.message : (e as Error).message;
      logEvent(log, 'ZONE_REJECTED', { error: message });
      return { ok: false, message };
    }
  };

  const failOpen = (): boolean => feed.last?.failOpen ?? false;
  const metrics = new MetricsRegistry(instanceMetrics({ dns, sip, health, probeStats, peerWithdrawals, secondaries, site: () => site,
    failOpen, overloadActive: () => sip.proxy.overloadActive }));
  const switchovers = (pair: string): number => health.pairDetails().find((d) => d.name === pair)?.switchovers ?? 0;
  const history = new StatusHistory({
    view: health,
    self: () => site.self.target,
    switchovers,
    pairs: site.pairs.map((p) => p.name),
    members: site.pool.members.map((m) => m.target),
  });
  const statusSources = {
    history,
    events,
    rttMs: (target: string) => probeStats.rttMs(target),
    switchovers,
    failOpen,
    overload: {
      dialogRate: settings.overloadCtrlDialogRate,
      active: () => sip.proxy.overloadActive,
      rejections: () => sip.proxy.counters.overloadRejections,
      adaptive: () => sip.proxy.admissionState,
    },
    flows: () => ({ held: sip.proxy.flows.heldByTransport(), ...sip.proxy.flows.counters }),
  };
  const http = new HttpPlane({
    status: () => buildStatus(site, health, statusSources),
    metrics: () => metrics.render(),
    serving: () => !stopping,
    setDraining: (d) => health.setDraining(d),
    reload,
  });

  const opened: { close(): Promise<void> }[] = [];
  try {
    await dns.listen();
    opened.push({ close: () => dns.close() });
    await secondaries.start();
    opened.push({ close: () => secondaries.close() });
    await sip.start();
    opened.push({ close: () => sip.stop() });
    await http.listen(settings.http.host, settings.http.port);
  } catch (e) {
    logEvent(log, 'LISTEN_FAILED', { error: (e as Error).message });
    for (const o of opened.reverse()) await o.close();
    throw e;
  }
  health.start();
  logEvent(log, 'STARTED', {
    self: site.self.target,
    listen: listenAddresses,
    sipPort: sipPort,
    dnsPort: dns.port,
    http: `${settings.http.host}:${http.address()?.port}`,
  });

  const stop = async (reason: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logEvent(log, 'STOPPING', { reason });
    // Stop answering as healthy; give transactions in flight a bounded time to end.
    health.setDraining(true);
    const end = Date.now() + STOP_DRAIN_MS;
    while (sip.proxy.counters.transactionsPending > 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
    }
    health.stop();
    history.stop();
    feed.stop();
    await http.close();
    await sip.stop();
    await dns.close();
    await secondaries.close();
    logEvent(log, 'STOPPED', { reason });
  };

  return {
    get site() {
      return site;
    },
    health,
    dns,
    sip,
    http,
    reload,
    stop,
  };
}
