/**
 * The forwarding state machine (sip/proxy/forward) on a fake clock, with the
 * real transaction layer and the real health plane (pair monitor probing
 * through a scripted prober): each test asserts the exact trace of
 * transitions, "time: from --event--> to [effects]", for one request.
 */
import { expect } from 'chai';
import { HealthMonitor } from '../../../../src/health/health-monitor.js';
import { FakeClock } from '../../../../src/shared/clock.js';
import { decode, type SipMessage, type SipRequest } from '../../../../src/sip/codec/codec.js';
import { copyForForward } from '../../../../src/sip/codec/messages.js';
import { Forwarding, PendingByMember, type ForwardEffect, type ForwardEnv, type ForwardTarget } from '../../../../src/sip/proxy/forward.js';
import { FailedTargets } from '../../../../src/sip/proxy/targets.js';
import { TransactionLayer } from '../../../../src/sip/transaction/layer.js';
import type { Remote } from '../../../../src/sip/transport/types.js';
import { ScriptedProber, pairOf, poolMember, recordingLogger, run, siteOf, type Reply } from '../../health/fakes.js';

const SELF = 'proxy1.example.com';
const PAIR = 'tserver.example.com';
const TA = 'sips-a.example.com';
const TB = 'sips-b.example.com';
const A = '127.0.0.21'; // pairOf's addresses
const B = '127.0.0.22';
const UA: Remote = { protocol: 'udp', address: '127.0.0.50', port: 5070 };
const HOP = 500;
const TIMER_C = 4000;

function describeEffect(fx: ForwardEffect): string {
  switch (fx.do) {
    case 'send':
      return 'send ' + (fx.member?.target ?? 'direct');
    case 'cancel-branch':
      return 'CANCEL';
    case 'abandon':
      return 'abandon';
    case 'upstream':
      return 'upstream ' + fx.res.status;
    case 'reply':
      return 'reply ' + fx.status + (fx.retryAfter ? ' Retry-After' : '');
    case 'count-failover':
      return 'count';
    case 'report-failed':
      return 'failed ' + fx.member.target;
    case 'await-active':
      return `await ${fx.wait.waitMs} ms`;
    case 'heard':
      return 'heard ' + fx.member.target;
    case 'target-failed':
      return 'target failed #' + fx.at;
    case 'target-answered':
      return 'target answered #' + fx.at;
  }
}

/** Probe replies: every member answers OPTIONS with 200 after 5 ms unless told otherwise. */
function setup(probes: { a?: Reply | ((n: number) => Reply); b?: Reply | ((n: number) => Reply) } = {}, direct?: readonly Remote[]) {
  const clock = new FakeClock();
  const sent: { dest: Remote; msg: SipMessage }[] = [];
  const sender = { send: (dest: Remote, data: Buffer) => void sent.push({ dest, msg: decodeOk(data) }) };
  const layer = new TransactionLayer({ sender, clock, timers: { timerC: TIMER_C } });
  const pair = pairOf(PAIR, TA, TB);
  const prober = new ScriptedProber(clock).set(TA, probes.a ?? { status: 200, afterMs: 5 }).set(TB, probes.b ?? { status: 200, afterMs: 5 });
  const health = new HealthMonitor({
    site: siteOf(SELF, [poolMember(SELF, '127.0.0.11')], [pair]),
    prober, clock, oosCheckMs: 1000, oosForceMs: 300, peerIntervalMs: 1000, peerDownAfter: 2, peerUpAfter: 2, log: recordingLogger().log,
  });
  const trace: string[] = [];
  const counters = { responsesByCode: Object.create(null) as Record<string, number>, forwardedByMember: Object.create(null) as Record<string, number>, failovers: 0 };
  const env: ForwardEnv = {
    layer,
    clock: layer.timerClock,
    health,
    feedback: health,
    transport: { localFor: () => ({ address: '127.0.0.11', port: 5060 }) },
    settings: { hopTimeoutMs: HOP, failoverWaitMs: 2000, maxFailoverAttempts: 3, retryAfterSeconds: 5 },
    counters,
    pending: new PendingByMember(),
    targets: new FailedTargets(layer.timerClock),
    observe: (from, ev, to, effects) => trace.push(`${clock.now()}: ${from.kind} --${ev.kind}--> ${to.kind} [${effects.map(describeEffect).join(', ')}]`),
  };
  const forwardings: Forwarding[] = [];
  layer.setUser({
    onRequest: (req, _remote, st) => {
      const target: ForwardTarget = direct ? { kind: 'direct', dests: direct } : { kind: 'pair', pair };
      const f = new Forwarding(env, st, copyForForward(req), target, 'c0ffee00');
      forwardings.push(f);
      f.start();
    },
    onAck: () => undefined,
    onStrayResponse: () => undefined,
    onBadMessage: () => undefined,
  });
  health.start();
  /** Requests sent to `addr` (optionally of one method). */
  const to = (addr: string, method?: string) => sent.filter((s) => s.dest.address === addr && s.msg.kind === 'request' && (!method || s.msg.method === method));
  /** Responses sent to the user agent. */
  const up = () => sent.flatMap((s) => (s.dest.address === UA.address && s.msg.kind === 'response' ? [s.msg] : []));
  /** A member's response to `m` as it got it. */
  const answer = (from: string, m: SipMessage, status: number) =>
    layer.onMessage(
      { kind: 'response', status, reason: 'x', version: '2.0', headers: { ...m.headers, to: { ...m.headers.to, params: status > 100 ? { tag: 'srv' } : {} } }, content: undefined },
      { protocol: 'udp', address: from, port: 5060 },
    );
  return { clock, layer, health, env, trace, counters, forwardings, to, up, answer, stop: () => health.stop() };
}

