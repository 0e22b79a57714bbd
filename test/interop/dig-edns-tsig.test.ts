/**
 * BIND's dig against real DnsServers on loopback, on what srvproxy refuses:
 * error replies (NOTIMP, REFUSED, BADVERS) carry an OPT when the query did
 * (RFC 6891 §7), an unknown EDNS option is ignored; a signed query to a
 * server without a key gets BADKEY, a wrong secret BADSIG (RFC 8945 §5.2);
 * a signed UDP answer fits dig's buffer size with its TSIG and verifies.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { buildAnswerTable } from '../../src/dns/authority/answers.js';
import { ZoneTransfer } from '../../src/dns/secondary/xfr.js';
import { DnsServer } from '../../src/dns/server/server.js';
import { DNS_TEST_ZONE, zonesFromText } from '../support/dns-zone.js';

const run = promisify(execFile);

const SECRET = Buffer.alloc(32, 0x42);
const KEY_ARG = `hmac-sha256:xfr-key:${SECRET.toString('base64')}`;

describe('interop dns: dig on error replies and TSIG', function () {
  this.timeout(30000);
  let plain: DnsServer;
  let keyed: DnsServer;

  async function dig(server: DnsServer, ...args: string[]): Promise<{ out: string; status: string; edns?: string; size: number }> {
    const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(server.port), '+time=2', '+tries=1', ...args], { timeout: 10000 });
    return {
      out: stdout,
      status: /status: (\w+)/.exec(stdout)?.[1] ?? '',
      edns: /; EDNS: ([^\n]*)/.exec(stdout)?.[1],
      size: Number(/MSG SIZE\s+rcvd: (\d+)/.exec(stdout)?.[1] ?? NaN),
    };
  }

  before(async () => {
    await run('dig', ['-v']).catch(() => {
      throw new Error('dig missing: run scripts/install-interop.sh (package bind9-dnsutils)');
    });
    const table = buildAnswerTable(zonesFromText({ 'example.com.zone': DNS_TEST_ZONE })).table;
    plain = new DnsServer({ addresses: ['127.0.0.1'], port: 0, table });
    keyed = new DnsServer({
      addresses: ['127.0.0.1'],
      port: 0,
      table,
      transfer: new ZoneTransfer({ allow: ['127.0.0.0/8'], key: { name: 'xfr-key', algorithm: 'hmac-sha256', secret: SECRET } }),
    });
    await plain.listen();
    await keyed.listen();
  });
  after(async () => {
    await plain?.close();
    await keyed?.close();
  });

  it('NOTIMP (opcode STATUS), REFUSED and BADVERS carry an OPT when the query did; none without', async () => {
    const notimp = await dig(plain, '+opcode=2', 'example.com', 'SOA');
    expect(notimp.status).to.equal('NOTIMP');
    expect(notimp.edns).to.match(/^version: 0, flags:; udp: 1232/);
    expect(notimp.out).to.not.match(/retry(ing)? with \+?noedns/i);
    expect((await dig(plain, '+opcode=2', '+noedns', 'example.com', 'SOA')).edns).to.equal(undefined);
    const refused = await dig(plain, 'www.example.org', 'A');
    expect(refused.status).to.equal('REFUSED');
    expect(refused.edns).to.match(/^version: 0,/);
    const badvers = await dig(plain, '+edns=1', '+noednsnegotiation', 'example.com', 'SOA');
    expect(badvers.status).to.equal('BADVERS');
    expect(badvers.edns).to.match(/^version: 0,/);
    // With negotiation dig steps down to version 0 and gets its answer.
    const negotiated = await dig(plain, '+edns=1', 'example.com', 'SOA');
    expect(negotiated.out).to.include('BADVERS, retrying with EDNS version 0');
    expect(negotiated.status).to.equal('NOERROR');
  });

  it('an unknown EDNS option is ignored (RFC 6891 §6.1.2)', async () => {
    const d = await dig(plain, '+ednsopt=65001:abcd', 'example.com', 'SOA');
    expect(d.status).to.equal('NOERROR');
    expect(d.edns).to.match(/^version: 0,/);
  });

  it('dig -y to a server with no key: NOTAUTH with BADKEY; with a wrong secret: BADSIG', async () => {
    const nokey = await dig(plain, '-y', KEY_ARG, 'example.com', 'SOA');
    expect(nokey.status).to.equal('NOTAUTH');
    expect(nokey.out).to.match(/TSIG PSEUDOSECTION:\s*\n\S+\s+0\s+ANY\s+TSIG\s+hmac-sha256\. \d+ 300 0 \d+ BADKEY 0/);
    expect(nokey.edns).to.match(/^version: 0,/);
    const wrong = await dig(keyed, '-y', `hmac-sha256:xfr-key:${Buffer.alloc(32, 1).toString('base64')}`, 'example.com', 'SOA');
    expect(wrong.status).to.equal('NOTAUTH');
    expect(wrong.out).to.match(/TSIG\s+hmac-sha256\. .* BADSIG /);
  });

  it('dig -y +bufsize=700: the signed answer, TSIG included, fits 700 octets and verifies', async () => {
    // 679 octets unsigned: without the room for the TSIG it would go out at ~760.
    const unsigned = await dig(keyed, '+bufsize=700', '_sip._udp.wide.example.com', 'SRV');
    expect(unsigned.size).to.be.within(600, 700);
    const signed = await dig(keyed, '-y', KEY_ARG, '+bufsize=700', '+ignore', '_sip._udp.wide.example.com', 'SRV');
    expect(signed.status).to.equal('NOERROR');
    expect(signed.size).to.be.at.most(700);
    expect(signed.out).to.include('TSIG PSEUDOSECTION');
    expect(signed.out).to.not.match(/could not be validated|Couldn't verify|tsig verify failure/i);
    expect(signed.out).to.match(/ANSWER: 8,/);
  });
});
