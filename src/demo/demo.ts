#!/usr/bin/env node
/**
 * demo: `npm start`. A complete site on loopback with nothing but Node:
 * the simulated SIP Server HA pair tserver.example.com (sips-a 127.0.0.21,
 * sips-b 127.0.0.22) and two srvproxy instances (proxy1 127.0.0.11, proxy2
 * 127.0.0.12) serving DNS on port 1053 and SIP on 5060, from zones/.
 * Prints what to try; Ctrl-C stops everything.
 * May import: sim, node.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimPair, type SimPair } from '../sim/ha-pair.js';

const DIST_SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = path.resolve(DIST_SRC, '../..');
const CLI = path.join(DIST_SRC, 'cli/main.js');
const DNS_PORT = Number(process.env.SRVPROXY_DEMO_DNS_PORT ?? 1053);
const INSTANCES = [
  { self: 'proxy1.example.com', http: 8053 },
  { self: 'proxy2.example.com', http: 8054 },
];

const children: ChildProcess[] = [];
let pair: SimPair | undefined;
let stopping = false;

function say(s: string): void {
  process.stdout.write(s + '\n');
}

async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say('\nstopping the demo site…');
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.filter((c) => c.exitCode === null).map((c) => new Promise((r) => c.once('exit', r))));
    await pair?.stop();
  }
  process.exit(code);
}

async function waitHealthy(port: number, child: ChildProcess): Promise<void> {
  const end = Date.now() + 15000;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`instance on http port ${port} exited with ${child.exitCode}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(500) });
      if (r.status === 200) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`instance on http port ${port} did not start`);
}

async function main(): Promise<void> {
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
  say('srvproxy demo: starting the simulated HA pair tserver.example.com (sips-a 127.0.0.21:5060 primary, sips-b 127.0.0.22:5060 backup)…');
  pair = await startSimPair({ primary: { address: '127.0.0.21', port: 5060 }, backup: { address: '127.0.0.22', port: 5060 }, tcp: true });
  for (const inst of INSTANCES) {
    const args = [CLI, 'run', '--self', inst.self, '--pair', 'tserver.example.com', '--zones', path.join(ROOT, 'zones'), '--dns-port', String(DNS_PORT), '--http', `127.0.0.1:${inst.http}`, '--oos-check', '2', '--oos-force', '1'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code) => {
      if (!stopping) {
        say(`srvproxy ${inst.self} exited (${code}); stopping the demo`);
        void stopAll(1);
      }
    });
    children.push(child);
  }
  await Promise.all(INSTANCES.map((inst, i) => waitHealthy(inst.http, children[i]!)));
  const rel = path.relative(process.cwd(), CLI) || CLI;
  say(`
The demo site is up: two srvproxy instances on 127.0.0.11 and 127.0.0.12
(DNS port ${DNS_PORT}, SIP port 5060), in front of the HA pair tserver.example.com.

Try:
  dig @127.0.0.11 -p ${DNS_PORT} _sip._udp.sipproxy.example.com SRV     # the pool, both instances
  dig @127.0.0.11 -p ${DNS_PORT} sipproxy.example.com NAPTR            # RFC 3263 entry point
  node ${rel} status                                 # proxy1's view (http://127.0.0.1:8053)
  node ${rel} status --http http://127.0.0.1:8054    # proxy2's view
  open http://127.0.0.1:8053/ in a browser            # proxy1's status page, refreshed every second
  node ${path.relative(process.cwd(), path.join(DIST_SRC, 'sim/ua.js'))} call --proxy 127.0.0.11:5060 --to sip:1000@tserver.example.com --count 100 --rate 50
  pkill -STOP -f 'member.js --address 127.0.0.21'      # freeze the primary: calls move to sips-b
  node ${rel} drain                                  # proxy1 leaves the pool: watch dig on 127.0.0.12
  curl -s http://127.0.0.1:8053/metrics | grep srvproxy_pair

Ctrl-C stops everything.`);
}

main().catch(async (e: Error) => {
  process.stderr.write(`demo: ${e.message}\n`);
  await stopAll(1);
});
