#!/usr/bin/env node
/**
 * scripts/bench/codec-micro: microseconds per decode and encode of a sipp
 * INVITE (the benchmark's own message, ~530 bytes) and a 200 OK with
 * Record-Route, by srvproxy's codec (dist/src/sip/codec/codec.js, build first) and
 * by package sip's parse/stringify, in one process.
 * Usage: node scripts/bench/codec-micro.mjs [ITERATIONS=100000]
 */
import sip from 'sip';
import { decode, encode } from '../../dist/src/sip/codec/codec.js';

const N = Number(process.argv[2] ?? 100000);
const SDP = 'v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.140\r\ns=-\r\nc=IN IP4 127.0.0.140\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n';
const INVITE =
  'INVITE sip:1000@tserver.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.140:25090;branch=z9hG4bK-1234-1-0;rport\r\n' +
  'From: sipp <sip:sipp@127.0.0.140:25090>;tag=1234SIPpTag001\r\nTo: <sip:1000@tserver.example.com>\r\nCall-ID: 1-1234@127.0.0.140\r\n' +
  'CSeq: 1 INVITE\r\nContact: sip:sipp@127.0.0.140:25090\r\nMax-Forwards: 70\r\nSubject: Performance Test\r\n' +
  `Route: <sip:sipproxy.example.com;lr>\r\nContent-Type: application/sdp\r\nContent-Length: ${SDP.length}\r\n\r\n${SDP}`;
const OK =
  'SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.141:25060;branch=z9hG4bKx8Yt0a3LmPqRsTuV.1a2b3c4d;received=127.0.0.141\r\n' +
  'Via: SIP/2.0/UDP 127.0.0.140:25090;branch=z9hG4bK-1234-1-0;rport=25090;received=127.0.0.140\r\n' +
  'Record-Route: <sip:sipproxy.example.com;lr;pair=tserver.example.com>\r\nFrom: sipp <sip:sipp@127.0.0.140:25090>;tag=1234SIPpTag001\r\n' +
  'To: <sip:1000@tserver.example.com>;tag=5678SIPpTag011\r\nCall-ID: 1-1234@127.0.0.140\r\nCSeq: 1 INVITE\r\n' +
  `Contact: <sip:127.0.0.142:25060;transport=UDP>\r\nContent-Type: application/sdp\r\nContent-Length: ${SDP.length}\r\n\r\n${SDP}`;

function bench(name, fn) {
  for (let i = 0; i < Math.min(N, 5000); i++) fn();
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn();
  console.log(`${name.padEnd(32)} ${(Number(process.hrtime.bigint() - t) / N / 1000).toFixed(2).padStart(7)} us`);
}

for (const [label, text] of [['INVITE', INVITE], ['200 OK + Record-Route', OK]]) {
  const buf = Buffer.from(text, 'latin1');
  console.log(`${label} (${buf.length} bytes)`);
  const r = decode(buf);
  if (!r.ok) throw new Error(`${label}: ${r.error}`);
  const s = sip.parse(buf.toString('latin1'));
  bench('  package sip parse', () => sip.parse(buf.toString('latin1')));
  bench('  srvproxy decode', () => decode(buf));
  bench('  package sip stringify', () => Buffer.from(sip.stringify(s), 'latin1'));
  bench('  srvproxy encode', () => encode(r.msg));
}
