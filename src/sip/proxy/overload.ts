/**
 * sip/proxy/overload: the reference option overload-ctrl-dialog-rate: new
 * INVITEs per second above the limit are refused (503 + Retry-After). A
 * sliding one-second window from two fixed buckets; the transition into and
 * out of overload is logged once each. May import: shared.
 */
import type { Clock } from '../../shared/clock.js';
import { logEvent, type Logger } from '../../shared/log.js';

export class DialogRateLimiter {
  private bucketStart = 0;
  private current = 0;
  private previous = 0;
  private overloaded = false;

  constructor(
    /** INVITEs per second; 0 = off. */
    private readonly rate: number,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** True while new INVITEs are refused (between SIP_OVERLOAD and SIP_OVERLOAD_END). */
  get active(): boolean {
    return this.overloaded;
  }

  /** Counts one new INVITE; false when it must be refused. */
  admit(): boolean {
    if (this.rate <= 0) return true;
    const estimate = this.estimate();
    if (estimate >= this.rate) {
      this.refused();
      return false;
    }
    this.current++;
    if (this.overloaded && estimate < this.rate * 0.9) {
      this.overloaded = false;
      logEvent(this.log, 'SIP_OVERLOAD_END', { rate: this.rate });
    }
    return true;
  }

  /**
   * The answer for a new INVITE without counting it, for a refusal before the request is
   * decoded (sip/proxy/fast-shed): true when it is refused now; false when it would be admitted
   * (the full path then calls admit(), which counts it).
   */
  refuseNow(): boolean {
    if (this.rate <= 0 || this.estimate() < this.rate) return false;
    this.refused();
    return true;
  }

  /** INVITEs in the last second: the current bucket and the share of the previous one still inside the window. */
  private estimate(): number {
    const now = this.clock.now();
    const elapsed = now - this.bucketStart;
    if (elapsed >= 1000) {
      this.previous = elapsed >= 2000 ? 0 : this.current;
      this.current = 0;
      this.bucketStart = now - (elapsed % 1000);
    }
    const weight = 1 - Math.min(1, (now - this.bucketStart) / 1000);
    return this.previous * weight + this.current;
  }

  private refused(): void {
    if (this.overloaded) return;
    this.overloaded = true;
    logEvent(this.log, 'SIP_OVERLOAD', { rate: this.rate });
  }
}
