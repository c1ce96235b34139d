// Incident mode in a real browser: a forward goes live, then the owner declares an incident
// for the tenant → a red banner on every page of everyone concerned (the client portal
// too) → a tenant admin's new forward is refused naming the incident → the hunt lists the
// forward, the owner turns it off from there → the known-good DNS baseline is restored
// through a bulk change another person approves despite the freeze (Knot with TSIG) → ending
// takes a second person → the postmortem, written and shared, reaches the client viewer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mailTo, startMailward, startSmtpSink, launchBrowser, shot, LINK, flash, enrol, activate, acmeWithDomain, inviteOperator, onPhone, startKnot, TSIG_NAME, TSIG_SECRET, approveIn } from './harness.mjs';

let mw, sink, browser, knot;
before(async () => {
  knot = await startKnot({
    'acme.example': '@ MX 10 mail.mailward.test.\n@ TXT "v=spf1 mx -all"',
    'mailward.test': 'mail A 127.0.0.1',
  }, { tsigOnly: ['acme.example'] });
  sink = await startSmtpSink();
  mw = await startMailward({
    env: {
      ...mailTo(sink),
      MAILWARD_DNS_RESOLVER: `127.0.0.1:${knot.port}`,
      MAILWARD_DNS_PORT: String(knot.port),
      MAILWARD_MAIL_HOST: 'mail.mailward.test',
    },
  });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await mw?.stop(); await sink?.close(); await knot?.stop(); });

