#!/usr/bin/env node
/**
 * scripts/bench/charts.mjs: SVG charts of a benchmark run, drawn from the
 * per-step figures the bench scripts record (scripts/bench/lib.sh `step_record`,
 * one JSON object a line; bench.sh keeps them in bench/steps.jsonl):
 *
 *   {"part":"sip","series":"srvproxy","step":1,"rate":500,"calls":3000,"failed":0,"setupRate":499.8,"clean":true}
 *   {"part":"dns","series":"gdnsd","round":1,"qps":151234}
 *
 *   node scripts/bench/charts.mjs STEPS.jsonl OUT_DIR
 *
 * writes OUT_DIR/sip-calls.svg (calls/s set up per step and failed calls per
 * step, one line per proxy) and OUT_DIR/dns-qps.svg (queries/s per round, one
 * line per server), each only when the run has such steps, and prints the
 * files written. Plain SVG written here (no browser, no dependency): text,
 * lines and circles, readable in any browser or image viewer.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const COLORS = { srvproxy: '#1f6fb4', kamailio: '#d9480f', gdnsd: '#d9480f' };
const SPARE = ['#2b8a3e', '#862e9c', '#495057'];
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

/** Text for SVG content and attributes. */
function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

function fmt(n) {
  return Math.abs(n) >= 10_000 ? `${Math.round(n / 1000)}k` : String(Math.round(n * 100) / 100);
}

/** Up to ~6 round tick values covering [0, max]. */
export function ticks(max) {
  if (!(max > 0)) return [0, 1];
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let v = 0; v < max + step; v += step) out.push(v);
  return out;
}

function colorOf(name, i) {
  return COLORS[name] ?? SPARE[i % SPARE.length];
}

/**
 * One panel: axes with ticks and labels, one polyline per series with a circle
 * per point (hollow where `point.hollow`); the y axis reaches at least
 * `yAtLeast` (whole numbers for counts). Returns SVG elements.
 */
function panel({ x, y, w, h, xLabel, yLabel, xTicks, yAtLeast = 1, series }) {
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  const xt = xTicks ?? ticks(Math.max(...xs, 1));
  const yt = ticks(Math.max(...ys, yAtLeast));
  const [x0, x1] = [xTicks ? Math.min(...xt) : 0, xt[xt.length - 1]];
  const y1 = yt[yt.length - 1];
  const px = (v) => x + ((v - x0) / (x1 - x0 || 1)) * w;
  const py = (v) => y + h - (v / (y1 || 1)) * h;
  const out = [];
  out.push(`<g class="axes">`);
  for (const t of yt) {
    out.push(`<line x1="${x}" y1="${py(t).toFixed(1)}" x2="${x + w}" y2="${py(t).toFixed(1)}" stroke="#e9ecef"/>`);
    out.push(`<text x="${x - 6}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end" font-size="11" ${FONT}>${esc(fmt(t))}</text>`);
  }
  for (const t of xt) {
    out.push(`<line x1="${px(t).toFixed(1)}" y1="${y + h}" x2="${px(t).toFixed(1)}" y2="${y + h + 4}" stroke="#495057"/>`);
    out.push(`<text x="${px(t).toFixed(1)}" y="${y + h + 17}" text-anchor="middle" font-size="11" ${FONT}>${esc(fmt(t))}</text>`);
  }
  out.push(`<line x1="${x}" y1="${y + h}" x2="${x + w}" y2="${y + h}" stroke="#495057"/>`);
  out.push(`<line x1="${x}" y1="${y}" x2="${x}" y2="${y + h}" stroke="#495057"/>`);
  out.push(`<text class="x-label" x="${x + w / 2}" y="${y + h + 34}" text-anchor="middle" font-size="12" ${FONT}>${esc(xLabel)}</text>`);
  out.push(
    `<text class="y-label" x="${x - 48}" y="${y + h / 2}" text-anchor="middle" font-size="12" ${FONT} transform="rotate(-90 ${x - 48} ${y + h / 2})">${esc(yLabel)}</text>`,
  );
  out.push(`</g>`);
  series.forEach((s) => {
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
    out.push(`<g class="series" data-series="${esc(s.name)}" data-points="${pts.length}">`);
    if (pts.length > 1) out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const p of pts) {
      const fill = p.hollow ? '#ffffff' : s.color;
      out.push(
        `<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3.5" fill="${fill}" stroke="${s.color}" stroke-width="1.5"><title>${esc(`${s.name}: ${p.label ?? `${fmt(p.x)}, ${fmt(p.y)}`}`)}</title></circle>`,
      );
    }
    out.push(`</g>`);
  });
  return out;
}

function legend(x, y, series, note) {
  const out = [`<g class="legend">`];
  let cx = x;
  for (const s of series) {
    out.push(`<line x1="${cx}" y1="${y}" x2="${cx + 18}" y2="${y}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<circle cx="${cx + 9}" cy="${y}" r="3.5" fill="${s.color}"/>`);
    out.push(`<text x="${cx + 24}" y="${y + 4}" font-size="12" ${FONT}>${esc(s.name)}</text>`);
    cx += 40 + s.name.length * 7;
  }
  if (note) out.push(`<text x="${cx + 8}" y="${y + 4}" font-size="11" fill="#495057" ${FONT}>${esc(note)}</text>`);
  out.push(`</g>`);
  return out;
}

