/**
 * dns: the authoritative DNS plane — answer table (answers.ts, lookup.ts,
 * filter.ts, serial.ts), the wire fast path (wire.ts, encode.ts,
 * respond.ts) and the UDP/TCP server (server.ts, tcp.ts); feed.ts keeps a
 * server's table in step with zones and health; forward*.ts and cache.ts
 * forward names outside the zones for allowed clients. This file is the plane's
 * public surface for site/ops/cli.
 *
 * May import: zone/types, shared. Never sip, health (only shared/health's
 * HealthView contract), ops or cli.
 */
export { DnsServer, type DnsServerOptions, type BoundAddress } from './server.js';
export { DEFAULT_TCP_LIMITS, type TcpLimits } from './tcp.js';
export { Forwarder, newForwardCounters, type ForwardOptions, type ForwardCounters } from './forward.js';
export { AnswerTable, buildAnswerTable, emptyAnswerTable, type BuildOptions, type BuildResult } from './answers.js';
export { applyPoolFilter, LOCAL_FIRST_OFFSET, type PoolFilter, type FilterOutcome } from './filter.js';
export { lookup, type LookupResult, type ResultKind } from './lookup.js';
export { SERIAL_EPOCH, SerialCounter, serialGreater, type SerialOptions } from './serial.js';
export { AnswerFeed, type AnswerFeedOptions, type PoolSpec } from './feed.js';
export { newCounters, QTYPE_LABELS, RCODE_LABELS, type DnsCounters, type QtypeLabel, type RcodeLabel } from './counters.js';
export { MAX_UDP_PAYLOAD } from './wire.js';
export { Secondaries, nsTargets, type SecondariesOptions } from './secondaries.js';
export { ZoneTransfer, isTransferQuery, transferStream, type TransferCounters, type TransferOptions } from './xfr.js';
export { Notifier, notifyMessage, type NotifierOptions, type NotifyCounters, type NotifyTarget } from './notify.js';
export { loadKeyFile, parseKeyFile, type TsigKey } from './tsig.js';
export { ResponseRateLimiter, truncatedResponse, type RrlOptions, type RrlCounters } from './rrl.js';
