// A tenant's own outgoing relay, as an owner meets it on the tenant page: on the Free plan
// (no managed relay) the page says outside mail cannot leave; a relay entered with a wrong
// password fails its connection test with the relay's words; the right one passes; the
// password is never shown back; removing the relay asks first. The relay is a real one on
// loopback (tests/relaysink.py): TLS required, AUTH PLAIN/LOGIN.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { mailTo, startMailward, startSmtpSink, launchBrowser, shot, flash, enrol, acmeWithDomain, onPhone, root, freePort } from './harness.mjs';

let mw, sink, browser, relay, relayPort;
const RELAY_USER = 'acme-relay';
const RELAY_PASSWORD = 'tin kettle orchard 5';

before(async () => {
  // A certificate for the relay (Mailward's test does not verify it, as Postfix's `encrypt`).
  const dir = mkdtempSync(join(tmpdir(), 'mailward-relay-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-days', '2', '-subj', '/CN=relay.test', '-keyout', join(dir, 'key.pem'),
    '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  relayPort = await freePort();
  relay = spawn('python3', [join(root, 'tests', 'relaysink.py'), String(relayPort), join(dir, 'cert.pem'),
    join(dir, 'key.pem'), RELAY_USER, RELAY_PASSWORD, 'starttls', join(dir, 'relay.jsonl')],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    relay.on('exit', (c) => reject(new Error(`relaysink exited with ${c}`)));
    createInterface({ input: relay.stdout }).once('line', resolve);
  });
  sink = await startSmtpSink();
  mw = await startMailward({ env: { ...mailTo(sink), MAILWARD_RELAY_PORTS: `25,465,587,2525,${relayPort}` } });
  browser = await launchBrowser();
});
after(async () => {
  relay?.kill();
  await browser?.close(); await mw?.stop(); await sink?.close();
});

test('a Free tenant sets, tests and removes its own outgoing relay', async () => {
  const errors = [];
  const owner = await enrol(browser, mw, mw.setupLink, 'owner@agency.example', 'Olivia Owner', 'violet tugboat mirrors 42');
  const op = owner.page;
  op.on('pageerror', (e) => errors.push(String(e)));
  await acmeWithDomain(mw, op);
  const tenantUrl = `${mw.base}/tenants/acme-corp`;
  const card = op.locator('[data-testid=relay]');

  // Pro includes the managed relay.
  assert.match(await card.locator('[data-testid=relay-state]').textContent(), /platform's managed relay, part of the Pro plan/);

  // On Free, nothing leaves for outside addresses until a relay is set; the page says so.
  await op.selectOption('select[name=plan_id]', 'plan_free');
  await op.click('form[action="/tenants/acme-corp/plan"] button[type=submit]');
  await op.waitForURL(tenantUrl);
  assert.match(await card.textContent(), /cannot send to outside addresses/);
  assert.match(await card.locator('[data-testid=relay-state]').textContent(), /Free plan brings its own SMTP relay and none is set/);
  await card.scrollIntoViewIfNeeded();
  await shot(op, '124-relay-none');

  // A wrong password: saved, and the connection test says what the relay answered.
  await op.fill('#relay-host', '127.0.0.1');
  await op.fill('#relay-port', String(relayPort));
  await op.selectOption('#relay-tls', 'starttls');
  await op.fill('#relay-user', RELAY_USER);
  await op.fill('#relay-password', 'not the password');
  await op.click('[data-testid=relay-form] button[type=submit]');
  await op.waitForURL(/\/tenants\/acme-corp/);
  assert.match(await flash(op), /Relay saved/);
  assert.match(await card.textContent(), /own relay: not tested/);
  await card.getByRole('button', { name: 'Test connection' }).click();
  await op.waitForURL(/\/tenants\/acme-corp/);
  assert.match(await flash(op), /The test failed: .*refused the sign-in as acme-relay/);
  assert.match(await card.locator('[data-testid=relay-test]').textContent(), /failed — .*535/);
  await card.scrollIntoViewIfNeeded();
  await shot(op, '125-relay-test-failed');

  // The host changed without the password: refused on the password field, nothing changed.
  await op.fill('#relay-host', 'relay.elsewhere.example');
  await op.click('[data-testid=relay-form] button[type=submit]');
  await op.waitForURL(/\/tenants\/acme-corp/);
  assert.equal(await op.locator('#relay-password').getAttribute('aria-invalid'), 'true');
  assert.match(await op.locator('#relay-host').inputValue(), /relay\.elsewhere\.example/, 'what was typed is back');
  assert.match(await card.locator('[data-testid=relay-state]').textContent(), /127\.0\.0\.1/);

  // The right password: the test passes; the password is never shown back.
  await op.fill('#relay-host', '127.0.0.1');
  await op.fill('#relay-password', RELAY_PASSWORD);
  await op.click('[data-testid=relay-form] button[type=submit]');
  await op.waitForURL(/\/tenants\/acme-corp/);
  await new Promise((r) => setTimeout(r, 1000));
  await card.getByRole('button', { name: 'Test connection' }).click();
  await op.waitForURL(/\/tenants\/acme-corp/);
  assert.match(await flash(op), /connected, encrypted and signed in/);
  assert.match(await card.textContent(), /own relay(?!:)/);
  assert.match(await card.locator('[data-testid=relay-test]').textContent(), /signed in as acme-relay/);
  assert.equal(await op.locator('#relay-password').inputValue(), '');
  assert.equal(await op.locator('#relay-password').getAttribute('placeholder'), 'unchanged (stored sealed)');
  assert.ok(!(await op.content()).includes(RELAY_PASSWORD), 'the password is nowhere on the page');
  await card.scrollIntoViewIfNeeded();
  await shot(op, '126-relay-tested');
  assert.equal(await onPhone(op, '126-relay-tested'), 0, 'the tenant page fits a phone');

  // Removing asks first, and says what follows.
  await card.getByRole('button', { name: 'Remove relay' }).click();
  const dialog = op.getByRole('dialog');
  await dialog.waitFor();
  assert.match(await dialog.textContent(), /refused until a relay is set again/);
  await dialog.getByRole('button').filter({ hasNotText: 'Cancel' }).click();
  await op.waitForURL(tenantUrl);
  assert.match(await flash(op), /Relay removed/);
  assert.match(await card.textContent(), /cannot send to outside addresses/);

  // The audit log has each step, without the password.
  await op.goto(`${mw.base}/audit`);
  const log = await op.locator('main').textContent();
  for (const a of ['tenant.relay_set', 'tenant.relay_tested', 'tenant.relay_removed']) assert.match(log, new RegExp(a.replace('.', '\\.')));
  assert.ok(!log.includes(RELAY_PASSWORD));
  assert.deepEqual(errors, []);
});
