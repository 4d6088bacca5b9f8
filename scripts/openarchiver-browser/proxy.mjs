// A transparent logging proxy between Open Archiver's front end (its
// PORT_BACKEND) and eventauth: every request the front end's server makes to
// "the backend" is forwarded unchanged (headers too, Host included) and logged
// to backend.jsonl with the step browse.mjs is on (it says so with
// GET /__step?n=N&name=NAME, which is not forwarded). Passwords and tokens are
// never logged.
//
//   node proxy.mjs <listen-port> <eventauth-base-url> <log-file>

import http from 'node:http';
import fs from 'node:fs';

const [port, upstream, logFile] = process.argv.slice(2);
const up = new URL(upstream);
const log = fs.createWriteStream(logFile, { flags: 'a' });
let step = { n: 0, name: 'start' };

export function redact(text) {
  if (!text) return text;
  return text
    .replace(/("(?:password|currentPassword|newPassword|accessToken|token|mfaPendingToken)"\s*:\s*)"[^"]*"/g, '$1"…"')
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, 'eyJ…');
}

http.createServer((req, res) => {
  if (req.url.startsWith('/__step')) {
    const q = new URL(req.url, 'http://x').searchParams;
    step = { n: Number(q.get('n')), name: q.get('name') };
    res.writeHead(204).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const t0 = Date.now();
    const preq = http.request({
      host: up.hostname, port: up.port, method: req.method, path: req.url,
      headers: req.headers,
    }, (pres) => {
      const out = [];
      pres.on('data', (c) => out.push(c));
      pres.on('end', () => {
        const rbody = Buffer.concat(out);
        res.writeHead(pres.statusCode, pres.rawHeaders);
        res.end(rbody);
        log.write(JSON.stringify({
          step: step.n, step_name: step.name, method: req.method, path: req.url,
          status: pres.statusCode, ms: Date.now() - t0,
          bearer: /^Bearer /i.test(req.headers.authorization || ''),
          origin: req.headers.origin, host: req.headers.host,
          request: body.length ? redact(body.toString('utf8').slice(0, 600)) : undefined,
          response: redact(rbody.toString('utf8').slice(0, 600)),
          set_cookie: [].concat(pres.headers['set-cookie'] || []).map((c) => c.replace(/^([^=]+)=[^;]*/, '$1=…')),
        }) + '\n');
      });
    });
    preq.on('error', (e) => {
      log.write(JSON.stringify({ step: step.n, method: req.method, path: req.url, error: String(e) }) + '\n');
      res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'proxy: ' + e }));
    });
    preq.end(body);
  });
}).listen(Number(port), '127.0.0.1', () => console.log(`[proxy] 127.0.0.1:${port} -> ${upstream}`));
