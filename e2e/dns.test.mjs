// A domain's DNS in the browser, against a real authoritative server (Knot on loopback): the
// owner adds a domain, finds the challenge and the zone snippet on its DNS page, copies the
// snippet, publishes it (as their DNS host would), checks: verified, active, green. Then the
// DKIM record is removed behind Mailward's back: one check later the dashboard's badge is red
// with the reason, the "DNS drifted" filter lists the domain, and the history shows it. Last,
// the DKIM selectors are delegated to the operator's zone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMailward, launchBrowser, shot, enrol, startKnot, onPhone, flash } from './harness.mjs';

let mw, browser, knot;
before(async () => {
  knot = await startKnot({ 'acme.example': '', 'mailward.test': 'mail A 127.0.0.1', 'dkim.op.test': '' });
  mw = await startMailward({
    env: {
      MAILWARD_DNS_RESOLVER: `127.0.0.1:${knot.port}`,
      MAILWARD_DNS_PORT: String(knot.port),
      MAILWARD_MAIL_HOST: 'mail.mailward.test',
      // The operator's DKIM zone, written by RFC 2136 (TSIG is covered by tests/it/dns.rs).
      MAILWARD_DKIM_ZONE: 'dkim.op.test',
      MAILWARD_DKIM_ZONE_SERVER: `127.0.0.1:${knot.port}`,
    },
  });
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); await mw?.stop(); await knot?.stop(); });

/** The snippet's records as knsupdate lines (TXT strings kept, parentheses dropped). */
function updateLines(snippet) {
  const origin = snippet.match(/^\$ORIGIN (\S+)$/m)[1];
  return snippet.split('\n').filter((l) => l && !l.startsWith('$') && !l.startsWith(';')).map((l) => {
    const m = l.match(/^(\S+)\s+(\d+)\s+IN\s+(\S+)\s+(.*)$/);
    const name = m[1] === '@' ? origin : `${m[1]}.${origin}`;
    return `update add ${name} ${m[2]} ${m[3]} ${m[4].replace(/^\( | \)$/g, '')}`;
  });
}

