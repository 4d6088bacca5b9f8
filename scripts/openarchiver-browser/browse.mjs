// Drives Open Archiver's own SvelteKit front end, whose backend is eventauth,
// as a person would, in Debian's Chromium through playwright-core. Started by
// run.sh (which builds the front end, starts eventauth, proxy.mjs and the
// front end); reads its settings from the environment:
//
//   BASE      the front end, e.g. http://127.0.0.1:3010
//   EA        eventauth itself (only for the JWT check), e.g. http://127.0.0.1:4010
//   PROXY     proxy.mjs (told which step we are on), e.g. http://127.0.0.1:4011
//   OUT       output directory: NN-step.png, results.json, browser.jsonl
//   CHROMIUM  /usr/bin/chromium
//   JWT_SECRET the secret shared by eventauth and the front end
//
// Every step saves a screenshot and a verdict in results.json; every answer
// of /api/ and of the pages the browser sees is logged to browser.jsonl
// (passwords and tokens never are). proxy.mjs logs what the front end's
// server asked eventauth (backend.jsonl); run.sh merges both into the report.

import { chromium } from 'playwright-core';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const BASE = process.env.BASE;
const OUT = process.env.OUT;
const PROXY = process.env.PROXY;
const SECRET = process.env.JWT_SECRET || '';
const ADMIN = { first: 'Ada', last: 'Admin', email: 'ada@example.com', password: 'Correct-Horse-42!' };
const NEWU = { first: 'Bea', last: 'Reader', email: 'bea@example.com', password: 'Battery-Staple-77!' };
const NEWU_PW2 = 'Battery-Staple-88!';
const NEW_ROLE = 'Auditors';

const results = [];
const netlog = fs.createWriteStream(path.join(OUT, 'browser.jsonl'));
let stepNo = 0;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage'],
});

function redact(text) {
  if (!text) return text;
  return text
    .replace(/("(?:password|currentPassword|newPassword|accessToken|token)"\s*:\s*)"[^"]*"/g, '$1"…"')
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, 'eyJ…');
}

async function newPerson(label) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: BASE });
  const page = await context.newPage();
  page.person = label;
  page.seen = [];
  page.on('response', async (r) => {
    const req = r.request();
    const url = new URL(r.url());
    const doc = req.resourceType() === 'document';
    const data = url.pathname.endsWith('/__data.json');
    if (!url.pathname.startsWith('/api/') && !doc && !data && req.method() === 'GET') return;
    if (url.pathname.startsWith('/_app/')) return;
    let body;
    if (!doc) { try { body = (await r.text()).slice(0, 600); } catch { body = undefined; } }
    const all = await r.allHeaders().catch(() => ({}));
    const entry = {
      person: label, step: stepNo, method: req.method(), path: url.pathname + url.search,
      status: r.status(), location: all['location'] || undefined,
      request: req.method() !== 'GET' ? redact(req.postData() || '') : undefined,
      response: body ? redact(body) : undefined,
    };
    page.seen.push(entry);
    netlog.write(JSON.stringify(entry) + '\n');
  });
  page.on('requestfailed', (req) => {
    const u = new URL(req.url());
    netlog.write(JSON.stringify({ person: label, step: stepNo, requestfailed: `${req.method()} ${u.origin}${u.pathname}`, failure: req.failure() && req.failure().errorText }) + '\n');
  });
  page.on('pageerror', (e) => netlog.write(JSON.stringify({ person: label, step: stepNo, pageerror: String(e).slice(0, 300) }) + '\n'));
  page.on('console', (m) => { if (m.type() === 'error') netlog.write(JSON.stringify({ person: label, step: stepNo, console: m.text().slice(0, 300) }) + '\n'); });
  return page;
}

