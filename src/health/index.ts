/**
 * health: the health plane. It probes the HA pairs (oos-check / oos-force,
 * DESIGN.md §4) and the pool's peers (DESIGN.md §5), holds the draining flag,
 * and is the only writer of the health view. Readers (dns, sip, ops) use the
 * contracts in shared/health.ts; the composition root builds a HealthMonitor.
 * May import: shared, zone/types.
 */
export { HealthMonitor, type HealthMonitorOptions, type PairDetail } from './health-monitor.js';
export { PairMonitor, PairUnavailableError, type PairMonitorOptions, type MemberProbe } from './pair-monitor.js';
export { PeerMonitor, type PeerMonitorOptions, type PeerStatus } from './peer-monitor.js';
export { isAnswer, describeResult } from './answers.js';
