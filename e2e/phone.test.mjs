// The console on a phone (390×844): every console page fits the screen's width — no page
// scrolls sideways, wide tables scroll inside their card — and the menu behind the "Menu"
// button reaches every page. Screenshots of each page at 1280 px and at 390 px (issue 22).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMailward, launchBrowser, shot, enrol, overflow, acmeWithDomain } from './harness.mjs';

let mw, browser;
before(async () => { mw = await startMailward(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await mw?.stop(); });

test('every console page fits a phone, and the menu reaches them', async () => {
  const owner = await enrol(browser, mw, mw.setupLink, 'owner@agency.example', 'Olivia Owner', 'violet tugboat mirrors 42');
  const page = owner.page;
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  // Something to show: a tenant with an active domain.
  await acmeWithDomain(mw, page);
  const domainHref = await page.locator('[data-testid=domains-table] a[href^="/domains/"]').first().getAttribute('href');

  const pages = [
    ['/', 'dashboard'], ['/tenants', 'tenants'], ['/domains', 'domains'], ['/tenants/acme-corp', 'tenant'],
    [domainHref, 'domain'], ['/mailboxes', 'mailboxes'], ['/routing', 'routing'],
    ['/routing/report', 'persistence-report'], ['/approvals', 'approvals'], ['/audit', 'audit'],
    ['/plans', 'plans'], ['/operators', 'operators'], ['/account', 'account'], ['/account/sessions', 'sessions'],
    ['/account/tokens', 'tokens'], [`${domainHref}/dns`, 'domain-dns'], [`${domainHref}/control`, 'domain-control'], ['/dns/templates', 'dns-templates'], ['/dns/bulk', 'dns-bulk'], ['/incidents', 'incidents'],
  ];
  // At 1280 px first: every page with its sidebar, nothing wider than the window.
  await page.setViewportSize({ width: 1280, height: 800 });
  const tooWide = [];
  for (const [path, name] of pages) {
    const res = await page.goto(`${mw.base}${path}`);
    assert.equal(res.status(), 200, `${path} answers`);
    assert.ok(await page.locator('aside').isVisible(), `${path}: the sidebar at 1280 px`);
    const over = await overflow(page);
    if (over > 0) tooWide.push(`${path} is ${over} px wider than the window`);
    await shot(page, `72-wide-${name}`);
  }
  assert.deepEqual(tooWide, [], 'no console page scrolls sideways at 1280 px');

  await page.setViewportSize({ width: 390, height: 844 });
  const wide = [];
  for (const [path, name] of pages) {
    const res = await page.goto(`${mw.base}${path}`);
    assert.equal(res.status(), 200, `${path} answers`);
    // The sidebar gives way to the menu button.
    assert.ok(await page.locator('[data-testid=phone-menu] summary').isVisible(), `${path}: a menu button`);
    assert.ok(!(await page.locator('aside').isVisible()), `${path}: no sidebar on a phone`);
    const over = await overflow(page);
    if (over > 0) wide.push(`${path} is ${over} px wider than the screen`);
    await shot(page, `70-phone-${name}`);
  }
  assert.deepEqual(wide, [], 'no console page scrolls sideways at 390 px');

  // The menu opens, lists the pages and takes you there.
  await page.goto(`${mw.base}/`);
  const menu = page.locator('[data-testid=phone-menu]');
  assert.ok(!(await menu.locator('nav a[href="/routing"]').isVisible()), 'closed at first');
  await menu.locator('summary').click();
  await shot(page, '71-phone-menu-open');
  await menu.locator('nav a[href="/routing"]').click();
  await page.waitForURL(`${mw.base}/routing`);
  // The URL changes before the routed page has rendered (client-side navigation): wait for it.
  await page.getByRole('heading', { name: 'Routing', exact: true }).waitFor({ state: 'visible', timeout: 10000 });

  // On a wide screen the sidebar is back and the menu button gone.
  await page.setViewportSize({ width: 1280, height: 800 });
  assert.ok(await page.locator('aside').isVisible());
  assert.ok(!(await page.locator('[data-testid=phone-menu]').isVisible()));
  assert.deepEqual(errors, [], 'no errors in the browser console');
});
