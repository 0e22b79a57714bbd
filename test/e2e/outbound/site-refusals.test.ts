/**
 * `srvproxy run` refuses a site that does not make sense: exit 2, one line
 * with SRV_ERR_SITE naming the zone records involved, nothing started. The
 * zone is the shipped one plus a pair whose primary is a pool member.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../support/processes.js';

const repoZones = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../../zones');

describe('cli: srvproxy run refuses a site that makes no sense (exit 2, SRV_ERR_SITE)', function () {
  this.timeout(30_000);
  let dir: string;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'srvproxy-site-'));
    const shipped = fs.readFileSync(path.join(repoZones, 'example.com.zone'), 'utf8');
    fs.writeFileSync(path.join(dir, 'example.com.zone'), shipped + '\n_sip._udp.crossed SRV 1 0 5060 proxy2\n_sip._udp.crossed SRV 2 0 5060 sips-b\n');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const cases: { what: string; args: string[]; line: string }[] = [
    {
      what: '--self not an SRV target of the pool',
      args: ['--self', 'proxy9.example.com', '--pool', 'sipproxy.example.com', '--pair', 'tserver.example.com'],
      line: 'SRV_ERR_SITE: SRV-40000 --self proxy9.example.com is not an SRV target of sipproxy.example.com (_sip._udp/_sip._tcp/_sips._tcp); own proxy address not found in the list',
    },
    {
      what: '--self a member of a --pair',
      args: ['--self', 'sips-a.example.com', '--pair', 'tserver.example.com'],
      line: 'SRV_ERR_SITE: --self sips-a.example.com is a member of --pair tserver.example.com (_sip._udp.tserver.example.com. SRV 10 0 5060 sips-a.example.com.); --self must name a proxy instance, an SRV target of the pool',
    },
    {
      what: 'the pool is a pair',
      args: ['--self', 'proxy1.example.com', '--pool', 'tserver.example.com', '--pair', 'tserver.example.com'],
      line: 'SRV_ERR_SITE: --pair tserver.example.com is the pool (_sip._udp.tserver.example.com. SRV 10 0 5060 sips-a.example.com.; _sip._udp.tserver.example.com. SRV 20 0 5060 sips-b.example.com.); the pool lists proxy instances, a pair the two SIP Servers',
    },
    {
      what: "a pair's target is a pool member",
      args: ['--self', 'proxy1.example.com', '--pair', 'crossed.example.com'],
      line: 'SRV_ERR_SITE: --pair crossed.example.com: primary proxy2.example.com is also a member of the pool sipproxy.example.com (_sip._udp.sipproxy.example.com. SRV 10 50 5060 proxy2.example.com.; _sip._tcp.sipproxy.example.com. SRV 10 50 5060 proxy2.example.com.); a SIP Server cannot be a proxy instance',
    },
    {
      what: '--serving-pair not one of --pair',
      args: ['--self', 'proxy1.example.com', '--pair', 'tserver.example.com', '--serving-pair', 'crossed.example.com'],
      line: 'SRV_ERR_SITE: --serving-pair crossed.example.com is not one of the --pair names (tserver.example.com); _sip._udp.crossed.example.com is in the zones: add --pair crossed.example.com',
    },
  ];

  for (const c of cases) {
    it(`refuses: ${c.what}`, async () => {
      const r = await runCli(['run', '--zones', dir, ...c.args, '--dns-port', '1053', '--http', '127.0.0.1:0']);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.equal(`srvproxy: ${c.line}\n`);
      expect(r.stdout).to.equal('');
    });
  }
});
