#!/usr/bin/env node
// scripts/dns-serve.mjs: srvproxy's DNS plane alone, for benchmarks
// (scripts/bench-dns.sh), until `srvproxy run` starts it; then use
//   node dist/src/cli/main.js run --self ... --dns-port PORT
// Usage: node scripts/dns-serve.mjs --zones PATH [--zones PATH ...] --listen ADDR [--listen ADDR] --port N
// Prints "ready <port>" when listening; SIGTERM/SIGINT close every socket and exit 0.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { loadZones } = await import(join(root, 'dist/src/zone/load.js'));
const { buildAnswerTable } = await import(join(root, 'dist/src/dns/answers.js'));
const { DnsServer } = await import(join(root, 'dist/src/dns/server.js'));

const zones = [];
const listen = [];
let port = 5300;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const v = argv[++i];
  if (v === undefined) { console.error(`dns-serve: ${a} needs a value`); process.exit(2); }
  if (a === '--zones') zones.push(v);
  else if (a === '--listen') listen.push(v);
  else if (a === '--port') port = Number(v);
  else { console.error(`dns-serve: unknown option ${a}`); process.exit(2); }
}
if (zones.length === 0) zones.push(join(root, 'zones'));
if (listen.length === 0) listen.push('127.0.0.1');

let server;
try {
  const { table } = buildAnswerTable(loadZones(zones));
  server = new DnsServer({ addresses: listen, port, table });
  await server.listen();
} catch (e) {
  console.error(`dns-serve: ${e.message}`);
  process.exit(1);
}
console.log(`ready ${server.port}`);
const stop = async () => {
  await server.close();
  const c = server.counters;
  console.error(`dns-serve: udp ${c.udpReceived} tcp ${c.tcpReceived} dropped ${c.dropped} truncated ${c.truncated} internal errors ${c.internalErrors}`);
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
