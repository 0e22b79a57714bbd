#!/usr/bin/env node
// zone-bench.mjs (`npm run bench:zone`, through scripts/bench-zone.sh): big
// zones, srvproxy beside named-checkzone.
//   load    for 20k and 200k records (scripts/bench/gen-zone.mjs): wall time,
//           CPU time and peak RSS of `srvproxy check-zone FILE` (parse and
//           checks), of loadZones (the same plus the packed snapshot, as at
//           start or in a reload's worker) and of `named-checkzone ORIGIN
//           FILE`, each one process measured by GNU time (wait4 rusage).
//   reload  an instance serving the 200k zone answers a closed loop of UDP
//           queries (8 outstanding, random names) while POST /reload re-reads
//           a changed copy: the longest gap between two answers during the
//           reload (the stall), against the longest gap in the 2 s
//           before it, whether the new record is served after it, and the
//           time the reload held the instance's main thread (its ZONE_RELOADED
//           log line: adopting the worker's snapshot and swapping it in).
// CPU seconds (user + system) are printed too: on a shared machine they vary
// less than wall time.
// Prints one line per figure and `zone.*=` lines into $BENCH_RESULTS when set.
// Loopback only; every process it starts is stopped before it exits.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bigZoneText as zoneText } from '../../dist/test/support/big-zone.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');
const SIZES = (process.env.ZONE_BENCH_SIZES ?? '20000,200000').split(',').filter(Boolean).map(Number);
const RELOAD_SIZE = Number(process.env.ZONE_BENCH_RELOAD ?? 200000);
const results = [];
const record = (k, v) => {
  results.push(`${k}=${v}`);
  if (process.env.BENCH_RESULTS) fs.appendFileSync(process.env.BENCH_RESULTS, `${k}=${v}\n`);
};
const log = (s) => process.stdout.write(s + '\n');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-zone-bench.'));
const children = new Set();

/** Run a command; wall ms, CPU s and peak RSS (MB) from its rusage (GNU time's %U %S %M). */
function timed(cmd, args) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%U %S %M', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const [u, sys, kb] = (err.trim().split('\n').pop() ?? '').split(' ').map(Number);
      if (code !== 0) reject(new Error(`${cmd} exited ${code}: ${err.slice(-500)}`));
      else resolve({ ms: Math.round(ms), cpu: (u + sys).toFixed(2), mb: Math.round(kb / 1024) });
    });
  });
}

function freePort(type) {
  return new Promise((resolve, reject) => {
    if (type === 'udp') {
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
      s.on('error', reject);
    } else {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
      s.on('error', reject);
    }
  });
}

function query(id, name) {
  const labels = name.split('.');
  const q = Buffer.alloc(12 + name.length + 2 + 4);
  q.writeUInt16BE(id, 0);
  q.writeUInt16BE(1, 4);
  let o = 12;
  for (const l of labels) { q[o++] = l.length; o += q.write(l, o, 'latin1'); }
  q[o++] = 0;
  q.writeUInt16BE(1, o); // A
  q.writeUInt16BE(1, o + 2); // IN
  return q;
}

/** Closed-loop UDP queries; records the time of every answer. */
function queryLoop(port, names) {
  const sock = dgram.createSocket('udp4');
  const times = [];
  let id = 0;
  let outstanding = 0;
  let running = true;
  const send = () => {
    outstanding++;
    id = (id + 1) & 0xffff;
    sock.send(query(id, names[(Math.random() * names.length) | 0]), port, '127.0.0.1');
  };
  sock.on('message', () => {
    times.push(performance.now());
    outstanding--;
    if (running) send();
  });
  // Lost datagrams: keep 8 in flight.
  const topUp = setInterval(() => { while (running && outstanding < 8) send(); }, 20);
  sock.bind(0, '127.0.0.1', () => { for (let i = 0; i < 8; i++) send(); });
  return {
    times,
    stop: () => new Promise((r) => { running = false; clearInterval(topUp); sock.close(r); }),
  };
}

