/**
 * Interop: a phone behind NAT receives its calls through srvproxy (flows,
 * RFC 5626 / RFC 3327). baresip registers, over UDP and over TCP, through one
 * srvproxy instance to Kamailio, the registrar and the primary member of an
 * HA pair (usrloc + registrar). sipp then calls the phone from the
 * registrar's side: INVITE to Kamailio, which looks the user up,
 * Record-Routes and relays through the instance, which must send the call
 * down the flow the REGISTER came on. Two registrars: one honours Path (the
 * stored Path becomes the Route), one ignores it (Kamailio's default: the
 * stored Contact, which carries the flow, is the Request-URI and the pool is
 * the outbound proxy). Then baresip as an RFC 5626 user agent (reg-id,
 * `Supported: outbound`): Path with `;ob`, Flow-Timer in the 200. 20 calls
 * per case (INVITE, 200, ACK, BYE, 200), 0 failed.
 *
 * The hosts are network namespaces that the test makes and removes
 * (test/support/netns.ts). Tests use loopback addresses only, except here:
 * NAT needs separate networks, so these addresses come from the documentation
 * ranges (RFC 5737) and exist only inside the test's namespaces; nothing is
 * added to the root namespace and no packet leaves the test's hosts.
 *
 *   phone  baresip                     192.0.2.2      private network 192.0.2.0/24
 *   nat    router                      192.0.2.1 | 198.51.100.1, iptables MASQUERADE out of 198.51.100.1
 *   site   srvproxy proxy1             198.51.100.10  SIP 5060, DNS 53 (pool sipproxy.example.com)
 *          Kamailio sips-a (primary)   198.51.100.20  pair tserver.example.com, honours Path
 *          Kamailio sips-c (primary)   198.51.100.22  pair tserver2.example.com, ignores Path
 *                                                     (the backups sips-b .21 and sips-d .23 are names only,
 *                                                     never probed while the primaries answer)
 *          sipp (the caller)           198.51.100.30
 *
 * The site has no route to 192.0.2.0/24: a request sent to the phone's
 * Contact (its private address) cannot arrive; only the NAT binding that the
 * phone's own traffic opened reaches it. Kamailio and baresip resolve names
 * with srvproxy's DNS (Kamailio through a resolv.conf bind-mounted in the
 * mount namespace of its own `ip netns exec`, baresip by `dns_server`).
 * Needs root, iproute2, iptables, kamailio, baresip, sipp (scripts/install-interop.sh).
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NetnsLab, type NsProc } from '../support/netns.js';
import { DIST, eventually } from '../support/processes.js';
import { requireTools, startUac, stopAllSipp, uacStats } from '../support/sipp.js';
import { writeSiteZone, type SiteZoneSpec } from '../support/site-zone.js';

const PHONE = '192.0.2.2';
const NAT_INSIDE = '192.0.2.1';
const NAT_OUTSIDE = '198.51.100.1';
const PROXY = '198.51.100.10';
const CALLER = '198.51.100.30';
const POOL = 'sipproxy.example.com';

/** The two registrars, each the primary of its own pair (the REGISTER's Request-URI names the pair). */
interface Registrar {
  label: string;
  pair: string;
  address: string;
  backup: string;
  usePath: boolean;
}
const REGISTRARS: Registrar[] = [
  { label: 'a registrar that honours Path', pair: 'tserver', address: '198.51.100.20', backup: '198.51.100.21', usePath: true },
  { label: 'a registrar that ignores Path', pair: 'tserver2', address: '198.51.100.22', backup: '198.51.100.23', usePath: false },
];
const CALLS = 20;
const CLI = path.join(DIST, 'src/cli/main.js');

/** The network: phone -- nat -- site, with MASQUERADE on the router's public side. */
async function buildNetwork(lab: NetnsLab): Promise<void> {
  await lab.veth('phone', 'eth0', 'nat', 'inside');
  await lab.veth('nat', 'outside', 'site', 'eth0');
  await lab.ip('phone', 'addr', 'add', `${PHONE}/24`, 'dev', 'eth0');
  await lab.ip('phone', 'route', 'add', 'default', 'via', NAT_INSIDE);
  await lab.ip('nat', 'addr', 'add', `${NAT_INSIDE}/24`, 'dev', 'inside');
  await lab.ip('nat', 'addr', 'add', `${NAT_OUTSIDE}/24`, 'dev', 'outside');
  for (const a of [PROXY, CALLER, ...REGISTRARS.flatMap((r) => [r.address, r.backup])]) await lab.ip('site', 'addr', 'add', `${a}/24`, 'dev', 'eth0');
  await lab.exec('nat', 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  await lab.exec('nat', 'iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-s', '192.0.2.0/24', '-o', 'outside', '-j', 'MASQUERADE']);
}

