#!/usr/bin/env node
// Reference harness: runs MediaPipe's own pose solution (npm @mediapipe/pose
// 0.5.1675469404, wasm + WebGL) in Debian's headless Chromium and prints what
// it finds, so easel's C pose pipeline can be compared against it.
//
//   node tests/pose/mediapipe-ref.mjs --complexity 0|1 [--bench N] IMG...
//
// Prints one JSON line per image:
//   {"image":path,"width":W,"height":H,"landmarks":[[x,y,z,visibility(,presence)]x33]|null,
//    "world":[[x,y,z,visibility(,presence)]x33]|null,"ms":pose.send time,"flush_ms":...}
// x,y are MediaPipe's normalized coordinates (fractions of image width/height),
// z the model's relative depth; world landmarks are metres, hip-centred.
// (This package reports no "presence"; it would be a 5th element if it did.)
// Every image goes through the person detector, with no tracking from the
// image before: before each timed send the graph is flushed (--flush):
//   reset  (default) pose.reset(), then one untimed send of a 64x64 black
//          canvas, which absorbs the graph restart that reset() causes
//          (~7-10 s under SwiftShader) and on which the detector finds nothing;
//   blank  no reset(); untimed black-canvas sends until the graph reports no
//          pose (then the next frame goes through the detector). Gives
//          bit-identical landmarks to 'reset' and is ~10x faster overall.
// "ms" is the time of pose.send(image) alone (detector + landmark model +
// the GPU round trips); "flush_ms" the untimed flush before it.
// With --bench N each image is flushed+sent once untimed, then N timed times;
// "ms" is then the mean of the N and the line gets "ms_min"/"ms_max"/"runs";
// a final {"bench":...} line gives mean ms, sends/s, landmarks/s and the
// browser process tree's peak memory.
// Options:
//   --complexity 0|1|2   0 = pose_landmark_lite, 1 = full (default 1), 2 = heavy
//   --bench N            timed repetitions per image (default 0: one send)
//   --flush reset|blank  see above (default reset)
//   --inference cpu|webgl  where MediaPipe runs the models: cpu (default; its
//                        XNNPACK wasm build, useCpuInference) or webgl (its
//                        default off Apple devices: ML Drift on WebGL, here
//                        SwiftShader, which computes in lower precision)
//   --pkg DIR            @mediapipe/pose directory (hack/pose-ref.sh passes
//                        the pinned one)
//   --chromium PATH      browser binary (default /usr/bin/chromium)
//   --no-simd            load the non-SIMD wasm build
//   --verbose            browser console on stderr
// Run it through hack/pose-ref.sh, which installs the pinned playwright-core
// and @mediapipe/pose (hack/pose-ref/package-lock.json; no browser is
// downloaded) and Debian's chromium.
// Exits non-zero with a message on stderr on any failure; the HTTP server and
// the browser are always shut down.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

function die(msg) {
  process.stderr.write(`mediapipe-ref: ${msg}\n`);
  process.exitCode = 1;
  throw new Error(msg);
}

// ---- arguments ------------------------------------------------------------
const opt = { complexity: 1, bench: 0, pkg: null, chromium: '/usr/bin/chromium',
  simd: true, verbose: false, flush: 'reset', inference: 'cpu', images: [] };
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    const next = () => { if (i + 1 >= a.length) usage(`${v} needs a value`); return a[++i]; };
    if (v === '--complexity') opt.complexity = Number(next());
    else if (v === '--bench') opt.bench = Number(next());
    else if (v === '--pkg') opt.pkg = next();
    else if (v === '--chromium') opt.chromium = next();
    else if (v === '--flush') opt.flush = next();
    else if (v === '--no-simd') opt.simd = false;
    else if (v === '--inference') opt.inference = next();
    else if (v === '--verbose') opt.verbose = true;
    else if (v === '-h' || v === '--help') usage(null);
    else if (v.startsWith('--')) usage(`unknown option ${v}`);
    else opt.images.push(v);
  }
  if (![0, 1, 2].includes(opt.complexity)) usage('--complexity must be 0, 1 or 2');
  if (!Number.isInteger(opt.bench) || opt.bench < 0) usage('--bench must be a whole number >= 0');
  if (!['reset', 'blank'].includes(opt.flush)) usage('--flush must be reset or blank');
  if (opt.images.length === 0) usage('no image given');
}
function usage(err) {
  const u = 'usage: node tests/pose/mediapipe-ref.mjs --complexity 0|1 [--bench N] [--flush reset|blank] [--pkg DIR] [--chromium PATH] [--no-simd] [--verbose] IMG...';
  if (err) { process.stderr.write(`mediapipe-ref: ${err}\n${u}\n`); process.exit(2); }
  process.stdout.write(u + '\n'); process.exit(0);
}

