/**
 * BIND's dig (Debian bind9-dnsutils) against a real DnsServer on loopback:
 * header flags (aa, tc), the SOA in the authority section of negative
 * answers, EDNS, TCP, and the TC-then-TCP retry on a large RRset.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { buildAnswerTable } from '../../src/dns/authority/answers.js';
import { DnsServer } from '../../src/dns/server/server.js';
import { DNS_TEST_ZONE, zonesFromText } from '../support/dns-zone.js';

const run = promisify(execFile);

interface Dig {
  status: string;
  flags: string[];
  counts: Record<string, number>;
  edns?: string;
  sections: Record<string, string[]>;
  output: string;
}

describe('interop dns: dig', function () {
  this.timeout(30000);
  let server: DnsServer;

  async function dig(...args: string[]): Promise<Dig> {
    const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(server.port), '+time=2', '+tries=1', ...args], { timeout: 10000 });
    const header = /status: (\w+)/.exec(stdout);
    const flags = /;; flags: ([^;]*);/.exec(stdout);
    const counts: Record<string, number> = {};
    for (const m of stdout.matchAll(/(QUERY|ANSWER|AUTHORITY|ADDITIONAL): (\d+)/g)) counts[m[1]!] = Number(m[2]);
    const sections: Record<string, string[]> = {};
    let current = '';
    for (const line of stdout.split('\n')) {
      const s = /^;; (\w+) SECTION:/.exec(line);
      if (s) {
        current = s[1]!;
        sections[current] = [];
      } else if (line.trim() === '') current = '';
      else if (current && !line.startsWith(';')) sections[current]!.push(line.replace(/\s+/g, ' ').trim());
      else if (current === 'QUESTION') sections[current]!.push(line.replace(/\s+/g, ' ').trim());
    }
    return {
      status: header?.[1] ?? '',
      flags: flags?.[1]?.trim().split(/\s+/) ?? [],
      counts,
      edns: /; EDNS: ([^\n]*)/.exec(stdout)?.[1],
      sections,
      output: stdout,
    };
  }

  before(async () => {
    // Interop tests need their tools: a missing one is a failure, never a skip.
    await run('dig', ['-v']).catch(() => {
      throw new Error('dig missing: run scripts/install-interop.sh (package bind9-dnsutils)');
    });
    server = new DnsServer({ addresses: ['127.0.0.1'], port: 0, table: buildAnswerTable(zonesFromText({ 'example.com.zone': DNS_TEST_ZONE })).table });
    await server.listen();
  });
  after(async () => {
    await server?.close();
  });

  it('SRV: aa set, no ra, additional addresses, EDNS echoed with udp 1232', async () => {
    const d = await dig('_sip._udp.sipproxy.example.com', 'SRV');
    expect(d.status).to.equal('NOERROR');
    expect(d.flags).to.include.members(['qr', 'aa', 'rd']);
    expect(d.flags).to.not.include('ra');
    expect(d.counts).to.include({ ANSWER: 3, AUTHORITY: 0, ADDITIONAL: 5 });
    expect(d.edns).to.match(/version: 0, flags:; udp: 1232/);
    expect(d.sections.ADDITIONAL).to.include('proxy1.example.com. 30 IN AAAA 2001:db8::11');
  });

  it('NXDOMAIN and NODATA carry the SOA in authority with the negative TTL', async () => {
    const nx = await dig('nothere.example.com', 'A');
    expect(nx.status).to.equal('NXDOMAIN');
    expect(nx.flags).to.include('aa');
    expect(nx.sections.AUTHORITY).to.deep.equal(['example.com. 5 IN SOA ns1.example.com. hostmaster.example.com. 2026112501 3600 600 86400 5']);
    const nodata = await dig('proxy1.example.com', 'TXT');
    expect(nodata.status).to.equal('NOERROR');
    expect(nodata.counts.ANSWER).to.equal(0);
    expect(nodata.sections.AUTHORITY?.[0]).to.match(/^example\.com\. 5 IN SOA /);
  });

  it('REFUSED outside the zones, without aa', async () => {
    const d = await dig('www.example.org', 'A');
    expect(d.status).to.equal('REFUSED');
    expect(d.flags).to.not.include('aa');
  });

  it('no OPT without EDNS; the question echoed as asked', async () => {
    const d = await dig('+noedns', 'ProXy1.Example.COM', 'A');
    expect(d.edns).to.equal(undefined);
    expect(d.sections.QUESTION?.[0]).to.include('ProXy1.Example.COM.');
    expect(d.sections.ANSWER).to.deep.equal(['ProXy1.Example.COM. 30 IN A 127.0.0.11']);
  });

  it('answers over TCP', async () => {
    const d = await dig('+tcp', 'sipproxy.example.com', 'NAPTR');
    expect(d.status).to.equal('NOERROR');
    expect(d.counts.ANSWER).to.equal(2);
    expect(d.output).to.match(/\(TCP\)/);
  });

  it('sets tc on a large RRset over UDP, and dig gets it whole over TCP', async () => {
    const tc = await dig('+ignore', '+noedns', 'big.example.com', 'TXT');
    expect(tc.flags).to.include.members(['aa', 'tc']);
    expect(tc.counts.ANSWER).to.equal(0);
    const tcEdns = await dig('+ignore', '+bufsize=4096', 'big.example.com', 'TXT');
    expect(tcEdns.flags).to.include('tc');
    const retried = await dig('big.example.com', 'TXT');
    expect(retried.output).to.include('Truncated, retrying in TCP mode');
    expect(retried.flags).to.not.include('tc');
    expect(retried.counts.ANSWER).to.equal(40);
  });

  it('NOTIMP for another opcode (NOTIFY); ANY answered with one RRset', async () => {
    const n = await dig('+opcode=notify', 'example.com', 'SOA');
    expect(n.status).to.equal('NOTIMP');
    const any = await dig('sipproxy.example.com', 'ANY');
    expect(any.status).to.equal('NOERROR');
    expect(new Set(any.sections.ANSWER!.map((l) => l.split(' ')[3]))).to.deep.equal(new Set(['A']));
  });
});
