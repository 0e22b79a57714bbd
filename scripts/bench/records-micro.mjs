#!/usr/bin/env node
/**
 * scripts/bench/records-micro: bytes the SIP plane keeps per benchmark call
 * once the call is over, and CPU microseconds per call, in one process on a
 * fake clock with no sockets. Each call is the benchmark's
 * INVITE/200/ACK/BYE/200 with Record-Route through the proxy core and the
 * transaction layer (src/sip/proxy/core.ts over src/sip/transaction/layer.ts,
 * the site and health of test/support/fake-health.ts): what stays is the four
 * records of answered transactions (64*T1 and T4), and anything else a call
 * leaves behind. Heap and external memory are read after two full GCs before
 * and after the calls. Build first (npx tsc -p tsconfig.json).
 * Usage: node --expose-gc scripts/bench/records-micro.mjs [CALLS=50000] [ROOT=.] [HEAP_SNAPSHOT_FILE]
 * (ROOT: another built tree, e.g. a copy of an older commit, to compare.)
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';

const N = Number(process.argv[2] ?? 50000);
const ROOT = path.resolve(process.argv[3] ?? path.join(path.dirname(new URL(import.meta.url).pathname), '../..'));
const SNAPSHOT = process.argv[4];
if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc');
  process.exit(2);
}
const load = (p) => import(pathToFileURL(path.join(ROOT, 'dist', p)).href);
const { FakeClock } = await load('src/shared/clock.js');
const { silentLogger } = await load('src/shared/log.js');
const { decode } = await load('src/sip/codec/codec.js');
const { ProxyCore } = await load('src/sip/proxy/core.js');
const { TransactionLayer } = await load('src/sip/transaction/layer.js');
const { FakeHealth, testSite } = await load('test/support/fake-health.js');

const clock = new FakeClock();
let out = [];
const layer = new TransactionLayer({ sender: { send: (dest, data) => void out.push({ dest, data }) }, clock });
const site = testSite({ address: '127.0.0.141', port: 25060 }, [{ address: '127.0.0.142', port: 25060 }, { address: '127.0.0.143', port: 25060 }]);
const health = new FakeHealth(site.pairs);
const bound = [{ address: '127.0.0.141', port: 25060 }];
const proxy = new ProxyCore({
  site: () => site, health, feedback: health, layer, clock, log: silentLogger, hopTimeoutMs: 500, overloadCtrlDialogRate: 0,
  transport: { bound, localFor: () => bound[0] },
});
layer.setUser(proxy);
const UAC = { protocol: 'udp', address: '127.0.0.140', port: 25090 };
const UAS = { protocol: 'udp', address: '127.0.0.142', port: 25060 };
const SDP = 'v=0\r\no=bench 1 1 IN IP4 127.0.0.140\r\ns=-\r\nc=IN IP4 127.0.0.140\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

function read(text) {
  const r = decode(Buffer.from(text, 'latin1'));
  if (!r.ok) throw new Error(r.error);
  return r.msg;
}
/** The first message sent that `pred` accepts, removed from `out`. */
function take(pred) {
  const i = out.findIndex((o) => pred(o.dest, o.data.toString('latin1')));
  if (i < 0) throw new Error('not sent; sent: ' + out.map((o) => o.data.toString('latin1').split('\r\n')[0]).join(' / '));
  return out.splice(i, 1)[0].data.toString('latin1');
}
/** A 200 as the UAS writes it: Via, From, Call-ID, CSeq and Record-Route copied, To tagged. */
function answer(req, extra) {
  const lines = req.split('\r\n');
  const keep = lines.filter((l) => /^(Via|From|Call-ID|CSeq|Record-Route):/i.test(l));
  const to = lines.find((l) => /^To:/i.test(l));
  return `SIP/2.0 200 OK\r\n${keep.join('\r\n')}\r\n${to}${to.includes('tag=') ? '' : ';tag=uas'}\r\n${extra}Content-Length: 0\r\n\r\n`;
}
function call(i) {
  const head = (method, seq, routes, ruri) =>
    `${method} ${ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.140:25090;branch=z9hG4bK-4242-${i}-${seq}\r\n` +
    `From: "bench" <sip:bench@127.0.0.140:25090>;tag=4242B${i}\r\nTo: <sip:service@127.0.0.141:25060>${method === 'INVITE' ? '' : ';tag=uas'}\r\n` +
    `Call-ID: ${i}-4242@127.0.0.140\r\nCSeq: ${seq} ${method}\r\n${routes}Contact: <sip:bench@127.0.0.140:25090>\r\nMax-Forwards: 70\r\n`;
  const invite = head('INVITE', 1, '', 'sip:service@127.0.0.141:25060') + `Subject: srvproxy bench\r\nContent-Type: application/sdp\r\nContent-Length: ${SDP.length}\r\n\r\n${SDP}`;
  layer.onMessage(read(invite), UAC);
  const forwarded = take((d, t) => d.port === UAS.port && t.startsWith('INVITE'));
  layer.onMessage(read(answer(forwarded, 'Contact: <sip:service@127.0.0.142:25060>\r\n')), UAS);
  const ok = take((d, t) => d.port === UAC.port && t.startsWith('SIP/2.0 200'));
  const routes = ok.split('\r\n').filter((l) => /^Record-Route:/i.test(l)).map((l) => 'Route:' + l.slice('Record-Route:'.length) + '\r\n').join('');
  layer.onMessage(read(head('ACK', 1, routes, 'sip:service@127.0.0.142:25060') + 'Content-Length: 0\r\n\r\n'), UAC);
  take((d, t) => d.port === UAS.port && t.startsWith('ACK'));
  layer.onMessage(read(head('BYE', 2, routes, 'sip:service@127.0.0.142:25060') + 'Content-Length: 0\r\n\r\n'), UAC);
  layer.onMessage(read(answer(take((d, t) => d.port === UAS.port && t.startsWith('BYE')), '')), UAS);
  take((d, t) => d.port === UAC.port && t.startsWith('SIP/2.0 200'));
  out = [];
}
function memory() {
  globalThis.gc();
  globalThis.gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external };
}

for (let i = 0; i < 2000; i++) call(-1 - i); // warm up, then let those records expire
clock.advance(64 * 500 + 1);
const m0 = memory();
const c0 = process.cpuUsage();
for (let i = 0; i < N; i++) {
  call(i);
  if (i % 1000 === 999) clock.advance(1); // all within the shortest record lifetime (T4)
}
const c1 = process.cpuUsage(c0);
const m1 = memory();
const per = (k) => ((m1[k] - m0[k]) / N).toFixed(0);
console.log(`${ROOT}: ${N} calls, ${layer.serverCount} server and ${layer.clientCount} client transactions held`);
console.log(`  kept per call: heap ${per('heap')} B, external ${per('external')} B; CPU ${((c1.user + c1.system) / N).toFixed(1)} us per call (the messages' text, decode and encode included)`);
if (SNAPSHOT) console.log(`  heap snapshot: ${v8.writeHeapSnapshot(SNAPSHOT)}`);
