/**
 * The probe counters of /metrics and the health plane's monitors count a probe
 * result the same way (DESIGN.md §4: any final response except 503 and a
 * locally generated 408 is an answer).
 */
import { expect } from 'chai';
import { isAnswer } from '../../../src/health/answers.js';
import type { ProbeResult } from '../../../src/shared/health.js';
import { ProbeStats } from '../../../src/site/metrics.js';

const RESULTS: [string, ProbeResult][] = [
  ['200', { status: 200, rttMs: 3 }],
  ['404 (still an answer)', { status: 404, rttMs: 3 }],
  ['408 from the server', { status: 408, rttMs: 3 }],
  ['408 generated locally (timer F)', { status: 408, rttMs: 500, error: 'timeout' }],
  ['503 (standby)', { status: 503, rttMs: 3 }],
  ['timeout', { status: null, rttMs: 500, error: 'timeout' }],
  ['100 only', { status: 100, rttMs: 3 }],
];

describe('site/metrics probe counters', () => {
  for (const [name, r] of RESULTS) {
    it(`count "${name}" as the monitors do`, () => {
      const stats = new ProbeStats();
      stats.record('sips-a.example.com', r);
      const o = stats.outcomes.get('sips-a.example.com')!;
      expect(o.ok + o.failed).to.equal(1);
      expect(o.ok === 1).to.equal(isAnswer(r));
    });
  }

  it('a locally generated 408 is a failed probe, a 408 the server sent is an answer', () => {
    const stats = new ProbeStats();
    stats.record('a', { status: 408, rttMs: 500, error: 'timeout' });
    stats.record('b', { status: 408, rttMs: 2 });
    expect(stats.outcomes.get('a')).to.include({ ok: 0, failed: 1 });
    expect(stats.outcomes.get('b')).to.include({ ok: 1, failed: 0 });
    expect(isAnswer({ status: 408, rttMs: 500, error: 'timeout' })).to.equal(false);
  });
});