async function step(name, page, fn) {
  stepNo += 1;
  await fetch(`${PROXY}/__step?n=${stepNo}&name=${encodeURIComponent(name)}`).catch(() => {});
  const shot = `${String(stepNo).padStart(2, '0')}-${name}.png`;
  const t0 = Date.now();
  const r = { step: stepNo, name, person: page.person, screenshot: shot };
  try {
    const note = await fn();
    r.result = 'pass';
    if (note) r.note = note;
  } catch (e) {
    r.result = 'fail';
    r.error = String(e && e.message ? e.message : e).split('\n').slice(0, 6).join(' | ');
  }
  await page.waitForTimeout(300);
  r.seconds = Math.round((Date.now() - t0) / 100) / 10;
  try { await page.screenshot({ path: path.join(OUT, shot), fullPage: true }); } catch (e) { r.screenshot_error = String(e); }
  r.url = page.url();
  results.push(r);
  console.log(`[browse] ${r.step} ${name}: ${r.result}${r.error ? ' — ' + r.error : ''}${r.note ? ' — ' + r.note : ''}`);
  fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(results, null, 2));
  return r.result === 'pass';
}

function check(cond, what) { if (!cond) throw new Error(what); }
const pathOf = (page) => new URL(page.url()).pathname;

async function idle(page) { await page.waitForLoadState('networkidle', { timeout: 20000 }).catch(() => {}); }

async function alertText(page) {
  // Alerts.svelte: a fixed box with the title and the message; read the page's text near them.
  await page.waitForTimeout(500);
  return (await page.locator('body').innerText()).replace(/\s+/g, ' ');
}

async function tokenCookie(page) {
  const cookies = await page.context().cookies();
  return cookies.find((c) => c.name === 'accessToken' || c.name.startsWith('accessToken_'));
}

function verifyHs256(token) {
  const [h, p, s] = token.split('.');
  const mac = crypto.createHmac('sha256', SECRET).update(`${h}.${p}`).digest('base64url');
  return { header: JSON.parse(Buffer.from(h, 'base64url')), payload: JSON.parse(Buffer.from(p, 'base64url')), ok: mac === s };
}

function lastApi(page, method, p) {
  return [...page.seen].reverse().find((e) => e.method === method && e.path.startsWith(p));
}

async function signIn(page, email, password) {
  await page.goto('/signin', { waitUntil: 'networkidle' });
  check(pathOf(page) === '/signin', `expected /signin, got ${pathOf(page)}`);
  await page.locator('#email').fill(email);
  await page.locator('#password').fill(password);
  const resp = page.waitForResponse((r) => r.url().endsWith('/api/v1/auth/login'), { timeout: 20000 });
  await page.locator('form button[type=submit]').click();
  return resp;
}

// ---------------------------------------------------------------- the admin
const admin = await newPerson('admin');

await step('first-visit-redirects-to-setup', admin, async () => {
  await admin.goto('/', { waitUntil: 'networkidle' });
  check(pathOf(admin) === '/setup', `landed on ${pathOf(admin)}, expected /setup`);
  await admin.locator('#first_name').waitFor({ timeout: 10000 });
});

await step('setup-creates-admin', admin, async () => {
  await admin.locator('#first_name').fill(ADMIN.first);
  await admin.locator('#last_name').fill(ADMIN.last);
  await admin.locator('#email').fill(ADMIN.email);
  await admin.locator('#password').fill(ADMIN.password);
  const respP = admin.waitForResponse((r) => r.url().endsWith('/api/v1/auth/setup'), { timeout: 20000 });
  await admin.locator('form button[type=submit]').click();
  const resp = await respP;
  const body = await resp.json().catch(() => ({}));
  check(resp.status() === 201, `POST /api/v1/auth/setup → ${resp.status()} ${JSON.stringify(body).slice(0, 200)}`);
  check(body.accessToken && body.user, 'setup answer lacks accessToken or user');
  await admin.waitForURL(/\/dashboard/, { timeout: 20000 });
  await idle(admin);
  check(pathOf(admin) === '/dashboard', `after setup on ${pathOf(admin)}`);
  const c = await tokenCookie(admin);
  check(c, 'no accessToken cookie after setup');
  await admin.getByRole('button', { name: /logout/i }).waitFor({ timeout: 10000 });
  return `user keys: ${Object.keys(body.user).join(',')}; role: ${body.user.role && body.user.role.name}`;
});