function svg(width, height, title, subtitle, body) {
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<title>${esc(title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="16" y="24" font-size="15" font-weight="bold" ${FONT}>${esc(title)}</text>`,
    subtitle ? `<text x="16" y="42" font-size="11" fill="#495057" ${FONT}>${esc(subtitle)}</text>` : '',
    ...body,
    `</svg>`,
    '',
  ].join('\n');
}

/** Groups rows by `series`, in order of first appearance. */
function bySeries(rows) {
  const m = new Map();
  for (const r of rows) {
    if (!m.has(r.series)) m.set(r.series, []);
    m.get(r.series).push(r);
  }
  return [...m];
}

/** calls/s set up and failed calls per step of the SIP search, one line per proxy. */
export function sipChart(rows) {
  const groups = bySeries(rows).map(([name, rs], i) => ({ name, color: colorOf(name, i), rows: rs }));
  const label = (r) => `asked ${r.rate}/s, set up ${r.setupRate}/s, ${r.failed} of ${r.calls} failed${r.clean ? '' : ' (not clean)'}`;
  const top = groups.map((g) => ({ ...g, points: g.rows.map((r) => ({ x: r.rate, y: r.setupRate, hollow: !r.clean, label: label(r) })) }));
  const bottom = groups.map((g) => ({ ...g, points: g.rows.map((r) => ({ x: r.rate, y: r.failed, hollow: !r.clean, label: label(r) })) }));
  const xTicks = ticks(Math.max(...rows.map((r) => r.rate), 1));
  const [W, H] = [760, 560];
  return svg(W, H, 'SIP calls/s per step, srvproxy and Kamailio', 'each step: sipp UAC at the asked rate through the proxy (INVITE/200/ACK/BYE/200); a hollow point is a step that was not clean', [
    ...panel({ x: 80, y: 70, w: W - 120, h: 240, xLabel: 'asked rate, calls/s', yLabel: 'calls/s set up', xTicks, series: top }),
    ...panel({ x: 80, y: 370, w: W - 120, h: 110, xLabel: 'asked rate, calls/s', yLabel: 'failed calls', xTicks, yAtLeast: 5, series: bottom }),
    ...legend(80, H - 24, groups, 'clean: < 0.1% failed and set up at >= 90% of the asked rate'),
  ]);
}

/** queries/s per dnsperf round, one line per server. */
export function dnsChart(rows) {
  const groups = bySeries(rows).map(([name, rs], i) => ({
    name,
    color: colorOf(name, i),
    points: rs.map((r) => ({ x: r.round, y: r.qps, label: `round ${r.round}: ${r.qps} q/s` })),
  }));
  const rounds = Math.max(...rows.map((r) => r.round), 1);
  const [W, H] = [760, 400];
  return svg(W, H, 'DNS queries/s per round, srvproxy and gdnsd', 'dnsperf, SRV/A/NAPTR/NXDOMAIN mix; rounds alternate between the servers', [
    ...panel({ x: 80, y: 70, w: W - 120, h: 240, xLabel: 'round', yLabel: 'queries/s', xTicks: Array.from({ length: rounds }, (_, i) => i + 1), series: groups }),
    ...legend(80, H - 24, groups, ''),
  ]);
}

/** Reads STEPS.jsonl: every non-empty line one JSON object; a bad line names its number. */
export function readSteps(file) {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((line, i) => [line.trim(), i + 1])
    .filter(([line]) => line !== '')
    .map(([line, n]) => {
      try {
        return JSON.parse(line);
      } catch {
        throw new Error(`${file}:${n}: not a JSON object`);
      }
    });
}

/** Writes the charts the steps allow; returns the files written. */
export function writeCharts(steps, outDir) {
  const written = [];
  const sip = steps.filter((s) => s.part === 'sip' && Number.isFinite(s.rate) && Number.isFinite(s.setupRate) && Number.isFinite(s.failed));
  const dns = steps.filter((s) => s.part === 'dns' && Number.isFinite(s.round) && Number.isFinite(s.qps));
  fs.mkdirSync(outDir, { recursive: true });
  if (sip.length) {
    const f = path.join(outDir, 'sip-calls.svg');
    fs.writeFileSync(f, sipChart(sip));
    written.push(f);
  }
  if (dns.length) {
    const f = path.join(outDir, 'dns-qps.svg');
    fs.writeFileSync(f, dnsChart(dns));
    written.push(f);
  }
  return written;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [file, outDir] = process.argv.slice(2);
  if (!file || !outDir) {
    process.stderr.write('usage: node scripts/bench/charts.mjs STEPS.jsonl OUT_DIR\n');
    process.exit(2);
  }
  try {
    const written = writeCharts(readSteps(file), outDir);
    process.stdout.write(written.length ? written.map((f) => `charts: ${f}\n`).join('') : 'charts: no SIP or DNS steps recorded, no chart written\n');
  } catch (e) {
    process.stderr.write(`charts: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