function findPkg() {
  const cands = opt.pkg ? [opt.pkg] : [path.join(here, 'node_modules/@mediapipe/pose')];
  for (const d of cands) if (fs.existsSync(path.join(d, 'pose.js'))) return path.resolve(d);
  return null;
}

const MIME = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.html': 'text/html', '.json': 'application/json', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.gif': 'image/gif', '.bmp': 'image/bmp',
  '.svg': 'image/svg+xml', '.avif': 'image/avif' };

const PAGE = `<!doctype html><html><head><meta charset="utf-8">
<script src="/mp/pose.js" crossorigin="anonymous"></script></head><body>
<script>
window.__ref = {
  async init(complexity, simd, cpu) {
    if (typeof Pose === 'undefined') throw new Error('pose.js did not define Pose');
    const pose = new Pose({ locateFile: (f) => {
      if (!simd) f = f.replace('_simd_wasm_bin', '_wasm_bin');
      return '/mp/' + f; } });
    this.last = undefined;
    pose.onResults((r) => {
      const conv = (l) => l ? l.map((p) => {
        const o = [p.x, p.y, p.z, p.visibility === undefined ? null : p.visibility];
        if (p.presence !== undefined) o.push(p.presence);
        return o; }) : null;
      this.last = { landmarks: conv(r.poseLandmarks), world: conv(r.poseWorldLandmarks) };
    });
    pose.setOptions({ useCpuInference: cpu, modelComplexity: complexity, smoothLandmarks: false,
      enableSegmentation: false, smoothSegmentation: false,
      minDetectionConfidence: 0.5, minTrackingConfidence: 0.5, selfieMode: false });
    await pose.initialize();
    this.pose = pose;
    // Warm-up: the first send loads the landmark model and builds the graph
    // (seconds); do it on a blank canvas so per-image times are steady-state.
    const w = document.createElement('canvas'); w.width = 256; w.height = 256;
    w.getContext('2d').fillRect(0, 0, 256, 256);
    const t0 = performance.now();
    await pose.send({ image: w });
    const warmup_ms = performance.now() - t0;
    const c = document.createElement('canvas');
    const gl = c.getContext('webgl2') || c.getContext('webgl');
    let renderer = null;
    if (gl) { const e = gl.getExtension('WEBGL_debug_renderer_info');
      renderer = e ? gl.getParameter(e.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER); }
    return { renderer, warmup_ms, version: typeof VERSION !== 'undefined' ? VERSION : null };
  },
  async load(url) {
    const img = new Image();
    img.src = url;
    await img.decode();
    this.img = img;
    return { width: img.naturalWidth, height: img.naturalHeight };
  },
  // Make the next send start from scratch (person detector, no previous ROI).
  // 'reset': pose.reset(); the graph then restarts inside the next send (many
  // seconds under SwiftShader), so a blank canvas is sent to absorb that and
  // is not timed. 'blank': no reset; blank canvases are sent until the graph
  // reports no pose, after which the next frame goes through the detector.
  async flush(mode) {
    if (mode === 'reset') await this.pose.reset();
    for (let i = 0; i < 4; i++) {
      this.last = undefined;
      await this.pose.send({ image: this.blank });
      if (this.last && !this.last.landmarks) return;
    }
    throw new Error('the graph still reports a pose on a blank canvas');
  },
  async run(n, mode) {
    if (!this.blank) {
      this.blank = document.createElement('canvas'); this.blank.width = 64; this.blank.height = 64;
      const g = this.blank.getContext('2d'); g.fillStyle = '#000'; g.fillRect(0, 0, 64, 64);
    }
    const times = [], flushTimes = [];
    let res = null;
    for (let i = 0; i < n; i++) {
      const f0 = performance.now();
      await this.flush(mode);
      flushTimes.push(performance.now() - f0);
      this.last = undefined;
      const t0 = performance.now();
      await this.pose.send({ image: this.img });
      times.push(performance.now() - t0);
      if (this.last === undefined) throw new Error('pose.send resolved without calling onResults');
      res = this.last;
    }
    return { ...res, times, flushTimes };
  },
};
</script></body></html>`;

