// Sums up a run of browse.mjs: each step's verdict, then every request the
// front end's server made to eventauth (backend.jsonl, from proxy.mjs) and
// every /api/ request of the browser, grouped by (method, path, status); the
// answers 400 and up with their bodies. Writes <out>/report.md and prints it.
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
const backend = read('backend.jsonl');
const browser = read('browser.jsonl');
const norm = (p) => p.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, ':id').replace(/\?.*$/, '');
const lines = [];
lines.push('# Open Archiver front end against eventauth', '');
lines.push('| # | step | person | result | note / error |', '|---|---|---|---|---|');
for (const r of results) lines.push(`| ${r.step} | ${r.name} | ${r.person} | ${r.result} | ${(r.error || r.note || '').replace(/\|/g, '\\|')} |`);
const pass = results.filter((r) => r.result === 'pass').length;
lines.push('', `${pass} passed, ${results.length - pass} failed`, '');

function group(entries, title) {
  const g = new Map();
  for (const e of entries) {
    if (!e.method) continue;
    const k = `${e.method} ${norm(e.path)} → ${e.status ?? e.error}`;
    const v = g.get(k) || { n: 0, steps: new Set(), body: undefined };
    v.n += 1; v.steps.add(e.step);
    if ((e.status >= 400 || e.error) && !v.body) v.body = (e.response || e.error || '').slice(0, 200);
    g.set(k, v);
  }
  lines.push(`## ${title}`, '', '| request → status | count | steps | body (4xx/5xx) |', '|---|---|---|---|');
  for (const [k, v] of [...g.entries()].sort()) lines.push(`| ${k} | ${v.n} | ${[...v.steps].join(',')} | ${(v.body || '').replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`);
  lines.push('');
}
group(backend, "What the front end's server asked eventauth (proxy.mjs)");
group(browser.filter((e) => e.path && e.path.startsWith('/api/')), 'What the browser asked /api/ (the front end proxies it to eventauth)');
const errs = browser.filter((e) => e.pageerror || e.console || e.requestfailed);
if (errs.length) {
  lines.push('## Page errors and console errors', '');
  for (const e of errs) lines.push(`- step ${e.step} (${e.person}): ${(e.pageerror || e.console || `${e.requestfailed} ${e.failure}`).replace(/\n/g, ' ')}`);
  lines.push('');
}
fs.writeFileSync(path.join(out, 'report.md'), lines.join('\n'));
console.log(lines.join('\n'));
