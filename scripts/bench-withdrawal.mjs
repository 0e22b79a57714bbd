#!/usr/bin/env node
// bench-withdrawal.mjs: seconds from an instance's death (SIGKILL) to its
// absence from a peer's SRV answer, with srvproxy's default peer settings
// (--peer-interval 1, --peer-down-after 3). Two instances on 127.0.0.181/182,
// RUNS kills (default 3); prints one line per run and the median, and appends
// `withdrawal.srvproxy.s=MEDIAN` to $BENCH_RESULTS when set. Exits 1 when an
// instance does not start or the withdrawal is not seen within 15 s.
import { spawn } from 'node:child_process';
import { promises as dnsp } from 'node:dns';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const RUNS = Number(process.env.RUNS ?? 3);
const DNS_PORT = 25153;
const P = [
  { name: 'proxy1', address: '127.0.0.181', sip: 25160, http: 25181 },
  { name: 'proxy2', address: '127.0.0.182', sip: 25160, http: 25182 },
];
const zoneDir = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-withdrawal-'));
fs.writeFileSync(
  path.join(zoneDir, 'example.com.zone'),
  [
    '$ORIGIN example.com.', '$TTL 5', '@ SOA ns1 hostmaster 1 3600 600 86400 5', '@ NS ns1', 'ns1 A 127.0.0.1',
    ...P.flatMap((p) => [`${p.name} A ${p.address}`, `_sip._udp.sipproxy SRV 10 50 ${p.sip} ${p.name}`]),
    'sips-a A 127.0.0.183', 'sips-b A 127.0.0.184',
    '_sip._udp.tserver SRV 10 0 25160 sips-a', '_sip._udp.tserver SRV 20 0 25160 sips-b',
  ].join('\n') + '\n',
);

const children = new Map();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function start(p) {
  const c = spawn(process.execPath, [CLI, 'run', '--self', `${p.name}.example.com`, '--pair', 'tserver.example.com', '--zones', zoneDir,
    '--dns-port', String(DNS_PORT), '--http', `127.0.0.1:${p.http}`, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  c.stderr.on('data', (d) => (err += d));
  c.on('exit', () => children.get(p.name) === c && children.delete(p.name));
  c.errText = () => err;
  children.set(p.name, c);
  return c;
}
async function up(p) {
  for (let i = 0; i < 150; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${p.http}/healthz`)).status === 200) return;
    } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`${p.name} did not start: ${children.get(p.name)?.errText() ?? ''}`);
}
const resolver = new dnsp.Resolver({ timeout: 300, tries: 1 });
resolver.setServers([`${P[0].address}:${DNS_PORT}`]);
const targets = async () => (await resolver.resolveSrv('_sip._udp.sipproxy.example.com')).map((r) => r.name);

function stopAll() {
  for (const c of children.values()) c.kill('SIGKILL');
  fs.rmSync(zoneDir, { recursive: true, force: true });
}
process.on('exit', stopAll);

const figures = [];
try {
  for (const p of P) start(p);
  await Promise.all(P.map(up));
  for (let run = 1; run <= RUNS; run++) {
    // Steady state: both answered, the peer probed for a while.
    for (let i = 0; !(await targets()).includes('proxy2.example.com'); i++) {
      if (i > 150) throw new Error('proxy2 never returned to the answers');
      await sleep(100);
    }
    await sleep(2000 + Math.random() * 1000); // kill at a random point of the probe cycle
    const t0 = performance.now();
    children.get('proxy2').kill('SIGKILL');
    for (;;) {
      const names = await targets().catch(() => ['?']);
      if (!names.includes('proxy2.example.com') && !names.includes('?')) break;
      if (performance.now() - t0 > 15000) throw new Error('proxy2 still answered 15 s after SIGKILL');
      await sleep(20);
    }
    const s = (performance.now() - t0) / 1000;
    figures.push(s);
    console.log(`run ${run}: withdrawn ${s.toFixed(2)} s after SIGKILL`);
    start(P[1]);
    await up(P[1]);
  }
} catch (e) {
  console.error(`bench-withdrawal: ${e.message}`);
  process.exit(1);
}
figures.sort((a, b) => a - b);
const median = figures[Math.floor(figures.length / 2)];
console.log(`withdrawal after SIGKILL (peer-interval 1, down-after 3): median ${median.toFixed(2)} s, min ${figures[0].toFixed(2)}, max ${figures.at(-1).toFixed(2)} (goal <= 3 s)`);
if (process.env.BENCH_RESULTS) fs.appendFileSync(process.env.BENCH_RESULTS, `withdrawal.srvproxy.s=${median.toFixed(2)}\nwithdrawal.srvproxy.max_s=${figures.at(-1).toFixed(2)}\n`);
process.exit(0);