// ---- process-tree memory (optional) ----------------------------------------
function treeMem(rootPid) {
  let kids = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch { /* gone */ }
  }
  let rss = 0, pss = 0, n = 0;
  const stack = [...(kids.get(rootPid) || [])];
  while (stack.length) {
    const p = stack.pop();
    stack.push(...(kids.get(p) || []));
    try {
      const r = fs.readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      rss += Number((/^Rss:\s+(\d+)/m.exec(r) || [0, 0])[1]);
      pss += Number((/^Pss:\s+(\d+)/m.exec(r) || [0, 0])[1]);
      n++;
    } catch { /* gone or kernel thread */ }
  }
  return { rss_kb: rss, pss_kb: pss, procs: n };
}

// ---- main --------------------------------------------------------------------
let server = null, browser = null, memTimer = null;
const peak = { rss_kb: 0, pss_kb: 0, procs: 0 };

async function cleanup() {
  if (memTimer) clearInterval(memTimer);
  if (browser) { const b = browser; browser = null; await b.close().catch(() => {}); }
  if (server) { const s = server; server = null; s.closeAllConnections?.(); await new Promise((r) => s.close(() => r())); }
}
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => {
  process.stderr.write(`mediapipe-ref: ${sig}, shutting down\n`);
  cleanup().finally(() => process.exit(130));
});