test('DNS page, snippet copied, verification, a removed DKIM record turns the badge red', async () => {
  const owner = await enrol(browser, mw, mw.setupLink, 'owner@agency.example', 'Olivia Owner', 'violet tugboat mirrors 42');
  const page = owner.page;
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: mw.base });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  await page.goto(`${mw.base}/tenants`);
  await page.fill('#t-name', 'Acme Corp');
  await page.selectOption('#t-plan', 'plan_pro');
  await page.click('form[action="/tenants"] button[type=submit]');
  await page.waitForURL(`${mw.base}/tenants/acme-corp`);
  await page.fill('#d-name', 'acme.example');
  await page.click('form[action="/tenants/acme-corp/domains"] button[type=submit]');
  await page.waitForURL(`${mw.base}/tenants/acme-corp`);

  // Pending and unverified: the way on is the DNS page.
  await page.locator('[data-testid=domains-table] a', { hasText: 'Verify…' }).click();
  await page.waitForURL(/\/domains\/[^/]+\/dns$/);
  const dnsUrl = page.url();
  assert.match(await page.locator('[data-testid=challenge]').innerText(), /_mailward-challenge\.acme\.example\. 3600 IN TXT "mailward-verify=[0-9a-f]{32}"/);
  // A first check makes the DKIM key; nothing is published yet, so everything is missing.
  await page.click('[data-testid=check-now]');
  await page.waitForURL(dnsUrl);
  assert.equal(await page.locator('[data-testid=health]').first().getAttribute('data-health'), 'red');
  assert.ok(await page.locator('[data-testid=dkim-keys]').getByText('waiting to be seen everywhere').isVisible());
  await shot(page, '80-dns-unpublished');

  // The snippet, copied with its button, is what gets published.
  const snippet = await page.locator('[data-testid=zone-snippet]').innerText();
  assert.match(snippet, /_dmarc\s+3600 IN TXT\s+"v=DMARC1; p=quarantine"/);
  assert.match(snippet, /@\s+3600 IN MX\s+10 mail\.mailward\.test\./);
  assert.match(snippet, /_domainkey\s+3600 IN TXT\s+\( "v=DKIM1; k=rsa; p=/);
  assert.doesNotMatch(snippet, /pop3/i);
  await page.click('[data-testid=copy-snippet]');
  await page.locator('[data-testid=copy-snippet]', { hasText: 'Copied' }).waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied.trim(), snippet.trim(), 'the clipboard holds the snippet');
  await knot.update('acme.example', updateLines(copied));

  await page.click('[data-testid=check-now]');
  await page.waitForURL(dnsUrl);
  assert.match(await flash(page), /verified/);
  assert.equal(await page.locator('[data-testid=health]').first().getAttribute('data-health'), 'green');
  assert.equal(await page.locator('[data-testid=challenge]').count(), 0, 'verified: no challenge');
  assert.ok(await page.locator('[data-testid=dkim-keys]').getByText('signing', { exact: true }).isVisible());
  const rows = await page.locator('[data-testid=dns-records] tbody tr').count();
  assert.ok(rows >= 6, `MX, SPF, DKIM, DMARC and two SRV rows: ${rows}`);
  assert.equal(await page.locator('[data-testid=dns-records] tr[data-status=ok]').count(), rows, 'every record as expected');
  await shot(page, '81-dns-green');

  // Someone removes the DKIM record at the DNS host.
  const selector = (await page.locator('[data-testid=dkim-keys] tbody td').first().innerText()).trim();
  await knot.update('acme.example', [`update delete ${selector}._domainkey.acme.example. TXT`]);
  await page.click('[data-testid=check-now]');
  await page.waitForURL(dnsUrl);
  assert.match(await page.locator('[data-testid=health-reason]').innerText(), /DKIM key .* record missing/);
  assert.ok(await page.locator('[data-testid=dns-history]').getByText('dns.drift', { exact: true }).first().isVisible());
  await shot(page, '82-dns-drift');
  assert.equal(await onPhone(page, '82-dns-drift'), 0, 'the DNS page fits a phone');

  // A DMARC aggregate report, uploaded on the page, shows up per day.
  const day = 1796169600;
  const xml = `<?xml version="1.0"?><feedback><report_metadata><org_name>receiver.example</org_name>`
    + `<email>dmarc@receiver.example</email><report_id>e2e-1</report_id><date_range><begin>${day}</begin><end>${day + 86399}</end></date_range></report_metadata>`
    + `<policy_published><domain>acme.example</domain><p>quarantine</p></policy_published>`
    + `<record><row><source_ip>203.0.113.5</source_ip><count>12</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>`
    + `<identifiers><header_from>acme.example</header_from></identifiers><auth_results><dkim><domain>acme.example</domain><result>pass</result></dkim><spf><domain>acme.example</domain><result>pass</result></spf></auth_results></record></feedback>`;
  await page.setInputFiles('#dmarc-file', { name: 'report.xml', mimeType: 'text/xml', buffer: Buffer.from(xml) });
  await page.click('[data-testid=dmarc] button[type=submit]');
  await page.waitForURL(dnsUrl);
  assert.match(await flash(page), /Report e2e-1 from receiver\.example imported: 12 messages/);
  assert.match(await page.locator('[data-testid=dmarc-days] tbody tr').first().innerText(), /2026-12-02\s+12\s+12/);
  await shot(page, '85-dns-dmarc');

  // The dashboard: a red badge with the reason, and the drifted filter finds it.
  await page.goto(`${mw.base}/?health=drifted`);
  const badge = page.locator('[data-testid=domains-table] [data-testid=health]');
  assert.equal(await badge.count(), 1);
  assert.equal(await badge.getAttribute('data-health'), 'red');
  assert.match(await badge.innerText(), /broken/);
  assert.match(await badge.getAttribute('title'), /DKIM/);
  await shot(page, '83-dashboard-red');

  // The baselines page (owners edit it).
  await page.goto(`${mw.base}/dns/templates`);
  assert.ok(await page.locator('[data-testid=template-parked] input[name=spf]').isVisible());
  assert.equal(await page.locator('[data-testid=template-parked] input[name=spf]').inputValue(), 'v=spf1 -all');
  await shot(page, '84-dns-templates');

  // The customer's DNS is managed elsewhere: the selectors are delegated to the operator
  // zone. The domain publishes two CNAMEs once; the key record is Mailward's to write.
  await page.goto(dnsUrl);
  await page.click('[data-testid=delegate]');
  await page.waitForURL(dnsUrl);
  assert.match(await flash(page), /Delegation started/);
  const card = await page.locator('[data-testid=delegation]').innerText();
  assert.match(card, /Selectors delegated to dkim\.op\.test/);
  assert.match(await page.locator('[data-testid=operator-snippet]').innerText(), /mw1\.acme\.example\.dkim\.op\.test\.\s+3600 IN TXT/);
  const delegated = await page.locator('[data-testid=zone-snippet]').innerText();
  const cnames = updateLines(delegated).filter((l) => / CNAME /.test(l));
  assert.equal(cnames.length, 2, delegated);
  await knot.update('acme.example', cnames);
  await page.click('[data-testid=check-now]');
  await page.waitForURL(dnsUrl);
  const mw1 = page.locator('[data-testid=dkim-keys] tr', { hasText: 'mw1' });
  assert.ok(await mw1.getByText('signing', { exact: true }).isVisible(), 'the delegated key signs');
  await shot(page, '86-dns-delegated');
  assert.deepEqual(errors, [], 'no errors in the browser console');
});
