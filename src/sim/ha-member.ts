/**
 * sim/ha-member: one member of a simulated SIP Server HA pair: its SIP server
 * plus the HA logic over the sync link.
 *
 * - The primary starts active, the backup standby (unless told otherwise).
 * - Each member sends a heartbeat with its state and epoch every heartbeatMs.
 * - A standby that hears no heartbeat for takeoverMs promotes itself (the
 *   partner was killed or frozen) and takes over the dialogs already
 *   replicated to it; every dialog created or ended is sent to the partner.
 * - Two active members (a frozen one thawed): the one with the older epoch
 *   (each promotion takes max(epoch seen) + 1) stands by. A member that finds
 *   it was itself frozen for longer than takeoverMs stands by at once, so it
 *   never answers as active for a pair that moved on without it.
 * - Both standby (e.g. a stall of the whole machine: the active member stood
 *   by, and its partner, stalled too, did not see silence): the primary takes
 *   over after takeoverMs of it, the backup after twice that, so the pair is
 *   never left without an active member while both run.
 * - switchover(): the active member stands by and tells the standby to take
 *   over; promote() on a standby does the reverse (tests' forced switchover).
 * May import: sim/sip-server, sim/sync-link, node.
 */
import { SimSipServer, type MemberState } from './sip-server.js';
import { SyncLink, type SyncMessage } from './sync-link.js';

export type Role = 'primary' | 'backup';

export interface HaMemberOptions {
  address: string;
  port: number;
  role: Role;
  /** Default: active for the primary, standby for the backup. */
  initial?: MemberState;
  tcp?: boolean;
  ringMs?: number;
  syncAddress?: string;
  syncPort: number;
  partnerSyncAddress: string;
  partnerSyncPort: number;
  heartbeatMs?: number;
  takeoverMs?: number;
  onState?: (state: MemberState, cause: string, epoch: number) => void;
  /** The partner's heartbeats started (true) or stopped for takeoverMs (false). */
  onPartner?: (up: boolean) => void;
  log?: (line: string) => void;
}

