/**
 * The monitoring files under deploy/: Prometheus's own promtool (Debian
 * package prometheus) checks the alerting rules and runs their unit tests
 * (alerts.test.yml fires each alert on synthetic series); every alert has a
 * test, its annotations name its runbook section and README.md has that
 * section; and every metric that a rule or the Grafana dashboard names
 * exists on a live instance's /metrics.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { stopAll } from '../support/processes.js';
import { startPoolSite, type PoolSite } from '../support/pool-site.js';

const run = promisify(execFile);
// dist/test/interop -> repository root
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const PROM = path.join(ROOT, 'deploy/prometheus');
const RULES = fs.readFileSync(path.join(PROM, 'alerts.yml'), 'utf8');
const RULE_TESTS = fs.readFileSync(path.join(PROM, 'alerts.test.yml'), 'utf8');
const DASHBOARD = JSON.parse(fs.readFileSync(path.join(ROOT, 'deploy/grafana/srvproxy-dashboard.json'), 'utf8')) as Dashboard;
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

interface Target { expr: string }
interface Panel { type: string; title: string; targets?: Target[]; datasource?: unknown }
interface Dashboard { panels: Panel[]; annotations: { list: Target[] }; templating: { list: { query?: unknown; definition?: string }[] } }

const alerts = [...RULES.matchAll(/^\s*- alert: (\w+)$/gm)].map((m) => m[1]!);

/** Metric names (srvproxy_*, and up) in PromQL expressions. */
function metricNames(exprs: string[]): Set<string> {
  const names = new Set<string>();
  for (const e of exprs) {
    for (const m of e.matchAll(/\b(srvproxy_[a-z0-9_]+|up)\b/g)) names.add(m[1]!);
  }
  return names;
}

const ruleExprs = [...RULES.matchAll(/^\s*expr: (.+)$/gm)].map((m) => m[1]!);
const dashboardExprs = [
  ...DASHBOARD.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
  ...DASHBOARD.annotations.list.map((a) => a.expr),
  ...DASHBOARD.templating.list.flatMap((v) => (v.definition ? [v.definition] : [])),
];

describe('interop: Prometheus rules and the Grafana dashboard (promtool, a live /metrics)', function () {
  this.timeout(60_000);
  let site: PoolSite | undefined;

  after(async () => {
    await site?.stop();
    await stopAll();
  });

  it('promtool check rules: the rules are valid', async () => {
    const { stdout } = await run('promtool', ['check', 'rules', path.join(PROM, 'alerts.yml')], { timeout: 20_000 });
    expect(stdout).to.include(`SUCCESS: ${alerts.length} rules found`);
    expect(alerts).to.include.members([
      'SrvproxyPairOutOfService', 'SrvproxyPairSwitchover', 'SrvproxyPeerWithdrawn', 'SrvproxyPoolFailOpen',
      'SrvproxyOverloadShedding', 'SrvproxyDnsRrlActive', 'SrvproxyTlsHandshakeFailures', 'SrvproxyInstanceDown',
    ]);
  });

  it('promtool test rules: each alert fires on its synthetic series (and only then)', async () => {
    const { stdout, stderr } = await run('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: PROM, timeout: 30_000 }).catch((e: { stdout: string; stderr: string }) => {
      throw new Error(`promtool test rules failed:\n${e.stdout}\n${e.stderr}`);
    });
    expect(stdout + stderr).to.include('SUCCESS');
    for (const a of alerts) {
      // a test of `a` that expects it firing (exp_alerts not empty)
      expect(RULE_TESTS, a).to.match(new RegExp(`alertname: ${a}\\n\\s+exp_alerts:\\n\\s+- exp_labels:`));
    }
  });

  it('each alert names its runbook section, and README.md has it', () => {
    for (const a of alerts) {
      const rule = RULES.slice(RULES.indexOf(`- alert: ${a}\n`)).split(/\n\s*- alert: /)[0]!;
      expect(rule, a).to.match(/^\s+summary: /m);
      expect(rule, a).to.include(`description: "`);
      expect(rule, a).to.include(`Runbook: README.md, Runbook > ${a}.`);
      expect(rule, a).to.include(`runbook: "README.md#${a.toLowerCase()}"`);
      expect(README, a).to.match(new RegExp(`^### ${a}$`, 'm'));
    }
  });

  it('every metric a rule or the dashboard names exists on a live instance', async () => {
    site = await startPoolSite({ instances: 1 });
    const text = await (await fetch(`${site.instances[0]!.http}/metrics`)).text();
    const live = new Set<string>(['up']); // Prometheus's own, per scrape target
    for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      live.add(m[1]!);
      if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) live.add(m[1]! + s);
      if (m[2] === 'summary') for (const s of ['_sum', '_count']) live.add(m[1]! + s);
    }
    const fromRules = metricNames(ruleExprs);
    const fromDashboard = metricNames(dashboardExprs);
    expect(fromRules.size, 'metrics named by the rules').to.be.at.least(9);
    expect(fromDashboard.size, 'metrics named by the dashboard').to.be.at.least(25);
    expect([...fromRules].filter((n) => !live.has(n)), 'rule metrics missing from /metrics').to.deep.equal([]);
    expect([...fromDashboard].filter((n) => !live.has(n)), 'dashboard metrics missing from /metrics').to.deep.equal([]);
  });

  it('the dashboard: every panel has a Prometheus datasource and a query, titles unique', () => {
    const panels = DASHBOARD.panels.filter((p) => p.type !== 'row');
    expect(panels.length).to.be.at.least(15);
    for (const p of panels) {
      expect(p.datasource, p.title).to.deep.equal({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets, p.title).to.have.length.greaterThan(0);
    }
    expect(new Set(panels.map((p) => p.title)).size).to.equal(panels.length);
  });
});
