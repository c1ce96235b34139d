// What a person sees at the edges: a value that is too long comes back to the form it was
// typed in, with a message and nothing created; a guessed mailbox password is paused after
// five tries; the audit page says what its chain does. Screenshots at 1280 and 390 px.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMailward, launchBrowser, shot, enrol, flash } from './harness.mjs';

let mw, browser;
before(async () => { mw = await startMailward(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await mw?.stop(); });

test('too-long input, a paused sign-in and the audit chain, as a person sees them', async () => {
  const owner = await enrol(browser, mw, mw.setupLink, 'owner@agency.example', 'Olivia Owner', 'violet tugboat mirrors 42');
  const page = owner.page;
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  // 1. A tenant name of 256 characters from a client that ignores the field's maxlength:
  //    back on the tenants page, told why, nothing created.
  await page.goto(`${mw.base}/tenants`);
  await page.evaluate(() => document.querySelector('#t-name').removeAttribute('maxlength'));
  await page.fill('#t-name', 'A'.repeat(256));
  await page.selectOption('#t-plan', 'plan_pro');
  await page.click('form[action="/tenants"] button[type=submit]');
  await page.waitForURL(`${mw.base}/tenants`);
  const msg = await flash(page);
  assert.match(msg, /too long \(at most 255 characters\)/);
  assert.ok(!msg.includes('AAAAAAAAAA'), 'the value is not echoed');
  assert.equal(await page.locator('text=AAAAAAAAAA').count(), 0, 'no tenant was created');
  await shot(page, '60-field-too-long');
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, '60-field-too-long-390');
  await page.setViewportSize({ width: 1280, height: 800 });

  // 2. Mailbox sign-in: five wrong passwords, then the sixth attempt is paused.
  const anon = await (await browser.newContext()).newPage();
  for (let i = 0; i < 6; i++) {
    await anon.goto(`${mw.base}/me/login`);
    await anon.fill('input[name=address]', 'ann@acme.example');
    await anon.fill('input[name=password]', `wrong guess number ${i}`);
    await anon.click('button[type=submit]');
    await anon.waitForURL(`${mw.base}/me/login`);
  }
  assert.match(await flash(anon), /Too many failed attempts/);
  await shot(anon, '61-owner-signin-paused');

  // 3. The audit log explains its chain and lists the failed attempts.
  await page.goto(`${mw.base}/audit`);
  assert.match(await page.textContent('body'), /keyed with a secret outside the database/);
  assert.ok((await page.locator('text=mailbox.signin_throttled').count()) >= 1);
  await shot(page, '62-audit-keyed');
  assert.deepEqual(errors, []);
});
