#!/usr/bin/env node
/**
 * scripts/bench/cpuprofile-top: summarises a V8 .cpuprofile (node --cpu-prof)
 * as two tables: the top N functions by self time, and self time by package
 * (node_modules/<name>, node: internals, the product's own dist/src/<plane>,
 * (garbage collector), (program), (idle)).
 *
 * Usage: node cpuprofile-top.mjs FILE.cpuprofile [N=25]
 * A third table lists the top N functions by total time (self + callees,
 * each sample counted once per function even under recursion).
 * Self time of a node = its sample count x the mean sample interval; the
 * percentages are of all samples except (idle), so they say where the busy
 * time went.
 */
import fs from 'node:fs';

const [file, nArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: cpuprofile-top.mjs FILE.cpuprofile [N]\n');
  process.exit(2);
}
const topN = Number(nArg ?? 25);
let prof;
try {
  prof = JSON.parse(fs.readFileSync(file, 'utf8'));
} catch (e) {
  process.stderr.write(`cpuprofile-top: cannot read ${file}: ${e.code ?? e.message}\n`);
  process.exit(2);
}

const byId = new Map();
for (const n of prof.nodes) byId.set(n.id, n);
const hits = new Map();
for (const id of prof.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
const totalSamples = prof.samples.length;
const usPerSample = totalSamples > 0 ? (prof.endTime - prof.startTime) / totalSamples : 0;

/** Where a call frame's code lives, as a short label. */
function packageOf(cf) {
  const url = cf.url || '';
  if (!url) {
    if (cf.functionName.startsWith('(')) return cf.functionName;
    return '(native/builtin)';
  }
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return 'npm:' + (rest[0].startsWith('@') ? rest[0] + '/' + rest[1] : rest[0]);
  }
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  const src = url.indexOf('/dist/src/');
  if (src >= 0) return 'srvproxy:' + url.slice(src + '/dist/src/'.length).split('/')[0];
  return url.replace(/^file:\/\//, '');
}

function fileOf(cf) {
  const url = (cf.url || '').replace(/^file:\/\//, '');
  const src = url.indexOf('/dist/src/');
  if (src >= 0) return url.slice(src + '/dist/src/'.length);
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  return url || '-';
}

const fnSelf = new Map(); // "name file:line" -> samples
const pkgSelf = new Map();
let idle = 0;
for (const [id, count] of hits) {
  const n = byId.get(id);
  const cf = n.callFrame;
  if (cf.functionName === '(idle)') {
    idle += count;
    continue;
  }
  const key = `${cf.functionName || '(anonymous)'}\t${fileOf(cf)}:${cf.lineNumber + 1}`;
  fnSelf.set(key, (fnSelf.get(key) ?? 0) + count);
  const pkg = packageOf(cf);
  pkgSelf.set(pkg, (pkgSelf.get(pkg) ?? 0) + count);
}
const busy = totalSamples - idle;
const ms = (s) => ((s * usPerSample) / 1000).toFixed(0);
const pct = (s) => (busy > 0 ? ((100 * s) / busy).toFixed(1) : '0.0');

console.log(
  `${file}: ${totalSamples} samples over ${((prof.endTime - prof.startTime) / 1e6).toFixed(1)} s ` +
    `(${usPerSample.toFixed(0)} us each); busy ${busy} samples (${ms(busy)} ms), idle ${idle}`,
);
console.log('\nTop functions by self time (% of busy samples)');
console.log(`${'self ms'.padStart(8)} ${'%'.padStart(6)}  function  (file:line)`);
for (const [key, s] of [...fnSelf].sort((a, b) => b[1] - a[1]).slice(0, topN)) {
  const [name, where] = key.split('\t');
  console.log(`${ms(s).padStart(8)} ${pct(s).padStart(6)}  ${name}  (${where})`);
}
console.log('\nSelf time by package / plane');
console.log(`${'self ms'.padStart(8)} ${'%'.padStart(6)}  package`);
for (const [pkg, s] of [...pkgSelf].sort((a, b) => b[1] - a[1])) {
  console.log(`${ms(s).padStart(8)} ${pct(s).padStart(6)}  ${pkg}`);
}

// total (inclusive) time: walk each sample's stack once, counting each function once
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const fnTotal = new Map();
for (const [id, count] of hits) {
  if (byId.get(id).callFrame.functionName === '(idle)') continue;
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const cf = byId.get(cur).callFrame;
    if (!cf.url || cf.functionName === '(root)') continue;
    const key = `${cf.functionName || '(anonymous)'}\t${fileOf(cf)}:${cf.lineNumber + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    fnTotal.set(key, (fnTotal.get(key) ?? 0) + count);
  }
}
console.log('\nTop functions by total time (self + callees, % of busy samples)');
console.log(`${'total ms'.padStart(8)} ${'%'.padStart(6)}  function  (file:line)`);
for (const [key, s] of [...fnTotal].sort((a, b) => b[1] - a[1]).slice(0, topN)) {
  const [name, where] = key.split('\t');
  console.log(`${ms(s).padStart(8)} ${pct(s).padStart(6)}  ${name}  (${where})`);
}
