#!/usr/bin/env node
// Node runner for the JavaScript receipt verifier.
//
//   node src/cli.js --trust trust.json receipt.json…   OK / FAIL <check> per receipt; exit 1 if any fails
//   node src/cli.js --cases DIR…                       golden directories (cases.json + trust.json)
//   node src/cli.js --self-test [--vectors FILE]       contracts/draw/vectors.json known answers
//   node src/cli.js --bench N --trust trust.json receipt.json   time N verifications
//
// `--bundle` first (e.g. `--bundle --cases DIR`) runs the committed browser bundle
// dist/verify.bundle.js instead of src/, loaded as a classic script in a bare context that has
// only what a browser page has (TextEncoder, TextDecoder): no Node modules, no network.

import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInNewContext } from 'node:vm';
import { verifyReceipt as verifySource } from './verify.js';
import { selfTest } from './selftest.js';

const here = dirname(fileURLToPath(import.meta.url));
const DRAW_DIR = resolve(here, '..', '..'); // contracts/draw

function usage() {
  process.stderr.write(
    'usage: node src/cli.js --trust TRUST.json RECEIPT.json…\n' +
      '       node src/cli.js --cases DIR…\n' +
      '       node src/cli.js --self-test [--vectors vectors.json]\n' +
      '       node src/cli.js --bench N --trust TRUST.json RECEIPT.json\n',
  );
  process.exit(2);
}

let verifyReceipt = verifySource;

function loadBundle() {
  const code = readFileSync(resolve(here, '..', 'dist', 'verify.bundle.js'), 'utf8');
  const window = { TextEncoder, TextDecoder, Uint8Array };
  window.window = window;
  window.globalThis = window;
  runInNewContext(`${code}\n;window.vrsVerify = vrsVerify;`, window, { filename: 'verify.bundle.js' });
  const api = window.vrsVerify;
  if (!api || typeof api.verifyReceipt !== 'function') throw new Error('the bundle does not expose vrsVerify.verifyReceipt');
  // Bytes must be the bundle context's own Uint8Array for its instanceof checks.
  return (receipt, trust) => api.verifyReceipt(new window.Uint8Array(receipt), new window.Uint8Array(trust));
}

function readBytes(path) {
  return new Uint8Array(readFileSync(path));
}

function runReceipts(trustPath, files) {
  const trust = readBytes(trustPath);
  let failed = 0;
  for (const f of files) {
    const r = verifyReceipt(readBytes(f), trust);
    if (r.ok) {
      console.log(`OK ${f}: ${r.plate} (pool ${r.pool}, round ${r.round})`);
    } else {
      failed++;
      console.log(`FAIL ${r.check} ${f}: ${r.reason}`);
    }
  }
  return failed === 0 ? 0 : 1;
}

function runCases(dirs) {
  let totalAgree = 0;
  let totalDisagree = 0;
  for (const dir of dirs) {
    const cases = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8'));
    const trust = readBytes(join(dir, 'trust.json'));
    let agree = 0;
    let disagree = 0;
    for (const c of cases) {
      const r = verifyReceipt(readBytes(join(dir, c.file)), trust);
      const ok = c.valid ? r.ok : !r.ok && r.check === c.check;
      if (ok) agree++;
      else {
        disagree++;
        const got = r.ok ? 'OK' : `FAIL ${r.check} (${r.reason})`;
        const want = c.valid ? 'OK' : `FAIL ${c.check}`;
        console.log(`DISAGREE ${join(dir, c.file)}: expected ${want}, got ${got}`);
      }
    }
    console.log(`${dir}: ${agree} agree, ${disagree} disagree (of ${cases.length})`);
    totalAgree += agree;
    totalDisagree += disagree;
  }
  console.log(`golden: ${totalAgree} passed, ${totalDisagree} failed`);
  return totalDisagree === 0 ? 0 : 1;
}

function runSelfTest(vectorsPath) {
  const vectors = JSON.parse(readFileSync(vectorsPath, 'utf8'));
  const qPath = resolve(DRAW_DIR, '..', 'beacons', 'drand-quicknet.json');
  const quicknet = existsSync(qPath) ? JSON.parse(readFileSync(qPath, 'utf8')) : undefined;
  const results = selfTest(vectors, { quicknet });
  let failed = 0;
  for (const r of results) {
    if (!r.ok) failed++;
    console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${r.detail ? ` — ${r.detail}` : ''}`);
  }
  console.log(`self-test: ${results.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

function runBench(n, trustPath, file) {
  const trust = readBytes(trustPath);
  const receipt = readBytes(file);
  const first = process.hrtime.bigint();
  const r0 = verifyReceipt(receipt, trust);
  const firstMs = Number(process.hrtime.bigint() - first) / 1e6;
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    verifyReceipt(receipt, trust);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const med = times.length ? times[Math.floor(times.length / 2)] : NaN;
  console.log(`${file}: ${r0.ok ? 'OK' : `FAIL ${r0.check}`}; first run ${firstMs.toFixed(1)} ms, median of ${n} further runs ${med.toFixed(1)} ms (min ${times[0]?.toFixed(1)}, max ${times[times.length - 1]?.toFixed(1)})`);
  return 0;
}

let args = process.argv.slice(2);
if (args[0] === '--bundle') {
  verifyReceipt = loadBundle();
  args = args.slice(1);
}
let code;
if (args[0] === '--self-test') {
  let vectorsPath = join(DRAW_DIR, 'vectors.json');
  if (args[1] === '--vectors' && args[2]) vectorsPath = args[2];
  code = runSelfTest(vectorsPath);
} else if (args[0] === '--cases' && args.length >= 2) {
  code = runCases(args.slice(1));
} else if (args[0] === '--trust' && args.length >= 3) {
  code = runReceipts(args[1], args.slice(2));
} else if (args[0] === '--bench' && args[2] === '--trust' && args.length === 5) {
  code = runBench(Number(args[1]), args[3], args[4]);
} else {
  usage();
}
process.exit(code);
