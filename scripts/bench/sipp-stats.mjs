#!/usr/bin/env node
/**
 * scripts/bench/sipp-stats: summarises one sipp UAC run for the benchmark
 * scripts. Reads the statistics file (-trace_stat -stf FILE: the last row
 * holds the cumulative counters) and, when given, the per-call response
 * times (-trace_rtt -rtt_freq 1), and prints shell assignments:
 *
 *   created=N ok=N failed=N retrans=N unexpected=N rate=CPS
 *   setups=N setup_max_ms=N setup_p99_ms=N setup_over_500ms=N setup_rate=CPS
 *   completed=N refused=N
 *
 * `failed` is created - ok: a call that sipp counted as failed and a call
 * still unfinished when the run was stopped are both lost calls.
 * `setup_rate` is the rate at which calls were really set up (99% of the
 * setups over the time the 99th percentile one completed): it tells a run
 * that sipp or the proxy could not drive at the asked rate from a clean one.
 * `completed` and `refused` come from the message counts (-trace_counts):
 * the 200s received for the scenario's last request (the BYE: a call set up
 * and ended), and the 503s received.
 * Usage: node sipp-stats.mjs STAT.csv [RTT.csv|""] [COUNTS.csv]
 */
import fs from 'node:fs';

function fail(message) {
  process.stderr.write(`sipp-stats: ${message}\n`);
  process.exit(2);
}

const [statFile, rttFile, countsFile] = process.argv.slice(2);
if (!statFile) fail('usage: sipp-stats.mjs STAT.csv [RTT.csv]');

let text = '';
try {
  text = fs.readFileSync(statFile, 'utf8');
} catch (e) {
  fail(`cannot read ${statFile}: ${e.code ?? e.message}`);
}
const rows = text.split('\n').filter((l) => l.trim() !== '');
if (rows.length < 2) fail(`${statFile}: no statistics row (did sipp start?)`);
const head = rows[0].split(';');
const last = rows[rows.length - 1].split(';');
const field = (name) => {
  const i = head.indexOf(name);
  return i < 0 ? '' : last[i];
};
const num = (name) => {
  const v = Number(field(name));
  return Number.isFinite(v) ? v : 0;
};

const created = num('TotalCallCreated');
const ok = num('SuccessfulCall(C)');
const out = {
  created,
  ok,
  failed: Math.max(0, created - ok),
  retrans: num('Retransmissions(C)'),
  unexpected: num('FailedUnexpectedMessage(C)'),
  maxretrans: num('FailedMaxUDPRetrans(C)'),
  rate: num('CallRate(C)').toFixed(1),
};

if (rttFile) {
  let lines;
  try {
    lines = fs.readFileSync(rttFile, 'utf8').split('\n').slice(1);
  } catch {
    lines = [];
  }
  const times = [];
  const dates = [];
  for (const l of lines) {
    const [date, rt] = l.split(';').map(Number);
    if (!Number.isFinite(date) || !Number.isFinite(rt)) continue;
    dates.push(date);
    times.push(rt);
  }
  dates.sort((a, b) => a - b);
  const k = Math.floor(dates.length * 0.99);
  out.setup_rate = k > 0 && dates[k - 1] > 0 ? ((k * 1000) / dates[k - 1]).toFixed(1) : '0';
  times.sort((a, b) => a - b);
  out.setups = times.length;
  out.setup_max_ms = times.length ? times[times.length - 1] : 0;
  out.setup_p99_ms = times.length ? times[Math.min(times.length - 1, Math.floor(times.length * 0.99))] : 0;
  out.setup_over_500ms = times.filter((t) => t > 500).length;
}

if (countsFile) {
  let rows2;
  try {
    rows2 = fs.readFileSync(countsFile, 'utf8').split('\n').filter((l) => l.trim() !== '');
  } catch {
    rows2 = [];
  }
  if (rows2.length >= 2) {
    const names = rows2[0].split(';');
    const values = rows2[rows2.length - 1].split(';');
    let completed = 0;
    let refused = 0;
    names.forEach((n, i) => {
      const v = Number(values[i]) || 0;
      if (/^\d+_200_Recv$/.test(n)) completed = v; // the last 200 received: the BYE's
      if (/^\d+_503_Recv$/.test(n)) refused += v;
    });
    out.completed = completed;
    out.refused = refused;
  }
}

process.stdout.write(
  Object.entries(out)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ') + '\n',
);
