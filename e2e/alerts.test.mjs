// Alerts in the browser: ten failed sign-ins from one address become one alert (the
// watcher reads the audit log each minute; the test moves Mailward's clock a minute on),
// shown as a banner on the dashboard and in the inbox; the owner adds an e-mail destination
// and sends it a test; acknowledges the alert with a note, then resolves it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mailTo, startMailward, startSmtpSink, launchBrowser, shot, flash, enrol, onPhone } from './harness.mjs';

let mw, browser, sink;
before(async () => {
  sink = await startSmtpSink();
  mw = await startMailward({ env: mailTo(sink), clock: true });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await mw?.stop(); await sink?.close(); });

test('failed sign-ins raise one alert: banner, inbox, destination, acknowledge, resolve', async () => {
  const owner = await enrol(browser, mw, mw.setupLink, 'owner@agency.example', 'Olivia Owner', 'violet tugboat mirrors 42');
  const page = owner.page;
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  // Someone tries passwords against the console.
  const ctx = await browser.newContext();
  const intruder = await ctx.newPage();
  for (let i = 0; i < 10; i++) {
    await intruder.goto(`${mw.base}/login`);
    await intruder.fill('#email', 'boss@agency.example');
    await intruder.fill('#password', `guess number ${i}`);
    await intruder.click('button[type=submit]');
    await intruder.waitForLoadState('load');
  }
  await ctx.close();

  // A minute later the watcher has read the log.
  await mw.setClock(61);
  let banner;
  for (let i = 0; i < 20; i++) {
    await page.goto(`${mw.base}/`);
    banner = page.locator('[data-testid=open-alerts]');
    if (await banner.count()) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.match(await banner.innerText(), /1 open alert \(1 warning\)/);
  await shot(page, '90-dashboard-alert');

  await banner.click();
  await page.waitForURL(`${mw.base}/alerts?state=open`);
  const card = page.locator('[data-testid=alert]').first();
  assert.match(await card.innerText(), /10 failed sign-ins from 127\.0\.0\.1 in 10 minutes/);
  assert.match(await card.innerText(), /boss@agency\.example/);
  assert.match(await card.locator('[data-testid=evidence]').innerText(), /event #\d+/);
  await shot(page, '91-alerts-inbox');
  assert.equal(await onPhone(page, '91-alerts-inbox'), 0, 'the inbox fits a phone');

  // Where alerts go: an e-mail address, with a test message.
  await page.goto(`${mw.base}/alerts/destinations`);
  await page.selectOption('#d-kind', 'email');
  await page.fill('#d-target', 'oncall@agency.example');
  await page.selectOption('#d-sev', 'info');
  await page.click('[data-testid=add-destination] button[type=submit]');
  await page.waitForURL(`${mw.base}/alerts/destinations`);
  assert.match(await flash(page), /oncall@agency\.example/);
  await page.click('[data-testid=test-send]');
  await page.waitForURL(`${mw.base}/alerts/destinations`);
  assert.match(await flash(page), /Test message delivered/);
  assert.ok(sink.messages.some((m) => /oncall@agency\.example/.test(m) && /Test message/.test(m)), 'the test reached the relay');
  assert.equal(await page.locator('[data-testid=deliveries] tr[data-state=sent]').count(), 1);
  await shot(page, '92-alert-destinations');

  // Acknowledge with a note, then resolve.
  await page.goto(`${mw.base}/alerts?state=open`);
  await page.locator('[data-testid=alert] input[name=note]').first().fill('Checking with the client');
  await page.click('[data-testid=acknowledge]');
  await page.waitForURL(`${mw.base}/alerts`);
  assert.match(await flash(page), /Acknowledged/);
  const acked = page.locator('[data-testid=alert][data-state=acknowledged]');
  assert.equal(await acked.count(), 1);
  assert.match(await acked.innerText(), /Acknowledged by owner@agency\.example/);
  assert.match(await acked.innerText(), /Checking with the client/);
  await acked.locator('input[name=note]').fill('A client with an old password');
  await acked.locator('[data-testid=resolve]').click();
  await page.waitForURL(`${mw.base}/alerts`);
  assert.match(await flash(page), /Resolved/);
  await page.goto(`${mw.base}/alerts?state=resolved`);
  assert.equal(await page.locator('[data-testid=alert][data-state=resolved]').count(), 1);
  await shot(page, '93-alerts-resolved');
  await page.goto(`${mw.base}/`);
  assert.equal(await page.locator('[data-testid=open-alerts]').count(), 0, 'no banner once resolved');

  // A tenant's own rules: a stricter burst, and its client viewers see its alerts.
  await page.goto(`${mw.base}/tenants`);
  await page.fill('#t-name', 'Acme Corp');
  await page.selectOption('#t-plan', 'plan_pro');
  await page.click('form[action="/tenants"] button[type=submit]');
  await page.waitForURL(`${mw.base}/tenants/acme-corp`);
  await page.goto(`${mw.base}/alerts`);
  await page.click('text=Each tenant\'s rules →');
  await page.waitForURL(`${mw.base}/alerts/rules`);
  // The only tenant is chosen already (with several, a picker comes first).
  assert.equal(await page.locator('#r-tenant').count(), 0);
  assert.match(await page.locator('[data-testid=rules]').innerText(), /Rules of Acme Corp/);
  assert.match(await page.locator('[data-testid=rules]').innerText(), /Following the platform's defaults/);
  assert.equal(await page.getAttribute('#failure_burst', 'placeholder'), '10', 'the default shows as the placeholder');
  // Out of bounds: the browser holds the form back (the server refuses it too).
  await page.fill('#failure_burst', '1');
  await page.click('[data-testid=save-rules]');
  assert.equal(await page.$eval('#failure_burst', (e) => e.validity.rangeUnderflow), true);
  assert.equal(page.url(), `${mw.base}/alerts/rules`);
  await page.fill('#failure_burst', '5');
  await page.check('input[name=viewers_see]');
  await page.click('[data-testid=save-rules]');
  await page.waitForURL(`${mw.base}/alerts/rules?tenant=acme-corp`);
  assert.match(await flash(page), /Alert rules of Acme Corp saved/);
  assert.equal(await page.inputValue('#failure_burst'), '5');
  assert.ok(await page.isChecked('input[name=viewers_see]'));
  assert.match(await page.locator('[data-testid=rules]').innerText(), /Last changed by owner@agency\.example/);
  await shot(page, '94-alert-rules');
  assert.equal(await onPhone(page, '94-alert-rules'), 0, 'the rules fit a phone');
  assert.deepEqual(errors, [], 'no errors in the browser console');
});
