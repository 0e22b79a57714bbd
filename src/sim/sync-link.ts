/**
 * sim/sync-link: the loopback link between the two members of a simulated HA
 * pair. Each member listens on its sync port and keeps one outbound TCP
 * connection to its partner's sync port (reconnecting every 50 ms); messages
 * are newline-delimited JSON. What a member sends goes out on its own
 * connection; what it receives arrives on the partner's. The same listener
 * accepts control lines from tests (`{"t":"ctl","cmd":"promote"}`).
 * May import: sim/sip-server (types), node.
 */
import net from 'node:net';
import type { Dialog, MemberState } from './sip-server.js';

export type SyncMessage =
  | { t: 'hb'; state: MemberState; epoch: number }
  | { t: 'add'; d: Dialog }
  | { t: 'del'; callId: string; localTag: string }
  | { t: 'snap'; dialogs: Dialog[] }
  /** The sender demoted itself on command: the receiver takes over. */
  | { t: 'takeover' }
  /** The sender promoted itself on command: the receiver stands by. */
  | { t: 'yield' }
  | { t: 'ctl'; cmd: 'promote' | 'demote' };

const MAX_LINE = 8 * 1024 * 1024;

export interface SyncLinkOptions {
  listenAddress: string;
  listenPort: number;
  partnerAddress: string;
  partnerPort: number;
  onMessage: (m: SyncMessage) => void;
  /** The outbound connection to the partner is (re)established. */
  onConnected: () => void;
  log?: (line: string) => void;
}

export class SyncLink {
  private readonly opts: SyncLinkOptions;
  private server: net.Server | undefined;
  private out: net.Socket | undefined;
  private outReady = false;
  private readonly inbound = new Set<net.Socket>();
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: SyncLinkOptions) {
    this.opts = opts;
  }

  async listen(): Promise<void> {
    const srv = net.createServer((sock) => this.accept(sock));
    srv.on('error', (err) => this.opts.log?.(`sync listen error: ${err.message}`));
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(this.opts.listenPort, this.opts.listenAddress, () => {
        srv.off('error', reject);
        resolve();
      });
    });
    this.server = srv;
    this.connect();
  }

  send(m: SyncMessage): void {
    if (this.out && this.outReady && !this.out.destroyed) this.out.write(JSON.stringify(m) + '\n');
  }

  get connected(): boolean {
    return this.outReady;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.out?.destroy();
    for (const s of this.inbound) s.destroy();
    this.server?.close();
  }

  private connect(): void {
    if (this.closed) return;
    const sock = net.connect({ host: this.opts.partnerAddress, port: this.opts.partnerPort });
    this.out = sock;
    this.outReady = false;
    sock.setNoDelay(true);
    sock.on('connect', () => {
      this.outReady = true;
      this.opts.onConnected();
    });
    sock.on('error', () => {});
    sock.on('data', () => {}); // the partner never writes on this connection
    sock.on('close', () => {
      this.outReady = false;
      if (this.out === sock && !this.closed) this.retry = setTimeout(() => this.connect(), 50);
    });
  }

  private accept(sock: net.Socket): void {
    this.inbound.add(sock);
    sock.setNoDelay(true);
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      if (buf.length > MAX_LINE) {
        sock.destroy();
        return;
      }
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.length === 0) continue;
        let m: SyncMessage;
        try {
          m = JSON.parse(line) as SyncMessage;
        } catch {
          sock.destroy();
          return;
        }
        this.opts.onMessage(m);
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => this.inbound.delete(sock));
  }
}
