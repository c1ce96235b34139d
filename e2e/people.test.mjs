// People in the browser: the owner changes their own password on /account (a notice is
// mailed), sets up a new authenticator (the old one stops working), then disables an operator
// who is signed in elsewhere: the operator is out at their next click, and back after
// "Enable" with their own password and authenticator; making them owner asks for a second
// person, and with one owner the page says the way out.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  mailTo, startMailward, startSmtpSink, launchBrowser, shot, flash, enrol, inviteOperator,
  onPhone, signIn, totp, currentStep, waitForStepAfter,
} from './harness.mjs';

let mw, browser, sink;
before(async () => {
  sink = await startSmtpSink();
  mw = await startMailward({ env: mailTo(sink) });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await mw?.stop(); await sink?.close(); });

const OWNER = 'owner@agency.example';
const OP = 'otto@agency.example';

/** Confirms the dialog a ConfirmButton opens. */
async function confirm(page, button) {
  await button.click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await dialog.getByRole('button').filter({ hasNotText: 'Cancel' }).click();
}

test('own account changes; an operator disabled is out at the next click', async () => {
  const enrolledAt = currentStep();
  const owner = await enrol(browser, mw, mw.setupLink, OWNER, 'Olivia Owner', 'violet tugboat mirrors 42');
  const page = owner.page;
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  // The operator joins and works in their own browser.
  const link = await inviteOperator(mw, sink, page, OP);
  const op = await enrol(browser, mw, link, OP, 'Otto Operator', 'harbour lights at midnight');
  await op.page.goto(`${mw.base}/domains`);

  // A new password: the current one asked; a notice goes to the owner's own address.
  await page.locator('a[href="/account"]').first().click();
  await page.waitForURL(`${mw.base}/account`);
  await shot(page, '90-account');
  assert.equal(await onPhone(page, '90-account'), 0, '/account fits a phone');
  await page.fill('#current', 'not the password');
  await page.fill('#password', 'quiet lanterns over the harbour');
  await page.fill('#confirm', 'quiet lanterns over the harbour');
  await page.click('form[action="/account/password"] button[type=submit]');
  assert.match(await flash(page), /current password is not right/);
  await page.fill('#current', 'violet tugboat mirrors 42');
  await page.fill('#password', 'quiet lanterns over the harbour');
  await page.fill('#confirm', 'quiet lanterns over the harbour');
  await page.click('form[action="/account/password"] button[type=submit]');
  assert.match(await flash(page), /Password changed/);
  await sink.find(OWNER, /The password was changed/);

  // A new authenticator: a current code first, then the new one's first code.
  const step = await waitForStepAfter(enrolledAt);
  await page.fill('#totp-current', totp(owner.secret, step));
  await page.click('form[action="/account/totp/start"] button[type=submit]');
  const secret = (await page.locator('[data-testid=authenticator] [data-testid=totp-secret]').textContent()).replace(/\s+/g, '');
  assert.notEqual(secret, owner.secret);
  await shot(page, '91-account-new-authenticator');
  await page.fill('#totp-new', totp(secret, currentStep()));
  await page.click('form[action="/account/totp/finish"] button[type=submit]');
  assert.match(await flash(page), /New authenticator set up/);

  // The owner disables the operator from the operators page. The dialog takes the focus on
  // "Cancel"; Escape closes it and nothing happens.
  await page.goto(`${mw.base}/operators`);
  const row = page.locator('tr', { hasText: OP });
  await row.getByRole('button', { name: 'Disable' }).click();
  await page.getByRole('dialog').waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Cancel');
  await page.keyboard.press('Escape');
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  await confirm(page, row.getByRole('button', { name: 'Disable' }));
  assert.match(await flash(page), new RegExp(`${OP} is disabled: 1 session\\(s\\) ended`));
  await shot(page, '92-operator-disabled');

  // The operator's next click lands on the sign-in page.
  await op.page.locator('a[href="/tenants"]').first().click();
  await op.page.waitForURL(/\/login/);

  // Enabled again, the operator signs in with their own factors.
  await confirm(page, page.locator('tr', { hasText: OP }).getByRole('button', { name: 'Enable' }));
  assert.match(await flash(page), /can sign in again/);
  await signIn(mw, op.page, OP, 'harbour lights at midnight', op.secret, 30);

  // More access waits for a second person: with one owner, the console says the way out.
  const grants = page.locator('tr', { hasText: OP }).locator('[data-testid=person-grants]');
  await grants.locator('summary').click();
  await grants.locator('form[action$="/role"] input[name=reason]').fill('runs the agency with me');
  await shot(page, '93-operator-grants');
  await grants.locator('form[action$="/role"] button[type=submit]').click();
  assert.match(await flash(page), /Nobody else could approve this.*owner promote/);
  assert.deepEqual(errors, []);
});
