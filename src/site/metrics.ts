/**
 * site/metrics: the metric families of one instance, read from the planes'
 * plain counters at scrape time (names documented in README.md "Metrics").
 * May import: ops/metrics, dns, sip, health (read-only), shared, zone (types).
 */
import type { Secondaries } from '../dns/secondary/secondaries.js';
import type { DnsServer } from '../dns/server/server.js';
import { isAnswer } from '../health/answers.js';
import type { HealthMonitor } from '../health/health-monitor.js';
import { byLabel, type Labels, type MetricFamily } from '../ops/metrics.js';
import type { ProbeResult, Prober } from '../shared/health.js';
import type { SipService } from '../sip/service.js';
import type { SiteModel } from '../zone/types.js';

/**
 * Probe outcomes and the last round-trip time per target (pair members and
 * peers), counted where the probes are sent: every OPTIONS probe has exactly
 * one outcome here, also when the monitor that sent it stopped waiting for it
 * (e.g. an oos-check deadline that fired first). "ok" is the health plane's
 * one rule (health/answers isAnswer), so that the counters and the monitors
 * never disagree on what an answer is.
 */
export class ProbeStats {
  readonly outcomes = new Map<string, { ok: number; failed: number; lastRttMs: number; answered: boolean }>();

  /** `prober`, with every outcome recorded under the target's FQDN. */
  wrap(prober: Prober): Prober {
    return {
      probe: (target, ms) =>
        prober.probe(target, ms).then(
          (r) => {
            this.record(target.host, r);
            return r;
          },
          (err: unknown) => {
            this.record(target.host, { status: null, rttMs: 0, error: String(err) });
            throw err;
          },
        ),
    };
  }

  record(target: string, r: ProbeResult): void {
    let s = this.outcomes.get(target);
    if (!s) this.outcomes.set(target, (s = { ok: 0, failed: 0, lastRttMs: 0, answered: false }));
    if (isAnswer(r)) s.ok++;
    else s.failed++;
    if (r.status !== null) {
      s.lastRttMs = r.rttMs;
      s.answered = true;
    }
  }

  /** RTT (ms) of the last answered probe of `target`; null before any answer. */
  rttMs(target: string): number | null {
    const s = this.outcomes.get(target);
    return s?.answered ? s.lastRttMs : null;
  }
}

interface Sources {
  dns: DnsServer;
  sip: SipService;
  health: HealthMonitor;
  probeStats: ProbeStats;
  peerWithdrawals: ReadonlyMap<string, number>;
  site: () => SiteModel;
  secondaries: Secondaries;
  /** The answer feed's fail-open state, and overload control's. */
  failOpen: () => boolean;
  overloadActive: () => boolean;
}


const counter = (name: string, help: string, labelNames: string[], read: MetricFamily['read']): MetricFamily => ({ name, help, type: 'counter', labelNames, read });
const gauge = (name: string, help: string, labelNames: string[], read: MetricFamily['read']): MetricFamily => ({ name, help, type: 'gauge', labelNames, read });
const one = (v: number): Iterable<readonly [Labels, number]> => [[{}, v]];