function kamailioModules(): string {
  const dirs = ['/usr/lib/x86_64-linux-gnu/kamailio/modules', '/usr/lib/aarch64-linux-gnu/kamailio/modules', '/usr/lib/kamailio/modules', '/usr/lib64/kamailio/modules'];
  const d = dirs.find((x) => fs.existsSync(path.join(x, 'registrar.so')));
  if (!d) throw new Error('Kamailio modules (registrar.so) not found: run scripts/install-interop.sh');
  return d;
}

/**
 * Kamailio as registrar and pair member. REGISTER is saved; with `usePath`,
 * its Path too (use_path, with the default path_mode, 2: a REGISTER with Path
 * but without `Supported: path` gets 420 Bad Extension, so this also checks
 * that the instance declares path when it adds one, as baresip does not).
 * Without `usePath` (Kamailio's default) the Path is ignored. INVITE is
 * looked up and relayed with Record-Route, in-dialog requests follow
 * loose_route, OPTIONS (srvproxy's probes) get 200. Like a SIP Server, it uses the pool as its outbound proxy
 * for a contact stored without Path. Every REGISTER and relayed INVITE is
 * logged on a FLOWNAT line. One worker: two can relay a 180 after the 200
 * that followed it (the phone sends them back to back), and sipp counts that
 * call as failed.
 */
function kamailioConfig(r: Registrar): string {
  return `#!KAMAILIO
debug=1
log_stderror=yes
fork=yes
children=1
disable_tcp=yes
auto_aliases=no
dns=no
rev_dns=no
dns_try_ipv6=no
dns_retr_time=1
dns_retr_no=1
listen=udp:${r.address}:5060
mpath="${kamailioModules()}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "path.so"
modparam("usrloc", "db_mode", 0)
${r.usePath ? 'modparam("registrar", "use_path", 1)' : '# use_path 0 (the default): Path ignored'}

request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (has_totag()) {
		if (loose_route()) { t_relay(); exit; }
		if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
	if (is_method("OPTIONS")) { sl_send_reply("200", "OK"); exit; }
	if (is_method("REGISTER")) {
		xlog("L_NOTICE", "FLOWNAT REGISTER user=$tU from=$si:$sp path=[$hdr(Path)] contact=[$hdr(Contact)]\\n");
		if (!save("location")) sl_reply_error();
		exit;
	}
	if (is_method("INVITE")) {
		if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
		if ($du == $null) $du = "sip:${POOL}";
		record_route();
		xlog("L_NOTICE", "FLOWNAT INVITE user=$tU ru=$ru du=$du\\n");
		t_relay();
		exit;
	}
	sl_send_reply("405", "Method Not Allowed");
}
`;
}

/** One SIP message of baresip's trace (-s). */
interface Traced {
  transport: string;
  from: string;
  to: string;
  start: string;
  cseq: string;
  text: string;
}

function traced(out: string): Traced[] {
  // eslint-disable-next-line no-control-regex -- strips the ANSI colour codes of baresip's trace
  const lines = out.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r/g, '').split('\n');
  const msgs: Traced[] = [];
  lines.forEach((line, i) => {
    const m = /^(UDP|TCP) (\S+) -> (\S+)$/.exec(line);
    if (!m) return;
    const body: string[] = [];
    for (let j = i + 1; j < lines.length && lines[j] !== ''; j++) body.push(lines[j]!);
    const cseq = body.find((l) => /^CSeq:/i.test(l));
    msgs.push({ transport: m[1]!, from: m[2]!, to: m[3]!, start: body[0] ?? '', cseq: cseq ? cseq.slice(5).trim() : '', text: body.join('\n') });
  });
  return msgs;
}

