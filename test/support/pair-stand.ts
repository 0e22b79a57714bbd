/**
 * test/support/pair-stand: a real SipService on loopback in front of one HA
 * pair of scripted SIP Server stand-ins (test/support/sip-server):
 * sips-a.example.com on 127.0.0.21 (primary, active) and sips-b.example.com
 * on 127.0.0.22 (backup), health a FakeHealth, the site model from
 * fake-health's testSite with the port the service bound. Owns starting them
 * (and the test's own peers, beside the members) and stopping every socket:
 * the service first, then the members and the peers.
 */
import { silentLogger } from '../../src/shared/log.js';
import { SipService, type SipServiceOptions } from '../../src/sip/service.js';
import type { SiteModel } from '../../src/zone/types.js';
import { FakeHealth, testSite } from './fake-health.js';
import { ScriptedSipServer } from './sip-server.js';

/** Anything a test runs beside the pair: started with the members, stopped with them. */
export interface Startable {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface PairStandOptions {
  /** The service's address (UDP and TCP, port 0). */
  proxy: string;
  /** Service options beyond the site, health and listen addresses; `log` defaults to silentLogger. */
  service?: Partial<Omit<SipServiceOptions, 'site' | 'health' | 'feedback' | 'listen'>>;
  /** The test's own peers (user agents, gateways), started beside the members. */
  peers?: Startable[];
}

/** The service, the two members and the site it reads; `PairStand.start` brings them up. */
export class PairStand {
  /** The primary's stand-in (127.0.0.21, active). */
  readonly a = new ScriptedSipServer('127.0.0.21', 'sips-a.example.com');
  /** The backup's stand-in (127.0.0.22). */
  readonly b = new ScriptedSipServer('127.0.0.22', 'sips-b.example.com');
  /** The site model the service reads (a getter): a test may swap it, e.g. for members over TCP. */
  site: SiteModel;
  readonly health: FakeHealth;
  /** The port the service bound on the proxy address (0 until started). */
  port = 0;
  private service: SipService | undefined;
  private readonly others: Startable[];

  private constructor(o: PairStandOptions) {
    this.others = [...(o.peers ?? []), this.a, this.b];
    // the port is known after start; the service reads the site through its getter, lazily
    this.site = testSite({ address: o.proxy, port: 0 }, [this.a, this.b]) as SiteModel;
    this.health = new FakeHealth(this.site.pairs);
  }

  get svc(): SipService {
    if (!this.service) throw new Error('the pair stand is not started');
    return this.service;
  }

  static async start(o: PairStandOptions): Promise<PairStand> {
    const stand = new PairStand(o);
    try {
      await Promise.all(stand.others.map((p) => p.start()));
      stand.service = new SipService({
        log: silentLogger,
        ...o.service,
        site: () => stand.site,
        health: stand.health,
        feedback: stand.health,
        listen: [{ address: o.proxy, port: 0 }],
      });
      await stand.service.start();
    } catch (e) {
      await stand.stop();
      throw e;
    }
    stand.port = stand.service.bound[0]!.port;
    stand.site = testSite({ address: o.proxy, port: stand.port }, [stand.a, stand.b]) as SiteModel;
    return stand;
  }

  /** Stops the service, then the members and the peers: every socket and timer they hold. */
  async stop(): Promise<void> {
    await this.service?.stop();
    this.service = undefined;
    await Promise.all(this.others.map((p) => p.stop()));
  }
}
