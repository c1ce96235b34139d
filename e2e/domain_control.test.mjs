// The domain-control registry in a real browser: the domain's page says nothing is recorded
// → RDAP (recorded answers on a loopback server) fills in registrar and expiry → the owner
// records the rest, with a recovery address inside the domain and no MFA → the warnings show
// on the record, the domain page and the dashboard, and as alerts → the server's clock moves
// towards the expiry and the 60-day alert fires → a mailbox owner lists the outside accounts
// that recover through their address → in an incident, "validate domain control" is a
// checklist each item of which is confirmed by a named person, and the incident lists the
// accounts elsewhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { mailTo, startMailward, startSmtpSink, launchBrowser, shot, LINK, flash, enrol, activate, signIn, acmeWithDomain, onPhone, startKnot, root } from './harness.mjs';

/** An RDAP service on loopback serving tests/data/rdap/<domain>.json (404 otherwise). */
function startRdap() {
  const server = createServer((req, res) => {
    const m = req.url.match(/^\/domain\/([a-z0-9.-]+)$/i);
    const file = m && join(root, 'tests', 'data', 'rdap', `${m[1].toLowerCase()}.json`);
    if (file && existsSync(file)) {
      res.writeHead(200, { 'content-type': 'application/rdap+json' });
      res.end(readFileSync(file));
    } else {
      res.writeHead(404, { 'content-type': 'application/rdap+json' });
      res.end('{"errorCode":404,"title":"Not Found"}');
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => server.close(r)),
  })));
}

let mw, sink, browser, knot, rdap;
before(async () => {
  knot = await startKnot({
    'acme.example': '@ MX 10 mail.mailward.test.\n@ TXT "v=spf1 mx -all"',
    'mailward.test': 'mail A 127.0.0.1',
  });
  rdap = await startRdap();
  sink = await startSmtpSink();
  mw = await startMailward({
    clock: true,
    env: {
      ...mailTo(sink),
      MAILWARD_DNS_RESOLVER: `127.0.0.1:${knot.port}`,
      MAILWARD_DNS_PORT: String(knot.port),
      MAILWARD_MAIL_HOST: 'mail.mailward.test',
      MAILWARD_RDAP_URL: rdap.url,
    },
  });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await mw?.stop(); await sink?.close(); await knot?.stop(); await rdap?.close(); });

