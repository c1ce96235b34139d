// A DNS change as a production change, in the browser, against a real authoritative server
// (Knot on loopback that takes updates only with a TSIG key): the owner says where the zone is
// managed (RFC 2136, key stored and never shown back) and tests the connection, asks for a
// DMARC record with a reason, an operator approves it in Approvals, Mailward sends the
// compare-and-swap and verifies it on every nameserver; the DNS page shows it verified with
// the rollback ready to paste.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mailTo, startMailward, startSmtpSink, launchBrowser, shot, flash, enrol, acmeWithDomain, activateFirstPending, inviteOperator, startKnot, TSIG_NAME, TSIG_SECRET } from './harness.mjs';

let mw, sink, browser, knot;
before(async () => {
  knot = await startKnot({
    'acme.example': '@ MX 10 mail.mailward.test.\n@ TXT "v=spf1 mx -all"',
    'bulk1.example': '@ MX 10 mail.mailward.test.\n@ TXT "v=spf1 mx -all"',
    'bulk2.example': '@ MX 10 mail.mailward.test.\n@ TXT "v=spf1 mx -all"',
    'bulk3.example': '@ MX 10 mail.mailward.test.\n@ TXT "v=spf1 mx -all"',
    'mailward.test': 'mail A 127.0.0.1',
  }, { tsigOnly: ['acme.example', 'bulk1.example', 'bulk2.example', 'bulk3.example'] });
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

test('DNS change: provider, request, approval, compare-and-swap, verified', async () => {
  const errors = [];
  const owner = await enrol(browser, mw, mw.setupLink, 'owner@agency.example', 'Olivia Owner', 'violet tugboat mirrors 42');
  const page = owner.page;
  page.on('pageerror', (e) => errors.push(String(e)));
  await acmeWithDomain(mw, page);
  const ottoLink = await inviteOperator(mw, sink, page, 'otto@agency.example');
  const otto = await enrol(browser, mw, ottoLink, 'otto@agency.example', 'Otto Operator', 'amber falcon glides home');
  otto.page.on('pageerror', (e) => errors.push(String(e)));

  // Where the zone is managed: RFC 2136 with the TSIG key; a wrong secret is refused clearly.
  const dnsUrl = `${mw.base}/domains/acme.example/dns`;
  const saveProvider = async (secret, domain = 'acme.example') => {
    await page.goto(`${mw.base}/domains/${domain}/dns`);
    await page.locator('[data-testid=dns-provider] summary').click();
    await page.selectOption('#prov-kind', 'rfc2136');
    await page.fill('#prov-server', `127.0.0.1:${knot.port}`);
    await page.fill('#prov-key', TSIG_NAME);
    await page.fill('#prov-secret', secret);
    await page.click('[data-testid=provider-save]');
    await page.waitForURL(/\/domains\/[^/]+\/dns$/);
    assert.match(await flash(page), /Saved: Mailward updates this zone by RFC 2136/);
    await page.locator('[data-testid=dns-provider] summary').click();
    await page.click('[data-testid=provider-test-button]');
    await page.waitForURL(/\/domains\/[^/]+\/dns$/);
    return flash(page);
  };
  assert.match(await saveProvider('d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE='), /BADSIG or BADKEY/);
  assert.match(await saveProvider(TSIG_SECRET), /The key works/);
  assert.ok(!(await page.content()).includes(TSIG_SECRET), 'the secret is never shown back');
  await page.locator('[data-testid=dns-provider] summary').click();
  await shot(page, '95-dns-provider');

  // The owner asks for a DMARC record; before is read from the live zone (none).
  await page.locator('[data-testid=ask-change] summary').click();
  await page.fill('#chg-name', '_dmarc');
  await page.selectOption('#chg-type', 'TXT');
  await page.fill('#chg-values', 'v=DMARC1; p=reject');
  await page.fill('#chg-reason', 'Ticket 4711: the client wants a reject policy');
  await page.click('[data-testid=ask-change-submit]');
  await page.waitForURL(/\/dns#dns-changes$/);
  assert.match(await flash(page), /waits for a second person's approval/);
  const card = page.locator('[data-testid=dns-change]').first();
  assert.match(await card.innerText(), /waiting for approval[\s\S]*_dmarc\.acme\.example TXT[\s\S]*Before: \(none\)[\s\S]*After: v=DMARC1; p=reject/);
  assert.deepEqual(await knot.txt('_dmarc.acme.example'), [], 'nothing is sent before approval');
  await shot(page, '96-dns-change-asked');

  // Otto approves it in the one queue.
  const o = otto.page;
  await o.goto(`${mw.base}/approvals`);
  const pending = o.locator('[data-testid=change]', { hasText: 'DNS record change' });
  assert.match(await pending.innerText(), /_dmarc\.acme\.example TXT/);
  await pending.locator('button', { hasText: 'Approve and apply' }).first().click();
  await o.locator('[role=dialog] button', { hasText: 'Approve and apply' }).click();
  await o.waitForURL(`${mw.base}/approvals`);
  assert.match(await flash(o), /now holds v=DMARC1; p=reject on the primary/);
  assert.deepEqual(await knot.txt('_dmarc.acme.example'), ['v=DMARC1; p=reject']);

  // The verification job sees it on every nameserver.
  for (let i = 0; ; i++) {
    await o.goto(dnsUrl);
    const phase = await o.locator('[data-testid=dns-change]').first().getAttribute('data-phase');
    if (phase === 'verified') break;
    assert.ok(i < 30, `still ${phase}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const done = o.locator('[data-testid=dns-change]').first();
  assert.match(await done.innerText(), /verified[\s\S]*approved by otto@agency\.example[\s\S]*nameservers: passed/);
  await done.locator('details summary').click();
  assert.match(await done.innerText(), /update delete _dmarc\.acme\.example\. TXT/);
  await shot(o, '97-dns-change-verified');

  // A bulk change over the tenant's four domains: the owner plans it, Otto approves, the
  // canary goes first, then batches of two, each verified before the next.
  for (const d of ['bulk1.example', 'bulk2.example', 'bulk3.example']) {
    await page.goto(`${mw.base}/tenants/acme-corp`);
    await page.fill('#d-name', d);
    await page.click('form[action="/tenants/acme-corp/domains"] button[type=submit]');
    await page.waitForURL(`${mw.base}/tenants/acme-corp`);
    await activateFirstPending(mw, page, 'acme-corp');
    assert.match(await saveProvider(TSIG_SECRET, d), /The key works/);
  }
  await page.goto(`${mw.base}/dns/bulk`);
  await page.selectOption('#bk-op', 'set');
  await page.fill('#bk-name', '@');
  await page.selectOption('#bk-type', 'TXT');
  await page.fill('#bk-values', 'v=spf1 mx a -all');
  await page.fill('#bk-batch', '2');
  await page.fill('#bk-reason', 'Ticket 4712: the web servers send mail too');
  await shot(page, '98-dns-bulk-form');
  await page.click('[data-testid=bulk-plan]');
  await page.waitForURL(/\/dns\/bulk\/chg_/);
  const planUrl = page.url();
  assert.match(await flash(page), /Planned/);
  assert.equal(await page.locator('[data-testid=plan-state]').getAttribute('data-state'), 'planned');
  assert.equal(await page.locator('[data-testid=bulk-item]').count(), 4);
  assert.match(await page.locator('[data-testid=bulk-batch][data-batch="0"]').innerText(), /Canary[\s\S]*acme\.example[\s\S]*v=spf1 mx -all[\s\S]*v=spf1 mx a -all/);
  assert.deepEqual(await knot.txt('bulk1.example'), ['v=spf1 mx -all'], 'nothing sent before approval');
  await shot(page, '99-dns-bulk-planned');

  await o.goto(planUrl);
  await o.click('[data-testid=bulk-approve]');
  await o.waitForURL(`${mw.base}/approvals`);
  assert.match(await flash(o), /Started: the canary domain first/);
  for (let i = 0; ; i++) {
    await o.goto(planUrl);
    const state = await o.locator('[data-testid=plan-state]').getAttribute('data-state');
    if (state === 'done') break;
    assert.ok(i < 40, `still ${state}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.match(await o.locator('[data-testid=bulk-progress]').innerText(), /4 record sets: 4 verified/);
  for (const d of ['acme.example', 'bulk1.example', 'bulk2.example', 'bulk3.example']) {
    assert.deepEqual(await knot.txt(d), ['v=spf1 mx a -all'], d);
  }
  await shot(o, '100-dns-bulk-done');
  await o.goto(`${mw.base}/dns/bulk`);
  assert.match(await o.locator('[data-testid=bulk-plans]').innerText(), /Set @ TXT on 4 domains of Acme Corp[\s\S]*done/);
  assert.deepEqual(errors, []);
});
