/**
 * health/answers: what counts as an answer to a probe (DESIGN.md §4): any final
 * response except 503 (a standby or draining server) and a locally generated
 * 408 (no response). May import: shared.
 */
import type { ProbeResult } from '../shared/health.js';

/** True when `r` proves the probed server is up and active. */
export function isAnswer(r: ProbeResult): boolean {
  const s = r.status;
  if (s === null || s < 200) return false;
  if (s === 503) return false;
  // A prober reports its own timeout as status null; a 408 that carries a local
  // error is treated the same way, whichever way a prober chooses to say it.
  if (s === 408 && r.error !== undefined) return false;
  return true;
}

/** A short text for logs: "200", "503", "timeout". */
export function describeResult(r: ProbeResult): string {
  if (r.status === null) return r.error ? `no answer (${r.error})` : 'no answer';
  return String(r.status);
}