test('domain control: record → warnings → expiry alert → identities → incident checklist', async () => {
  const errors = [];
  const owner = await enrol(browser, mw, mw.setupLink, 'owner@agency.example', 'Olivia Owner', 'violet tugboat mirrors 42');
  const op = owner.page;
  op.on('pageerror', (e) => errors.push(String(e)));
  await acmeWithDomain(mw, op);

  // Nothing recorded yet: the domain page says so and links to the record.
  await op.goto(`${mw.base}/domains/acme.example`);
  assert.match(await op.locator('[data-testid=domain-control]').innerText(), /not recorded/);
  await op.click('[data-testid=domain-control-link]');
  await op.waitForURL(/\/domains\/[^/]+\/control$/);
  const controlUrl = op.url();
  assert.match(await op.locator('[data-testid=control-empty]').innerText(), /Nothing is recorded yet/);
  await shot(op, '118-control-empty');

  // The owner records the facts (a recovery address inside the domain, no MFA), then reads
  // registrar and expiry from RDAP.
  await op.fill('input[name=registrar_account]', 'Agency ops team (login ops-acme)');
  await op.fill('input[name=recovery_address]', 'admin@acme.example');
  await op.selectOption('#mfa', 'off');
  await op.selectOption('#auto_renew', 'on');
  await op.fill('input[name=billing_owner]', 'Acme Corp, finance');
  await op.fill('input[name=dns_provider]', 'Knot at the agency');
  await op.fill('textarea[name=expected_ns]', 'ns1.acme.example');
  await op.click('[data-testid=control-save]');
  await op.waitForURL(controlUrl);
  assert.match(await flash(op), /Saved\. 2 warnings below/);
  await op.click('[data-testid=control-rdap]');
  await op.waitForURL(controlUrl);
  assert.match(await flash(op), /RDAP read: registrar Example Registrar, LLC, expiry 2027-04-14/);
  const codes = await op.locator('[data-testid=control-warning]').evaluateAll((els) => els.map((e) => e.dataset.code));
  assert.deepEqual(codes, ['recovery.loop', 'mfa.off']);
  assert.match(await op.locator('[data-testid=control-facts]').innerText(), /2027-04-14 \(from RDAP\)/);
  assert.match(await op.locator('[data-testid=reviewed]').innerText(), /by owner@agency\.example/);
  await shot(op, '119-control-warnings');
  assert.equal(await onPhone(op, '119-control-warnings'), 0, 'the record fits a phone');

  // The scanner looks at the delegation: as recorded.
  await op.goto(`${mw.base}/domains/acme.example/dns`);
  await op.click('[data-testid=check-now]');
  await op.waitForURL(/\/dns$/);
  await op.goto(controlUrl);
  assert.equal(await op.locator('[data-testid=delegation-set]').getAttribute('data-status'), 'ok');

  // The dashboard and the domain page carry the warnings; each is an alert.
  await op.goto(`${mw.base}/`);
  const line = op.locator('[data-testid=control-line]');
  assert.equal(await line.getAttribute('data-warnings'), '1');
  assert.match(await line.innerText(), /acme\.example\s*The registrar account recovers through admin@acme\.example/);
  await shot(op, '120-dashboard-control');
  await op.goto(`${mw.base}/alerts`);
  assert.equal(await op.locator('[data-testid=alert][data-rule="domain.control"]').count(), 2);

  // Time passes: 75 days on, the registration expires within 60 days.
  await mw.setClock(75 * 86400);
  await signIn(mw, op, 'owner@agency.example', 'violet tugboat mirrors 42', owner.secret, 75 * 86400);
  let expiry = 0;
  for (let i = 0; i < 40 && expiry === 0; i++) {
    await new Promise((r) => setTimeout(r, 500));
    await op.goto(`${mw.base}/alerts`);
    expiry = await op.locator('[data-testid=alert][data-rule="domain.control"]', { hasText: 'expires in' }).count();
  }
  assert.equal(expiry, 1, 'the 60-day expiry alert fired');
  await shot(op, '121-alerts-expiry');

  // A mailbox whose owner lists the outside accounts that recover through it.
  await op.goto(`${mw.base}/domains/acme.example`);
  await op.fill('#mb-address', 'ann');
  await op.fill('#mb-name', 'Ann Example');
  await op.fill('#mb-invite', 'ann@home.example');
  await op.click('[data-testid=new-mailbox] button[type=submit]');
  await op.waitForURL(/\/mailboxes\/mbx_/);
  const mailboxUrl = op.url();
  const ann = await activate(browser, mw, await sink.find('ann@home.example', LINK), 'copper lantern harbour 7');
  await ann.page.fill('#idn-service', 'Registrar account (acme.example)');
  await ann.page.fill('#idn-note', 'password resets come here');
  await ann.page.click('[data-testid=identity-add]');
  await ann.page.waitForURL(/\/me/);
  assert.match(await ann.page.locator('[data-testid=identity]').innerText(), /Registrar account \(acme\.example\)\s*password resets come here/);
  assert.match(await ann.page.locator('[data-testid=propose-critical]').innerText(), /1 service recovers through this address: ask whoever manages your mailbox to mark it critical/);
  await shot(ann.page, '122-me-identities');
  await op.goto(mailboxUrl);
  assert.match(await op.locator('[data-testid=identity]').innerText(), /Registrar account \(acme\.example\)/);
  assert.match(await op.locator('[data-testid=propose-critical]').innerText(), /it should be a critical mailbox/);

  // An incident: validating domain control is a checklist confirmed by named people.
  await op.goto(`${mw.base}/incidents`);
  await op.selectOption('[data-testid=declare-tenant]', 'acme-corp');
  await op.fill('input[name=title]', 'Registrar login from an unknown country');
  await op.fill('textarea[name=reason]', 'The registrar mailed a sign-in notice nobody here recognises.');
  await op.click('[data-testid=declare-submit]');
  await op.waitForURL(/\/incidents\/inc_/);
  const list = op.locator('[data-testid=checklist-domain][data-domain="acme.example"]');
  assert.equal(await list.locator('[data-testid=check-item]').count(), 5);
  assert.match(await list.innerText(), /Registrar Example Registrar, LLC · account held by Agency ops team/);
  const item = list.locator('[data-testid=check-item][data-item=registrar_access]');
  await item.locator('input[name=note]').fill('Logged in at the registrar, password changed, sessions ended');
  await item.locator('[data-testid=check-confirm]').click();
  await op.waitForURL(/\/incidents\/inc_[^#]+(#control)?$/);
  assert.match(await flash(op), /Confirmed, with your name and the time/);
  const done = op.locator('[data-testid=checklist-domain][data-domain="acme.example"] [data-testid=check-item][data-item=registrar_access]');
  assert.equal(await done.getAttribute('data-done'), 'true');
  assert.match(await done.innerText(), /confirmed by owner@agency\.example/);
  assert.match(await op.locator('[data-testid=checks-count]').innerText(), /1 of 5 confirmed/);
  assert.match(await op.locator('[data-testid=incident-identities]').innerText(), /ann@acme\.example\s*Registrar account \(acme\.example\)/);
  await op.locator('[data-testid=control-checklist]').scrollIntoViewIfNeeded();
  await shot(op, '123-incident-checklist');
  // Under the incident, the expected delegation waits; the other facts do not.
  await op.goto(controlUrl);
  assert.equal(await op.locator('textarea[name=expected_ns]').getAttribute('readonly'), '');
  assert.match(await op.locator('[data-testid=control-form]').innerText(), /waits while an incident holds/);
  await op.fill('input[name=billing_owner]', 'Acme Corp, finance (card ending 4242)');
  await op.click('[data-testid=control-save]');
  await op.waitForURL(controlUrl);
  assert.match(await flash(op), /Saved/);
  assert.deepEqual(errors, []);
});
