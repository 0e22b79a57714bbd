/**
 * The proxy core's switchover behaviour on a fake clock, each test named after
 * the fault it pins down: requests held (not refused) while a pair switches
 * over, 503 only while it is out of service, no second branch to a member
 * that was only slow, a busy member not mistaken for a dead one, an INVITE
 * left with only 100 Trying at a dead member moved to the new one, and ACKs
 * held during a switchover.
 */
import { expect } from 'chai';
import sip, { type SipMessage } from 'sip';
import { FakeClock } from '../../../../src/shared/clock.js';
import type { HealthChange, HealthView, PairFeedback, PairState } from '../../../../src/shared/health.js';
import { silentLogger } from '../../../../src/shared/log.js';
import type { SipRequest } from '../../../../src/sip/codec/codec.js';
import { requestFrom, responseFromPeer } from '../../../support/sip-wire.js';
import { ProxyCore } from '../../../../src/sip/proxy/core.js';
import { TransactionLayer } from '../../../../src/sip/transaction/layer.js';
import type { Remote } from '../../../../src/sip/transport/types.js';
import type { SiteModel } from '../../../../src/zone/types.js';
import { HeardLog, testSite } from '../../../support/fake-health.js';

const UA: Remote = { protocol: 'udp', address: '127.0.0.50', port: 5070 };
const A = '127.0.0.21';
const B = '127.0.0.22';
const TA = 'sips-a.example.com';
const TB = 'sips-b.example.com';
const PAIR = 'tserver.example.com';
const HOP = 500;

/** A pair whose state the test sets: check(active), switching (force, in the round), or out of service. */
class SwitchingHealth extends HeardLog implements HealthView, PairFeedback {
  version = 0;
  draining = false;
  state: PairState = { name: PAIR, mode: 'check', active: TA, inService: true, outOfService: false };
  readonly failed: string[] = [];
  readonly waits: number[] = [];
  private waiters: { resolve: (t: string) => void; reject: (e: Error) => void }[] = [];
  private readonly listeners = new Set<(c: HealthChange) => void>();