function maxGap(times, from, to) {
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

async function resolveA(port, name) {
  const r = new (await import('node:dns')).promises.Resolver({ timeout: 2000, tries: 2 });
  r.setServers([`127.0.0.1:${port}`]);
  try { return await r.resolve4(name); } catch { return []; }
}

async function reloadStall(records) {
  const dir = path.join(work, 'reload');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'example.com.zone');
  fs.writeFileSync(file, zoneText(records));
  const [dnsPort, sipPort, httpPort] = [await freePort('udp'), await freePort('udp'), await freePort('tcp')];
  const child = spawn(process.execPath, [CLI, 'run', '--self', 'proxy1.example.com', '--pair', 'tserver.example.com',
    '--zones', dir, '--listen', '127.0.0.1', '--dns-port', String(dnsPort), '--sip-port', String(sipPort),
    '--http', `127.0.0.1:${httpPort}`, '--log-format', 'json'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  // The log (JSON lines on stderr).
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const http = `http://127.0.0.1:${httpPort}`;
  const t0 = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`srvproxy exited: ${err.slice(-500)}`);
    if (Date.now() - t0 > 120_000) throw new Error('srvproxy did not start in 120 s');
    try { if ((await fetch(`${http}/healthz`, { signal: AbortSignal.timeout(1000) })).ok) break; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  const names = [];
  for (let i = 0; i < Math.min(records / 10, 50000); i++) names.push(`h${i}.example.com`);
  const loop = queryLoop(dnsPort, names);
  await new Promise((r) => setTimeout(r, 3000)); // warm up
  // The changed copy: a new serial and one more record.
  fs.writeFileSync(file, zoneText(records, 'example.com', 2026120302) + 'reloaded A 127.0.0.99\n');
  const start = performance.now();
  const res = await fetch(`${http}/reload`, { method: 'POST', signal: AbortSignal.timeout(120_000) });
  const body = (await res.text()).trim();
  const end = performance.now();
  await new Promise((r) => setTimeout(r, 300));
  const after = performance.now();
  await loop.stop();
  const answers = loop.times.length;
  const stall = maxGap(loop.times, start, after);
  const before = maxGap(loop.times, start - 2000, start);
  const served = (await resolveA(dnsPort, 'reloaded.example.com')).includes('127.0.0.99');
  // The instance's own account (ZONE_RELOADED): time on its main thread to adopt and swap.
  const reloaded = err.split('\n').filter((l) => l.includes('"SRV-20001"')).map((l) => JSON.parse(l)).pop();
  child.kill('SIGTERM');
  await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  children.delete(child);
  if (res.status !== 200) throw new Error(`reload answered ${res.status}: ${body}`);
  return { reloadMs: Math.round(end - start), stall: Math.round(stall), before: Math.round(before), served, answers,
    mainMs: reloaded?.mainThreadMs ?? '-', thread: reloaded?.thread ?? '-' };
}

async function main() {
  log(`zone bench: ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (a shared machine: figures vary with it)`);
  log('records  srvproxy check-zone (wall, CPU, peak RSS)  srvproxy load (same)  named-checkzone (same)');
  for (const n of SIZES) {
    const file = path.join(work, String(n), 'example.com.zone');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, zoneText(n));
    const ours = await timed(process.execPath, [CLI, 'check-zone', file]);
    // Loading for serving: the checks, then the packed snapshot (what a start or a reload's worker does).
    const load = await timed(process.execPath, ['--input-type=module', '-e',
      `const { loadZones } = await import(${JSON.stringify(path.join(ROOT, 'dist/src/zone/load.js'))}); loadZones([${JSON.stringify(file)}]);`]);
    let bind = { ms: '-', cpu: '-', mb: '-' };
    try { bind = await timed('named-checkzone', ['-q', 'example.com', file]); } catch (e) { log(`named-checkzone: ${e.message}`); }
    const fmt = (r) => `${String(r.ms).padStart(6)} ms ${String(r.cpu).padStart(6)} s ${String(r.mb).padStart(4)} MB`;
    log(`${String(n).padStart(7)}  ${fmt(ours)}          ${fmt(load)}  ${fmt(bind)}`);
    const k = n >= 1000 ? `${Math.round(n / 1000)}k` : String(n);
    record(`zone.srvproxy.${k}.ms`, ours.ms);
    record(`zone.srvproxy.${k}.rss_mb`, ours.mb);
    record(`zone.srvproxy.${k}.cpu_s`, ours.cpu);
    record(`zone.load.${k}.ms`, load.ms);
    record(`zone.load.${k}.cpu_s`, load.cpu);
    record(`zone.load.${k}.rss_mb`, load.mb);
    record(`zone.named.${k}.cpu_s`, bind.cpu);
    record(`zone.named.${k}.ms`, bind.ms);
    record(`zone.named.${k}.rss_mb`, bind.mb);
  }
  if (RELOAD_SIZE > 0) {
    const r = await reloadStall(RELOAD_SIZE);
    log(`reload of ${RELOAD_SIZE} records while queries run: ${r.reloadMs} ms to reload; longest gap between answers ${r.stall} ms ` +
      `during it, ${r.before} ms in the 2 s before; ${r.answers} answers; new record served: ${r.served ? 'yes' : 'NO'}; ` +
      `main thread busy adopting and swapping: ${r.mainMs} ms (loaded in the ${r.thread} thread)`);
    record('zone.reload.main_ms', r.mainMs);
    record('zone.reload.ms', r.reloadMs);
    record('zone.reload.stall_ms', r.stall);
    record('zone.reload.baseline_gap_ms', r.before);
    record('zone.reload.served', r.served ? 'yes' : 'no');
    if (!r.served) process.exitCode = 1;
  }
}

const cleanup = () => {
  for (const c of children) c.kill('SIGKILL');
  fs.rmSync(work, { recursive: true, force: true });
};
process.on('SIGTERM', () => { cleanup(); process.exit(1); });
main().then(cleanup, (e) => { log(`zone bench failed: ${e.stack ?? e}`); cleanup(); process.exitCode = 1; });
