// The panel and the mail plane together, as a user meets them: a mailbox owner makes an IMAP
// app password in /me, Postfix + Dovecot (rendered by `mailward mailplane render`, started
// by scripts/mailplane) deliver mail to her, her mail client signs in with that app password,
// and the operator's pages show the storage Dovecot reports. Needs root (CI runs as root).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { mailTo, startMailward, startSmtpSink, launchBrowser, shot, LINK, flash, enrol, activate, acmeWithDomain, root, freePort } from './harness.mjs';

const PW = 'copper lantern harbour 7';
let mw, sink, browser, plane;

before(async () => {
  sink = await startSmtpSink();
  mw = await startMailward({
    env: { ...mailTo(sink), MAILWARD_MAIL_HOST: 'mail.localhost' },
  });
  browser = await launchBrowser();
});
after(async () => {
  if (plane) execFileSync(join(root, 'scripts', 'mailplane'), ['stop', plane]);
  await browser?.close(); await mw?.stop(); await sink?.close();
});

/** tests/mailclient.py: real SMTP/IMAP; its JSON answer. */
function mail(...args) {
  return JSON.parse(execFileSync('python3', [join(root, 'tests', 'mailclient.py'), ...args.map(String)]));
}

test('mail plane: an app password made in /me opens IMAP, and the pool shows what Dovecot counts', async () => {
  const errors = [];
  const owner = await enrol(browser, mw, mw.setupLink, 'owner@agency.example', 'Olivia Owner', 'violet tugboat mirrors 42');
  const op = owner.page;
  op.on('pageerror', (e) => errors.push(String(e)));
  await acmeWithDomain(mw, op);
  await op.goto(`${mw.base}/domains/acme.example`);
  await op.fill('#mb-address', 'ann');
  await op.fill('#mb-name', 'Ann Example');
  await op.fill('#mb-quota', '50 MB');
  await op.fill('#mb-invite', 'ann@home.example');
  await op.click('[data-testid=new-mailbox] button[type=submit]');
  await op.waitForURL(/\/mailboxes\/mbx_/);
  const ann = await activate(browser, mw, await sink.find('ann@home.example', LINK), PW);

  // Ann makes an IMAP-only app password for her phone; it is shown once.
  await ann.page.fill('#ap-name', 'Phone');
  await ann.page.fill('#ap-cur', PW);
  await ann.page.uncheck('input[name=smtp]');
  await ann.page.click('form[action="/me/app-passwords"] button[type=submit]');
  await ann.page.waitForURL(`${mw.base}/me`);
  const appPassword = (await ann.page.locator('[data-testid=fresh-secret]').textContent()).trim();
  assert.match(appPassword, /^[a-z2-9]{4}(-[a-z2-9]{4}){7}$/);
  const settings = await ann.page.locator('[data-testid=mail-settings]').textContent();
  assert.match(settings, /mail\.localhost, port 993/);
  assert.match(settings, /ann@acme\.example/);
  await shot(ann.page, '50-owner-app-password');

  // The mail plane, rendered for this very database and started as a user would.
  chmodSync(mw.dir, 0o777);
  for (const f of readdirSync(mw.dir)) chmodSync(join(mw.dir, f), 0o666);
  plane = join(mw.dir, 'mailplane');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=mail.localhost',
    '-keyout', join(mw.dir, 'key.pem'), '-out', join(mw.dir, 'cert.pem')], { stdio: 'ignore' });
  const ports = { smtp: await freePort(), submission: await freePort(), imap: await freePort(), imaps: await freePort() };
  const rendered = execFileSync(mw.bin, ['mailplane', 'render', '--out', plane,
    '--tls-cert', join(mw.dir, 'cert.pem'), '--tls-key', join(mw.dir, 'key.pem'),
    '--smtp-port', ports.smtp, '--submission-port', ports.submission, '--imap-port', ports.imap, '--imaps-port', ports.imaps,
    '--relayhost', `[127.0.0.1]:${sink.port}`, '--fast-auth-failures'].map(String),
  { env: { ...process.env, MAILWARD_DATABASE_URL: mw.databaseUrl } }).toString();
  assert.match(rendered, /scripts\/mailplane start/);
  execFileSync(join(root, 'scripts', 'mailplane'), ['start', plane]);

  // Three messages of about 300 kB arrive; her phone reads them with the app password,
  // which cannot send (it was made for IMAP only).
  for (const n of [1, 2, 3]) {
    const r = mail('smtp', ports.smtp, 'friend@outside.example', 'ann@acme.example', `Photos, part ${n}`, 300000);
    assert.equal(r.ok, true, JSON.stringify(r));
  }
  let inbox;
  for (let i = 0; i < 100; i++) {
    inbox = mail('subjects', ports.imap, 'ann@acme.example', appPassword);
    if (inbox.ok && inbox.subjects.length === 3) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(inbox.subjects, ['Photos, part 1', 'Photos, part 2', 'Photos, part 3']);
  const sent = mail('submit', ports.submission, 'ann@acme.example', appPassword, 'ann@acme.example', 'friend@outside.example', 'hi');
  assert.equal(sent.auth, false, JSON.stringify(sent));
  const quota = mail('quota', ports.imap, 'ann@acme.example', appPassword);
  assert.equal(quota.limit_kib, Math.ceil(50e6 / 1024));

  // The operator sees the storage Dovecot counts: on the mailbox and in the tenant's pool.
  await op.goto(`${mw.base}/domains/acme.example`);
  const row = op.locator('tr', { hasText: 'ann@acme.example' });
  const used = await row.textContent();
  assert.match(used, /9\d\d kB$/);
  assert.doesNotMatch(used, /no data yet/);
  await shot(op, '51-domain-mailbox-used');
  await op.goto(`${mw.base}/tenants/acme-corp`);
  const pool = await op.locator('body').textContent();
  assert.match(pool, /allocated · 9\d\d kB used/);
  assert.doesNotMatch(pool, /used: no data/);
  await shot(op, '52-tenant-pool-used');
  assert.deepEqual(errors, []);
});
