// First-run setup → TOTP enrolment → recovery codes → sign out → sign in with TOTP →
// sign in with a recovery code → the same recovery code refused the second time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startMailward, launchBrowser, totp, currentStep, waitForStepAfter, shot, enrol, activateFirstPending } from './harness.mjs';

let mw, browser;
const shared = {};
before(async () => { mw = await startMailward(); browser = await launchBrowser(); });
after(async () => { await browser?.close(); await mw?.stop(); });

const EMAIL = 'owner@agency.example';
const PASSWORD = 'violet tugboat mirrors 42';

async function flash(page) {
  return (await page.locator('[data-testid=flash]').first().textContent()) ?? '';
}

async function signInPassword(page) {
  await page.goto(`${mw.base}/login`);
  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${mw.base}/login/verify`);
}

async function signOut(page) {
  await page.click('form[action="/logout"] button');
  await page.waitForURL(`${mw.base}/login`);
}

test('owner setup, TOTP and recovery codes, sign-in both ways', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  // 1. The setup link: choose a password (a weak one is refused first).
  await page.goto(mw.setupLink);
  await shot(page, '01-setup-password');
  await page.fill('#email', EMAIL);
  await page.fill('#display_name', 'Olivia Owner');
  await page.fill('#password', 'passwordpassword');
  await page.fill('#confirm', 'passwordpassword');
  await page.click('button[type=submit]');
  assert.match(await flash(page), /too common/);
  await page.fill('#email', EMAIL);
  await page.fill('#display_name', 'Olivia Owner');
  await page.fill('#password', PASSWORD);
  await page.fill('#confirm', PASSWORD);
  await page.click('button[type=submit]');

  // 2. Enrol the authenticator from the secret shown as text beside the QR code.
  const secret = (await page.locator('[data-testid=totp-secret]').textContent()).replace(/\s+/g, '');
  assert.match(secret, /^[A-Z2-7]{32}$/);
  assert.ok(await page.locator('img[alt^="QR code"]').isVisible());
  await shot(page, '02-setup-totp');
  const enrolStep = currentStep();
  await page.fill('#code', totp(secret, enrolStep));
  await page.click('button[type=submit]');

  // 3. Ten recovery codes, shown once.
  await page.waitForURL(`${mw.base}/welcome/recovery-codes`);
  const codes = (await page.locator('[data-testid=recovery-codes] li').allTextContents()).map((s) => s.trim());
  assert.equal(codes.length, 10);
  for (const c of codes) assert.match(c, /^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);
  shared.codes = codes;
  await shot(page, '03-recovery-codes');
  await page.click('form[action="/account/recovery-codes/ack"] button');
  await page.waitForURL(`${mw.base}/`);
  assert.match(await flash(page), /all set/);
  await shot(page, '04-dashboard');

  // The page is hydrated: a destructive button opens a confirmation dialog instead of posting.
  await page.goto(`${mw.base}/account/sessions`);
  await page.locator('table button', { hasText: 'Sign out' }).first().click();
  await page.getByRole('dialog').waitFor();
  await shot(page, '05-sessions-confirm');
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await page.getByRole('dialog').count(), 0);

  await page.goto(`${mw.base}/audit`);
  assert.ok(await page.locator('[data-testid=audit-table]').getByText('auth.totp_enrolled').isVisible());
  await shot(page, '06-audit');

  // 4. Sign out, sign in with password + TOTP (a fresh code: each is accepted once).
  await signOut(page);
  await shot(page, '07-login');
  await signInPassword(page);
  await shot(page, '08-verify');
  const step = await waitForStepAfter(enrolStep);
  await page.fill('#code', totp(secret, step));
  await page.click('button[type=submit]');
  await page.waitForURL(`${mw.base}/`);

  // 5. Sign in with a recovery code: accepted once…
  await signOut(page);
  await signInPassword(page);
  await page.fill('#code', codes[0]);
  await page.click('button[type=submit]');
  await page.waitForURL(`${mw.base}/`);
  assert.match(await flash(page), /recovery code.*9 remain/);

  // …and refused the second time.
  await signOut(page);
  await signInPassword(page);
  await page.fill('#code', codes[0]);
  await page.click('button[type=submit]');
  await page.waitForURL(`${mw.base}/login/verify`);
  assert.match(await flash(page), /Sign-in failed/);
  await shot(page, '09-recovery-code-refused');

  assert.deepEqual(errors, [], 'no script errors in the browser');
  await context.close();
});

test('everything works with JavaScript off: sign in with a recovery code, create and revoke a token', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${mw.base}/login`);
  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${mw.base}/login/verify`);
  await page.fill('#code', shared.codes[1]);
  await page.click('button[type=submit]');
  await page.waitForURL(`${mw.base}/`);

  await page.goto(`${mw.base}/account/tokens`);
  await page.fill('#name', 'monitoring');
  await page.check('input[name=scope_audit]');
  await page.fill('#token-from', '127.0.0.1');
  await page.click('form[action="/account/tokens"] button[type=submit]');
  await page.waitForURL(`${mw.base}/account/tokens`);
  const token = (await page.locator('[data-testid=fresh-secret]').textContent()).trim();
  assert.match(token, /^mwt_[A-Za-z0-9_-]{43}$/);
  assert.match(await page.locator('table').textContent(), /from 127\.0\.0\.1/);
  await shot(page, '10-token-created-no-js');
  const me = await (await fetch(`${mw.base}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } })).json();
  assert.equal(me.email, EMAIL);
  assert.deepEqual(me.scopes, ['read', 'audit']);

  // Without JavaScript the destructive button posts directly (no dialog to open).
  await page.reload();
  assert.equal(await page.locator('[data-testid=fresh-secret]').count(), 0, 'shown once');
  await page.locator('table button', { hasText: 'Revoke' }).click();
  await page.waitForURL(`${mw.base}/account/tokens`);
  assert.match(await flash(page), /Token revoked/);
  const after = await fetch(`${mw.base}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(after.status, 401);
  await shot(page, '11-token-revoked-no-js');
  await context.close();
});

test('an owner creates a tenant on a plan and adds domains up to its limit', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${mw.base}/login`);
  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${mw.base}/login/verify`);
  await page.fill('#code', shared.codes[2]);
  await page.click('button[type=submit]');
  await page.waitForURL(`${mw.base}/`);

  await page.goto(`${mw.base}/tenants`);
  await shot(page, '12-tenants-empty');
  await page.fill('#t-name', 'Acme Corp');
  await page.selectOption('#t-plan', 'plan_free');
  await page.fill('#t-cname', 'Ada Admin');
  await page.fill('#t-cemail', 'ada@acme.example');
  await page.click('form[action="/tenants"] button[type=submit]');
  await page.waitForURL(`${mw.base}/tenants/acme-corp`);
  assert.match(await flash(page), /Acme Corp created on Free/);

  await page.fill('#d-name', 'bücher.example');
  await page.click('form[action="/tenants/acme-corp/domains"] button[type=submit]');
  await page.waitForURL(`${mw.base}/tenants/acme-corp`);
  assert.match(await flash(page), /bücher.example added/);
  // The Free plan holds one domain: the second is refused with the reason.
  await page.fill('#d-name', 'acme.example');
  await page.click('form[action="/tenants/acme-corp/domains"] button[type=submit]');
  await page.waitForURL(`${mw.base}/tenants/acme-corp`);
  assert.match(await flash(page), /allows 1 domain, and all are in use/);
  await page.selectOption('select[name=plan_id]', 'plan_starter');
  await page.click('form[action="/tenants/acme-corp/plan"] button[type=submit]');
  await page.waitForURL(`${mw.base}/tenants/acme-corp`);
  await page.fill('#d-name', 'acme.example');
  await page.click('form[action="/tenants/acme-corp/domains"] button[type=submit]');
  await page.waitForURL(`${mw.base}/tenants/acme-corp`);
  await activateFirstPending(mw, page, 'acme-corp');
  await shot(page, '13-tenant');
  const rows = await page.locator('[data-testid=domains-table] tbody tr').count();
  assert.equal(rows, 2);

  await page.goto(`${mw.base}/`);
  assert.ok(await page.locator('[data-testid=domains-table]').getByText('bücher.example').isVisible());
  await shot(page, '14-dashboard-domains');
  await page.goto(`${mw.base}/plans`);
  await shot(page, '15-plans');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a tenant admin and a client viewer each see what their role allows', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${mw.base}/login`);
  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(`${mw.base}/login/verify`);
  await page.fill('#code', shared.codes[3]);
  await page.click('button[type=submit]');
  await page.waitForURL(`${mw.base}/`);

  // A second tenant the Acme people must never see.
  await page.goto(`${mw.base}/tenants`);
  await page.locator('summary', { hasText: 'New tenant' }).click();
  await page.fill('#t-name', 'Globex');
  await page.selectOption('#t-plan', 'plan_pro');
  await page.click('form[action="/tenants"] button[type=submit]');
  await page.waitForURL(`${mw.base}/tenants/globex`);
  await page.fill('#d-name', 'globex.example');
  await page.click('form[action="/tenants/globex/domains"] button[type=submit]');
  await page.waitForURL(`${mw.base}/tenants/globex`);

  // Invite both Acme people; outgoing mail is not configured, so reveal each link once.
  const links = {};
  for (const [email, role] of [['ada@acme.example', 'tenant_admin'], ['carl@acme.example', 'client_viewer']]) {
    await page.goto(`${mw.base}/tenants/acme-corp`);
    await page.fill('#p-email', email);
    await page.selectOption('#p-role', role);
    await page.click('form[action="/tenants/acme-corp/people"] button[type=submit]');
    await page.waitForURL(`${mw.base}/tenants/acme-corp`);
    await page.locator('tr', { hasText: email }).getByRole('button', { name: 'Reveal link once' }).click();
    await page.waitForURL(`${mw.base}/tenants/acme-corp`);
    links[role] = (await page.locator('[data-testid=fresh-secret]').textContent()).trim();
  }
  await shot(page, '16-tenant-people');

  // The tenant admin: their tenant's domains only, can add domains, no plan control.
  const admin = await enrol(browser, mw, links.tenant_admin, 'ada@acme.example', 'Ada Admin', 'copper kettle sings twice');
  await admin.page.goto(`${mw.base}/`);
  const adminDash = await admin.page.locator('[data-testid=domains-table]').textContent();
  assert.ok(adminDash.includes('bücher.example') && !adminDash.includes('globex.example'));
  await shot(admin.page, '17-tenant-admin-dashboard');
  await admin.page.goto(`${mw.base}/tenants/acme-corp`);
  assert.equal(await admin.page.locator('form[action="/tenants/acme-corp/plan"]').count(), 0);
  assert.equal(await admin.page.locator('form[action="/tenants/acme-corp/domains"]').count(), 1);
  const hidden = await admin.page.goto(`${mw.base}/tenants/globex`);
  assert.equal(hidden.status(), 404);
  await admin.context.close();

  // The client viewer: lands on the read-only portal; nothing to change but their sign-ins.
  const viewer = await enrol(browser, mw, links.client_viewer, 'carl@acme.example', 'Carl Client', 'silver lantern drifts east');
  await viewer.page.goto(`${mw.base}/`);
  await viewer.page.waitForURL(`${mw.base}/portal`);
  assert.ok(await viewer.page.locator('[data-testid=portal-summary]').getByText('Acme Corp').isVisible());
  assert.ok(await viewer.page.getByText('bücher.example').first().isVisible());
  assert.equal(await viewer.page.locator('main form[method=post]').count(), 0);
  assert.equal(await viewer.page.getByText('globex.example').count(), 0);
  await shot(viewer.page, '18-client-portal');
  await viewer.context.close();

  // What the owner sees of it: the preview, and the dashboard over both tenants.
  await page.goto(`${mw.base}/portal?tenant=acme-corp`);
  assert.ok(await page.locator('[data-testid=portal-preview]').isVisible());
  await page.goto(`${mw.base}/`);
  await shot(page, '19-owner-dashboard');
  assert.deepEqual(errors, []);
  await context.close();
});