await step('token-is-hs256-with-shared-secret', admin, async () => {
  const c = await tokenCookie(admin);
  check(c, 'no accessToken cookie');
  const v = verifyHs256(c.value);
  check(v.header.alg === 'HS256', `alg ${v.header.alg}`);
  check(v.ok, 'signature does not verify with JWT_SECRET');
  check(v.payload.email === ADMIN.email, `email claim ${v.payload.email}`);
  check(Array.isArray(v.payload.roles), 'roles claim is not a list');
  const life = v.payload.exp - v.payload.iat;
  return `claims ${Object.keys(v.payload).join(',')}; roles ${JSON.stringify(v.payload.roles)}; lifetime ${life}s; cookie ${c.name}`;
});

await step('dashboard-reload-is-signed-in-server-side', admin, async () => {
  // A full page load: hooks.server.ts verifies the cookie with JWT_SECRET.
  await admin.goto('/dashboard', { waitUntil: 'networkidle' });
  check(pathOf(admin) === '/dashboard', `reload went to ${pathOf(admin)} (signed out?)`);
  await admin.getByRole('button', { name: /logout/i }).waitFor({ timeout: 10000 });
  const text = await alertText(admin);
  const m = text.match(/(\d{3})[^]{0,80}?(Not Found|Failed to fetch[^.]*|Route not found[^.]*)/i);
  return m ? `dashboard body shows an error (expected: eventauth serves no /v1/dashboard/*): "${m[0].slice(0, 120)}"` : 'dashboard rendered';
});

await step('root-redirects-signed-in-to-dashboard', admin, async () => {
  await admin.goto('/', { waitUntil: 'networkidle' });
  check(pathOf(admin) === '/dashboard', `/ went to ${pathOf(admin)}`);
  await admin.goto('/setup', { waitUntil: 'networkidle' });
  check(pathOf(admin) !== '/setup', '/setup still served after setup');
  return `/setup after setup → ${pathOf(admin)}`;
});

await step('account-page-shows-profile', admin, async () => {
  await admin.goto('/dashboard/settings/account', { waitUntil: 'networkidle' });
  check(pathOf(admin) === '/dashboard/settings/account', `went to ${pathOf(admin)}`);
  const text = await alertText(admin);
  check(text.includes(ADMIN.email), 'profile email not shown');
  check(text.includes(`${ADMIN.first} ${ADMIN.last}`), 'profile name not shown');
  const role = (text.match(/Role\s+(.{1,30}?)\s+Edit Profile/) || [])[1];
  return `role shown: ${role}`;
});

await step('account-edit-profile', admin, async () => {
  await admin.getByRole('button', { name: /edit profile/i }).click();
  await admin.locator('input[name=first_name]').fill('Adelaide');
  const respP = admin.waitForResponse((r) => r.url().includes('/dashboard/settings/account?/updateProfile'), { timeout: 20000 });
  await admin.getByRole('button', { name: /^save$/i }).click();
  const resp = await respP;
  const body = (await resp.text().catch((e) => String(e))).slice(0, 400);
  await idle(admin);
  const text = await alertText(admin);
  check(/"type":"success"/.test(body) && !/profileError/.test(body), `updateProfile action answered ${resp.status()} ${redact(body)}`);
  await admin.reload({ waitUntil: 'networkidle' });
  check((await alertText(admin)).includes(`Adelaide ${ADMIN.last}`), 'new first name not shown after reload');
  return text.includes('Operation successful') ? 'success alert shown' : undefined;
});

await step('users-page-lists-users-and-roles', admin, async () => {
  await admin.goto('/dashboard/settings/users', { waitUntil: 'networkidle' });
  check(pathOf(admin) === '/dashboard/settings/users', `went to ${pathOf(admin)}`);
  const text = await alertText(admin);
  check(text.includes(ADMIN.email), 'admin not listed');
  const row = admin.locator('tr', { hasText: ADMIN.email });
  const cells = await row.locator('td').allInnerTexts();
  check(!/Invalid Date/.test(cells.join('|')), `created-at shows Invalid Date: ${cells.join('|')}`);
  return `admin row: ${cells.slice(0, 4).join(' | ')}`;
});

