// Delegation as an owner meets it: on Ann's mailbox page, Bob is let send as Ann; both
// pages and the persistence report say so; a wrong address is refused on its field, and so
// are shared folders without the mail plane's doveadm API; the grant is revoked after a
// confirmation. (Postfix and Dovecot enforcing it are the mail-plane tests'.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mailTo, startMailward, startSmtpSink, launchBrowser, shot, flash, enrol, acmeWithDomain, onPhone, activate, LINK } from './harness.mjs';

let mw, sink, browser;

before(async () => {
  sink = await startSmtpSink();
  mw = await startMailward({ env: { ...mailTo(sink) } });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close(); await mw?.stop(); await sink?.close();
});

async function newMailbox(page, local, name) {
  await page.goto(`${mw.base}/domains/acme.example`);
  await page.fill('#mb-address', local);
  await page.fill('#mb-name', name);
  await page.fill('#mb-invite', `${local}@home.example`);
  await page.click('[data-testid=new-mailbox] button[type=submit]');
  await page.waitForURL(/\/mailboxes\/mbx_/);
  return page.url();
}

test('a mailbox is let send as another, and the grant is revoked', async () => {
  const errors = [];
  const owner = await enrol(browser, mw, mw.setupLink, 'owner@agency.example', 'Olivia Owner', 'violet tugboat mirrors 42');
  const op = owner.page;
  op.on('pageerror', (e) => errors.push(String(e)));
  await acmeWithDomain(mw, op);
  const bobUrl = await newMailbox(op, 'bob', 'Bob Assistant');
  const annUrl = await newMailbox(op, 'ann', 'Ann Manager');
  const card = op.locator('[data-testid=delegations]');
  assert.match(await card.textContent(), /Nobody else sends as this address or opens its folders/);

  // A wrong address: refused on its field, what was typed is back.
  await op.fill('#dl-delegate', 'nobody@acme.example');
  await op.click('[data-testid=delegation-form] button[type=submit]');
  await op.waitForURL(/\/mailboxes\/mbx_/);
  assert.equal(await op.locator('#dl-delegate').getAttribute('aria-invalid'), 'true');
  assert.match(await card.textContent(), /nobody@acme\.example is not a mailbox of this tenant/);

  // Shared folders need the mail plane's doveadm API, which this Mailward has not: refused
  // on the folders field, what was chosen is back.
  await op.fill('#dl-delegate', 'bob@acme.example');
  await op.selectOption('#dl-folders', 'read');
  await op.click('[data-testid=delegation-form] button[type=submit]');
  await op.waitForURL(/\/mailboxes\/mbx_/);
  assert.equal(await op.locator('#dl-folders').getAttribute('aria-invalid'), 'true');
  assert.equal(await op.locator('#dl-folders').inputValue(), 'read');
  assert.match(await card.textContent(), /Sharing folders needs the mail plane's doveadm API/);
  assert.equal(await card.locator('[data-testid=delegate]').count(), 0);

  // Bob may send as Ann.
  await op.fill('#dl-delegate', 'bob@acme.example');
  await op.selectOption('#dl-folders', 'none');
  await op.click('[data-testid=delegation-form] button[type=submit]');
  await op.waitForURL(/\/mailboxes\/mbx_/);
  assert.match(await flash(op), /ann@acme\.example is delegated to bob@acme\.example: send as/);
  assert.equal(await card.locator('[data-testid=delegate]').count(), 1);
  assert.match(await card.locator('[data-testid=delegate]').textContent(), /bob@acme\.example.*sends as this mailbox.*granted by owner@agency\.example/);
  await card.scrollIntoViewIfNeeded();
  await shot(op, '127-delegation-granted');
  assert.equal(await onPhone(op, '127-delegation-granted'), 0, 'the mailbox page fits a phone');

  // Bob's page says whom he may send as; the persistence report lists it.
  await op.goto(bobUrl);
  assert.match(await op.locator('[data-testid=sends-as]').textContent(), /Delegated to this mailbox: ann@acme\.example \(send as\)/);
  await op.goto(`${mw.base}/routing/report`);
  const report = op.locator('[data-testid=delegations-report]');
  assert.equal(await report.locator('[data-testid=delegation-item]').count(), 1);
  assert.match(await report.textContent(), /ann@acme\.example.*bob@acme\.example.*send as/);
  await shot(op, '128-persistence-report-delegations');

  // Revoked, after a confirmation that says what follows.
  await op.goto(annUrl);
  await card.getByRole('button', { name: 'Revoke' }).click();
  const dialog = op.getByRole('dialog');
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /bob@acme\.example can no longer send as ann@acme\.example/);
  await dialog.getByRole('button').filter({ hasNotText: 'Cancel' }).click();
  await op.waitForURL(/\/mailboxes\/mbx_/);
  assert.match(await flash(op), /Delegation revoked/);
  assert.equal(await card.locator('[data-testid=delegate]').count(), 0);

  // A shared mailbox: no invitation, nobody signs in; Bob is let send as it.
  await op.goto(`${mw.base}/domains/acme.example`);
  await op.fill('#mb-address', 'team');
  await op.fill('#mb-name', 'The team');
  await op.check('[data-testid=new-mailbox] input[name=shared]');
  await op.click('[data-testid=new-mailbox] button[type=submit]');
  await op.waitForURL(/\/mailboxes\/mbx_/);
  assert.match(await flash(op), /team@acme\.example created\. Nobody signs in to it/);
  const head = op.locator('[data-testid=mailbox-head]');
  assert.match(await head.textContent(), /active.*shared mailbox/);
  assert.match(await op.locator('[data-testid=shared-note]').textContent(), /Nobody signs in to a shared mailbox/);
  assert.equal(await op.locator('[data-testid=invite-panel]').count(), 0, 'no invitation for a shared mailbox');
  await op.fill('#dl-delegate', 'bob@acme.example');
  await op.click('[data-testid=delegation-form] button[type=submit]');
  await op.waitForURL(/\/mailboxes\/mbx_/);
  assert.match(await flash(op), /team@acme\.example is delegated to bob@acme\.example: send as/);
  await shot(op, '129-shared-mailbox');
  assert.equal(await onPhone(op, '129-shared-mailbox'), 0, 'the shared mailbox page fits a phone');
  await op.goto(`${mw.base}/domains/acme.example`);
  assert.match(await op.locator('main').textContent(), /team@acme\.example.*active.*shared/);

  // The history says it in words.
  await op.goto(`${mw.base}/audit`);
  const log = await op.locator('main').textContent();
  assert.match(log, /delegated ann@acme\.example to bob@acme\.example \(send as it\)/);
  assert.match(log, /revoked the delegation of ann@acme\.example to bob@acme\.example/);

  // Ann, signed in to her own page, lets Bob send as her again: the same card, in her words,
  // without links into the console; her manager sees it on her mailbox page.
  const ann = await activate(browser, mw, await sink.find('ann@home.example', LINK), 'copper lantern harbour 7');
  const mine = ann.page.locator('[data-testid=delegations]');
  assert.match(await mine.textContent(), /Colleagues' mailboxes that may send as yours/);
  await ann.page.fill('#dl-delegate', 'bob@acme.example');
  await ann.page.fill('#dl-current', 'copper lantern harbour 7');
  await ann.page.click('[data-testid=delegation-form] button[type=submit]');
  await ann.page.waitForURL(/\/me/);
  assert.match(await flash(ann.page), /ann@acme\.example is delegated to bob@acme\.example: send as/);
  assert.equal(await mine.locator('[data-testid=delegate] a').count(), 0, 'no console links on the owner page');
  assert.match(await mine.locator('[data-testid=delegate]').textContent(), /bob@acme\.example.*sends as this mailbox/);
  await mine.scrollIntoViewIfNeeded();
  await shot(ann.page, '130-me-delegation');
  await op.goto(annUrl);
  assert.match(await card.locator('[data-testid=delegate]').textContent(), /bob@acme\.example.*granted by ann@acme\.example/);
  assert.deepEqual(errors, []);
});
