/**
 * test/support/fake-health: a HealthView + PairFeedback for SIP plane tests
 * that must not depend on the pair monitor: pairs have a settable active
 * member; memberFailed makes the other member active (what force mode would
 * find when the partner answers) unless `failoverTo` says otherwise; every
 * call is recorded so tests can assert the feedback the proxy gives.
 * HeardLog is the one fake of member liveness (memberHeard / heardWithin).
 */
import { systemClock, type Clock } from '../../src/shared/clock.js';
import type { HealthChange, HealthView, PairFeedback, PairState } from '../../src/shared/health.js';
import type { HaPair } from '../../src/zone/types.js';

/** When each pair member was last heard from, on the given clock. */
export class HeardLog {
  private readonly at = new Map<string, number>();
  constructor(private readonly heardClock: Clock = systemClock) {}
  memberHeard(pair: string, target: string): void {
    this.at.set(pair + ' ' + target, this.heardClock.now());
  }
  heardWithin(pair: string, target: string, ms: number): boolean {
    const t = this.at.get(pair + ' ' + target);
    return t !== undefined && this.heardClock.now() - t <= ms;
  }
}

export class FakeHealth extends HeardLog implements HealthView, PairFeedback {
  version = 0;
  draining = false;
  readonly states = new Map<string, PairState>();
  readonly fromMember: { pair: string; target: string }[] = [];
  readonly failed: { pair: string; target: string; cause: string }[] = [];
  /** When set, memberFailed makes this target active (null: the pair goes out of service). */
  failoverTo: string | null | undefined;

  constructor(private readonly pairs: readonly HaPair[], clock?: Clock) {
    super(clock);
    for (const p of pairs) this.setActive(p.name, p.members[0].target);
  }

  setActive(pair: string, target: string | null): void {
    this.states.set(pair, { name: pair, mode: target ? 'check' : 'force', active: target, inService: target !== null, outOfService: target === null });
    this.version++;
  }

  /** Targets withdrawn (unhealthy); any other is healthy. */
  readonly unhealthy = new Set<string>();
  isMemberHealthy(target?: string): boolean {
    return target === undefined || !this.unhealthy.has(target);
  }
  pairState(pair: string): PairState | undefined {
    return this.states.get(pair);
  }
  onChange(_l: (c: HealthChange) => void): () => void {
    return () => undefined;
  }

  requestFromMember(pair: string, target: string): void {
    this.fromMember.push({ pair, target });
  }
  memberFailed(pair: string, target: string, cause: string): void {
    this.failed.push({ pair, target, cause });
    const p = this.pairs.find((x) => x.name === pair)!;
    const next = this.failoverTo !== undefined ? this.failoverTo : p.members.find((m) => m.target !== target)!.target;
    this.setActive(pair, next);
  }
  awaitActive(pair: string, timeoutMs: number): Promise<string> {
    const s = this.states.get(pair);
    if (s?.active) return Promise.resolve(s.active);
    return new Promise((_, reject) => setTimeout(() => reject(new Error('no active member')), Math.min(timeoutMs, 200)));
  }
}

/** A site model with one pool (the proxy) and one pair (members at the given addresses/ports). */
export function testSite(proxy: { address: string; port: number }, members: { address: string; port: number }[], transport: 'udp' | 'tcp' = 'udp') {
  const pair: HaPair = {
    name: 'tserver.example.com',
    members: [
      { target: 'sips-a.example.com', port: members[0].port, address: members[0].address, addresses: [members[0].address], role: 'primary', transport },
      { target: 'sips-b.example.com', port: members[1].port, address: members[1].address, addresses: [members[1].address], role: 'backup', transport },
    ],
  };
  const self = { target: 'proxy1.example.com', port: proxy.port, priority: 10, weight: 50, transports: ['udp', 'tcp'] as ('udp' | 'tcp')[], addresses: [proxy.address] };
  return {
    pool: { name: 'sipproxy.example.com', members: [self] },
    self,
    local: [self.target],
    pairs: [pair],
    servingPair: pair,
  };
}
