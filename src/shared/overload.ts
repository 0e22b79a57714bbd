/**
 * shared/overload: what ops reads of the SIP plane's adaptive overload
 * control (sip/proxy/admission produces it), so that ops does not import
 * sip. May import: nothing.
 */

export interface AdmissionView {
  /** off (--overload-target-delay 0), open (admitting everything) or limiting (shedding above `rate`). */
  state: 'off' | 'open' | 'limiting';
  /** The lateness target, ms. */
  targetMs: number;
  /** New out-of-dialog requests per second admitted while limiting; null otherwise. */
  rate: number | null;
  /** Lateness measured over the last window, ms: the larger of the UDP probe age and the event-loop delay. */
  latenessMs: number;
  /** Event-loop delay over the last window, ms. */
  loopDelayMs: number;
  /** Event-loop utilisation over the last window (0..1: the share of wall time not idle); null without a reading. */
  utilization: number | null;
  /** New out-of-dialog requests from user agents admitted and shed (503) since start. */
  admitted: number;
  shed: number;
}
