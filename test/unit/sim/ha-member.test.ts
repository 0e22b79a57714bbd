/**
 * The simulated HA member's own rules, in process on loopback: two members
 * that both stand by (what a stall of the whole machine leaves: the active
 * one stood by for its own stall, the standby one saw no silence) must not
 * stay so; the primary takes over first.
 */
import { expect } from 'chai';
import { HaMember } from '../../../src/sim/ha-member.js';
import { freePort } from '../../support/ports.js';
import type { MemberState } from '../../../src/sim/sip-server.js';

const PRIMARY = '127.0.0.21';
const BACKUP = '127.0.0.22';

describe('sim/ha-member', function () {
  this.timeout(5000);
  const members: HaMember[] = [];

  afterEach(() => {
    for (const m of members.splice(0)) m.stop();
  });

  it('both standby left the pair without an active member: the primary takes over after takeover-ms, the backup stays standby', async () => {
    const port = await freePort(PRIMARY);
    const [ps, bs] = [await freePort(PRIMARY), await freePort(BACKUP)];
    const changes: { who: string; state: MemberState; cause: string; at: number }[] = [];
    const t0 = performance.now();
    const make = (role: 'primary' | 'backup', address: string, sync: number, partner: string, partnerSync: number) =>
      new HaMember({
        address, port, role, initial: 'standby', syncPort: sync, partnerSyncAddress: partner, partnerSyncPort: partnerSync,
        heartbeatMs: 20, takeoverMs: 150,
        onState: (state, cause) => changes.push({ who: role, state, cause, at: performance.now() - t0 }),
      });
    const p = make('primary', PRIMARY, ps, BACKUP, bs);
    const b = make('backup', BACKUP, bs, PRIMARY, ps);
    members.push(p, b);
    await p.start();
    await b.start();
    await new Promise((r) => setTimeout(r, 900));
    expect(p.state).to.equal('active');
    expect(b.state).to.equal('standby');
    expect(changes).to.have.length(1);
    expect(changes[0]).to.include({ who: 'primary', state: 'active' });
    expect(changes[0]!.cause).to.match(/partner is standby too/);
  });
});
