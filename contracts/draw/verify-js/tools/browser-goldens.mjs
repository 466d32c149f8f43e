#!/usr/bin/env node
// Optional: runs golden directories through dist/verify.bundle.js in headless Chromium, from a
// page opened as a local file (as a citizen's saved page would be), and prints agreement and
// timing. Needs a `chromium` binary (Debian: apt-get install chromium); CI does not run it.
//
//   node tools/browser-goldens.mjs target/golden/local target/golden/quicknet …

import { readFileSync, writeFileSync, mkdtempSync, copyFileSync, rmSync } from 'node:fs';
import { join, resolve, dirname, basename } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url)); // tools/
const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error('usage: node tools/browser-goldens.mjs GOLDEN_DIR…');
  process.exit(2);
}
const cases = [];
for (const d of dirs) {
  const trust = readFileSync(join(d, 'trust.json')).toString('base64');
  for (const c of JSON.parse(readFileSync(join(d, 'cases.json'), 'utf8'))) {
    cases.push({ dir: basename(resolve(d)), ...c, r: readFileSync(join(d, c.file)).toString('base64'), t: trust });
  }
}
const tmp = mkdtempSync(join(tmpdir(), 'vrs-verify-browser-'));
copyFileSync(resolve(here, '..', 'dist', 'verify.bundle.js'), join(tmp, 'verify.bundle.js'));
writeFileSync(join(tmp, 'page.html'), `<!doctype html><meta charset="utf-8"><title>goldens</title><body>
<script src="verify.bundle.js"></script>
<script>
const CASES = ${JSON.stringify(cases)};
const b = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const out = [];
let agree = 0, disagree = 0;
const first = CASES.find((c) => c.valid) || CASES[0];
const f0 = performance.now();
const fr = window.vrsVerify.verifyReceipt(b(first.r), b(first.t));
const f1 = performance.now();
for (const c of CASES) {
  const r = window.vrsVerify.verifyReceipt(b(c.r), b(c.t));
  if (c.valid ? r.ok : !r.ok && r.check === c.check) agree++;
  else { disagree++; out.push('DISAGREE ' + c.dir + '/' + c.file + ': ' + (r.ok ? 'OK' : r.check + ' (' + r.reason + ')')); }
}
const warm = [];
for (let i = 0; i < 11; i++) { const a = performance.now(); window.vrsVerify.verifyReceipt(b(first.r), b(first.t)); warm.push(performance.now() - a); }
warm.sort((x, y) => x - y);
out.push('first receipt ' + (f1 - f0).toFixed(1) + ' ms (' + (fr.ok ? 'OK' : 'FAIL ' + fr.check) + '), warm median ' + warm[5].toFixed(1) + ' ms');
out.push('browser: ' + agree + ' passed, ' + disagree + ' failed');
document.body.textContent = out.join('\\n');
</script></body>`);
let dom;
try {
  dom = execFileSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--dump-dom', 'file://' + join(tmp, 'page.html')], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20, timeout: 300000,
  });
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
const body = /<body>([\s\S]*?)<\/body>/.exec(dom)?.[1] ?? '';
const text = body.replace(/<script[\s\S]*?<\/script>/g, '').trim();
console.log(text || '(the page printed nothing: the bundle failed to load or threw)');
process.exit(/browser: \d+ passed, 0 failed/.test(text) ? 0 : 1);
