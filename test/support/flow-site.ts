/**
 * test/support/flow-site: the site of the flow tests on loopback: two
 * srvproxy instances (the real CLI, child processes), both in the pool's SRV
 * records: A = proxy1.example.com on 127.0.0.36 (also SIP over TLS, with the
 * test certificate made for that address) and B = proxy2.example.com on
 * 127.0.0.37; the pair tserver.example.com whose primary (127.0.0.41) is the
 * registrar stand-in of flow-peers (active) and whose backup (127.0.0.42) is
 * a scripted standby (503). Plus what the tests read from an instance:
 * /status and the counters of /metrics.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { MemberStandIn } from './flow-peers.js';
import { freePort } from './ports.js';
import { eventually, startSrvproxy, type Proc } from './processes.js';
import { ScriptedSipServer } from './sip-server.js';
import { testCerts, type TestCerts } from './tls-certs.js';

export const POOL = 'sipproxy.example.com';
export const PAIR = 'tserver.example.com';

export interface FlowInstance {
  name: string;
  fqdn: string;
  address: string;
  sipPort: number;
  /** SIP over TLS port (instance A only). */
  tlsPort: number | undefined;
  httpPort: number;
  proc: Proc;
}

export interface FlowSite {
  a: FlowInstance;
  b: FlowInstance;
  member: MemberStandIn;
  backup: ScriptedSipServer;
  certs: TestCerts;
  zoneDir: string;
  stop(): Promise<void>;
}

function bindable(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const u = dgram.createSocket('udp4');
    u.once('error', () => resolve(false));
    u.bind(port, address, () => {
      u.close();
      const t = net.createServer();
      t.once('error', () => resolve(false));
      t.listen(port, address, () => t.close(() => resolve(true)));
    });
  });
}

/** A port free for UDP and TCP on every address given. */
async function freePortOnAll(addresses: string[]): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await freePort(addresses[0]);
    let ok = true;
    for (const a of addresses.slice(1)) ok = ok && (await bindable(a, p));
    if (ok) return p;
  }
  throw new Error('no port free on ' + addresses.join(', '));
}

export async function startFlowSite(extraArgs: string[] = []): Promise<FlowSite> {
  const certs = testCerts();
  const addrA = '127.0.0.36';
  const addrB = '127.0.0.37';
  const member = new MemberStandIn('127.0.0.41', 'sips-a.example.com');
  const backup = new ScriptedSipServer('127.0.0.42', 'sips-b.example.com');
  backup.mode = 'standby';
  await Promise.all([member.start(), backup.start()]);
  const procs: Proc[] = [];
  const zoneDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-flows-'));
  const stop = async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await Promise.all([member.stop(), backup.stop()]);
    fs.rmSync(zoneDir, { recursive: true, force: true });
  };
  try {
    const sipA = await freePort(addrA);
    const tlsA = await freePort(addrA);
    const sipB = await freePort(addrB);
    const dnsPort = await freePortOnAll([addrA, addrB]);
    const lines = [
      '$ORIGIN example.com.',
      '$TTL 5',
      '@ SOA ns1 hostmaster 2026120301 3600 600 86400 5',
      '@ NS ns1',
      `ns1 A ${addrA}`,
      `proxy1 A ${addrA}`,
      `proxy2 A ${addrB}`,
      `_sip._udp.sipproxy SRV 10 50 ${sipA} proxy1`,
      `_sip._udp.sipproxy SRV 10 50 ${sipB} proxy2`,
      `_sip._tcp.sipproxy SRV 10 50 ${sipA} proxy1`,
      `_sip._tcp.sipproxy SRV 10 50 ${sipB} proxy2`,
      `_sips._tcp.sipproxy SRV 10 50 ${tlsA} proxy1`,
      `sipproxy A ${addrA}`,
      `sipproxy A ${addrB}`,
      `sips-a A ${member.address}`,
      `sips-b A ${backup.address}`,
      `_sip._udp.tserver SRV 10 0 ${member.port} sips-a`,
      `_sip._udp.tserver SRV 20 0 ${backup.port} sips-b`,
    ];
    fs.writeFileSync(path.join(zoneDir, 'example.com.zone'), lines.join('\n') + '\n');
    const common = ['--pair', PAIR, '--zones', zoneDir, '--dns-port', String(dnsPort), '--oos-check', '1', '--oos-force', '0.5',
      '--peer-interval', '0.5', ...extraArgs];
    const proxyPem = certs.leaf('proxy1.example.com', addrA);
    const httpA = await freePort('127.0.0.1');
    const httpB = await freePort('127.0.0.1');
    // one after the other, A first: which process started first is then always the same
    const pa = await startSrvproxy(['--self', 'proxy1.example.com', ...common, '--tls-cert', proxyPem.certFile, '--tls-key', proxyPem.keyFile, '--tls-ca', certs.ca.certFile], httpA, 'proxy1');
    procs.push(pa);
    const pb = await startSrvproxy(['--self', 'proxy2.example.com', ...common], httpB, 'proxy2');
    procs.push(pb);
    const a: FlowInstance = { name: 'A', fqdn: 'proxy1.example.com', address: addrA, sipPort: sipA, tlsPort: tlsA, httpPort: httpA, proc: pa };
    const b: FlowInstance = { name: 'B', fqdn: 'proxy2.example.com', address: addrB, sipPort: sipB, tlsPort: undefined, httpPort: httpB, proc: pb };
    // ready: on both instances the pair is in service on the registrar stand-in and both instances are healthy
    await eventually(
      async () => {
        for (const i of [a, b]) {
          const s = await status(i);
          if (s.pairs[0]?.active !== 'sips-a.example.com') return false;
          if (!s.pool.members.every((m) => m.healthy)) return false;
        }
        return true;
      },
      15_000,
      'pair in service on the registrar stand-in and both instances healthy, seen by both instances',
      50,
    );
    return { a, b, member, backup, certs, zoneDir, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

export interface FlowStatus {
  pool: { members: { target: string; healthy: boolean }[] };
  pairs: { name: string; active: string | null }[];
  flows?: { held: { udp: number; tcp: number; tls: number }; requests: number; failed: number; tokenFailures: number };
}

export async function status(i: FlowInstance): Promise<FlowStatus> {
  const r = await fetch(`http://127.0.0.1:${i.httpPort}/status`, { signal: AbortSignal.timeout(2000) });
  return (await r.json()) as FlowStatus;
}

/**
 * The value of a metric on the instance's /metrics (summed over the label sets that
 * match `labels`, e.g. `transport="tcp"`), or undefined when the instance has no such metric.
 */
export async function metric(i: FlowInstance, name: string, labels = ''): Promise<number | undefined> {
  const r = await fetch(`http://127.0.0.1:${i.httpPort}/metrics`, { signal: AbortSignal.timeout(2000) });
  const text = await r.text();
  let found = false;
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (labels && !(m[2] ?? '').includes(labels)) continue;
    found = true;
    sum += Number(m[3]);
  }
  return found ? sum : undefined;
}