let n = 0;
function decodeOk(data: Buffer): SipMessage {
  const r = decode(data);
  if (!r.ok) throw new Error(r.error);
  return r.msg;
}

function req(method: string): SipRequest {
  n++;
  const text =
    `${method} sip:bob@${PAIR} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.50:5070;branch=z9hG4bKfsm${n};rport\r\n` +
    `From: <sip:a@x>;tag=f${n}\r\nTo: <sip:b@y>\r\nCall-ID: fsm${n}\r\nCSeq: 1 ${method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
  const m = decodeOk(Buffer.from(text));
  if (m.kind !== 'request') throw new Error('not a request');
  return m;
}

const branch = (m: SipMessage) => m.headers.via[0].params.branch;

describe('sip/proxy/forward state machine (fake clock, real health plane)', () => {
  it('normal answer: sent to the active member, 180 and 200 upstream, done', async () => {
    const s = setup();
    await run(s.clock, 10);
    s.layer.onMessage(req('INVITE'), UA);
    const inv = s.to(A, 'INVITE')[0]!.msg;
    await run(s.clock, 10);
    s.answer(A, inv, 180);
    await run(s.clock, 10);
    s.answer(A, inv, 200);
    await run(s.clock, HOP); // the per-hop timer was stopped by the 180
    expect(s.trace).to.deep.equal([
      `10: idle --start--> opening [send ${TA}]`,
      '10: opening --sent--> sending []',
      `20: sending --response--> sending [heard ${TA}, upstream 180]`,
      `30: sending --response--> done [heard ${TA}, upstream 200]`,
    ]);
    expect(s.up().map((m) => m.status)).to.deep.equal([180, 200]);
    expect(s.counters).to.deep.include({ failovers: 0 });
    s.stop();
  });

  it('per-hop timeout -> switchover -> retry on the new active member', async () => {
    const s = setup({ a: (k) => (k === 0 ? { status: 200, afterMs: 5 } : 'silent') });
    await run(s.clock, 10);
    s.layer.onMessage(req('MESSAGE'), UA);
    const first = s.to(A, 'MESSAGE')[0]!.msg;
    await run(s.clock, HOP + 10); // A silent: failed at 510; B answers the force-mode OPTIONS at 515
    const retry = s.to(B, 'MESSAGE');
    expect(retry).to.have.length(1);
    expect(branch(retry[0]!.msg)).to.not.equal(branch(first));
    s.answer(B, retry[0]!.msg, 200);
    expect(s.trace).to.deep.equal([
      `10: idle --start--> opening [send ${TA}]`,
      '10: opening --sent--> sending []',
      `510: sending --hop-timeout--> awaiting-active [count, failed ${TA}, await 2000 ms]`,
      `515: awaiting-active --active--> opening [abandon, send ${TB}]`,
      '515: opening --sent--> sending []',
      `520: sending --response--> done [heard ${TB}, upstream 200]`,
    ]);
    expect(s.health.pairState(PAIR)!.active).to.equal(TB);
    expect(s.up().map((m) => m.status)).to.deep.equal([200]);
    expect(s.counters.forwardedByMember).to.deep.equal({ [TA]: 1, [TB]: 1 });
    s.stop();
  });

  it('a late answer from the old member during the wait is taken; the switchover that follows sends nothing', async () => {
    // A silent to OPTIONS after the first; B slow to answer them (the force round takes its time)
    const s = setup({ a: (k) => (k === 0 ? { status: 200, afterMs: 5 } : 'silent'), b: { status: 200, afterMs: 200 } });
    await run(s.clock, 10);
    s.layer.onMessage(req('MESSAGE'), UA);
    const first = s.to(A, 'MESSAGE')[0]!.msg;
    await run(s.clock, HOP + 50);
    s.answer(A, first, 202); // t=560, on the transaction kept during the wait
    await run(s.clock, 300); // B answers its OPTIONS at 710: the pair switches
    expect(s.health.pairState(PAIR)!.active).to.equal(TB);
    expect(s.trace).to.deep.equal([
      `10: idle --start--> opening [send ${TA}]`,
      '10: opening --sent--> sending []',
      `510: sending --hop-timeout--> awaiting-active [count, failed ${TA}, await 2000 ms]`,
      `560: awaiting-active --response--> done [heard ${TA}, upstream 202]`,
    ]);
    expect(s.to(B)).to.have.length(0);
    expect(s.up().map((m) => m.status)).to.deep.equal([202]);
    s.stop();
  });

  it('CANCEL while pending: held until the first provisional, then sent on the pending branch; 487 upstream', async () => {
    const s = setup();
    await run(s.clock, 10);
    s.layer.onMessage(req('INVITE'), UA);
    const inv = s.to(A, 'INVITE')[0]!.msg;
    await run(s.clock, 10);
    s.forwardings[0]!.cancel(); // nothing received from A yet: a CANCEL may not go before a provisional
    expect(s.to(A, 'CANCEL')).to.have.length(0);
    await run(s.clock, 10);
    s.answer(A, inv, 180);
    const cancel = s.to(A, 'CANCEL');
    expect(cancel).to.have.length(1);
    expect(branch(cancel[0]!.msg)).to.equal(branch(inv));
    await run(s.clock, 10);
    s.answer(A, inv, 487);
    expect(s.trace).to.deep.equal([
      `10: idle --start--> opening [send ${TA}]`,
      '10: opening --sent--> sending []',
      '20: sending --cancel--> cancelling []',
      `30: cancelling --response--> cancelling [heard ${TA}, CANCEL, upstream 180]`,
      `40: cancelling --response--> done [heard ${TA}, upstream 487]`,
    ]);
    expect(s.up().map((m) => m.status)).to.deep.equal([180, 487]);
    s.stop();
  });

  it('pair out of service: 503 + Retry-After at once; a request held in the switchover gets it when the round ends', async () => {
    const s = setup({ a: 'silent', b: 'silent' });
    // check(A) unanswered until 1000 -> force: B at 1000, A at 1300; out of service at 1600
    await run(s.clock, 1100);
    s.layer.onMessage(req('MESSAGE'), UA); // switching over: waits
    await run(s.clock, 600);
    s.layer.onMessage(req('MESSAGE'), UA); // out of service: 503 at once
    expect(s.trace).to.deep.equal([
      '1100: idle --start--> awaiting-active [await 2000 ms]',
      '1600: awaiting-active --no-active--> done [reply 503 Retry-After]',
      '1700: idle --start--> done [reply 503 Retry-After]',
    ]);
    expect(s.up().map((m) => [m.status, m.headers['retry-after']])).to.deep.equal([[503, '5'], [503, '5']]);
    expect(s.to(A).length + s.to(B).length).to.equal(0);
    s.stop();
  });

  it('timer C: an INVITE ringing too long is CANCELled downstream and answered 408 upstream', async () => {
    const s = setup();
    await run(s.clock, 10);
    s.layer.onMessage(req('INVITE'), UA);
    const inv = s.to(A, 'INVITE')[0]!.msg;
    await run(s.clock, 10);
    s.answer(A, inv, 180); // timer C starts with the first provisional
    await run(s.clock, TIMER_C);
    expect(s.trace).to.deep.equal([
      `10: idle --start--> opening [send ${TA}]`,
      '10: opening --sent--> sending []',
      `20: sending --response--> sending [heard ${TA}, upstream 180]`,
      `${20 + TIMER_C}: sending --failure--> done [CANCEL, reply 408]`,
    ]);
    expect(s.to(A, 'CANCEL')).to.have.length(1);
    expect(s.up().map((m) => m.status)).to.deep.equal([180, 408]);
    s.stop();
  });
});

describe('sip/proxy/forward: direct targets (RFC 3263 §4.3 failover across SRV targets)', () => {
  const G1: Remote = { protocol: 'udp', address: '127.0.0.61', port: 5060 };
  const G2: Remote = { protocol: 'udp', address: '127.0.0.62', port: 5060 };
  const G3: Remote = { protocol: 'udp', address: '127.0.0.63', port: 5060 };

  it('a silent target: the next one at the per-hop timeout; the silent one is remembered failed and counted', async () => {
    const s = setup({}, [G1, G2]);
    await run(s.clock, 10);
    s.layer.onMessage(req('INVITE'), UA);
    const first = s.to(G1.address, 'INVITE')[0]!.msg;
    await run(s.clock, HOP + 10);
    const second = s.to(G2.address, 'INVITE');
    expect(second).to.have.length(1);
    expect(branch(second[0]!.msg)).to.not.equal(branch(first));
    s.answer(G2.address, second[0]!.msg, 200);
    expect(s.trace).to.deep.equal([
      '10: idle --start--> opening [send direct]',
      '10: opening --sent--> sending []',
      '510: sending --hop-timeout--> opening [abandon, target failed #0, count, send direct]',
      '510: opening --sent--> sending []',
      '520: sending --response--> done [target answered #1, upstream 200]',
    ]);
    expect(s.up().map((m) => m.status)).to.deep.equal([200]);
    expect(s.env.targets.isFailed(G1)).to.equal(true);
    expect(s.env.targets.isFailed(G2)).to.equal(false);
    expect(s.env.targets.failures).to.deep.equal({ 'udp:127.0.0.61:5060': 1 });
    expect(s.counters.failovers).to.equal(1);
    await run(s.clock, 10_000);
    expect(s.env.targets.isFailed(G1), 'forgotten after 10 s').to.equal(false);
    s.stop();
  });

  it('a 503 moves to the next target; the last target has no per-hop timer, its answer goes upstream', async () => {
    const s = setup({}, [G1, G2, G3]);
    await run(s.clock, 10);
    s.layer.onMessage(req('MESSAGE'), UA);
    s.answer(G1.address, s.to(G1.address, 'MESSAGE')[0]!.msg, 503);
    await run(s.clock, HOP + 10); // G2 silent: G3 at its per-hop timeout
    const last = s.to(G3.address, 'MESSAGE')[0]!.msg;
    await run(s.clock, 3 * HOP); // no per-hop timer on the last target
    s.answer(G3.address, last, 503);
    expect(s.trace).to.deep.equal([
      '10: idle --start--> opening [send direct]',
      '10: opening --sent--> sending []',
      '10: sending --response--> opening [target failed #0, count, send direct]',
      '10: opening --sent--> sending []',
      '510: sending --hop-timeout--> opening [abandon, target failed #1, count, send direct]',
      '510: opening --sent--> sending []',
      '2020: sending --response--> done [target answered #2, upstream 503]',
    ]);
    expect(s.up().map((m) => m.status)).to.deep.equal([503]);
    expect(Object.keys(s.env.targets.failures)).to.deep.equal(['udp:127.0.0.61:5060', 'udp:127.0.0.62:5060']);
    s.stop();
  });

  it('a target that answered 180 is not left at the per-hop timeout; a cancelled request is not sent to the next target', async () => {
    const s = setup({}, [G1, G2]);
    await run(s.clock, 10);
    s.layer.onMessage(req('INVITE'), UA);
    s.answer(G1.address, s.to(G1.address, 'INVITE')[0]!.msg, 180);
    await run(s.clock, 2 * HOP);
    expect(s.to(G2.address)).to.have.length(0);
    s.layer.onMessage(req('INVITE'), UA);
    s.forwardings[1]!.cancel();
    await run(s.clock, 2 * HOP);
    expect(s.to(G2.address)).to.have.length(0);
    expect(s.trace.slice(2)).to.deep.equal([
      '10: sending --response--> sending [target answered #0, upstream 180]',
      '1010: idle --start--> opening [send direct]',
      '1010: opening --sent--> sending []',
      '1010: sending --cancel--> cancelling []',
      '1510: cancelling --hop-timeout--> cancelling []',
    ]);
    s.stop();
  });
});
