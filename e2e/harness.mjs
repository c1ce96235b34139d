// Shared pieces of the browser tests: start a real Mailward on a fresh SQLite database,
// launch Debian's Chromium through playwright-core, compute TOTP codes, save screenshots.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const artifacts = join(root, 'e2e', 'artifacts');
mkdirSync(artifacts, { recursive: true });

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

/** The environment that sends Mailward's mail (invitations, notices) to `sink`. */
export function mailTo(sink) {
  return {
    MAILWARD_SMTP_HOST: '127.0.0.1',
    MAILWARD_SMTP_PORT: String(sink.port),
    MAILWARD_SMTP_FROM: 'Mailward <mailward@agency.example>',
  };
}

/** A minimal SMTP server on loopback that keeps every message (mail Mailward sends). */
export async function startSmtpSink() {
  const messages = [];
  const raw = [];
  const server = createServer((sock) => {
    let buf = '';
    let inData = false;
    let msg = '';
    sock.write('220 sink ESMTP\r\n');
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line === '.') { inData = false; messages.push(decodeQp(msg)); raw.push(msg); msg = ''; sock.write('250 queued\r\n'); } else { msg += line + '\n'; }
          continue;
        }
        const cmd = line.toUpperCase();
        if (cmd.startsWith('EHLO')) sock.write('250-sink\r\n250 8BITMIME\r\n');
        else if (cmd.startsWith('DATA')) { inData = true; sock.write('354 go ahead\r\n'); }
        else if (cmd.startsWith('QUIT')) { sock.end('221 bye\r\n'); }
        else sock.write('250 OK\r\n');
      }
    });
    sock.on('error', () => {});
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    messages,
    /** The newest message to `to` that matches `re`, waiting up to 5 s for it. */
    async find(to, re) {
      for (let i = 0; i < 50; i++) {
        const m = [...messages].reverse().find((x) => x.includes(`To: ${to}`) && re.test(x));
        if (m) return m.match(re)[0];
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no mail to ${to} matching ${re}: ${messages.length} messages`);
    },
    /** The newest whole message (headers and parts as sent) to `to` whose decoded text matches `re`. */
    async message(to, re) {
      for (let i = 0; i < 50; i++) {
        const at = messages.findLastIndex((x) => x.includes(`To: ${to}`) && re.test(x));
        if (at >= 0) return { raw: raw[at], text: messages[at] };
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no mail to ${to} matching ${re}: ${messages.length} messages`);
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

// Quoted-printable to text: soft line breaks joined, =XX as bytes, the bytes read as UTF-8.
function decodeQp(s) {
  const joined = s.replace(/=\n/g, '');
  const bytes = [];
  for (let i = 0; i < joined.length; i++) {
    const hex = joined.slice(i + 1, i + 3);
    if (joined[i] === '=' && /^[0-9A-F]{2}$/.test(hex)) { bytes.push(parseInt(hex, 16)); i += 2; }
    else bytes.push(...Buffer.from(joined[i], 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Starts `mailward serve`; resolves with its base URL, the setup link and a stop function. */
export async function startMailward({ env = {}, clock = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mailward-e2e-'));
  // A movable clock (MAILWARD_CLOCK_OFFSET_FILE, for tests only): `setClock(secs)` puts the
  // server's time that far ahead of the real one.
  const clockFile = join(dir, 'clock-offset');
  if (clock) {
    writeFileSync(clockFile, '0');
    env = { MAILWARD_CLOCK_OFFSET_FILE: clockFile, ...env };
  }
  const port = await freePort();
  const bin = process.env.MAILWARD_BIN || join(root, 'target', 'debug', 'mailward');
  const proc = spawn(bin, ['serve', '--bind', `127.0.0.1:${port}`, '--site-root', join(root, 'target', 'site')], {
    // DNS questions stay on loopback: a port nobody answers on, unless a test passes its own.
    env: {
      ...process.env, MAILWARD_DATABASE_URL: `sqlite://${dir}/mailward.db`, MAILWARD_LOG: 'warn',
      MAILWARD_DNS_RESOLVER: '127.0.0.1:9', MAILWARD_DNS_PORT: '9', ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stderr.on('data', (d) => { out += d; });
  const setupLink = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mailward did not print a setup link:\n${out}`)), 20000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/(http:\/\/\S+\/invite\/mwi_\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code) => reject(new Error(`mailward exited with ${code}:\n${out}`)));
  });
  return {
    base: `http://127.0.0.1:${port}`,
    bin,
    dir,
    databaseUrl: `sqlite://${dir}/mailward.db`,
    setupLink,
    stop: () => new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', resolve);
      proc.kill('SIGTERM');
    }),
    setClock: async (secs) => {
      if (!clock) throw new Error('start Mailward with { clock: true } to move its clock');
      writeFileSync(clockFile, String(secs));
      await new Promise((r) => setTimeout(r, 600));
    },
    log: () => out,
  };
}

// Every page any test opens is watched: an uncaught script error, a Content-Security-Policy
// refusal or any other console error (but resources that answered 4xx, which tests ask for on
// purpose) fails the test file when it ends, naming the page.
const browserErrors = [];
process.on('exit', () => {
  if (browserErrors.length > 0) {
    console.error(`# Errors in the browser console on pages the tests visited:\n${browserErrors.map((e) => `#   ${e}`).join('\n')}`);
    process.exitCode = 1;
  }
});
function watch(context) {
  context.on('page', (page) => {
    page.on('pageerror', (e) => browserErrors.push(`${page.url()}: ${e}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
        browserErrors.push(`${page.url()}: ${m.text()}`);
      }
    });
  });
  return context;
}

export async function launchBrowser() {
  // playwright-core gives every launch a fresh, empty profile directory of its own.
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (...args) => watch(await newContext(...args));
  browser.newPage = async (...args) => {
    const context = await browser.newContext(...args);
    const page = await context.newPage();
    return page;
  };
  return browser;
}

function base32Decode(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of s.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`bad base32 character ${c}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) for a given step. */
export function totp(secret, step = Math.floor(Date.now() / 1000 / 30)) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = createHmac('sha1', base32Decode(secret)).update(msg).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1_000_000).padStart(6, '0');
}

export const currentStep = () => Math.floor(Date.now() / 1000 / 30);

/** Waits until the TOTP step is past `step` (a code is accepted once per step). */
export async function waitForStepAfter(step) {
  while (currentStep() <= step) await new Promise((r) => setTimeout(r, 500));
  return currentStep();
}

export async function shot(page, name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

// ---------- flows several tests share ----------

/** A one-time link in a caught mail (mailbox activation or console invitation). */
export const LINK = /http:\/\/\S+\/(activate\/mwm_|invite\/mwi_)[A-Za-z0-9_-]+/;

/** The page's flash message. */
export async function flash(page) {
  return (await page.locator('[data-testid=flash]').first().textContent()) ?? '';
}

/** Completes an operator/owner/tenant-user invitation (password + TOTP) in a fresh context;
 * returns the context, the signed-in page and the TOTP secret. */
export async function enrol(browser, mw, link, email, name, password) {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(link);
  if (await page.locator('#email').count()) await page.fill('#email', email);
  await page.fill('#display_name', name);
  await page.fill('#password', password);
  await page.fill('#confirm', password);
  await page.click('button[type=submit]');
  const secret = (await page.locator('[data-testid=totp-secret]').textContent()).replace(/\s+/g, '');
  await page.fill('#code', totp(secret, currentStep()));
  await page.click('button[type=submit]');
  await page.waitForURL(/\/welcome\/recovery-codes$/);
  await page.click('form[action="/account/recovery-codes/ack"] button');
  await page.waitForURL(/\/(portal)?$/);
  return { context, page, secret };
}

/** The mailbox owner sets a password from their link; returns page and recovery codes. */
export async function activate(browser, mw, link, password, shots = false) {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  await page.goto(link);
  if (shots) await shot(page, '21-activate');
  await page.fill('#pw', password);
  await page.fill('#pw2', password);
  await page.click('button[type=submit]');
  await page.waitForURL(`${mw.base}/me/recovery-codes`);
  const codes = (await page.locator('[data-testid=recovery-codes] li').allTextContents()).map((s) => s.trim());
  if (codes.length !== 10) throw new Error(`expected 10 recovery codes, got ${codes.length}`);
  if (shots) await shot(page, '22-owner-recovery-codes');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('a[href="/me/recovery-codes.txt"]'),
  ]);
  const text = readFileSync(await download.path(), 'utf8');
  for (const c of codes) if (!text.includes(c)) throw new Error('the downloaded file misses a code');
  await page.click('form[action="/me/recovery-codes/ack"] button');
  await page.waitForURL(`${mw.base}/me`);
  return { context, page, codes };
}

/** Signs a console user in again (password + TOTP at the server's clock, `offsetSecs` ahead). */
export async function signIn(mw, page, email, password, secret, offsetSecs = 0) {
  await page.goto(`${mw.base}/login`);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('button[type=submit]');
  await page.waitForURL(`${mw.base}/login/verify`);
  const step = Math.floor((Date.now() / 1000 + offsetSecs) / 30);
  await page.fill('#code', totp(secret, step));
  await page.click('button[type=submit]');
  await page.waitForURL(/\/(portal)?$/);
}

/** As the signed-in owner: a tenant "Acme Corp" on the Pro plan with acme.example active. */
export async function acmeWithDomain(mw, page) {
  await page.goto(`${mw.base}/tenants`);
  await page.fill('#t-name', 'Acme Corp');
  await page.selectOption('#t-plan', 'plan_pro');
  await page.click('form[action="/tenants"] button[type=submit]');
  await page.waitForURL(`${mw.base}/tenants/acme-corp`);
  await page.fill('#d-name', 'acme.example');
  await page.click('form[action="/tenants/acme-corp/domains"] button[type=submit]');
  await page.waitForURL(`${mw.base}/tenants/acme-corp`);
  await activateFirstPending(mw, page, 'acme-corp');
}

/**
 * As an owner on a tenant's page: activates its first pending domain with the owners'
 * override (these tests have no DNS for the challenge record), then back to the tenant page.
 */
export async function activateFirstPending(mw, page, slug) {
  await page.locator('[data-testid=domains-table] a', { hasText: 'Verify…' }).first().click();
  await page.waitForURL(/\/domains\/[^/]+\/dns$/);
  await page.locator('[data-testid=challenge] summary').click();
  await page.fill('#ov-reason', 'e2e: no DNS in this test');
  await page.click('[data-testid=challenge] form button[type=submit]');
  await page.waitForURL(/\/domains\/[^/]+$/);
  await page.goto(`${mw.base}/tenants/${slug}`);
}

/** As the signed-in owner: invites an operator; returns the mailed link. */
export async function inviteOperator(mw, sink, page, email) {
  await page.goto(`${mw.base}/operators`);
  await page.fill('input[name=email]', email);
  await page.click('form[action="/operators/invite"] button[type=submit]');
  await page.waitForURL(`${mw.base}/operators`);
  return sink.find(email, LINK);
}

/** How far the page reaches past the viewport's right edge (0 when it fits). */
export const overflow = (page) => page.evaluate(() =>
  Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth);

/**
 * The page as a phone shows it (390×844, every disclosure opened): screenshot `<name>-390`,
 * and how many pixels it is wider than the screen (0: it fits). Back to 1280×800 after.
 */
export async function onPhone(page, name) {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.evaluate(() => document.querySelectorAll('main details').forEach((d) => { d.open = true; }));
  const over = await overflow(page);
  await shot(page, `${name}-390`);
  await page.evaluate(() => document.querySelectorAll('main details').forEach((d) => { d.open = false; }));
  await page.setViewportSize({ width: 1280, height: 800 });
  return over;
}

/**
 * A private Knot DNS server on loopback, authoritative for `zones` ({ origin: extra zone-file
 * lines }; SOA, NS and ns1 at 127.0.0.1 are added). `update(zone, lines)` sends an RFC 2136
 * update with knsupdate (`update add …`, `update delete …`), as an operator editing DNS would.
 */
export const TSIG_NAME = 'mailward-e2e';
export const TSIG_SECRET = 'bWFpbHdhcmQtZTJlLXRzaWcta2V5LTMyLWJ5dGVzISE=';

export async function startKnot(zones, { tsigOnly = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mailward-knot-'));
  const port = await freePort();
  const root = process.getuid?.() === 0 ? '  user: root:root\n' : '';
  let conf = `server:\n${root}  listen: 127.0.0.1@${port}\n  rundir: ${dir}\ndatabase:\n  storage: ${dir}\n`
    + `log:\n  - target: stderr\n    any: warning\n`
    + `key:\n  - id: ${TSIG_NAME}\n    algorithm: hmac-sha256\n    secret: ${TSIG_SECRET}\n`
    + `acl:\n  - id: local_update\n    address: 127.0.0.1\n    action: update\n  - id: tsig_update\n    key: ${TSIG_NAME}\n    action: [transfer, update]\n`
    + `template:\n  - id: default\n    storage: ${dir}\n    file: "%s.zone"\n    acl: local_update\n    zonefile-sync: -1\n    journal-content: none\nzone:\n`;
  for (const [origin, body] of Object.entries(zones)) {
    conf += `  - domain: ${origin}\n`;
    // Zones that take updates only signed with the TSIG key (as a real provider's would).
    if (tsigOnly.includes(origin)) conf += '    acl: tsig_update\n';
    writeFileSync(join(dir, `${origin}.zone`),
      `$ORIGIN ${origin}.\n$TTL 60\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 127.0.0.1\n${body}\n`);
  }
  writeFileSync(join(dir, 'knot.conf'), conf);
  const knotd = ['/usr/sbin/knotd', 'knotd'].find((p) => !p.startsWith('/') || existsSync(p));
  const proc = spawn(knotd, ['-c', join(dir, 'knot.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const run = (cmd, args, input) => new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd}: ${out}`))));
    p.stdin.end(input || '');
  });
  const origin = Object.keys(zones)[0];
  for (let i = 0; ; i++) {
    const out = await run('kdig', ['@127.0.0.1', '-p', String(port), '+short', '+timeout=1', '+retry=0', origin, 'SOA']).catch(() => '');
    if (out.trim()) break;
    if (i > 100) throw new Error(`knotd did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    update: (zone, lines) => run('knsupdate', [], `server 127.0.0.1 ${port}\nzone ${zone}.\n`
      + (tsigOnly.includes(zone) ? `key hmac-sha256:${TSIG_NAME} ${TSIG_SECRET}\n` : '')
      + `${lines.join('\n')}\nsend\n`),
    /** The TXT values at `name`, as the server answers them. */
    txt: async (name) => (await run('kdig', ['@127.0.0.1', '-p', String(port), '+short', '+timeout=2', name, 'TXT']))
      .split('\n').filter(Boolean).map((l) => l.split('"').filter((_, i) => i % 2 === 1).join('')),
    stop: () => new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', resolve);
      proc.kill('SIGTERM');
    }),
  };
}

/** Approves the (first) waiting change on /approvals: "Approve and apply", then the same in the
 * dialog that says in words what applying does. */
export async function approveIn(page) {
  await page.locator('[data-testid=change] button', { hasText: 'Approve and apply' }).first().click();
  const dialog = page.locator('[role=dialog]');
  await dialog.waitFor();
  await dialog.locator('button', { hasText: 'Approve and apply' }).click();
}
