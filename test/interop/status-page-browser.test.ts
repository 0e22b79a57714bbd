/**
 * The status page in a real browser: Debian's chromium, headless, driven by
 * playwright-core (no browser download). Two srvproxy instances (the real
 * CLI) on 127.0.0.11-12 in front of the simulated HA pair: the page of
 * proxy1 shows both members up; proxy2 killed (SIGKILL) turns red
 * (WITHDRAWN) on the open page within 3 s, by the page's own refresh; the
 * Drain button asks for confirmation (dismissed: nothing happens; accepted:
 * the instance drains) and Undrain reverses it. Screenshots go to
 * test-output/ in the repository root.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { stopAll } from '../support/processes.js';
import { startPoolSite, type PoolInstance, type PoolSite } from '../support/pool-site.js';

// dist/test/interop -> repository root
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const OUT = path.join(ROOT, 'test-output');
const CHROMIUM = '/usr/bin/chromium';
/** Peer health fast enough that the withdrawal (≤ 0.25 × 3 s) plus one page refresh (1 s) fits in 3 s. */
const HEALTH = ['--peer-interval', '0.25', '--peer-down-after', '2', '--peer-up-after', '2'];
const RED = 'rgb(198, 40, 40)';

describe('interop: the status page in headless Chromium', function () {
  this.timeout(60_000);
  let site: PoolSite;
  let p1: PoolInstance, p2: PoolInstance;
  let browser: Browser;
  let page: Page;
  const dialogs: string[] = [];
  let answer: 'accept' | 'dismiss' = 'dismiss';

  before(async function () {
    this.timeout(40_000);
    fs.mkdirSync(OUT, { recursive: true });
    site = await startPoolSite({ instances: 2, args: HEALTH });
    [p1, p2] = site.instances as [PoolInstance, PoolInstance];
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      timeout: 20_000,
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void (answer === 'accept' ? d.accept() : d.dismiss());
    });
  });

  after(async () => {
    await browser?.close();
    await site?.stop();
    await stopAll();
  });

  const row = (member: string) => page.locator(`tr[data-member="${member}"]`);
  /** The response to the form's POST (303 back to the page). */
  const posted = (action: string) => page.waitForResponse((r) => r.request().method() === 'POST' && r.url() === `${p1.http}/${action}`, { timeout: 5000 });
  const status = async (inst: PoolInstance) => (await (await fetch(`${inst.http}/status`)).json()) as { draining: boolean };

  it('shows both pool members up and the pair in service, and refreshes itself', async () => {
    await page.goto(`${p1.http}/`, { timeout: 5000 });
    expect(await page.title()).to.equal('srvproxy proxy1.example.com');
    expect(await row('proxy1.example.com').getAttribute('data-state')).to.equal('up');
    expect(await row('proxy2.example.com').getAttribute('data-state')).to.equal('up');
    expect(await page.locator('tr[data-pair-state]').getAttribute('data-pair-state')).to.equal('in-service');
    // the script re-renders from /status: the page time moves without a reload
    const foot = await page.locator('.foot').textContent();
    await page.waitForFunction((before) => document.querySelector('.foot')?.textContent !== before, foot, { timeout: 3000 });
    await page.screenshot({ path: path.join(OUT, 'status-page-up.png'), fullPage: true });
  });

  it('a killed peer turns red (WITHDRAWN) on the open page within 3 s', async () => {
    const t0 = Date.now();
    await p2.kill();
    await page.locator('tr[data-member="proxy2.example.com"][data-state="withdrawn"]').waitFor({ timeout: 3000 });
    const ms = Date.now() - t0;
    console.log(`      proxy2 shown withdrawn ${ms} ms after SIGKILL`);
    expect(ms).to.be.at.most(3000);
    const bg = await row('proxy2.example.com').locator('td.state').evaluate((td) => getComputedStyle(td).backgroundColor);
    expect(bg).to.equal(RED);
    expect(await row('proxy2.example.com').locator('td.state').textContent()).to.equal('WITHDRAWN');
    expect(await row('proxy1.example.com').getAttribute('data-state')).to.equal('up');
    await page.screenshot({ path: path.join(OUT, 'status-page-withdrawn.png'), fullPage: true });
  });

  it('Drain asks first: dismissed, nothing changes; accepted, the instance drains and the page shows it', async () => {
    answer = 'dismiss';
    await page.click('#drain');
    expect(dialogs.at(-1)).to.match(/^Drain proxy1\.example\.com\? /);
    await new Promise((r) => setTimeout(r, 300));
    expect((await status(p1)).draining).to.equal(false);

    answer = 'accept';
    const n = dialogs.length;
    const [drained] = await Promise.all([posted('drain'), page.click('#drain')]);
    expect(drained.status()).to.equal(303);
    await page.waitForLoadState('load');
    expect(dialogs).to.have.length(n + 1);
    expect((await status(p1)).draining).to.equal(true);
    await page.locator('tr[data-member="proxy1.example.com"][data-state="draining"]').waitFor({ timeout: 3000 });
    expect(await page.locator('.summary .badge').first().textContent()).to.equal('DRAINING');
    await page.screenshot({ path: path.join(OUT, 'status-page-draining.png'), fullPage: true });

    const [undrained] = await Promise.all([posted('undrain'), page.click('#undrain')]);
    expect(undrained.status()).to.equal(303);
    await page.waitForLoadState('load');
    expect(dialogs.at(-1)).to.match(/^Undrain proxy1\.example\.com\?/);
    expect((await status(p1)).draining).to.equal(false);
    await page.locator('tr[data-member="proxy1.example.com"][data-state="up"]').waitFor({ timeout: 3000 });
  });
});
