/**
 * ops/status: builds the GET /status document (DESIGN.md §3; the field names
 * are a contract relied on outside this repository).
 * May import: shared, zone (types).
 */
import type { HealthView } from '../shared/health.js';
import type { SiteModel } from '../zone/types.js';

export interface StatusDocument {
  self: string;
  draining: boolean;
  pool: {
    name: string;
    members: { target: string; port: number; addresses: string[]; healthy: boolean; self: boolean }[];
  };
  pairs: {
    name: string;
    serving: boolean;
    inService: boolean;
    mode: 'check' | 'force';
    active: string | null;
    members: { target: string; port: number; address: string; role: 'primary' | 'backup' }[];
  }[];
}

export function buildStatus(site: SiteModel, health: HealthView): StatusDocument {
  return {
    self: site.self.target,
    draining: health.draining,
    pool: {
      name: site.pool.name,
      members: site.pool.members.map((m) => ({
        target: m.target,
        port: m.port,
        addresses: [...m.addresses],
        healthy: health.isMemberHealthy(m.target),
        self: m.target === site.self.target,
      })),
    },
    pairs: site.pairs.map((p) => {
      const st = health.pairState(p.name);
      return {
        name: p.name,
        serving: p.name === site.servingPair.name,
        inService: st?.inService ?? false,
        mode: st?.mode ?? 'check',
        active: st?.active ?? null,
        members: p.members.map((m) => ({ target: m.target, port: m.port, address: m.address, role: m.role })),
      };
    }),
  };
}