/** GET url inside the site namespace (the instance's HTTP listens on its loopback). */
async function siteGet(lab: NetnsLab, url: string): Promise<string> {
  const js = 'fetch(process.argv[1]).then(async (r) => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1); }, () => process.exit(2))';
  return lab.exec('site', process.execPath, ['-e', js, url], 5000);
}

/** Sum of the samples of `name` (any labels) in Prometheus text, filtered by a label substring. */
function metric(text: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    if (labels && !line.includes(labels)) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return sum;
}

/** Starts Kamailio `r` in the site namespace, resolving names with srvproxy's DNS; resolves once it listens. */
async function startKamailio(lab: NetnsLab, r: Registrar, dirs: string[]): Promise<NsProc> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `srvproxy-flownat-${r.pair}-`));
  dirs.push(dir);
  const cfg = path.join(dir, 'kamailio.cfg');
  fs.writeFileSync(cfg, kamailioConfig(r));
  fs.writeFileSync(path.join(dir, 'resolv.conf'), `nameserver ${PROXY}\noptions timeout:1 attempts:1\n`);
  await lab.exec('site', 'kamailio', ['-c', '-f', cfg]).catch((e: Error) => {
    throw new Error(`Kamailio (${r.pair}) rejected its config: ${e.message}`);
  });
  // `ip netns exec` gives the program a mount namespace of its own: the bind mount is seen by it alone.
  const k = lab.spawn(
    'site',
    'sh',
    ['-c', 'mount --bind "$0" /etc/resolv.conf && exec "$@"', path.join(dir, 'resolv.conf'), 'kamailio', '-f', cfg, '-m', '64', '-M', '8', '-E', '-DD', '-w', dir],
    `kamailio-${r.pair}`,
  );
  await eventually(async () => {
    if (!k.running) throw new Error('exited');
    return lab.listening('site', 'udp', r.address, 5060);
  }, 10_000, `Kamailio ${r.address} listening`).catch((e: Error) => {
    throw new Error(`Kamailio (${r.pair}) did not start: ${e.message}\n${k.output.slice(-2000)}`);
  });
  return k;
}