  isMemberHealthy(): boolean {
    return true;
  }
  pairState(pair: string): PairState | undefined {
    return pair === PAIR ? this.state : undefined;
  }
  onChange(l: (c: HealthChange) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  requestFromMember(): void {}
  /** The pair monitor's reaction to a failure report: force mode, no active member yet. */
  memberFailed(_pair: string, target: string): void {
    this.failed.push(target);
    this.switching();
  }
  awaitActive(_pair: string, timeoutMs: number): Promise<string> {
    this.waits.push(timeoutMs);
    if (this.state.active) return Promise.resolve(this.state.active);
    if (this.state.outOfService) return Promise.reject(new Error('out of service'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  switching(): void {
    this.set({ mode: 'force', active: null, inService: false, outOfService: false });
  }
  activate(target: string): void {
    this.set({ mode: 'check', active: target, inService: true, outOfService: false });
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.resolve(target);
  }
  outOfService(): void {
    this.set({ mode: 'force', active: null, inService: false, outOfService: true });
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) x.reject(new Error('out of service'));
  }
  private set(s: Omit<PairState, 'name'>): void {
    this.state = { name: PAIR, ...s };
    this.version++;
    for (const l of this.listeners) l({ kind: 'pair', pair: PAIR });
  }
}

/** A FakeClock whose now() can run ahead of the timers: a timer then fires late, as after a stall of the process. */
class StallingClock extends FakeClock {
  lag = 0;
  override now(): number {
    return super.now() + this.lag;
  }
}

function setup() {
  const clock = new StallingClock();
  const sent: { dest: Remote; msg: SipMessage }[] = [];
  const sender = { send: (dest: Remote, data: Buffer) => void sent.push({ dest, msg: sip.parse(data)! }) };
  const layer = new TransactionLayer({ sender, clock });
  const site = testSite({ address: '127.0.0.11', port: 5060 }, [
    { address: A, port: 5060 },
    { address: B, port: 5060 },
  ]) as SiteModel;
  const health = new SwitchingHealth(clock);
  const bound = [{ address: '127.0.0.11', port: 5060 }];
  const proxy = new ProxyCore({
    site: () => site, health, feedback: health, layer, clock, log: silentLogger, hopTimeoutMs: HOP,
    overloadCtrlDialogRate: 0, transport: { bound, localFor: () => bound[0] },
  });
  layer.setUser(proxy);
  /** Requests sent to `addr` (optionally of one method). */
  const to = (addr: string, method?: string) => sent.filter((s) => s.dest.address === addr && s.msg.method !== undefined && (!method || s.msg.method === method));
  /** Responses sent to the user agent. */
  const up = () => sent.filter((s) => s.dest.address === UA.address && s.msg.status !== undefined).map((s) => s.msg.status);
  /** What a member sends: a response to `m` (as the member got it), through the transport's path. */
  const answer = (from: string, m: SipMessage, status: number, toTag = 'srv') => {
    proxy.heard(from);
    layer.onMessage(
      responseFromPeer({ status, reason: 'x', version: '2.0', headers: { ...m.headers, to: { ...m.headers.to!, params: status > 100 ? { tag: toTag } : {} } } }),
      { protocol: 'udp', address: from, port: 5060 },
    );
  };
  return { clock, sent, layer, proxy, health, to, up, answer };
}

let n = 0;
function req(method: string, extra = '', ruri = 'sip:bob@tserver.example.com'): SipRequest {
  n++;
  const text =
    `${method} ${ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.50:5070;branch=z9hG4bKf${n};rport\r\n` +
    `From: <sip:a@x>;tag=f${n}\r\nTo: <sip:b@y>${extra.includes('To-tag') ? ';tag=dlg' : ''}\r\nCall-ID: fo${n}\r\nCSeq: 2 ${method}\r\nMax-Forwards: 70\r\n` +
    `${extra.replace('To-tag\r\n', '')}Content-Length: 0\r\n\r\n`;
  return requestFrom(text);
}

const branch = (m: SipMessage) => m.headers.via![0].params.branch;
const flush = () => new Promise((r) => setImmediate(r));

describe('sip/proxy/forward: switchover (fake clock)', () => {
  it('switchover answered 503 at once: a request arriving while the pair switches over waits and reaches the new active member', async () => {
    const { layer, health, to, up } = setup();
    health.switching();
    layer.onMessage(req('INVITE'), UA);
    layer.onMessage(req('BYE', 'To-tag\r\n'), UA);
    await flush();
    expect(up()).to.deep.equal([100]); // 100 Trying for the INVITE, nothing else yet
    expect(to(A).length + to(B).length).to.equal(0);
    expect(health.waits).to.have.length(2);
    health.activate(TB);
    await flush();
    expect(to(B).map((s) => s.msg.method).sort()).to.deep.equal(['BYE', 'INVITE']);
    expect(to(A)).to.have.length(0);
  });

  it('pair out of service (a whole force round unanswered): 503 with Retry-After at once, no wait', async () => {
    const { layer, health, sent, up } = setup();
    health.outOfService();
    layer.onMessage(req('MESSAGE'), UA);
    expect(up()).to.deep.equal([503]);
    expect(sent.at(-1)!.msg.headers['retry-after']).to.equal('5');
    expect(health.waits).to.have.length(0);
  });

  it('a request held during a switchover gets 503 + Retry-After when the pair goes out of service', async () => {
    const { layer, health, sent, up } = setup();
    health.switching();
    layer.onMessage(req('MESSAGE'), UA);
    await flush();
    expect(up()).to.deep.equal([]);
    health.outOfService();
    await flush();
    expect(up()).to.deep.equal([503]);
    expect(sent.at(-1)!.msg.headers['retry-after']).to.equal('5');
  });

  it('BYE re-sent on a new branch drew 481: a silent member that is active again keeps the transaction (same branch) and its late answer counts', async () => {
    const { layer, health, clock, to, up, answer } = setup();
    layer.onMessage(req('BYE', 'To-tag\r\n'), UA);
    const first = to(A, 'BYE')[0].msg;
    clock.advance(HOP);
    expect(health.failed).to.deep.equal([TA]);
    health.activate(TA); // A answered the force-mode OPTIONS: it was only slow
    await flush();
    const byes = to(A, 'BYE');
    expect(byes.length).to.be.greaterThan(1); // the original and timer E's retransmissions
    expect(new Set(byes.map((s) => branch(s.msg)))).to.deep.equal(new Set([branch(first)]));
    expect(to(B)).to.have.length(0);
    answer(A, first, 200);
    expect(up()).to.deep.equal([200]);
  });

  it('a late answer from the silent member during the failover wait is taken; nothing goes to the other member', async () => {
    const { layer, health, clock, to, up, answer } = setup();
    layer.onMessage(req('MESSAGE'), UA);
    const first = to(A, 'MESSAGE')[0].msg;
    clock.advance(HOP);
    expect(health.failed).to.deep.equal([TA]);
    answer(A, first, 202);
    expect(up()).to.deep.equal([202]);
    health.activate(TB);
    await flush();
    expect(to(B)).to.have.length(0);
  });

  it('hop timer counted a busy member as dead: a member heard within the last half hop period is not reported failed', async () => {
    const { layer, health, clock, to, answer } = setup();
    layer.onMessage(req('MESSAGE'), UA); // X: will stay unanswered
    layer.onMessage(req('MESSAGE'), UA); // Y
    const y = to(A, 'MESSAGE')[1].msg;
    clock.advance(400);
    answer(A, y, 200); // A is alive and answering
    clock.advance(100); // X's hop timer: A was heard 100 ms ago
    expect(health.failed).to.deep.equal([]);
    clock.advance(HOP - 1); // re-armed; A silent since t=400
    expect(health.failed).to.deep.equal([]);
    clock.advance(1); // t=1000: A silent for 600 ms
    expect(health.failed).to.deep.equal([TA]);
  });

  it('hop timer fired late after a stall of this process, the answer unread in the socket: the answer is read first, no failover', () => {
    const { layer, health, clock, to, up, answer } = setup();
    layer.onMessage(req('MESSAGE'), UA);
    const m = to(A, 'MESSAGE')[0].msg;
    clock.lag = 300; // the timer, due at 500, runs when the process wakes at 800
    clock.advance(HOP);
    expect(health.failed).to.deep.equal([]);
    answer(A, m, 200); // read in the same turn, after the timers
    clock.advance(1);
    expect(health.failed).to.deep.equal([]);
    expect(up()).to.deep.equal([200]);
  });

  it('a late per-hop timer is put off once only: a member that stays silent is failed right after', () => {
    const { layer, health, clock } = setup();
    layer.onMessage(req('MESSAGE'), UA);
    clock.lag = 300;
    clock.advance(HOP);
    expect(health.failed).to.deep.equal([]);
    clock.lag = 600; // still stalling
    clock.advance(1);
    expect(health.failed).to.deep.equal([TA]);
  });

  it('a dead member is still failed at exactly the per-hop timeout (its last answer is older than half the period)', () => {
    const { layer, health, clock, to, answer } = setup();
    layer.onMessage(req('MESSAGE'), UA);
    answer(A, to(A, 'MESSAGE')[0].msg, 200);
    clock.advance(10);
    layer.onMessage(req('MESSAGE'), UA); // sent at t=10; A dies now
    clock.advance(HOP - 1);
    expect(health.failed).to.deep.equal([]);
    clock.advance(1);
    expect(health.failed).to.deep.equal([TA]);
  });

  it('INVITE left with only 100 Trying at a member that died (was: no final response, timer B at the user agent): moved to the new active member at the switchover, old branch CANCELled', async () => {
    const { layer, health, to, up, answer, clock } = setup();
    layer.onMessage(req('INVITE'), UA);
    const inv = to(A, 'INVITE')[0].msg;
    answer(A, inv, 100);
    clock.advance(10_000); // a 100 stops the per-hop timer: nothing happens by itself
    expect(to(B)).to.have.length(0);
    health.switching();
    health.activate(TB); // the pair moved (another request's failover, or a probe)
    const moved = to(B, 'INVITE');
    expect(moved).to.have.length(1);
    expect(branch(moved[0].msg)).to.not.equal(branch(inv));
    expect(to(A, 'CANCEL')).to.have.length(1);
    expect(branch(to(A, 'CANCEL')[0].msg)).to.equal(branch(inv));
    answer(B, moved[0].msg, 200);
    expect(up()).to.deep.equal([100, 200]);
  });

  it('a request nobody answered yet moves at the switchover, before its own per-hop timer', () => {
    const { layer, health, to, clock } = setup();
    layer.onMessage(req('BYE', 'To-tag\r\n'), UA);
    clock.advance(200);
    health.switching();
    health.activate(TB);
    expect(to(B, 'BYE')).to.have.length(1);
    expect(to(A, 'CANCEL')).to.have.length(0);
  });

  it('an INVITE already ringing (180) at the old member stays there', () => {
    const { layer, health, to, up, answer } = setup();
    layer.onMessage(req('INVITE'), UA);
    answer(A, to(A, 'INVITE')[0].msg, 180);
    health.switching();
    health.activate(TB);
    expect(to(B)).to.have.length(0);
    expect(up()).to.deep.equal([100, 180]);
  });

  it('ACK for a 2xx during a switchover was dropped: it is held and delivered to the new active member', async () => {
    const { layer, health, to } = setup();
    health.switching();
    const ack = req('ACK', 'To-tag\r\n', `sip:sim@${A}:5060`);
    ack.headers.cseq = { seq: 1, method: 'ACK' };
    layer.onMessage(ack, UA);
    await flush();
    expect(to(A).length + to(B).length).to.equal(0);
    health.activate(TB);
    await flush();
    expect(to(B, 'ACK')).to.have.length(1);
    health.outOfService();
    layer.onMessage({ ...ack, headers: { ...ack.headers, via: [{ ...ack.headers.via[0], params: { branch: 'z9hG4bKother' } }] } }, UA);
    await flush();
    expect(to(A, 'ACK').length + to(B, 'ACK').length).to.equal(1); // out of service: dropped
  });
});