export function instanceMetrics(s: Sources): MetricFamily[] {
  const d = s.dns.counters;
  const p = s.sip.proxy.counters;
  const t = s.sip.transport.counters;
  return [
    counter('srvproxy_dns_queries_total', 'DNS queries by question type', ['qtype'], () => byLabel('qtype', d.queries)),
    counter('srvproxy_dns_responses_total', 'DNS responses by rcode', ['rcode'], () => byLabel('rcode', d.responses)),
    counter('srvproxy_dns_truncated_total', 'UDP answers sent with TC', [], () => one(d.truncated)),
    counter('srvproxy_dns_dropped_total', 'DNS messages dropped without an answer', [], () => one(d.dropped)),
    gauge('srvproxy_dns_tcp_connections', 'DNS TCP connections open', [], () => one(d.tcpOpen)),
    counter('srvproxy_dns_forwarded_total', 'queries for names outside the zones sent to the upstream resolvers (one per cache miss; coalesced queries not counted)', [], () => one(s.dns.forwardCounters.forwarded)),
    counter('srvproxy_dns_cache_hits_total', 'queries for names outside the zones answered from the forwarding cache', [], () => one(s.dns.forwardCounters.cacheHits)),
    counter('srvproxy_dns_upstream_failures_total', 'upstream attempts that failed (timeout, unreachable, SERVFAIL/REFUSED from upstream)', [], () => one(s.dns.forwardCounters.upstreamFailures)),
    counter('srvproxy_dns_forward_servfails_total', 'SERVFAIL sent because no upstream resolver answered in time', [], () => one(s.dns.forwardCounters.servfails)),
    counter('srvproxy_sip_requests_total', 'SIP requests received by method', ['method'], () => byLabel('method', p.requestsByMethod)),
    counter('srvproxy_sip_responses_total', 'SIP responses sent upstream by status code', ['code'], () => byLabel('code', p.responsesByCode)),
    counter('srvproxy_dns_transfers_total', 'zone transfers to secondaries by outcome (full, up_to_date: IXFR answered with the SOA only, refused)', ['outcome'], function* () {
      const t = s.secondaries.counters.transfer;
      yield [{ outcome: 'full' }, t.transfers] as const;
      yield [{ outcome: 'up_to_date' }, t.upToDate] as const;
      yield [{ outcome: 'refused' }, t.refused] as const;
    }),
    counter('srvproxy_dns_notify_total', 'NOTIFY messages to secondaries by outcome (sent, answered, failed: given up after the retries, unverified: a reply to a signed NOTIFY that was unsigned or did not verify)', ['outcome'], function* () {
      const n = s.secondaries.counters.notify;
      yield [{ outcome: 'sent' }, n.sent] as const;
      yield [{ outcome: 'answered' }, n.answered] as const;
      yield [{ outcome: 'failed' }, n.failed] as const;
      yield [{ outcome: 'unverified' }, n.unverified] as const;
    }),
    counter('srvproxy_sip_forwarded_total', 'requests forwarded to each pair member', ['member'], () => byLabel('member', p.forwardedByMember)),
    counter('srvproxy_sip_failovers_total', 'requests retried on another pair member, or on the next RFC 3263 target', [], () => one(p.failovers)),
    counter('srvproxy_sip_overload_rejections_total', 'new requests answered 503 by overload control (the dialog-rate cap and the adaptive control)', [], () => one(p.overloadRejections)),
    counter('srvproxy_sip_overload_shed_total', 'new out-of-dialog requests from user agents shed (503) by the adaptive overload control, by method', ['method'], () => byLabel('method', p.overloadShedByMethod)),
    counter('srvproxy_sip_oc_reduced_total', 'new requests from user agents answered 503 because their pair member asked for fewer (RFC 7339 oc), by pair and member', ['pair', 'member'], function* () {
      for (const v of s.sip.proxy.memberOc.view()) yield [{ pair: v.pair, member: v.member }, v.reduced] as const;
    }),
    gauge('srvproxy_sip_oc_reduction_percent', 'share of new requests from user agents a pair member asks to be refused now (RFC 7339 oc; 0 when none), by pair and member', ['pair', 'member'], function* () {
      for (const v of s.sip.proxy.memberOc.view()) yield [{ pair: v.pair, member: v.member }, v.percent] as const;
    }),
    counter('srvproxy_sip_oc_reports_malformed_total', 'RFC 7339 overload control reports from pair members ignored as malformed (oc not 0-100, oc-validity not digits, a bad oc-seq, another oc-algo, a value over 32 characters)', [], () => one(s.sip.proxy.memberOc.malformedReports)),
    counter('srvproxy_sip_overload_guard_trips_total', 'times the backlog guard of the adaptive overload control tripped (the UDP queue older than 150 ms and growing, the event loop saturated)', [], () => one(s.sip.proxy.backlogGuard.trips)),
    counter('srvproxy_sip_overload_guard_refused_total', 'new out-of-dialog requests from user agents refused (503) while the backlog guard was tripped (also in srvproxy_sip_overload_shed_total)', [], () => one(s.sip.proxy.backlogGuard.refused)),
    gauge('srvproxy_sip_overload_admit_rate', 'new out-of-dialog requests per second the adaptive overload control admits while limiting (0 while it admits everything)', [], () => one(s.sip.proxy.admissionState.rate ?? 0)),
    gauge('srvproxy_sip_lateness_seconds', 'lateness of work over the last window: age of a UDP probe when read, or event-loop delay, the larger', [], () => one(s.sip.proxy.admissionState.latenessMs / 1000)),
    gauge('srvproxy_event_loop_delay_seconds', 'mean event-loop delay over the last window of the adaptive overload control', [], () => one(s.sip.proxy.admissionState.loopDelayMs / 1000)),
    gauge('srvproxy_event_loop_utilization', 'share of wall time the event loop was not idle, over the last window of the adaptive overload control', [], () => one(s.sip.proxy.admissionState.utilization ?? 0)),
    counter('srvproxy_sip_relay_refused_total', 'requests refused because they named no pair (no open relay)', [], () => one(p.relayRefused)),
    gauge('srvproxy_sip_flows', 'flows back to user agents held now (registered through this instance, not expired, connection open), by transport', ['transport'], () => byLabel('transport', s.sip.proxy.flows.heldByTransport())),
    counter('srvproxy_sip_flow_requests_total', 'requests sent down a flow held here (RFC 5626)', [], () => one(s.sip.proxy.flows.counters.requests)),
    counter('srvproxy_sip_flow_failed_total', 'requests answered 430 Flow Failed: the flow was closed, or the instance holding it is down', [], () => one(s.sip.proxy.flows.counters.failed)),
    counter('srvproxy_sip_flow_token_failures_total', 'requests answered 403 for a flow token that did not verify or named no instance of the pool', [], () => one(s.sip.proxy.flows.counters.tokenFailures)),
    counter('srvproxy_sip_bad_extension_total', 'requests refused 420 for a Proxy-Require option tag', [], () => one(p.badExtension)),
    counter('srvproxy_sip_malformed_total', 'malformed SIP messages (answered 400 or dropped)', [], () => one(p.malformed + t.droppedMalformed)),
    gauge('srvproxy_sip_transactions_in_flight', 'SIP transactions held now (server and client, including completed ones absorbing retransmissions)', [], () => one(p.transactionsInFlight)),
    gauge('srvproxy_sip_transactions_pending', 'requests still waiting for their final response (what a graceful stop waits for)', [], () => one(p.transactionsPending)),
    gauge('srvproxy_sip_tcp_connections', 'SIP TCP connections open', [], () => one(t.tcpConnectionsOpen)),
    counter('srvproxy_sip_dropped_total', 'SIP input dropped unanswered, by reason', ['reason'], function* () {
      yield [{ reason: 'too_large' }, t.droppedTooLarge] as const;
      yield [{ reason: 'source_port_0' }, t.droppedPort0] as const;
      yield [{ reason: 'malformed' }, t.droppedMalformed] as const;
      yield [{ reason: 'tcp_framing' }, t.tcpFramingErrors] as const;
      yield [{ reason: 'stray_response' }, p.strayDropped] as const;
      yield [{ reason: 'keepalive_backlog' }, t.keepalivesUnanswered] as const;
    }),
    counter('srvproxy_sip_tcp_refused_total', 'SIP TCP connections refused by the limits (scope: total or per_source)', ['scope'], function* () {
      yield [{ scope: 'per_source' }, t.tcpRefusedPerSource] as const;
      yield [{ scope: 'total' }, t.tcpConnectionsRefused - t.tcpRefusedPerSource] as const;
    }),
    counter('srvproxy_sip_tcp_idle_closed_total', 'SIP TCP connections closed by the idle timeout', [], () => one(t.tcpIdleClosed)),
    counter('srvproxy_sip_keepalives_total', 'RFC 5626 keepalives answered: crlf (a CRLFCRLF ping on TCP/TLS, answered CRLF), stun (a STUN Binding Request on UDP)', ['kind'], function* () {
      yield [{ kind: 'crlf' }, t.keepalivesCrlf] as const;
      yield [{ kind: 'stun' }, t.keepalivesStun] as const;
    }),
    counter('srvproxy_sip_tls_handshake_failures_total', 'TLS handshakes that failed (accepted or outgoing)', [], () => one(t.tlsHandshakeFailures)),
    counter('srvproxy_dns_rrl_total', 'UDP answers held back by response rate limiting (dropped, or slipped: sent truncated)', ['action'], function* () {
      const r = s.dns.rrlCounters;
      yield [{ action: 'dropped' }, r.rrlDropped] as const;
      yield [{ action: 'slipped' }, r.rrlSlipped] as const;
    }),
    counter('srvproxy_sip_outbound_resolutions_total', 'RFC 3263 resolutions for requests from pair members, by result (cache_hit, lookup, failed)', ['result'], function* () {
      const r = s.sip.resolver?.counters;
      yield [{ result: 'cache_hit' }, r?.hits ?? 0] as const;
      yield [{ result: 'lookup' }, r?.misses ?? 0] as const;
      yield [{ result: 'failed' }, r?.failures ?? 0] as const;
    }),
    counter('srvproxy_sip_target_failures_total', 'outbound targets (RFC 3263, not pair members) that failed a request: transport error, no response within the per-hop timeout, or 503; by transport:address:port', ['target'], () => byLabel('target', p.targetFailures)),
    counter('srvproxy_probes_total', 'OPTIONS probes by target and result', ['target', 'result'], function* () {
      for (const [target, o] of s.probeStats.outcomes) {
        yield [{ target, result: 'ok' }, o.ok] as const;
        yield [{ target, result: 'failed' }, o.failed] as const;
      }
    }),
    gauge('srvproxy_probe_rtt_seconds', 'round-trip time of the last answered probe', ['target'], function* () {
      for (const [target, o] of s.probeStats.outcomes) yield [{ target }, o.lastRttMs / 1000] as const;
    }),
    gauge('srvproxy_pair_in_service', '1 while the pair has an active member', ['pair'], function* () {
      for (const pd of s.health.pairDetails()) yield [{ pair: pd.name }, pd.inService ? 1 : 0] as const;
    }),
    gauge('srvproxy_pair_active', '1 for the active member of each pair', ['pair', 'member'], function* () {
      for (const pair of s.site().pairs) {
        const st = s.health.pairState(pair.name);
        for (const m of pair.members) yield [{ pair: pair.name, member: m.target }, st?.active === m.target ? 1 : 0] as const;
      }
    }),
    counter('srvproxy_pair_switchovers_total', 'changes of the active member', ['pair'], function* () {
      for (const pd of s.health.pairDetails()) yield [{ pair: pd.name }, pd.switchovers] as const;
    }),
    gauge('srvproxy_pool_member_healthy', '1 while a pool member is served in DNS answers', ['member'], function* () {
      for (const m of s.site().pool.members) yield [{ member: m.target }, s.health.isMemberHealthy(m.target) ? 1 : 0] as const;
    }),
    counter('srvproxy_peer_withdrawals_total', 'times a peer was withdrawn from the answers', ['member'], () => byLabel('member', s.peerWithdrawals)),
    gauge('srvproxy_draining', '1 while this instance drains', [], () => one(s.health.draining ? 1 : 0)),
    gauge('srvproxy_pool_fail_open', '1 while every pool member is withdrawn and DNS answers the whole configured set', [], () =>
      one(s.failOpen() ? 1 : 0),
    ),
    gauge('srvproxy_sip_overload_active', '1 while overload control answers new requests 503', [], () => one(s.overloadActive() ? 1 : 0)),
  ];
}