await step('users-page-create-user-with-role', admin, async () => {
  await admin.getByRole('button', { name: /create new/i }).click();
  const dlg = admin.getByRole('dialog');
  await dlg.waitFor({ timeout: 10000 });
  await dlg.locator('#first_name').fill(NEWU.first);
  await dlg.locator('#last_name').fill(NEWU.last);
  await dlg.locator('#email').fill(NEWU.email);
  await dlg.locator('#password').fill(NEWU.password);
  await dlg.locator('[data-slot="select-trigger"], button[role=combobox]').first().click();
  const opts = await admin.getByRole('option').allInnerTexts();
  await admin.getByRole('option', { name: 'Read only' }).click();
  const respP = admin.waitForResponse((r) => r.url().endsWith('/api/v1/users') && r.request().method() === 'POST', { timeout: 20000 });
  await dlg.getByRole('button', { name: /submit/i }).click();
  const resp = await respP;
  const body = await resp.json().catch(() => ({}));
  check(resp.status() === 201, `POST /api/v1/users → ${resp.status()} ${JSON.stringify(body).slice(0, 200)}`);
  await admin.waitForTimeout(500);
  const row = admin.locator('tr', { hasText: NEWU.email });
  await row.waitFor({ timeout: 5000 });
  const cells = await row.locator('td').allInnerTexts();
  check(cells.some((c) => c.trim() === 'Read only'), `new row's role is not "Read only": ${cells.join('|')}`);
  return `role options: ${opts.join(', ')}; new row: ${cells.slice(0, 4).join(' | ')}`;
});

await step('users-page-edit-user', admin, async () => {
  const row = admin.locator('tr', { hasText: NEWU.email });
  await row.getByRole('button', { name: /open menu/i }).click();
  await admin.getByRole('menuitem', { name: /edit/i }).click();
  const dlg = admin.getByRole('dialog');
  await dlg.waitFor({ timeout: 10000 });
  await dlg.locator('#last_name').fill('Reader-Smith');
  const respP = admin.waitForResponse((r) => /\/api\/v1\/users\/[^/]+$/.test(r.url()) && r.request().method() === 'PUT', { timeout: 20000 });
  await dlg.getByRole('button', { name: /submit/i }).click();
  const resp = await respP;
  const body = await resp.json().catch(() => ({}));
  check(resp.status() === 200, `PUT /api/v1/users/:id → ${resp.status()} ${JSON.stringify(body).slice(0, 200)}`);
  await admin.waitForTimeout(500);
  const cells = await admin.locator('tr', { hasText: NEWU.email }).locator('td').allInnerTexts();
  check(cells.join('|').includes('Reader-Smith'), `row not updated: ${cells.join('|')}`);
  return `sent ${lastApi(admin, 'PUT', '/api/v1/users/')?.request}; row: ${cells.slice(0, 4).join(' | ')}`;
});

await step('roles-page-lists-roles', admin, async () => {
  await admin.goto('/dashboard/settings/roles', { waitUntil: 'networkidle' });
  check(pathOf(admin) === '/dashboard/settings/roles', `went to ${pathOf(admin)}`);
  const names = (await admin.locator('tbody tr td:first-child').allInnerTexts()).map((s) => s.trim());
  check(names.includes('Super Admin'), `roles listed: ${names.join(', ')}`);
  return `roles: ${names.join(', ')}`;
});

await step('roles-page-create-role-json', admin, async () => {
  await admin.getByRole('button', { name: /create new/i }).click();
  const dlg = admin.getByRole('dialog');
  await dlg.waitFor({ timeout: 10000 });
  await dlg.locator('#role-name').fill(NEW_ROLE);
  await dlg.getByRole('button', { name: /^json$/i }).click();
  await dlg.locator('#policies').fill(JSON.stringify([{ action: 'read', subject: 'archive' }], null, 2));
  const respP = admin.waitForResponse((r) => r.url().endsWith('/api/v1/iam/roles') && r.request().method() === 'POST', { timeout: 20000 });
  await dlg.getByRole('button', { name: /^save$/i }).click();
  const resp = await respP;
  const body = await resp.json().catch(() => ({}));
  check(resp.status() === 201, `POST /api/v1/iam/roles → ${resp.status()} ${JSON.stringify(body).slice(0, 200)}`);
  await admin.waitForTimeout(500);
  const names = (await admin.locator('tbody tr td:first-child').allInnerTexts()).map((s) => s.trim());
  check(names.includes(NEW_ROLE), `new role not listed: ${names.join(', ')}`);
  return `roles: ${names.join(', ')}`;
});

