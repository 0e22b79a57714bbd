/**
 * dns/secondary/secondaries: feeding standard DNS secondaries (BIND, Knot,
 * NSD) the health-filtered zones — the zone transfer handler for the TCP
 * listener (xfr.ts) and the NOTIFYs sent whenever an answer table with a new
 * SOA serial is swapped in (notify.ts).
 *
 * Who is notified, per zone: every `--notify` address; and, when transfers
 * are allowed at all (`--allow-transfer`), the addresses of the zone's NS
 * hosts found in the served zones (port 53), except this instance's own and
 * the pool members' (srvproxy instances are primaries, not secondaries). NS
 * hosts without an address in the served zones are skipped (no resolver on
 * this path).
 *
 * May import: shared, zone/types, dns/authority, dns/secondary.
 */
import type { Clock } from '../../shared/clock.js';
import { silentLogger, type Logger } from '../../shared/log.js';
import type { Zone } from '../../zone/types.js';
import type { AnswerTable } from '../authority/answers.js';
import { Notifier, type NotifyCounters, type NotifyTarget } from './notify.js';
import type { TsigKey } from './tsig.js';
import { ZoneTransfer, type TransferCounters } from './xfr.js';

export interface SecondariesOptions {
  /** CIDR prefixes allowed to transfer (`--allow-transfer`); empty: nobody. */
  allowTransfer: readonly string[];
  /** Secondaries always notified (`--notify`). */
  notify: readonly NotifyTarget[];
  /** TSIG key (`--tsig-key`): transfers must be signed; NOTIFYs are. */
  key?: TsigKey;
  /** This instance's addresses: NOTIFY leaves from them and never goes to them. */
  ownAddresses: readonly string[];
  /** Addresses never notified (the pool members' addresses). */
  notNotified?: () => readonly string[];
  /** NOTIFY sends and spacing; defaults 3 and 2000 ms. */
  notifyTries?: number;
  notifyIntervalMs?: number;
  clock?: Clock;
  wallClock?: () => number;
  log?: Logger;
}

/** The NS hosts' addresses of `zone`, as the served `zones` hold them, port 53. */
export function nsTargets(zone: Zone, zones: readonly Zone[]): NotifyTarget[] {
  const out: NotifyTarget[] = [];
  const within = (name: string, origin: string) => origin === '' || name === origin || name.endsWith('.' + origin);
  for (const ns of zone.lookup(zone.origin, 'NS')) {
    const host = ns.data.host;
    const owner = zones.filter((z) => within(host, z.origin)).sort((a, b) => b.origin.length - a.origin.length)[0];
    if (!owner) continue;
    for (const rr of [...owner.lookup(host, 'A'), ...owner.lookup(host, 'AAAA')]) out.push({ address: rr.data.address, port: 53 });
  }
  return out;
}

export class Secondaries {
  readonly transfer: ZoneTransfer;
  readonly notifier: Notifier;
  private readonly notified = new Map<string, number>();
  private table: AnswerTable | undefined;
  private started = false;

  constructor(private readonly options: SecondariesOptions) {
    const log = options.log ?? silentLogger;
    this.transfer = new ZoneTransfer({ allow: options.allowTransfer, key: options.key, wallClock: options.wallClock, log });
    this.notifier = new Notifier({
      sourceAddresses: options.ownAddresses,
      tries: options.notifyTries,
      intervalMs: options.notifyIntervalMs,
      key: options.key,
      clock: options.clock,
      wallClock: options.wallClock,
      log,
    });
  }

  get counters(): { transfer: TransferCounters; notify: NotifyCounters } {
    return { transfer: this.transfer.counters, notify: this.notifier.counters };
  }

  /** Whether anyone is ever notified. */
  private get notifying(): boolean {
    return this.options.notify.length > 0 || this.options.allowTransfer.length > 0;
  }

  /** Open the NOTIFY sockets and notify for the current table. */
  async start(): Promise<void> {
    if (this.notifying) await this.notifier.start();
    this.started = true;
    if (this.table) this.tableChanged(this.table);
  }

  /** A new answer table is being served: NOTIFY for every zone whose serial moved. */
  tableChanged(table: AnswerTable): void {
    this.table = table;
    if (!this.started || !this.notifying) return;
    for (const zone of table.zones) {
      const serial = zone.soa.data.serial;
      if (this.notified.get(zone.origin) === serial) continue;
      this.notified.set(zone.origin, serial);
      this.notifier.notify(zone.soa, this.targets(zone, table.zones));
    }
  }

  /** Who hears of a new serial of `zone`. */
  targets(zone: Zone, zones: readonly Zone[]): NotifyTarget[] {
    const never = new Set([...this.options.ownAddresses, ...(this.options.notNotified?.() ?? [])].map(canonicalAddress));
    const out = new Map<string, NotifyTarget>();
    for (const t of this.options.notify) out.set(`${canonicalAddress(t.address)}|${t.port}`, t);
    if (this.options.allowTransfer.length > 0) {
      for (const t of nsTargets(zone, zones)) {
        if (!never.has(canonicalAddress(t.address))) out.set(`${canonicalAddress(t.address)}|${t.port}`, t);
      }
    }
    return [...out.values()];
  }

  async close(): Promise<void> {
    this.started = false;
    await this.notifier.close();
  }
}

/** Zone and config addresses are canonical already (IPv6 compressed); only the case may differ. */
function canonicalAddress(a: string): string {
  return a.toLowerCase();
}
