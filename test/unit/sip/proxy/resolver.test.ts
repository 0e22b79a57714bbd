/**
 * sip/proxy/resolver without sockets: the RFC 2782 order of targets, names
 * in the zones answered from the NameSource (never the DNS client), CNAMEs
 * followed, and records from the DNS client kept for their own TTL.
 */
import { expect } from 'chai';
import { orderTargets, SipResolver, type NameSource, type RecordAnswer, type RecordKind, type ResolvedTarget, type SipDnsClient } from '../../../../src/sip/proxy/resolver.js';

const t = (address: string, priority: number, weight: number): ResolvedTarget => ({ protocol: 'udp', address, port: 5060, priority, weight });

/** A DNS client answering from a table, counting queries. */
class TableClient implements SipDnsClient {
  readonly asked: string[] = [];
  constructor(private readonly table: Record<string, RecordAnswer>) {}
  query(kind: RecordKind, name: string): Promise<RecordAnswer> {
    this.asked.push(`${kind} ${name}`);
    return Promise.resolve(this.table[`${kind} ${name}`] ?? 'nx');
  }
  close(): void {}
}

describe('sip/proxy/resolver: orderTargets (RFC 2782)', () => {
  it('priority groups in ascending order; within one, a choice weighted by the weights', () => {
    const targets = [t('a', 10, 90), t('b', 10, 10), t('c', 20, 0)];
    const first: Record<string, number> = { a: 0, b: 0 };
    let seed = 1;
    const random = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    for (let i = 0; i < 2000; i++) {
      const o = orderTargets(targets, () => false, random).map((x) => x.address);
      expect(o[2]).to.equal('c');
      expect([...o].sort()).to.deep.equal(['a', 'b', 'c']);
      first[o[0]!]!++;
    }
    expect(first.a! / 2000).to.be.within(0.85, 0.95);
  });

  it('weight 0 everywhere: still every target; failed targets go last, in order', () => {
    const targets = [t('a', 10, 0), t('b', 10, 0), t('c', 20, 5)];
    expect(orderTargets(targets, () => false, () => 0).map((x) => x.address)).to.deep.equal(['a', 'b', 'c']);
    expect(orderTargets(targets, (x) => x.address === 'a', () => 0).map((x) => x.address)).to.deep.equal(['b', 'c', 'a']);
  });
});

describe('sip/proxy/resolver: zone names and DNS TTLs', () => {
  const zone: NameSource = {
    lookup(kind, name) {
      if (!name.endsWith('example.com')) return undefined;
      if (name === 'alias.example.com') return { alias: 'gw.example.com' };
      if (name === 'ext.example.com') return { alias: 'gw.carrier.test' };
      if (name === '_sip._udp.pool.example.com' && kind === 'SRV') return { data: [{ priority: 1, weight: 0, port: 5070, name: 'gw.example.com' }], ttl: 30 };
      if (name === 'gw.example.com') return kind === 'A' ? { data: [{ address: '127.0.0.61' }], ttl: 30 } : 'nodata';
      if (name === 'pool.example.com') return 'nodata';
      return 'nx';
    },
  };

  it('a name in the zones never reaches the DNS client; CNAMEs are followed, also out of the zones', async () => {
    const client = new TableClient({ 'A gw.carrier.test': { data: [{ address: '127.0.0.62' }], ttl: 60 } });
    const r = new SipResolver({ client, names: () => zone });
    expect(await r.resolve({ host: 'pool.example.com', secure: false })).to.deep.equal({ ok: true, targets: [{ protocol: 'udp', address: '127.0.0.61', port: 5070, priority: 1, weight: 0 }] });
    expect(await r.resolve({ host: 'alias.example.com', port: 5080, secure: false })).to.deep.include({ ok: true });
    expect(await r.resolve({ host: 'nothere.example.com', secure: false })).to.deep.equal({ ok: false, status: 404, reason: 'Not Found' });
    expect(r.cached({ host: 'nothere.example.com', secure: false }), 'a 404 for a name in the zones is not kept (a reload shows at once)').to.equal(undefined);
    expect(r.cached({ host: 'pool.example.com', secure: false })).to.equal(undefined);
    expect(client.asked).to.deep.equal([]);
    const ext = await r.resolve({ host: 'ext.example.com', port: 5090, secure: false });
    expect(ext).to.deep.equal({ ok: true, targets: [{ protocol: 'udp', address: '127.0.0.62', port: 5090, priority: 0, weight: 0 }] });
    expect(client.asked).to.deep.equal(['A gw.carrier.test']);
  });

  it('each record from the DNS client is kept for the TTL its answer carried', async () => {
    let now = 0;
    const client = new TableClient({
      'SRV _sip._udp.carrier.test': { data: [{ priority: 1, weight: 0, port: 5060, name: 'gw.carrier.test' }], ttl: 7 },
      'A gw.carrier.test': { data: [{ address: '127.0.0.62' }], ttl: 100 },
    });
    const r = new SipResolver({ client, now: () => now });
    const q = { host: 'carrier.test', transport: 'udp' as const, secure: false };
    await r.resolve(q);
    now = 6900;
    expect(r.resolve(q)).to.not.be.instanceOf(Promise); // from the cache
    now = 7100;
    await r.resolve(q);
    expect(client.asked.filter((x) => x.startsWith('SRV'))).to.have.length(2);
    expect(client.asked.filter((x) => x.startsWith('A'))).to.have.length(1); // still within its own TTL
  });
});