await step('other-pages-stay-signed-in', admin, async () => {
  // The archive, compliance, admin and settings pages call endpoints eventauth
  // does not serve (404 expected); what matters is that none signs the admin out.
  const pages = ['/dashboard/ingestions', '/dashboard/archived-emails', '/dashboard/ingestions/journaling',
    '/dashboard/search', '/dashboard/compliance/audit-log', '/dashboard/compliance/retention-policies',
    '/dashboard/compliance/retention-labels', '/dashboard/compliance/legal-holds', '/dashboard/admin/jobs',
    '/dashboard/admin/index', '/dashboard/admin/security', '/dashboard/admin/license',
    '/dashboard/settings/system', '/dashboard/settings/api-keys'];
  const seen = [];
  const out = [];
  for (const p of pages) {
    const resp = await admin.goto(p, { waitUntil: 'networkidle' });
    const text = await alertText(admin);
    const err = (text.match(/Error: (\d{3}) (.{0,60}?)(?: ©|$)/) || []);
    seen.push(pathOf(admin));
    out.push(`${p} → ${pathOf(admin) === p ? '' : pathOf(admin) + ' '}${resp ? resp.status() : '?'}${err[1] ? ` "Error: ${err[1]} ${err[2]}"` : ''}`);
  }
  check(!seen.includes('/signin'), `signed out on: ${out.filter((o) => o.includes('/signin')).join('; ')}`);
  return out.join('; ');
});

await step('logout-button-signs-out', admin, async () => {
  await admin.goto('/dashboard/settings/account', { waitUntil: 'networkidle' });
  await admin.getByRole('button', { name: /logout/i }).click();
  await admin.waitForURL(/\/signin/, { timeout: 10000 });
  check(!(await tokenCookie(admin)), 'accessToken cookie still there');
  await admin.goto('/dashboard', { waitUntil: 'networkidle' });
  check(pathOf(admin) === '/signin', `/dashboard after logout → ${pathOf(admin)}`);
  // What is left: the front end's Logout only drops its own cookie.
  const left = (await admin.context().cookies()).map((c) => `${c.name}${c.httpOnly ? ' (HttpOnly)' : ''}`);
  const probe = await admin.evaluate(async () => {
    const r = await fetch('/api/v1/auth/session');
    const b = await r.json().catch(() => ({}));
    return `${r.status} auth=${b.auth} user=${b.user ? b.user.email : null}`;
  });
  return `cookies left: ${left.join(', ') || 'none'}; GET /api/v1/auth/session (eventauth's Backstack surface, through the front end's proxy) → ${probe}`;
});

await step('signin-wrong-password-refused', admin, async () => {
  const resp = await signIn(admin, ADMIN.email, 'not-the-password');
  const body = await resp.json().catch(() => ({}));
  check(resp.status() === 401, `POST /api/v1/auth/login → ${resp.status()} ${JSON.stringify(body).slice(0, 200)}`);
  const text = await alertText(admin);
  check(pathOf(admin) === '/signin', `went to ${pathOf(admin)}`);
  check(text.includes(body.message || '¤'), `alert does not show "${body.message}"`);
  return `401 "${body.message}" shown`;
});

