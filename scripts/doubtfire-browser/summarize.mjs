// Summarises a run of browse.mjs: the steps, then every request the browser
// sent to :3000 (eventauth, or page.route's stubs), grouped by (method, path,
// status, credential headers), with the bodies of 4xx/5xx answers. Writes
// <out>/report.md and prints it.
//
//   node summarize.mjs <out>

import fs from 'node:fs';
import path from 'node:path';

const out = process.argv[2];
const read = (f) => {
  const p = path.join(out, f);
  if (!fs.existsSync(p)) return [];
  return fs.readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
};
const results = fs.existsSync(path.join(out, 'results.json')) ? JSON.parse(fs.readFileSync(path.join(out, 'results.json'))) : [];
const browser = read('browser.jsonl');
const norm = (p) => p.replace(/\/users\/\d+/, '/users/:id').replace(/\?.*$/, '');
const lines = [];
lines.push('# Doubtfire web front end against eventauth', '');
lines.push('| # | step | person | result | note / error |', '|---|---|---|---|---|');
for (const r of results) lines.push(`| ${r.step} | ${r.name} | ${r.person} | ${r.result} | ${(r.error || r.note || '').replace(/\|/g, '\\|')} |`);
const pass = results.filter((r) => r.result === 'pass').length;
lines.push('', `${pass} of ${results.length} steps pass`, '');

const g = new Map();
for (const e of browser) {
  if (!e.method) continue;
  const hdr = e.auth_token_header ? `${e.auth_token_header}+${e.username_header !== undefined ? 'Username' : 'no Username'}` : '-';
  const k = `${e.method} ${norm(e.path)} → ${e.status}|${hdr}|${e.stubbed ? 'stub' : 'eventauth'}`;
  const v = g.get(k) || { n: 0, steps: new Set(), body: undefined };
  v.n += 1; v.steps.add(e.step);
  if (e.status >= 400 && !v.body) v.body = (e.response || '').slice(0, 200);
  g.set(k, v);
}
lines.push('## Requests to :3000', '', '| request → status | credential headers | answered by | count | steps | body (4xx/5xx) |', '|---|---|---|---|---|---|');
for (const [k, v] of [...g.entries()].sort()) {
  const [req, hdr, by] = k.split('|');
  lines.push(`| ${req} | ${hdr} | ${by} | ${v.n} | ${[...v.steps].join(',')} | ${(v.body || '').replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`);
}
lines.push('');
const errs = browser.filter((e) => e.pageerror || e.console || e.requestfailed);
if (errs.length) {
  lines.push('## Page errors, console errors, failed requests', '');
  for (const e of errs) lines.push(`- step ${e.step} (${e.person}): ${(e.pageerror || e.console || `${e.requestfailed} ${e.failure}`).replace(/\n/g, ' ')}`);
  lines.push('');
}
fs.writeFileSync(path.join(out, 'report.md'), lines.join('\n'));
console.log(lines.join('\n'));
