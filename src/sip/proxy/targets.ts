/**
 * sip/proxy/targets: the memory of outbound targets that failed (RFC 3263
 * §4.3 destinations other than pair members: a transport error, no response
 * within the per-hop timeout, or 503). A failed target is tried after the
 * others for downForMs (as dns/forward does for upstream resolvers); a
 * response from it ends that at once. Failures are counted per target for
 * /metrics (bounded in labels). Pair members are not here: their failover is
 * the pair monitor's. May import: shared, sip/transport.
 */
import type { Clock } from '../../shared/clock.js';
import { LruCache } from '../../shared/lru.js';
import type { Remote } from '../transport/types.js';

/** Distinct targets counted by name in /metrics; the rest add to "other". */
const MAX_COUNTED = 256;

/** The /metrics label of a target: transport:address:port (IPv6 in brackets). */
export function targetLabel(d: Remote): string {
  return `${d.protocol}:${d.address.includes(':') ? `[${d.address}]` : d.address}:${d.port}`;
}

export class FailedTargets {
  /** Failures by target label (transport:address:port). */
  readonly failures: Record<string, number> = Object.create(null) as Record<string, number>;
  private counted = 0;
  private readonly down: LruCache<true>;

  constructor(
    clock: Clock,
    private readonly downForMs = 10_000,
  ) {
    this.down = new LruCache({ maxEntries: 4096, now: () => clock.now() });
  }

  /** Failed within the last downForMs (and not answered since). */
  isFailed(d: Remote): boolean {
    return this.down.get(targetLabel(d)) !== undefined;
  }

  failed(d: Remote): void {
    const label = targetLabel(d);
    this.down.set(label, true, this.downForMs);
    if (this.failures[label] === undefined) {
      if (this.counted >= MAX_COUNTED) {
        this.failures.other = (this.failures.other ?? 0) + 1;
        return;
      }
      this.counted++;
      this.failures[label] = 0;
    }
    this.failures[label]++;
  }

  answered(d: Remote): void {
    this.down.delete(targetLabel(d));
  }
}