await step('signin-admin', admin, async () => {
  const resp = await signIn(admin, ADMIN.email, ADMIN.password);
  const body = await resp.json().catch(() => ({}));
  check(resp.status() === 200, `POST /api/v1/auth/login → ${resp.status()} ${JSON.stringify(body).slice(0, 200)}`);
  await admin.waitForURL(/\/dashboard/, { timeout: 20000 });
  await idle(admin);
  check(await tokenCookie(admin), 'no accessToken cookie');
  await admin.goto('/dashboard/settings/users', { waitUntil: 'networkidle' });
  check(pathOf(admin) === '/dashboard/settings/users', `users page → ${pathOf(admin)}`);
  return `login answer keys: ${Object.keys(body).join(',')}; requiresMfa: ${body.requiresMfa}`;
});

await step('logout-after-login', admin, async () => {
  // eventauth's login (shared with Backstack) also sets its HttpOnly BackstackJWT
  // cookie; the front end's proxy hands it to the browser, and Logout only drops
  // accessToken.
  await admin.getByRole('button', { name: /logout/i }).click();
  await admin.waitForURL(/\/signin/, { timeout: 10000 });
  check(!(await tokenCookie(admin)), 'accessToken cookie still there');
  const left = (await admin.context().cookies()).map((c) => `${c.name}${c.httpOnly ? ' (HttpOnly)' : ''}`);
  const probe = await admin.evaluate(async () => {
    const r = await fetch('/api/v1/auth/session');
    const b = await r.json().catch(() => ({}));
    return `${r.status} auth=${b.auth} user=${b.user ? b.user.email : null}`;
  });
  await admin.goto('/dashboard', { waitUntil: 'networkidle' });
  check(pathOf(admin) === '/signin', `/dashboard after logout → ${pathOf(admin)}`);
  return `cookies left: ${left.join(', ') || 'none'}; GET /api/v1/auth/session through the front end → ${probe}`;
});

await step('cleared-cookies-are-signed-out', admin, async () => {
  await signIn(admin, ADMIN.email, ADMIN.password);
  await admin.waitForURL(/\/dashboard/, { timeout: 20000 });
  await admin.context().clearCookies();
  await admin.goto('/dashboard/settings/users', { waitUntil: 'networkidle' });
  check(pathOf(admin) === '/signin', `went to ${pathOf(admin)}`);
});

// ------------------------------------------------------------ the new user
const bea = await newPerson('bea');

await step('signin-new-user', bea, async () => {
  const resp = await signIn(bea, NEWU.email, NEWU.password);
  const body = await resp.json().catch(() => ({}));
  check(resp.status() === 200, `POST /api/v1/auth/login → ${resp.status()} ${JSON.stringify(body).slice(0, 200)}`);
  await bea.waitForURL(/\/dashboard/, { timeout: 20000 });
  await idle(bea);
  const v = verifyHs256((await tokenCookie(bea)).value);
  return `roles claim ${JSON.stringify(v.payload.roles)}; user.role ${body.user && body.user.role && body.user.role.name}`;
});

await step('new-user-account-page', bea, async () => {
  await bea.goto('/dashboard/settings/account', { waitUntil: 'networkidle' });
  const text = await alertText(bea);
  check(text.includes(NEWU.email), 'email not shown');
  check(/Role\s+Read only/.test(text), 'role "Read only" not shown');
});

await step('new-user-users-page', bea, async () => {
  await bea.goto('/dashboard/settings/users', { waitUntil: 'networkidle' });
  const text = await alertText(bea);
  const listed = text.includes(ADMIN.email);
  const create = bea.getByRole('button', { name: /create new/i });
  let createNote = 'no create button';
  if (listed && await create.isVisible().catch(() => false)) {
    await create.click();
    const dlg = bea.getByRole('dialog');
    await dlg.locator('#first_name').fill('Eve');
    await dlg.locator('#last_name').fill('X');
    await dlg.locator('#email').fill('eve@example.com');
    await dlg.locator('#password').fill('Some-Pass-1234!');
    const respP = bea.waitForResponse((r) => r.url().endsWith('/api/v1/users') && r.request().method() === 'POST', { timeout: 20000 });
    await dlg.getByRole('button', { name: /submit/i }).click();
    const resp = await respP;
    const body = await resp.json().catch(() => ({}));
    check(resp.status() === 403, `read-only user's POST /api/v1/users → ${resp.status()} ${JSON.stringify(body).slice(0, 200)}`);
    createNote = `create refused ${resp.status()} "${body.message}"`;
    await bea.keyboard.press('Escape');
  }
  return `users listed: ${listed}; ${createNote}`;
});