describe('interop: baresip behind NAT receives calls from Kamailio through srvproxy (flows)', function () {
  this.timeout(40_000);
  let lab: NetnsLab | undefined;
  let srvproxy: NsProc | undefined;
  const kamailios = new Map<string, NsProc>();
  let phone: NsProc | undefined;
  const dirs: string[] = [];

  before(async function () {
    this.timeout(40_000);
    await requireTools('ip', 'iptables', 'ss', 'kamailio', 'baresip', 'sipp');
    lab = await NetnsLab.create('srvproxy-flownat', ['phone', 'nat', 'site']);
    await buildNetwork(lab);

    const pairs: SiteZoneSpec['pairs'] = {};
    REGISTRARS.forEach((r, i) => {
      pairs[r.pair] = [
        { name: `sips-${'ac'[i]}`, address: r.address, port: 5060 },
        { name: `sips-${'bd'[i]}`, address: r.backup, port: 5060 },
      ];
    });
    const zones = writeSiteZone({ proxies: [{ name: 'proxy1', address: PROXY, port: 5060 }], pairs });
    dirs.push(zones);
    srvproxy = lab.spawn(
      'site',
      process.execPath,
      [CLI, 'run', '--self', 'proxy1.example.com', ...REGISTRARS.flatMap((r) => ['--pair', `${r.pair}.example.com`]),
        '--zones', zones, '--dns-port', '53', '--http', '127.0.0.1:8053', '--log-format', 'json'],
      'srvproxy',
    );
    await eventually(() => {
      if (!srvproxy!.running) throw new Error('exited');
      return srvproxy!.output.includes('SRV-10000');
    }, 15_000, 'srvproxy started').catch((e: Error) => {
      throw new Error(`srvproxy did not start: ${e.message}\n${srvproxy!.output}`);
    });
    for (const r of REGISTRARS) kamailios.set(r.pair, await startKamailio(lab, r, dirs));
  });

  afterEach(async () => {
    await phone?.stop();
    phone = undefined;
    await stopAllSipp();
  });

  after(async () => {
    await phone?.stop();
    await stopAllSipp();
    for (const k of kamailios.values()) await k.stop('SIGTERM');
    await srvproxy?.stop();
    await lab?.destroy();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  /**
   * One phone registers, then CALLS calls reach it. `outbound`: the phone is an RFC 5626 user agent
   * (baresip's sipnat=outbound: +sip.instance from the uuid module, reg-id, `Supported: outbound`).
   */
  async function callsDownTheFlow(r: Registrar, transport: 'udp' | 'tcp', outbound: boolean): Promise<void> {
    const T = transport.toUpperCase();
    const user = `${transport}-${r.pair}${outbound ? '-ob' : ''}`;
    const domain = `${r.pair}.example.com`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `srvproxy-flownat-${user}-`));
    dirs.push(dir);
    // No audio device modules: baresip answers and runs the call without one.
    fs.writeFileSync(
      path.join(dir, 'config'),
      ['poll_method epoll', `sip_listen ${PHONE}:5060`, `dns_server ${PROXY}:53`, 'module_path /usr/lib/baresip/modules',
        'module g711.so', ...(outbound ? ['module_app uuid.so'] : []), 'module_app account.so', 'module_app menu.so', ''].join('\n'),
    );
    const tp = transport === 'tcp' ? ';transport=tcp' : '';
    fs.writeFileSync(path.join(dir, 'accounts'), `<sip:${user}@${domain}${tp}>;outbound="sip:${POOL}${tp}";regint=60;answermode=auto${outbound ? ';sipnat=outbound' : ''}\n`);
    phone = lab!.spawn('phone', 'baresip', ['-f', dir, '-s'], `baresip-${user}`);
    const ua = phone;
    const kamailio = kamailios.get(r.pair)!;
    const at = `${PROXY}:5060`;
    const isOk = (m: Traced, method: string) => m.start.startsWith('SIP/2.0 200') && m.cseq.endsWith(` ${method}`);

    // Registered through the instance, seen from the NAT's public address.
    await eventually(() => traced(ua.output).some((m) => m.from === at && isOk(m, 'REGISTER')), 10_000, 'REGISTER answered 200').catch((e: Error) => {
      // eslint-disable-next-line no-control-regex -- strips the ANSI colour codes of baresip's trace
      throw new Error(`${e.message}; baresip:\n${ua.output.replace(/\x1b\[[0-9;]*m/g, '').slice(-3000)}`, { cause: e });
    });
    const reg = traced(ua.output).find((m) => m.to === at && m.start.startsWith('REGISTER '))!;
    const regOk = traced(ua.output).find((m) => m.from === at && isOk(m, 'REGISTER'))!;
    expect(reg.transport).to.equal(T);
    expect(regOk.text, 'the instance saw the phone through the NAT').to.match(new RegExp(`received=${NAT_OUTSIDE.replace(/\./g, '\\.')}`));
    expect(regOk.text, 'the phone sees its own Contact in the 200').to.not.match(/srvflow/i);
    if (outbound) {
      expect(reg.text, 'baresip registers as an RFC 5626 user agent').to.match(/^Supported:.*\boutbound\b/im).and.match(/reg-id=1/);
      expect(regOk.text, 'Flow-Timer in the 200 (RFC 5626 §4.4.1)').to.match(new RegExp(`^Flow-Timer: ${transport === 'udp' ? 25 : 90}$`, 'im'));
    } else {
      expect(regOk.text).to.not.match(/^Flow-Timer:/im);
    }    const phoneEnd = reg.from;

    const before = await siteGet(lab!, 'http://127.0.0.1:8053/metrics').catch(() => '');
    const uac = startUac(`flownat-${user}`, {
      scenario: 'uac-rr.xml',
      address: CALLER,
      port: 5070,
      target: `${r.address}:5060`,
      rate: 10,
      calls: CALLS,
      service: user,
      recvTimeoutMs: 5000,
      netns: lab!.ns('site'),
    });
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([uac.exited, new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), 20_000)))]);
    clearTimeout(timer);
    if (code === 'timeout') await uac.kill();
    const after = await siteGet(lab!, 'http://127.0.0.1:8053/metrics').catch(() => '');

    const stats = uacStats(uac);
    const msgs = traced(ua.output);
    const invites = msgs.filter((m) => m.start.startsWith('INVITE '));
    const answered = msgs.filter((m) => m.from === phoneEnd && isOk(m, 'INVITE'));
    const byes = msgs.filter((m) => m.start.startsWith('BYE '));
    const kam = kamailio.output.split('\n').filter((l) => l.includes('FLOWNAT') && l.includes(`user=${user} `));
    const kamErrors = kamailio.output.split('\n').filter((l) => /ERROR|WARNING/.test(l));
    const flowRequests = metric(after, 'srvproxy_sip_flow_requests_total') - metric(before, 'srvproxy_sip_flow_requests_total');
    const evidence =
      `sipp exit ${String(code)}, ${JSON.stringify(stats)}\nsipp events by kind:\n${uac.errorSummary()}\nfirst sipp events:\n${uac.errors(1200)}\n` +
      `baresip: ${invites.length} INVITEs received, ${answered.length} answered 200, ${byes.length} BYEs received; REGISTER from ${phoneEnd}\n` +
      `baresip trace (last 12):\n${msgs.slice(-12).map((m) => `  ${m.transport} ${m.from} -> ${m.to}  ${m.start}`).join('\n')}\n` +
      `Kamailio:\n${[...kam.slice(0, 2), ...kam.slice(-1), ...kamErrors.slice(-6)].join('\n')}\n` +
      `srvproxy flow requests +${flowRequests}; srvproxy output (last 2000):\n${srvproxy!.output.slice(-2000)}`;

    // Every call was answered by the phone and ended by BYE.
    expect(stats.created, evidence).to.equal(CALLS);
    expect(stats.failed, evidence).to.equal(0);
    expect(answered.length, evidence).to.equal(CALLS);
    expect(byes.length, evidence).to.equal(CALLS);
    // Every INVITE and BYE came from the instance, down the flow the REGISTER opened: over TCP the same
    // connection (to the phone's ephemeral port), over UDP to the address the phone registered from.
    for (const m of [...invites, ...byes]) {
      expect({ transport: m.transport, from: m.from, to: m.to }, evidence).to.deep.equal({ transport: T, from: at, to: phoneEnd });
      expect(m.start, 'the phone gets its own Request-URI').to.not.match(/srvflow/i);
    }
    // What Kamailio stored, and what it routed the INVITEs by: the Path the instance added
    // (Route to the flow token at the pool), or the Contact carrying the flow (sent to the pool, its outbound proxy).
    const pool = POOL.replace(/\./g, '\\.');
    const kreg = kam.find((l) => l.includes('FLOWNAT REGISTER'));
    expect(kreg, evidence).to.match(new RegExp(`path=\\[<sip:[A-Za-z0-9_-]+@${pool};lr${outbound ? ';ob' : ''}>`));
    expect(kreg, evidence).to.match(/contact=\[<sip:[^>]*;srvflow=[A-Za-z0-9_-]+/);
    const kinv = kam.filter((l) => l.includes('FLOWNAT INVITE'));
    expect(kinv.length, evidence).to.equal(CALLS);
    for (const l of kinv) {
      if (r.usePath) expect(l, evidence).to.match(new RegExp(`du=sip:[A-Za-z0-9_-]+@${pool};lr${outbound ? ';ob' : ''}$`));
      else expect(l, evidence).to.match(new RegExp(`ru=sip:\\S*;srvflow=[A-Za-z0-9_-]+ du=sip:${pool}$`));
    }
    // The instance counted the requests it sent down flows (at least the INVITEs and BYEs).
    expect(flowRequests, evidence).to.be.at.least(2 * CALLS);
    expect(metric(after, 'srvproxy_sip_flows', `transport="${transport}"`), evidence).to.be.at.least(1);
  }

  for (const r of REGISTRARS) {
    for (const transport of ['udp', 'tcp'] as const) {
      it(`${r.label}, over ${transport.toUpperCase()}: baresip registers from behind NAT through the instance; ${CALLS} calls from Kamailio reach it down its flow, 0 failed`, () =>
        callsDownTheFlow(r, transport, false));
    }
  }
  for (const transport of ['udp', 'tcp'] as const) {
    it(`an RFC 5626 phone (reg-id), over ${transport.toUpperCase()}: Path with ;ob, Flow-Timer in the 200, ${CALLS} calls from the Path-honouring registrar reach it, 0 failed`, () =>
      callsDownTheFlow(REGISTRARS[0]!, transport, true));
  }
});
