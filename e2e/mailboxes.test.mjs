// The mailbox lifecycle in a real browser, with invitation mail caught by an SMTP sink:
// an operator creates a mailbox → the owner sets a password from the mailed link and downloads
// recovery codes → resets it with a code → a critical mailbox's reset needs a second person
// (the requester cannot approve) → offboarding shows a receipt whose verification scan is clean.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mailTo, startMailward, startSmtpSink, launchBrowser, shot, LINK, flash, enrol, activate , acmeWithDomain, inviteOperator, onPhone, approveIn } from './harness.mjs';

let mw, sink, browser;
const shared = {};
before(async () => {
  sink = await startSmtpSink();
  mw = await startMailward({
    env: mailTo(sink),
  });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await mw?.stop(); await sink?.close(); });

test('mailbox lifecycle: invite, activate, self-reset, governed critical reset, offboarding', async () => {
  const errors = [];
  // The owner sets up Mailward, a tenant with an active domain, and invites an operator.
  const owner = await enrol(browser, mw, mw.setupLink, 'owner@agency.example', 'Olivia Owner', 'violet tugboat mirrors 42');
  const op = owner.page;
  op.on('pageerror', (e) => errors.push(String(e)));
  await acmeWithDomain(mw, op);
  const ottoLink = await inviteOperator(mw, sink, op, 'otto@agency.example');
  const otto = await enrol(browser, mw, ottoLink, 'otto@agency.example', 'Otto Operator', 'amber falcon glides home');
  const p = otto.page;
  p.on('pageerror', (e) => errors.push(String(e)));

  // 1. The operator creates a mailbox; the link goes by email, the operator never sees it.
  await p.goto(`${mw.base}/domains/acme.example`);
  await p.fill('#mb-address', 'ann');
  await p.fill('#mb-name', 'Anna Müller');
  await p.fill('#mb-quota', '2 GB');
  await p.fill('#mb-invite', 'ann@home.example');
  await p.click('[data-testid=new-mailbox] button[type=submit]');
  await p.waitForURL(/\/mailboxes\/mbx_/);
  const annPage = p.url();
  assert.match(await flash(p), /ann@acme.example created\. The invitation was emailed to ann@home.example/);
  assert.equal(await p.locator('text=/mwm_/').count(), 0, 'no link on the operator page');
  await shot(p, '20-mailbox-created');

  // 2. The owner sets a password from the mailed link and downloads the recovery codes.
  const annLink = await sink.find('ann@home.example', LINK);
  // The invitation is real mail: MIME headers, a text and an HTML part, a Message-ID, a
  // display name, and the person's Unicode name intact once decoded.
  const mail = await sink.message('ann@home.example', LINK);
  assert.match(mail.raw, /^MIME-Version: 1\.0$/m);
  assert.match(mail.raw, /^Content-Type: multipart\/alternative;/m);
  assert.match(mail.raw, /^Content-Type: text\/plain; charset=utf-8$/mi);
  assert.match(mail.raw, /^Content-Type: text\/html; charset=utf-8$/mi);
  assert.match(mail.raw, /^Message-ID: <[^@\s]+@agency\.example>$/m);
  assert.match(mail.raw, /^From: "?Mailward"? <mailward@agency\.example>$/m);
  assert.match(mail.text, /Hello Anna Müller,/);
  assert.ok(!mail.text.includes('M=C3=BC'), 'no quoted-printable left in the text');
  const ann = await activate(browser, mw, annLink, 'copper lantern harbour 7', true);
  assert.match(await ann.page.locator('[data-testid=owner-address]').textContent(), /ann@acme.example/);
  await shot(ann.page, '23-owner-area');

  // 2b. The operator edits Ann's details: an allocation past the pool is refused with what is
  // left; a new name and a smaller allocation save.
  await p.goto(annPage);
  assert.equal(await p.inputValue('#edit-quota'), '2 GB');
  await p.fill('#edit-quota', '60 GB');
  await p.click('[data-testid=details-panel] button[type=submit]');
  await p.waitForURL(annPage);
  assert.match(await flash(p), /48 GB of 50 GB is still unallocated/);
  await p.fill('#edit-name', 'Ann Smith');
  await p.fill('#edit-quota', '3 GB');
  await p.click('[data-testid=details-panel] button[type=submit]');
  await p.waitForURL(annPage);
  assert.match(await flash(p), /Saved\./);
  assert.match(await p.locator('[data-testid=mailbox-head]').textContent(), /Ann Smith/);
  await shot(p, '22-mailbox-details');

  // 3. The owner resets the password with a recovery code (no operator involved).
  await ann.page.click('form[action="/me/logout"] button');
  await ann.page.waitForURL(`${mw.base}/me/login`);
  await ann.page.click('a[href="/me/reset"]');
  await ann.page.fill('#address', 'ann@acme.example');
  await ann.page.fill('#code', ann.codes[0]);
  await ann.page.fill('#pw', 'silent meadow compass 9');
  await ann.page.fill('#pw2', 'silent meadow compass 9');
  await shot(ann.page, '24-self-reset');
  await ann.page.click('button[type=submit]');
  await ann.page.waitForURL(`${mw.base}/me/login`);
  assert.match(await flash(ann.page), /password is changed/);
  await ann.page.fill('#address', 'ann@acme.example');
  await ann.page.fill('#password', 'silent meadow compass 9');
  await ann.page.click('button[type=submit]');
  await ann.page.waitForURL(`${mw.base}/me`);
  assert.match(await ann.page.locator('[data-testid=codes-left]').textContent(), /9 of 10/);
  await sink.find('ann@acme.example', /reset with a recovery code/);

  // 4. A critical mailbox: the operator's reset waits for someone else.
  await p.goto(`${mw.base}/domains/acme.example`);
  await p.fill('#mb-address', 'billing');
  await p.fill('#mb-name', 'Billing');
  await p.fill('#mb-invite', 'cfo@home.example');
  await p.check('[data-testid=new-mailbox] input[name=critical]');
  await p.click('[data-testid=new-mailbox] button[type=submit]');
  await p.waitForURL(/\/mailboxes\/mbx_/);
  const billingPage = p.url();
  const cfo = await activate(browser, mw, await sink.find('cfo@home.example', LINK), 'granite orchard whistle 5');
  await cfo.context.close();
  await p.goto(billingPage);
  assert.match(await p.locator('[data-testid=invite-panel]').textContent(), /No open link/);
  await p.fill('#reset-reason', 'CFO lost phone and codes (ticket 4711)');
  await p.click('[data-testid=reset-panel] button[type=submit]');
  await p.waitForURL(billingPage);
  assert.match(await flash(p), /waits in Approvals for a second person/);
  await p.goto(`${mw.base}/approvals`);
  assert.ok(await p.locator('[data-testid=own-request]').isVisible(), 'the requester cannot approve');
  assert.equal(await p.locator('[data-testid=change] button', { hasText: 'Approve' }).count(), 0);
  // Even a hand-made approval by the requester is refused.
  const changeId = (await p.locator('form[action$="/cancel"]').getAttribute('action')).split('/')[2];
  const forged = await p.evaluate(async (id) => (await fetch(`/approvals/${id}/approve`, { method: 'POST', redirect: 'manual' })).status, changeId);
  assert.ok([0, 303].includes(forged));
  await p.goto(`${mw.base}/approvals`);
  assert.match(await flash(p), /someone else must approve/);
  await shot(p, '25-approval-own-request');
  // The owner (a second person) approves: the reset link goes out.
  await op.goto(`${mw.base}/approvals`);
  await shot(op, '26-approval-queue');
  assert.equal(await onPhone(op, '26-approval-queue'), 0, 'the approval queue fits a phone');
  await approveIn(op);
  await op.waitForURL(`${mw.base}/approvals`);
  assert.match(await flash(op), /Approved and applied: billing@acme.example/);
  await sink.find('cfo@home.example', /Set a new password for billing@acme.example/);
  await shot(op, '27-approval-applied');
  // 4b. Rolled back through the same queue: one person asks (with a reason), another approves;
  // the link that went out stops working.
  await p.goto(`${mw.base}/approvals`);
  const rb = p.locator('[data-testid=rollback]').first();
  await rb.locator('summary').click();
  await rb.locator('input[name=reason]').fill('CFO found the phone after all (ticket 4712)');
  await shot(p, '27b-rollback-asked');
  await rb.locator('button[type=submit]').click();
  await p.waitForURL(`${mw.base}/approvals`);
  assert.match(await flash(p), /Rollback requested/);
  await op.goto(`${mw.base}/approvals`);
  assert.match(await op.locator('[data-testid=rollback-of]').textContent(), /Undoes change chg_/);
  await approveIn(op);
  await op.waitForURL(`${mw.base}/approvals`);
  assert.match(await flash(op), /reset link for billing@acme\.example no longer works/);
  assert.match(await op.locator('[data-testid=recent-changes]').textContent(), /rolled back/);
  await shot(op, '27c-rolled-back');

  // 5. Offboarding Ann: the confirmation lists what goes — sales@, an alias to her, by
  // address, with what happens to its mail — and re-points sales@ to Billing in the same step;
  // the receipt proves it.
  await p.goto(`${mw.base}/routing`);
  await p.selectOption('#r-kind', 'alias');
  await p.fill('#r-source', 'sales@acme.example');
  await p.fill('#r-targets', 'ann@acme.example');
  await p.click('[data-testid=route-request] button[type=submit]');
  await p.waitForURL(`${mw.base}/routing`);
  await p.goto(annPage);
  assert.match(await p.locator('[data-testid=offboard-preview]').textContent(), /Signed-in sessions: 1/);
  const sales = p.locator('[data-testid=offboard-route]', { hasText: 'sales@acme.example' });
  assert.match(await sales.textContent(), /mail to sales@acme\.example is refused \(it bounces\), unless you re-point it/);
  await sales.locator('input[type=email]').fill('billing@acme.example');
  await shot(p, '28-offboard-confirm');
  await p.fill('#ob-reason', 'left the company on 30 Nov');
  await p.fill('#ob-confirm', 'ann@acme.example');
  await p.click('[data-testid=offboard-panel] button[type=submit]');
  await p.waitForURL(/\/mailboxes\/mbx_.*#receipt$/);
  assert.match(await flash(p), /offboarded\. The verification scan is clean/);
  assert.match(await p.locator('[data-testid=scan-result]').textContent(), /clean/);
  assert.match(await p.locator('[data-testid=receipt-routes]').textContent(), /sales@acme\.example → ann@acme\.example \(alias\): Re-pointed: mail to sales@acme\.example now goes to billing@acme\.example/);
  await shot(p, '29-offboarding-receipt');
  assert.equal(await onPhone(p, '29-offboarding-receipt'), 0, 'the receipt fits a phone');
  // Ann's session is gone.
  await ann.page.goto(`${mw.base}/me`);
  await ann.page.waitForURL(`${mw.base}/me/login`);
  // Her history reads as sentences, filtered to her mailbox, the JSON behind a disclosure.
  await p.locator('[data-testid=activity]').scrollIntoViewIfNeeded();
  await p.click('a:has-text("Full audit log")');
  // The filter names her address, not an id.
  await p.waitForURL(/\/audit\?about=ann@acme\.example/);
  assert.equal(await p.inputValue('#f-about'), 'ann@acme.example');
  const sentences = await p.locator('[data-testid=event-sentence]').allInnerTexts();
  assert.ok(sentences.some((t) => /^Otto Operator offboarded ann@acme\.example$/.test(t) || /otto@agency\.example offboarded ann@acme\.example/.test(t)), sentences.join('\n'));
  assert.ok(sentences.every((t) => !t.includes('billing@acme.example')), 'only Ann\'s events');
  assert.equal(await p.locator('[data-testid=event-sentence] a', { hasText: 'ann@acme.example' }).first().getAttribute('href'), annPage.replace(mw.base, ''));
  await shot(p, '29b-audit-about-a-mailbox');
  assert.equal(await onPhone(p, '29b-audit-about-a-mailbox'), 0, 'the audit log fits a phone');
  await p.goto(`${mw.base}/audit?about=acme.example`);
  assert.ok((await p.locator('[data-testid=event-sentence]').allInnerTexts()).some((t) => /added the domain acme\.example/.test(t)));

  assert.deepEqual(errors, [], 'no script errors in the browser');
  for (const c of [ann.context, otto.context]) await c.close();
  shared.owner = owner;
});

test('bulk import: a file with errors is refused line by line, a good one runs to the end', async () => {
  const page = shared.owner.page;
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const bad = 'address,display_name,quota,invite_to\nzoe@acme.example,Zoe,50 MB,zoe@home.example\nyan@elsewhere.example,Yan,,\nzoe@acme.example,Zoe again,,\n';
  await page.goto(`${mw.base}/tenants/acme-corp`);
  await page.setInputFiles('[data-testid=import-upload] input[type=file]', { name: 'people.csv', mimeType: 'text/csv', buffer: Buffer.from(bad) });
  await page.click('[data-testid=import-upload] button[type=submit]');
  await page.waitForURL(/\/imports\/imp_/);
  const rowErrors = await page.locator('[data-testid=row-error]').allTextContents();
  assert.equal(rowErrors.length, 2);
  assert.match(rowErrors.join(' '), /not one of Acme Corp's domains/);
  assert.match(rowErrors.join(' '), /already on line 2/);
  assert.equal(await page.locator('button', { hasText: /^Import \d+ mailboxes$/ }).count(), 0);
  await shot(page, '30-import-errors');

  let good = 'address,display_name,quota,invite_to\n';
  for (let i = 0; i < 300; i++) good += `staff${i}@acme.example,Staff ${i},10 MB,staff${i}@home.example\n`;
  await page.goto(`${mw.base}/tenants/acme-corp`);
  await page.setInputFiles('[data-testid=import-upload] input[type=file]', { name: 'staff.csv', mimeType: 'text/csv', buffer: Buffer.from(good) });
  await page.click('[data-testid=import-upload] button[type=submit]');
  await page.waitForURL(/\/imports\/imp_/);
  const importUrl = page.url();
  await shot(page, '31-import-preview');
  await page.click('button:has-text("Import 300 mailboxes")');
  await page.waitForURL(importUrl);
  // The page follows the job by itself until it is done.
  await page.locator('[data-testid=import-progress]', { hasText: 'Done:' }).waitFor({ timeout: 60000 });
  assert.match(await page.locator('[data-testid=import-progress]').textContent(), /Done: 300 mailboxes created and invited/);
  await shot(page, '32-import-done');
  await sink.find('staff299@home.example', LINK);
  await page.goto(`${mw.base}/mailboxes?q=staff`);
  assert.match(await page.locator('[data-testid=mailbox-count]').textContent(), /300 mailboxes/);
  await shot(page, '33-mailbox-list');
  assert.deepEqual(errors, []);
  await shared.owner.context.close();
});