async function main() {
  const pkg = findPkg();
  if (!pkg) die('no @mediapipe/pose package found (run `npm ci` in tests/pose, or pass --pkg DIR)');
  if (!fs.existsSync(opt.chromium)) die(`${opt.chromium} not found (apt-get install -y chromium)`);
  const images = opt.images.map((p) => {
    if (!fs.statSync(p, { throwIfNoEntry: false })?.isFile()) die(`image not found: ${p}`);
    return path.resolve(p);
  });
  let chromium;
  try { ({ chromium } = require('playwright-core')); } catch {
    die('playwright-core is not installed (run this through hack/pose-ref.sh)');
  }

  // Local HTTP server: / (the page), /mp/<file> (package), /img/<index> (images).
  server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    let file = null;
    if (u.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }); res.end(PAGE); return;
    } else if (u.pathname.startsWith('/mp/')) {
      const name = path.basename(decodeURIComponent(u.pathname.slice(4)));
      file = path.join(pkg, name);
    } else if (/^\/img\/\d+$/.test(u.pathname)) {
      file = images[Number(u.pathname.slice(5))];
    }
    if (!file || !fs.existsSync(file)) {
      if (opt.verbose) process.stderr.write(`http 404 ${u.pathname}\n`);
      res.writeHead(404); res.end('not found'); return;
    }
    res.writeHead(200, { 'content-type': MIME[path.extname(file).toLowerCase()] || 'application/octet-stream',
      'access-control-allow-origin': '*', 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((r, j) => { server.once('error', j); server.listen(0, '127.0.0.1', r); });
  const base = `http://127.0.0.1:${server.address().port}`;

  browser = await chromium.launch({
    executablePath: opt.chromium,
    headless: true,
    timeout: 60000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
      // WebGL without a GPU: ANGLE on SwiftShader (software Vulkan).
      '--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
      '--ignore-gpu-blocklist'],
  });
  memTimer = setInterval(() => {
    const m = treeMem(process.pid);
    if (m.pss_kb > peak.pss_kb) peak.pss_kb = m.pss_kb;
    if (m.rss_kb > peak.rss_kb) peak.rss_kb = m.rss_kb;
    if (m.procs > peak.procs) peak.procs = m.procs;
  }, 250);
  memTimer.unref();

  const page = await browser.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('dialog', (d) => { pageErrors.push(`dialog: ${d.message()}`); d.dismiss().catch(() => {}); });
  page.on('console', (m) => { if (opt.verbose) process.stderr.write(`[browser ${m.type()}] ${m.text()}\n`); });
  // Block anything not on our server (there is no other network anyway).
  await page.route((url) => !url.href.startsWith(base), (r) => r.abort());
  page.setDefaultTimeout(120000);

  await page.goto(base + '/', { waitUntil: 'load' });
  let info;
  try {
    if (opt.inference !== 'cpu' && opt.inference !== 'webgl') usage('--inference must be cpu or webgl');
    info = await page.evaluate(([c, s, cpu]) => window.__ref.init(c, s, cpu),
      [opt.complexity, opt.simd, opt.inference === 'cpu']);
  } catch (e) {
    die(`MediaPipe initialisation failed: ${e.message.split('\n')[0]}${pageErrors.length ? ' / ' + pageErrors.join(' / ') : ''}`);
  }
  if (pageErrors.length) die(`page error during initialisation: ${pageErrors.join(' / ')}`);
  process.stderr.write(`mediapipe-ref: @mediapipe/pose ${info.version ?? '?'} complexity ${opt.complexity}, ${opt.inference} inference, ` +
    `${opt.simd ? 'simd' : 'non-simd'} wasm, warm-up send ${info.warmup_ms.toFixed(0)} ms, WebGL renderer: ${info.renderer}\n`);

  const runs = opt.bench > 0 ? opt.bench : 1;
  let totalMs = 0, totalSends = 0, found = 0;
  const withPose = { ms: 0, n: 0 }, without = { ms: 0, n: 0 };
  for (let i = 0; i < images.length; i++) {
    let dims, r;
    try {
      dims = await page.evaluate((u) => window.__ref.load(u), `${base}/img/${i}`);
    } catch (e) { die(`cannot decode ${opt.images[i]} in Chromium: ${e.message.split('\n')[0]}`); }
    try {
      if (opt.bench > 0) await page.evaluate((m) => window.__ref.run(1, m), opt.flush); // warm-up
      r = await page.evaluate(([n, m]) => window.__ref.run(n, m), [runs, opt.flush]);
    } catch (e) {
      die(`pose.send failed on ${opt.images[i]}: ${e.message.split('\n')[0]}${pageErrors.length ? ' / ' + pageErrors.join(' / ') : ''}`);
    }
    if (pageErrors.length) die(`page error on ${opt.images[i]}: ${pageErrors.join(' / ')}`);
    const mean = r.times.reduce((a, b) => a + b, 0) / r.times.length;
    totalMs += r.times.reduce((a, b) => a + b, 0); totalSends += r.times.length;
    if (r.landmarks) found++;
    const bucket = r.landmarks ? withPose : without;
    bucket.ms += r.times.reduce((a, b) => a + b, 0); bucket.n += r.times.length;
    const out = { image: opt.images[i], width: dims.width, height: dims.height,
      landmarks: r.landmarks, world: r.world, ms: +mean.toFixed(3),
      flush_ms: +(r.flushTimes.reduce((a, b) => a + b, 0) / r.flushTimes.length).toFixed(1) };
    if (opt.bench > 0) Object.assign(out, { ms_min: +Math.min(...r.times).toFixed(3),
      ms_max: +Math.max(...r.times).toFixed(3), runs });
    process.stdout.write(JSON.stringify(out) + '\n');
  }
  const m = treeMem(process.pid);
  peak.pss_kb = Math.max(peak.pss_kb, m.pss_kb); peak.rss_kb = Math.max(peak.rss_kb, m.rss_kb);
  if (opt.bench > 0) {
    const meanMs = totalMs / totalSends;
    // landmarks_per_s: 33 landmarks per send that found a pose, over the time
    // of all sends (refusal images included, as they cost detector time too).
    const bench = { complexity: opt.complexity, flush: opt.flush, images: images.length,
      runs_per_image: runs, sends: totalSends, mean_ms: +meanMs.toFixed(1),
      mean_ms_pose: withPose.n ? +(withPose.ms / withPose.n).toFixed(1) : null,
      mean_ms_no_pose: without.n ? +(without.ms / without.n).toFixed(1) : null,
      sends_per_s: +(1000 / meanMs).toFixed(2),
      landmarks_per_s: +(33 * withPose.n * 1000 / totalMs).toFixed(1), images_with_pose: found,
      browser_peak_pss_mb: +(peak.pss_kb / 1024).toFixed(1),
      browser_peak_rss_sum_mb: +(peak.rss_kb / 1024).toFixed(1), browser_procs: peak.procs };
    process.stdout.write(JSON.stringify({ bench }) + '\n');
  } else {
    process.stderr.write(`mediapipe-ref: ${found}/${images.length} images with a pose; ` +
      `browser tree peak PSS ${(peak.pss_kb / 1024).toFixed(0)} MB (RSS sum ${(peak.rss_kb / 1024).toFixed(0)} MB, ${peak.procs} procs)\n`);
  }
}

try {
  await main();
} catch (e) {
  if (!process.exitCode) {
    process.stderr.write(`mediapipe-ref: ${e && e.message ? e.message.split('\n')[0] : e}\n`);
    process.exitCode = 1;
  }
} finally {
  await cleanup();
}
