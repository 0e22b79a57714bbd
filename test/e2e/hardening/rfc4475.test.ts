/**
 * RFC 4475 as a table test (test/support/rfc4475): every torture message that
 * applies to a proxy, sent by a user agent on 127.0.0.53 to a real srvproxy
 * instance (a child process) over UDP, and over TCP where its framing allows,
 * in front of two scripted member stand-ins (primary active on 127.0.0.41),
 * from a fresh port for each case.
 * Valid messages reach the primary unchanged in meaning; invalid ones are
 * answered with the RFC's code (or dropped where the RFC allows) and nothing
 * of them reaches a member; stray responses are dropped. Afterwards the
 * instance still answers and routes a call.
 */
import { expect } from 'chai';
import type net from 'node:net';
import { callThrough, crashLines, startMemberSite, type MemberSite } from '../../support/hardening-site.js';
import { expectForwardedUnchanged } from '../../support/forwarded.js';
import { eventually, sleep } from '../../support/processes.js';
import { TORTURE, tortureBytes, type Torture } from '../../support/rfc4475.js';
import { rawHead } from '../../support/sip-server.js';
import { SipPeer } from '../../support/sip-peer.js';

/** The user agent of case n: 127.0.5.1, 127.0.5.2, … (past 127.0.5.250 on into 127.0.6). */
const uaAddress = (n: number) => `127.0.${5 + Math.floor(n / 250)}.${1 + (n % 250)}`;

function verdictText(t: Torture): string {
  const v = t.verdict;
  if (v.kind === 'forward') return 'forwarded unchanged in meaning';
  if (v.kind === 'reject') return `answered ${v.codes.join(' or ')}${v.mayDrop ? ' or dropped' : ''}, not forwarded`;
  if (v.kind === 'either') return `forwarded unchanged or answered ${v.codes.join('/')}`;
  return 'dropped (stray response), nothing forwarded';
}

describe('e2e: RFC 4475 torture messages through a real instance', function () {
  this.timeout(20_000);
  let ms: MemberSite;
  let ua: SipPeer;

  before(async function () {
    this.timeout(20_000);
    ms = await startMemberSite();
  });

  after(async () => {
    await ms?.stop();
  });

  // a user agent on an address of its own for each case: the RFC's messages share branch values
  // (z9hG4bKkdjuw), so one sent-by for two cases makes the later one a retransmission of the
  // earlier (RFC 3261 §17.2.3), absorbed by its server transaction; a fresh port alone is drawn
  // at random by the kernel and can repeat one still held
  let cases = 0;
  beforeEach(async () => {
    ua = new SipPeer(uaAddress(++cases));
    await ua.start();
  });

  afterEach(async () => {
    await ua?.stop();
  });

  const memberRaw = () => [...ms.a.peer.raw, ...ms.b.peer.raw];

  const isRequest = (s: string) => !s.startsWith('SIP/2.0 ');

  for (const t of TORTURE) {
    for (const proto of t.tcp ? (['UDP', 'TCP'] as const) : (['UDP'] as const)) {
      it(`§${t.section} ${t.name} (${t.title}) over ${proto}: ${verdictText(t)}`, async () => {
        const site = ms.site;
        const m0 = { a: ms.a.peer.raw.length, b: ms.b.peer.raw.length };
        const u0 = ua.raw.length;
        const newAtMembers = () => [...ms.a.peer.raw.slice(m0.a), ...ms.b.peer.raw.slice(m0.b)].map((r) => r.data.toString('latin1')).filter(isRequest);
        const forwarded = () => newAtMembers().find((s) => s.includes(t.marker));
        const finals = () =>
          ua.raw
            .slice(u0)
            .map((r) => r.data.toString('latin1'))
            .filter((s) => s.includes(t.marker) && /^SIP\/2\.0 [2-6]\d\d /.test(s));
        // every response to the test's message, start lines only (for the failure messages)
        const answers = () =>
          ua.raw
            .slice(u0)
            .map((r) => r.data.toString('latin1'))
            .filter((s) => s.includes(t.marker) && s.startsWith('SIP/2.0 '))
            .map((s) => s.slice(0, s.indexOf('\r\n')));
        let sock: net.Socket | undefined;
        let bytes: Buffer;
        if (proto === 'UDP') {
          bytes = tortureBytes(t, 'UDP', `${ua.address}:${ua.port}`);
          ua.sendUdp(bytes.toString('latin1'), site.address, site.sipPort);
        } else {
          sock = await ua.connectTcp(site.address, site.sipPort);
          bytes = tortureBytes(t, 'TCP', `${ua.address}:${sock.localPort}`);
          sock.write(bytes);
        }
        const sent = bytes.toString('latin1');
        try {
          const v = t.verdict;
          if (v.kind === 'forward') {
            await eventually(() => forwarded() !== undefined, 2000, `${t.name} at the member`).catch(() => {
              throw new Error(`not forwarded within 2 s; the user agent got: ${answers().join(' | ') || 'nothing'}`);
            });
            expectForwardedUnchanged(sent, forwarded()!, v.headers);
            if (v.absent) {
              await sleep(300);
              for (const a of v.absent) expect(memberRaw().some((r) => r.data.toString('latin1').includes(a)), `${a} at a member`).to.equal(false);
            }
          } else if (v.kind === 'reject') {
            if (v.mayDrop) await sleep(1500);
            else await eventually(() => finals().length > 0, 2000, `a final response to ${t.name}`).catch(() => undefined);
            const got = finals().map((s) => Number(s.slice(8, 11)));
            if (!(v.mayDrop && got.length === 0)) {
              const fwd = forwarded();
              expect(got, `final responses received (forwarded to a member: ${fwd ? fwd.slice(0, fwd.indexOf('\r\n')) : 'no'})`).to.have.length.greaterThan(0);
              expect(v.codes, `answered ${answers().join(' | ')}`).to.include(got[0]);
            }
            if (v.unsupported && got.length > 0) {
              const unsupported = (rawHead(finals()[0]!)?.get('unsupported') ?? []).flatMap((x) => x.split(',')).map((x) => x.trim());
              expect(unsupported, 'Unsupported').to.include.members(v.unsupported);
            }
            await sleep(300);
            expect(forwarded(), 'forwarded to a member').to.equal(undefined);
          } else if (v.kind === 'either') {
            await eventually(() => forwarded() !== undefined || finals().length > 0, 2000, `${t.name} forwarded or answered`);
            await sleep(200);
            const fwd = forwarded();
            if (fwd) expectForwardedUnchanged(sent, fwd, v.headers);
            else expect(v.codes, `status ${finals()[0]!.slice(8, 11)}`).to.include(Number(finals()[0]!.slice(8, 11)));
          } else {
            await sleep(500);
            const any = [...ms.a.peer.raw.slice(m0.a), ...ms.b.peer.raw.slice(m0.b)].some((r) => r.data.toString('latin1').includes(t.marker));
            expect(any, 'at a member').to.equal(false);
          }
        } finally {
          sock?.destroy();
        }
      });
    }
  }

  it('afterwards: the instance runs, logged no exception, and still routes a call', async () => {
    expect(ms.site.proc.running, ms.site.proc.output.slice(-3000)).to.equal(true);
    const c = await callThrough(ms.site, '127.0.0.63');
    expect(c.ok, c.detail).to.equal(true);
    expect(crashLines(ms.site.proc.output), 'exceptions in the log').to.deep.equal([]);
  });
});
