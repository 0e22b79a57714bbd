#!/usr/bin/env node
/**
 * scripts/bench/records-micro: bytes that the transaction layer keeps per
 * benchmark call once the call is over (its records of answered
 * transactions, held for 64*T1 and T4), and CPU microseconds per call, on a
 * fake clock with no sockets: each call is the benchmark's INVITE/200/BYE/200
 * through the layer as the proxy sees it (server INVITE and BYE answered
 * 200, client INVITE and BYE answered 200; the ACK is end to end and leaves
 * nothing). Heap and external memory are read after two full GCs, before and
 * after the calls.
 * Usage: node --expose-gc scripts/bench/records-micro.mjs [CALLS=100000] [ROOT=.]
 * (ROOT: a built tree, e.g. a copy of another commit, to compare two trees.)
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const N = Number(process.argv[2] ?? 100000);
const ROOT = path.resolve(process.argv[3] ?? path.join(path.dirname(new URL(import.meta.url).pathname), '../..'));
if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc');
  process.exit(2);
}
const load = (p) => import(pathToFileURL(path.join(ROOT, 'dist/src', p)).href);
const { FakeClock } = await load('shared/clock.js');
const { decode, encode } = await load('sip/codec/codec.js');
const { TransactionLayer } = await load('sip/transaction/layer.js');

const clock = new FakeClock();
const layer = new TransactionLayer({ sender: { send() {} }, clock, maxTransactions: 100_000_000 });
let st;
layer.setUser({ onRequest: (_r, _rem, s) => (st = s), onAck() {}, onStrayResponse() {}, onBadMessage() {} });
const UAC = { protocol: 'udp', address: '127.0.0.140', port: 25090 };
const UAS = { protocol: 'udp', address: '127.0.0.142', port: 25060 };
const user = { onResponse() {}, onFailure() {} };
const SDP = 'v=0\r\no=bench 1 1 IN IP4 127.0.0.140\r\ns=-\r\nc=IN IP4 127.0.0.140\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';

function read(text) {
  const r = decode(Buffer.from(text, 'latin1'));
  if (!r.ok) throw new Error(r.error);
  return r.msg;
}
function request(method, i, vias, extra) {
  return read(
    `${method} sip:service@127.0.0.141:25060 SIP/2.0\r\n${vias.map((v) => `Via: SIP/2.0/UDP ${v}\r\n`).join('')}` +
      `From: "bench" <sip:bench@127.0.0.140:25090>;tag=4242B${i}\r\nTo: <sip:service@127.0.0.141:25060>${method === 'BYE' ? ';tag=uas' + i : ''}\r\n` +
      `Call-ID: ${i}-4242@127.0.0.140\r\nCSeq: ${method === 'BYE' ? 2 : 1} ${method}\r\n${extra}Contact: <sip:bench@127.0.0.140:25090>\r\nMax-Forwards: 70\r\n` +
      (method === 'INVITE' ? `Subject: srvproxy bench\r\nContent-Type: application/sdp\r\nContent-Length: ${SDP.length}\r\n\r\n${SDP}` : 'Content-Length: 0\r\n\r\n'),
  );
}
function ok(req) {
  const h = req.headers;
  return {
    kind: 'response', status: 200, reason: 'OK', version: '2.0', content: undefined,
    headers: { via: h.via, from: h.from, to: { ...h.to, params: { tag: 'uas' } }, 'call-id': h['call-id'], cseq: h.cseq, 'record-route': '<sip:127.0.0.141:25060;lr;r=a1b2c3>', contact: '<sip:service@127.0.0.142:25060>' },
  };
}
function call(i) {
  const uacVia = (n) => `127.0.0.140:25090;branch=z9hG4bK-4242-${i}-${n}`;
  const inv = request('INVITE', i, [uacVia(0)], '');
  layer.onMessage(inv, UAC);
  const sInv = st;
  const fInv = request('INVITE', i, [`127.0.0.141:25060;branch=z9hG4bKp${i}.a1b2c3d4e5f6`, uacVia(0)], 'Record-Route: <sip:127.0.0.141:25060;lr;r=a1b2c3>\r\n');
  layer.sendRequest(fInv, UAS, user, sInv.responseDest);
  layer.onMessage(read(encode(ok(fInv)).toString('latin1')), UAS);
  sInv.respond(ok(inv));
  const bye = request('BYE', i, [uacVia(1)], 'Route: <sip:127.0.0.141:25060;lr;r=a1b2c3>\r\n');
  layer.onMessage(bye, UAC);
  const sBye = st;
  const fBye = request('BYE', i, [`127.0.0.141:25060;branch=z9hG4bKq${i}.a1b2c3d4e5f6`, uacVia(1)], '');
  layer.sendRequest(fBye, UAS, user, sBye.responseDest);
  layer.onMessage(read(encode(ok(fBye)).toString('latin1')), UAS);
  sBye.respond(ok(bye));
}
function memory() {
  globalThis.gc();
  globalThis.gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external, rss: m.rss };
}

const m0 = memory();
const c0 = process.cpuUsage();
for (let i = 0; i < N; i++) {
  call(i);
  if (i % 1000 === 999) clock.advance(1); // all within the shortest record lifetime (T4)
}
const c1 = process.cpuUsage(c0);
const m1 = memory();
const per = (k) => ((m1[k] - m0[k]) / N).toFixed(0);
console.log(`${ROOT}: ${N} calls, ${layer.serverCount + layer.clientCount} transactions held`);
console.log(`  per call: heap ${per('heap')} B, external ${per('external')} B, together ${((m1.heap + m1.external - m0.heap - m0.external) / N).toFixed(0)} B`);
console.log(`  CPU ${((c1.user + c1.system) / N).toFixed(1)} us per call (message decode and encode included); RSS ${(m1.rss / 1048576).toFixed(0)} MB`);