export class HaMember {
  readonly server: SimSipServer;
  private readonly link: SyncLink;
  private readonly opts: HaMemberOptions;
  private readonly heartbeatMs: number;
  private readonly takeoverMs: number;
  private epoch: number;
  private partnerEpoch = 0;
  private lastPartnerHb = 0;
  private lastTick = 0;
  private partnerUp = false;
  /** The state in the partner's last heartbeat. */
  private partnerState: MemberState | undefined;
  /** When both members were first seen standby (0: not both standby). */
  private bothStandbySince = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: HaMemberOptions) {
    this.opts = opts;
    this.heartbeatMs = opts.heartbeatMs ?? 50;
    this.takeoverMs = opts.takeoverMs ?? 300;
    const initial = opts.initial ?? (opts.role === 'primary' ? 'active' : 'standby');
    this.epoch = initial === 'active' ? 1 : 0;
    this.server = new SimSipServer({ address: opts.address, port: opts.port, tcp: opts.tcp, ringMs: opts.ringMs, log: opts.log }, initial);
    this.server.onDialog = (ev) => this.link.send(ev);
    this.server.beforeRequest = () => this.tick();
    this.link = new SyncLink({
      listenAddress: opts.syncAddress ?? opts.address,
      listenPort: opts.syncPort,
      partnerAddress: opts.partnerSyncAddress,
      partnerPort: opts.partnerSyncPort,
      onMessage: (m) => this.onSync(m),
      onConnected: () => {
        this.link.send({ t: 'snap', dialogs: [...this.server.dialogs.values()] });
        this.heartbeat();
      },
      log: opts.log,
    });
  }

  get state(): MemberState {
    return this.server.state;
  }

  async start(): Promise<void> {
    await this.server.listen();
    await this.link.listen();
    this.lastPartnerHb = this.lastTick = performance.now();
    this.timer = setInterval(() => {
      this.tick();
      this.heartbeat();
    }, this.heartbeatMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.link.close();
    this.server.close();
  }

  /** Become active now, and tell the partner to stand by. */
  promote(cause = 'promoted on command'): void {
    this.setState('active', cause);
    this.link.send({ t: 'yield' });
    this.heartbeat();
  }

  /** Stand by now, and tell the partner to take over. */
  demote(cause = 'demoted on command'): void {
    this.setState('standby', cause);
    this.link.send({ t: 'takeover' });
    this.heartbeat();
  }

  /** The checks that do not wait for a message: own freeze, partner silence. */
  private tick(): void {
    const now = performance.now();
    const gap = now - this.lastTick;
    this.lastTick = now;
    if (gap > this.takeoverMs) {
      // This process did not run for a while (frozen or starved): whatever it
      // believed is stale. Stand by and give the partner a fresh window.
      this.lastPartnerHb = now;
      this.bothStandbySince = 0;
      if (this.server.state === 'active') this.setState('standby', `own process stalled for ${Math.round(gap)} ms`);
      return;
    }
    if (this.partnerUp && now - this.lastPartnerHb > this.takeoverMs) {
      this.partnerUp = false;
      this.opts.onPartner?.(false);
    }
    if (this.server.state === 'standby' && now - this.lastPartnerHb > this.takeoverMs) {
      this.setState('active', `no heartbeat from the partner for ${Math.round(now - this.lastPartnerHb)} ms`);
      this.heartbeat();
      return;
    }
    if (this.server.state === 'standby' && this.partnerUp && this.partnerState === 'standby') {
      if (this.bothStandbySince === 0) this.bothStandbySince = now;
      const wait = this.takeoverMs * (this.opts.role === 'primary' ? 1 : 2);
      if (now - this.bothStandbySince > wait) {
        this.setState('active', `the partner is standby too (for ${Math.round(now - this.bothStandbySince)} ms)`);
        this.heartbeat();
      }
    } else {
      this.bothStandbySince = 0;
    }
  }

  private heartbeat(): void {
    this.link.send({ t: 'hb', state: this.server.state, epoch: this.epoch });
  }

  private onSync(m: SyncMessage): void {
    switch (m.t) {
      case 'hb':
        this.lastPartnerHb = performance.now();
        if (!this.partnerUp) {
          this.partnerUp = true;
          this.opts.onPartner?.(true);
        }
        this.partnerEpoch = Math.max(this.partnerEpoch, m.epoch);
        this.partnerState = m.state;
        if (m.state === 'active' && this.server.state === 'active') {
          if (m.epoch > this.epoch || (m.epoch === this.epoch && this.opts.role === 'backup')) {
            this.setState('standby', `partner is active with a newer epoch (${m.epoch} > ${this.epoch})`);
          }
        }
        return;
      case 'add':
        this.server.addDialog(m.d);
        return;
      case 'del':
        this.server.removeDialog(m.callId, m.localTag);
        return;
      case 'snap':
        for (const d of m.dialogs) this.server.addDialog(d);
        return;
      case 'takeover':
        if (this.server.state !== 'active') this.setState('active', 'partner handed over');
        this.heartbeat();
        return;
      case 'yield':
        if (this.server.state === 'active') this.setState('standby', 'partner took over on command');
        this.lastPartnerHb = performance.now();
        return;
      case 'ctl':
        if (m.cmd === 'promote' && this.server.state !== 'active') this.promote();
        else if (m.cmd === 'demote' && this.server.state === 'active') this.demote();
        return;
    }
  }

  private setState(state: MemberState, cause: string): void {
    if (this.server.state === state) return;
    if (state === 'active') this.epoch = Math.max(this.epoch, this.partnerEpoch) + 1;
    this.server.state = state;
    this.opts.onState?.(state, cause, this.epoch);
  }
}