test('incident: declare → banner → frozen → hunt → revert → restore → end → postmortem', async () => {
  const errors = [];
  const watch = (page) => page.on('pageerror', (e) => errors.push(String(e)));
  const owner = await enrol(browser, mw, mw.setupLink, 'owner@agency.example', 'Olivia Owner', 'violet tugboat mirrors 42');
  const op = owner.page;
  watch(op);
  await acmeWithDomain(mw, op);
  // People: an operator, a tenant admin, a client viewer.
  for (const [email, role] of [['tara@acme-client.example', 'tenant_admin'], ['vic@acme-client.example', 'client_viewer']]) {
    await op.goto(`${mw.base}/tenants/acme-corp`);
    await op.fill('#p-email', email);
    await op.selectOption('#p-role', role);
    await op.click('form[action="/tenants/acme-corp/people"] button[type=submit]');
    await op.waitForURL(`${mw.base}/tenants/acme-corp`);
  }
  const otto = await enrol(browser, mw, await inviteOperator(mw, sink, op, 'otto@agency.example'), 'otto@agency.example', 'Otto Operator', 'amber falcon glides home');
  const tara = await enrol(browser, mw, await sink.find('tara@acme-client.example', LINK), 'tara@acme-client.example', 'Tara Admin', 'quiet harbour lamps 88');
  const vic = await enrol(browser, mw, await sink.find('vic@acme-client.example', LINK), 'vic@acme-client.example', 'Vic Viewer', 'paper kites over dunes 5');
  for (const p of [otto.page, tara.page, vic.page]) watch(p);

  // The zone is managed by RFC 2136 with the TSIG key.
  await op.goto(`${mw.base}/domains/acme.example/dns`);
  await op.locator('[data-testid=dns-provider] summary').click();
  await op.selectOption('#prov-kind', 'rfc2136');
  await op.fill('#prov-server', `127.0.0.1:${knot.port}`);
  await op.fill('#prov-key', TSIG_NAME);
  await op.fill('#prov-secret', TSIG_SECRET);
  await op.click('[data-testid=provider-save]');
  await op.waitForURL(/\/domains\/[^/]+\/dns$/);

  // A mailbox and, before anyone noticed, a forward out of the tenant.
  await otto.page.goto(`${mw.base}/domains/acme.example`);
  await otto.page.fill('#mb-address', 'ann');
  await otto.page.fill('#mb-name', 'Ann Example');
  await otto.page.fill('#mb-invite', 'ann@home.example');
  await otto.page.click('[data-testid=new-mailbox] button[type=submit]');
  await otto.page.waitForURL(/\/mailboxes\/mbx_/);
  await activate(browser, mw, await sink.find('ann@home.example', LINK), 'copper lantern harbour 7');
  await op.goto(`${mw.base}/tenants/acme-corp`);
  await op.fill('#rp-allow', 'partner.example');
  await op.click('[data-testid=routing-policy] button[type=submit]');
  await op.waitForURL(`${mw.base}/tenants/acme-corp`);
  const t = tara.page;
  const requestForward = async (to) => {
    await t.goto(`${mw.base}/routing`);
    await t.selectOption('#r-kind', 'forward');
    await t.fill('#r-source', 'ann@acme.example');
    await t.fill('#r-targets', to);
    await t.fill('#r-reason', 'Ann reads mail at the partner office');
    await t.click('[data-testid=route-request] button[type=submit]');
    await t.waitForURL(`${mw.base}/routing`);
    return flash(t);
  };
  assert.match(await requestForward('ann@partner.example'), /waits in Approvals/);
  await otto.page.goto(`${mw.base}/approvals`);
  await approveIn(otto.page);
  await otto.page.waitForURL(`${mw.base}/approvals`);
  // Someone also edited the zone's SPF by hand.
  await knot.update('acme.example', ['update delete acme.example. TXT', 'update add acme.example. 60 TXT "v=spf1 include:evil.example ~all"']);

  // 1. The owner declares an incident for the tenant.
  await op.goto(`${mw.base}/incidents`);
  await op.selectOption('[data-testid=declare-tenant]', 'acme-corp');
  await op.fill('input[name=title]', 'Forward to a partner nobody vetted');
  await op.fill('textarea[name=reason]', 'Ann says she never asked for a forward; the SPF record changed too.');
  await shot(op, '110-incident-declare');
  await op.click('[data-testid=declare-submit]');
  await op.waitForURL(/\/incidents\/inc_/);
  const incidentUrl = op.url();
  assert.match(await flash(op), /Incident declared/);
  assert.match(await op.locator('[data-testid=incident-banner]').innerText(), /Incident in force: Forward to a partner nobody vetted/);
  await shot(op, '111-incident');

  // 2. The banner on everyone's pages, the client portal too.
  await vic.page.goto(`${mw.base}/portal`);
  assert.match(await vic.page.locator('[data-testid=incident-banner]').innerText(), /Incident in force/);
  await shot(vic.page, '112-incident-banner-portal');
  // 3. Frozen: the tenant admin's new forward is refused, naming the incident.
  assert.match(await requestForward('ann@partner.example'), /Frozen by the incident “Forward to a partner nobody vetted” \(Acme Corp\)/);
  await shot(t, '113-incident-frozen');

  // 4. The hunt lists the forward; the owner turns it off from there.
  await op.goto(incidentUrl);
  const fwd = op.locator('[data-testid=finding][data-kind=forward]');
  assert.match(await fwd.innerText(), /Forward of ann@acme\.example to ann@partner\.example[\s\S]*approved by otto@agency\.example/);
  assert.equal(await fwd.getAttribute('data-live'), 'true');
  await shot(op, '114-incident-hunt');
  assert.equal(await onPhone(op, '114-incident-hunt'), 0, 'the incident page fits a phone');
  await fwd.locator('[data-testid=revert]').click();
  await op.waitForURL(incidentUrl);
  assert.match(await flash(op), /Route turned off/);
  assert.equal(await op.locator('[data-testid=finding][data-kind=forward]').getAttribute('data-live'), 'false');

  // 4b. Hold the tenant's outbound mail while the hunt goes on (confirmed), then release it.
  const hold = op.locator('[data-testid=outbound-hold]');
  assert.equal(await hold.getAttribute('data-held'), 'false');
  await hold.getByRole('button', { name: 'Hold outbound mail' }).click();
  const dialog = op.getByRole('dialog');
  await dialog.waitFor();
  await dialog.getByRole('button').filter({ hasNotText: 'Cancel' }).click();
  await op.waitForURL(incidentUrl);
  assert.match(await flash(op), /Outbound mail is held/);
  assert.equal(await op.locator('[data-testid=outbound-hold]').getAttribute('data-held'), 'true');
  await shot(op, '114b-incident-outbound-held');
  await op.click('[data-testid=release-outbound]');
  await op.waitForURL(incidentUrl);
  assert.match(await flash(op), /Outbound mail flows again/);
  assert.equal(await op.locator('[data-testid=outbound-hold]').getAttribute('data-held'), 'false');

  // 5. Restore the known-good DNS baseline: planned by the owner, approved by Otto despite
  //    the freeze, applied and verified.
  await op.click('[data-testid=restore-submit]');
  await op.waitForURL(/\/dns\/bulk\/chg_/);
  const planUrl = op.url();
  await otto.page.goto(planUrl);
  await otto.page.click('[data-testid=bulk-approve]');
  await otto.page.waitForURL(`${mw.base}/approvals`);
  assert.match(await flash(otto.page), /Started/);
  for (let i = 0; ; i++) {
    await otto.page.goto(planUrl);
    const state = await otto.page.locator('[data-testid=plan-state]').getAttribute('data-state');
    if (state === 'done') break;
    assert.ok(i < 60, `still ${state}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.deepEqual(await knot.txt('acme.example'), ['v=spf1 mx -all']);
  await shot(otto.page, '115-incident-restored');

  // 6. Ending takes a second person.
  await op.goto(incidentUrl);
  await op.fill('[data-testid=request-end] textarea[name=note]', 'Forward off, SPF restored, Ann confirmed nothing else changed.');
  await op.click('[data-testid=request-end] button[type=submit]');
  await op.waitForURL(incidentUrl);
  assert.match(await op.locator('[data-testid=end-asked]').innerText(), /Another person/);
  await otto.page.goto(incidentUrl);
  await otto.page.click('[data-testid=confirm-end]');
  await otto.page.waitForURL(incidentUrl);
  assert.match(await flash(otto.page), /has ended/);
  assert.equal(await otto.page.locator('[data-testid=incident-banner]').count(), 0);

  // 7. The postmortem: pre-filled, written, shared with the client's viewers.
  await op.goto(`${incidentUrl}/postmortem`);
  assert.match(await op.locator('[data-testid=timeline]').innerText(), /incident\.declared[\s\S]*route\.disabled[\s\S]*incident\.ended/);
  await op.fill('textarea[name=root_cause]', 'A forward was approved on the requester\'s word; nobody asked Ann.');
  await op.fill('textarea[name=blocking_control]', 'Recipient confirmation for forwards, and an allowlist without partner.example.');
  await op.fill('textarea[name=actions]', 'Turn on recipient confirmation | Olivia\nReview the allowlist monthly | Otto');
  await op.check('input[name=shared]');
  await op.click('[data-testid=postmortem-save]');
  await op.waitForURL(`${incidentUrl}/postmortem`);
  assert.match(await flash(op), /Postmortem saved/);
  await shot(op, '116-postmortem');
  assert.equal(await onPhone(op, '116-postmortem'), 0, 'the postmortem fits a phone');
  await vic.page.goto(`${mw.base}/portal`);
  await vic.page.locator('[data-testid=portal-postmortems] a').click();
  await vic.page.waitForURL(/\/postmortem$/);
  assert.match(await vic.page.locator('[data-testid=postmortem-written]').innerText(), /nobody asked Ann[\s\S]*Turn on recipient confirmation — Olivia/);
  await shot(vic.page, '117-postmortem-viewer');
  assert.deepEqual(errors, []);
});