await step('new-user-change-password', bea, async () => {
  await bea.goto('/dashboard/settings/account', { waitUntil: 'networkidle' });
  await bea.getByRole('button', { name: /change password/i }).click();
  await bea.locator('#currentPassword').fill(NEWU.password);
  await bea.locator('#newPassword').fill(NEWU_PW2);
  await bea.locator('#confirmNewPassword').fill(NEWU_PW2);
  const respP = bea.waitForResponse((r) => r.url().includes('?/updatePassword'), { timeout: 20000 });
  await bea.getByRole('dialog').locator('button[type=submit]').click();
  const resp = await respP;
  const body = (await resp.text().catch((e) => String(e))).slice(0, 400);
  check(/"type":"success"/.test(body) && !/passwordError/.test(body), `updatePassword action answered ${resp.status()} ${redact(body)}`);
  await idle(bea);
  // The token names a session; eventauth ends the caller's *other* sessions only.
  await bea.goto('/dashboard/settings/account', { waitUntil: 'networkidle' });
  const text = await alertText(bea);
  return `after change: on ${pathOf(bea)}, profile ${text.includes(NEWU.email) ? 'still' : 'no longer'} loads`;
});

await step('new-user-signin-with-new-password', bea, async () => {
  await bea.context().clearCookies();
  let resp = await signIn(bea, NEWU.email, NEWU.password);
  check(resp.status() === 401, `old password → ${resp.status()}`);
  resp = await signIn(bea, NEWU.email, NEWU_PW2);
  check(resp.status() === 200, `new password → ${resp.status()}`);
  await bea.waitForURL(/\/dashboard/, { timeout: 20000 });
});

// --------------------------------- what the admin's session sees of Bea's change
await step('admin-deletes-new-user', admin, async () => {
  await signIn(admin, ADMIN.email, ADMIN.password);
  await admin.waitForURL(/\/dashboard/, { timeout: 20000 });
  await admin.goto('/dashboard/settings/users', { waitUntil: 'networkidle' });
  const row = admin.locator('tr', { hasText: NEWU.email });
  await row.getByRole('button', { name: /open menu/i }).click();
  await admin.getByRole('menuitem', { name: /delete/i }).click();
  const respP = admin.waitForResponse((r) => /\/api\/v1\/users\/[^/]+$/.test(r.url()) && r.request().method() === 'DELETE', { timeout: 20000 });
  await admin.getByRole('dialog').getByRole('button', { name: /confirm|delete/i }).last().click();
  const resp = await respP;
  if (resp.status() !== 204 && resp.status() !== 200) {
    throw new Error(`DELETE /api/v1/users/:id → ${resp.status()} ${(await resp.text().catch(() => '')).slice(0, 200)}`);
  }
  await admin.waitForTimeout(500);
  check(!(await admin.locator('tr', { hasText: NEWU.email }).count()), 'row still shown');
  return `DELETE → ${resp.status()}`;
});

await step('deleted-user-token-still-opens-pages', bea, async () => {
  // Open Archiver's front end trusts a token that verifies; eventauth refuses it at the API.
  await bea.goto('/dashboard/settings/account', { waitUntil: 'networkidle' });
  const prof = await bea.evaluate(async () => {
    const t = (document.cookie.match(/accessToken[^=]*=([^;]+)/) || [])[1];
    const r = await fetch('/api/v1/users/profile', { headers: { Authorization: `Bearer ${t}` } });
    return { status: r.status, body: (await r.text()).slice(0, 200) };
  });
  return `page ${pathOf(bea)}; GET /api/v1/users/profile with the deleted user's token → ${prof.status} ${prof.body}`;
});

await browser.close();
const failed = results.filter((r) => r.result !== 'pass');
console.log(`[browse] ${results.length - failed.length} passed, ${failed.length} failed`);
fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(results, null, 2));
process.exitCode = failed.length ? 1 : 0;
