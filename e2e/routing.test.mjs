// Routing governance in a real browser: a tenant admin asks for an external forward to a
// domain off the allowlist (refused) and to an allowed one (queued) → an operator approves →
// it is active with an expiry and in the persistence report → the server's clock moves past
// the expiry → the sweeper turns it off → the report is empty and the audit log has each
// step. A catch-all request, approved, shows on the dashboard badge.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mailTo, startMailward, startSmtpSink, launchBrowser, shot, LINK, flash, enrol, activate, signIn , acmeWithDomain, inviteOperator, onPhone, approveIn } from './harness.mjs';

let mw, sink, browser;
before(async () => {
  sink = await startSmtpSink();
  mw = await startMailward({
    clock: true,
    env: mailTo(sink),
  });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await mw?.stop(); await sink?.close(); });

const DAY = 86400;

test('routing: allowlist, approval, expiry by the sweeper, persistence report, catch-all badge', async () => {
  const errors = [];
  const watch = (page) => page.on('pageerror', (e) => errors.push(String(e)));

  // Setup: the owner, a tenant with an active domain, an operator and a tenant admin.
  const owner = await enrol(browser, mw, mw.setupLink, 'owner@agency.example', 'Olivia Owner', 'violet tugboat mirrors 42');
  const op = owner.page;
  watch(op);
  await acmeWithDomain(mw, op);
  await op.fill('#p-email', 'tara@acme-client.example');
  await op.selectOption('#p-role', 'tenant_admin');
  await op.click('form[action="/tenants/acme-corp/people"] button[type=submit]');
  await op.waitForURL(`${mw.base}/tenants/acme-corp`);
  const ottoLink = await inviteOperator(mw, sink, op, 'otto@agency.example');
  const otto = await enrol(browser, mw, ottoLink, 'otto@agency.example', 'Otto Operator', 'amber falcon glides home');
  const tara = await enrol(browser, mw, await sink.find('tara@acme-client.example', LINK), 'tara@acme-client.example', 'Tara Admin', 'quiet harbour lamps 88');
  watch(otto.page);
  watch(tara.page);

  // Ann's mailbox, activated by Ann.
  await otto.page.goto(`${mw.base}/domains/acme.example`);
  await otto.page.fill('#mb-address', 'ann');
  await otto.page.fill('#mb-name', 'Ann Example');
  await otto.page.fill('#mb-invite', 'ann@home.example');
  await otto.page.click('[data-testid=new-mailbox] button[type=submit]');
  await otto.page.waitForURL(/\/mailboxes\/mbx_/);
  const annPage = otto.page.url();
  const ann = await activate(browser, mw, await sink.find('ann@home.example', LINK), 'copper lantern harbour 7');

  // The owner allows one destination domain for the tenant.
  await op.goto(`${mw.base}/tenants/acme-corp`);
  assert.match(await op.locator('[data-testid=routing-policy]').textContent(), /Routing policy/);
  await op.fill('#rp-allow', 'partner.example');
  await op.click('[data-testid=routing-policy] button[type=submit]');
  await op.waitForURL(`${mw.base}/tenants/acme-corp`);
  assert.match(await flash(op), /Routing policy saved/);
  await shot(op, '40-routing-policy');

  // 1. The tenant admin asks for a forward off the allowlist: refused before the queue.
  const t = tara.page;
  const requestForward = async (to) => {
    await t.goto(`${mw.base}/routing`);
    await t.selectOption('#r-kind', 'forward');
    await t.fill('#r-source', 'ann@acme.example');
    await t.fill('#r-targets', to);
    await t.fill('#r-reason', 'Ann is on leave and reads mail at the partner office');
    await t.click('[data-testid=route-request] button[type=submit]');
    await t.waitForURL(`${mw.base}/routing`);
    return flash(t);
  };
  assert.match(await requestForward('ann@gmail.example'), /gmail\.example is not on this tenant's forwarding allowlist \(partner\.example\)/);
  await shot(t, '41-forward-refused');
  // The refused form is back as typed (still a forward, not "Alias"); the error stands below
  // the field it is about ("To"), which is marked invalid, described by it and focused.
  assert.equal(await t.inputValue('#r-kind'), 'forward');
  assert.equal(await t.inputValue('#r-source'), 'ann@acme.example');
  assert.equal(await t.inputValue('#r-targets'), 'ann@gmail.example');
  assert.equal(await t.inputValue('#r-reason'), 'Ann is on leave and reads mail at the partner office');
  assert.equal(await t.evaluate(() => document.activeElement?.id), 'r-targets');
  const fieldError = t.locator('[data-testid=route-request] [data-testid=field-error]');
  assert.equal(await fieldError.count(), 1, 'one error, below one field');
  assert.match(await fieldError.textContent(), /not on this tenant's forwarding allowlist/);
  assert.equal(await t.getAttribute('#r-targets', 'aria-invalid'), 'true');
  assert.equal(await t.getAttribute('#r-targets', 'aria-describedby'), await fieldError.getAttribute('id'));
  assert.equal(await t.getAttribute('#r-source', 'aria-invalid'), null, 'the other fields are not marked');
  // 2. To an allowed domain: queued for someone else.
  assert.match(await requestForward('ann@partner.example'), /waits in Approvals/);
  await t.goto(`${mw.base}/approvals`);
  assert.ok(await t.locator('[data-testid=own-request]').isVisible(), 'the requester cannot approve');

  // 3. The operator approves: active, with an expiry, in the persistence report.
  const o = otto.page;
  await o.goto(`${mw.base}/approvals`);
  assert.match(await o.locator('[data-testid=change]').first().textContent(), /External forward/);
  // The request reads in words, with where the mail goes now and after approval.
  assert.match(await o.locator('[data-testid=change-summary]').first().textContent(), /^Forward mail for ann@acme\.example to ann@partner\.example for 30 days\.$/);
  assert.match(await o.locator('[data-testid=change]').first().textContent(), /Asked by (Tara Admin|tara@acme-client\.example), because “Ann is on leave and reads mail at the partner office”/);
  const rows = await o.locator('[data-testid=change-rows] tbody tr').allInnerTexts();
  assert.match(rows[0], /Mail goes to\s+ann@acme\.example\s+ann@acme\.example, ann@partner\.example/);
  await shot(o, '42-forward-approval');
  await approveIn(o);
  await o.waitForURL(`${mw.base}/approvals`);
  assert.match(await flash(o), /Approved and applied: ann@acme.example — Mail for ann@acme.example goes to ann@partner.example until/);
  await o.goto(`${mw.base}/routing`);
  const row = o.locator('[data-testid=route][data-source="ann@acme.example"]');
  assert.equal(await row.getAttribute('data-state'), 'active');
  assert.match(await row.textContent(), /in 30 days|in 29 days|30 d/);
  await shot(o, '43-routing-active');
  assert.equal(await onPhone(o, '43-routing-active'), 0, 'the routes fit a phone');
  await o.goto(`${mw.base}/routing/report`);
  assert.equal(await o.locator('[data-testid=persistence-item]').count(), 1);
  assert.match(await o.locator('[data-testid=persistence-item]').textContent(), /Tara Admin|tara@acme-client\.example/);
  await shot(o, '44-persistence-report');
  assert.equal(await onPhone(o, '44-persistence-report'), 0, 'the report fits a phone');
  // The mailbox owner sees it in their own area.
  await ann.page.goto(`${mw.base}/me`);
  assert.match(await ann.page.locator('[data-testid=forwards]').textContent(), /ann@partner\.example/);
  await shot(ann.page, '48-owner-forwarding');

  // 4. A catch-all: requested, approved, and on the dashboard badge.
  await t.goto(`${mw.base}/routing`);
  await t.selectOption('#r-kind', 'catchall');
  await t.fill('#r-source', 'acme.example');
  await t.fill('#r-targets', 'ann@acme.example');
  await t.fill('#r-days', '40');
  await t.fill('#r-reason', 'Migration week: catch stray addresses');
  await t.click('[data-testid=route-request] button[type=submit]');
  await t.waitForURL(`${mw.base}/routing`);
  assert.match(await flash(t), /waits in Approvals/);
  await o.goto(`${mw.base}/approvals`);
  await approveIn(o);
  await o.waitForURL(`${mw.base}/approvals`);
  assert.match(await flash(o), /Approved and applied: @acme.example/);
  await o.goto(`${mw.base}/`);
  assert.match(await o.locator('[data-testid=badge-catchall]').textContent(), /1/);
  assert.match(await o.locator('[data-testid=badge-forwards]').textContent(), /1/);
  await shot(o, '45-dashboard-routing-badges');

  // 5. Time passes the forward's expiry (31 days): the sweeper turns it off.
  await mw.setClock(31 * DAY);
  await signIn(mw, o, 'otto@agency.example', 'amber falcon glides home', otto.secret, 31 * DAY);
  let expired = 0;
  for (let i = 0; i < 40 && expired === 0; i++) {
    await o.goto(`${mw.base}/routing?state=expired`);
    expired = await o.locator('[data-testid=route][data-source="ann@acme.example"]').count();
    if (expired === 0) await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal(expired, 1, 'the sweeper expired the forward');
  await shot(o, '46-routing-expired');
  // The catch-all (40 days) still runs; the report lists only it.
  await o.goto(`${mw.base}/routing/report`);
  const items = o.locator('[data-testid=persistence-item]');
  assert.equal(await items.count(), 1);
  assert.equal(await items.first().getAttribute('data-source'), '@acme.example');
  // The domain's routing history and the audit log hold each step.
  await o.goto(`${mw.base}/routing?domain=acme.example&state=all`);
  const history = await o.locator('[data-testid=routing-history]').textContent();
  for (const a of ['route.enabled', 'route.expired']) assert.ok(history.includes(a), `${a} in the history`);
  await shot(o, '47-routing-history');
  await o.goto(`${mw.base}/audit?action=change.`);
  const audit = await o.locator('main').textContent();
  for (const a of ['change.requested', 'change.approved', 'change.applied']) assert.ok(audit.includes(a), `${a} in the audit log`);

  // 6. "Lock now" (suspected compromise) suspends Ann's new forward; she is told her mailbox
  // is locked, not that her password is wrong.
  await signIn(mw, t, 'tara@acme-client.example', 'quiet harbour lamps 88', tara.secret, 31 * DAY);
  // First rejected, with a reason (the form asks for one before it sends).
  assert.match(await requestForward('ann@partner.example'), /waits in Approvals/);
  await o.goto(`${mw.base}/approvals`);
  const reject = o.locator('[data-testid=reject]').first();
  await reject.locator('summary').click();
  await reject.locator('button[type=submit]').click();
  assert.equal(o.url(), `${mw.base}/approvals`);
  assert.equal(await reject.locator('input[name=note]').evaluate((e) => e.validity.valueMissing), true);
  await reject.locator('input[name=note]').fill('Ann is back from leave next week');
  await shot(o, '42b-reject-with-reason');
  await reject.locator('button[type=submit]').click();
  await o.waitForURL(`${mw.base}/approvals`);
  assert.match(await flash(o), /Rejected/);
  assert.match(await o.locator('[data-testid=recent-changes]').textContent(), /Ann is back from leave next week/);
  assert.match(await requestForward('ann@partner.example'), /waits in Approvals/);
  await o.goto(`${mw.base}/approvals`);
  await approveIn(o);
  await o.waitForURL(`${mw.base}/approvals`);
  await o.goto(annPage);
  const lock = o.locator('[data-testid=lock-panel]');
  await lock.locator('button', { hasText: 'Lock now' }).click();
  assert.equal(await o.locator('[role=dialog]').count(), 0, 'a reason first: no dialog without one');
  await o.fill('#lock-reason', 'Sign-ins from an unknown country (ticket 4713)');
  await lock.locator('button', { hasText: 'Lock now' }).click();
  const dialog = o.locator('[role=dialog]');
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /forwards are suspended/);
  await shot(o, '49-lock-now-confirm');
  await dialog.locator('button', { hasText: 'Lock now' }).click();
  await o.waitForURL(annPage);
  assert.match(await flash(o), /locked \(its forwards suspended\)/);
  await o.goto(`${mw.base}/routing`);
  assert.equal(await o.locator('[data-testid=route][data-source="ann@acme.example"]').count(), 0, 'the forward is suspended');
  await o.goto(`${mw.base}/audit?action=route.disabled`);
  assert.match(await o.locator('main').textContent(), /suspended/);
  const annAgain = await browser.newContext();
  const ap = await annAgain.newPage();
  await ap.goto(`${mw.base}/me/login`);
  await ap.fill('#address', 'ann@acme.example');
  await ap.fill('#password', 'copper lantern harbour 7');
  await ap.click('button[type=submit]');
  await ap.waitForURL(`${mw.base}/me/login`);
  assert.match(await flash(ap), /This mailbox is locked/);
  await shot(ap, '49b-locked-owner-sign-in');
  await annAgain.close();

  assert.deepEqual(errors, [], 'no script errors in the browser');
  for (const c of [owner.context, otto.context, tara.context, ann.context]) await c.close();
});
