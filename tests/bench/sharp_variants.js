// sharp_variants.js - the same work as bench_variants.c, through sharp (npm):
// every source JPEG in a directory, one decode each (auto-rotated, failing
// on errors like easel), cloned into the "dall-e" preset's three variants
// encoded in parallel, with sharp's operation cache off as easel's is.
//
// Three passes, as bench_variants makes them: one image at a time (a job's
// latency), two images in flight (a 2-core node kept busy), and the 2048 px
// WebP q95 encode alone, from pixels already decoded and resized, to show
// how much of the time that one single-threaded call takes. Then the 1024 px
// square PNGs bench_variants made, as image models hand back, one at a time.
// Prints one human line per pass and "BENCH sharp_*" lines.
'use strict';
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

sharp.cache(false);
const dir = process.argv[2];
const all = fs.readdirSync(dir).sort();
const files = all.filter((f) => /^src-.*\.jpg$/.test(f));
const outputs = all.filter((f) => /^out-.*\.png$/.test(f));
const fit = { fit: 'inside', withoutEnlargement: true };
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

async function variants(file) {
  const img = sharp(fs.readFileSync(path.join(dir, file)), { failOn: 'error' }).rotate();
  return Promise.all([
    img.clone().resize(1024, 1024, fit).jpeg({ quality: 80, optimizeCoding: true }).toBuffer(),
    img.clone().resize(2048, 2048, fit).webp({ quality: 95 }).toBuffer(),
    img.clone().resize(256, 256, fit).jpeg({ quality: 75, optimizeCoding: true }).toBuffer(),
  ]);
}

// Every file of `list` through variants(), `inflight` at a time.
async function pass(list, inflight) {
  const out = [0, 0, 0];
  const lat = [];
  let next = 0;
  const c0 = cpuMs();
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (next < list.length) {
      const f = list[next++];
      const a = process.hrtime.bigint();
      (await variants(f)).forEach((b, i) => { out[i] += b.length; });
      lat.push(Number(process.hrtime.bigint() - a) / 1e6);
    }
  }));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  lat.sort((x, y) => x - y);
  return {
    ips: list.length / secs, p50: lat[Math.floor(lat.length / 2)],
    cpu: (cpuMs() - c0) / list.length, rss: process.resourceUsage().maxRSS / 1024, out,
  };
}

(async () => {
  const one = await pass(files, 1);
  console.log(`sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), one image at a time: ` +
    `${one.ips.toFixed(2)} images/s, p50 ${one.p50.toFixed(0)} ms, CPU ${one.cpu.toFixed(0)} ms/image, ` +
    `peak RSS ${one.rss.toFixed(1)} MB; out normal ${(one.out[0] / 1e6).toFixed(2)} MB ` +
    `hq ${(one.out[1] / 1e6).toFixed(2)} MB thumb ${(one.out[2] / 1e6).toFixed(2)} MB`);
  const two = await pass(files, 2);
  console.log(`sharp, two images in flight: ${two.ips.toFixed(2)} images/s, p50 ${two.p50.toFixed(0)} ms, ` +
    `CPU ${two.cpu.toFixed(0)} ms/image, peak RSS ${two.rss.toFixed(1)} MB`);
  // The WebP encode alone: decode and resize first, outside the clock.
  const n = Math.min(files.length, 5);
  let webp = 0;
  for (const f of files.slice(0, n)) {
    const { data, info } = await sharp(path.join(dir, f)).resize(2048, 2048, fit).raw()
      .toBuffer({ resolveWithObject: true });
    const c = cpuMs();
    await sharp(data, { raw: info }).webp({ quality: 95 }).toBuffer();
    webp += cpuMs() - c;
  }
  console.log(`sharp, the 2048 px WebP q95 encode alone: ${(webp / n).toFixed(0)} ms CPU per image`);
  const png = outputs.length ? await pass(outputs, 1) : { ips: 0, cpu: 0 };
  console.log(`sharp, provider outputs (1024 px square PNGs), one at a time: ${png.ips.toFixed(2)} ` +
    `images/s, CPU ${png.cpu.toFixed(0)} ms per image`);
  console.log(`BENCH sharp_images_per_s=${one.ips.toFixed(3)}`);
  console.log(`BENCH sharp_p50_ms=${one.p50.toFixed(1)}`);
  console.log(`BENCH sharp_cpu_ms_per_image=${one.cpu.toFixed(1)}`);
  console.log(`BENCH sharp_peak_rss_mb=${one.rss.toFixed(1)}`);
  console.log(`BENCH sharp_out_bytes=${one.out.join(',')}`);
  console.log(`BENCH sharp_2inflight_images_per_s=${two.ips.toFixed(3)}`);
  console.log(`BENCH sharp_2inflight_peak_rss_mb=${two.rss.toFixed(1)}`);
  console.log(`BENCH sharp_webp_ms=${(webp / n).toFixed(1)}`);
  console.log(`BENCH sharp_png_images_per_s=${png.ips.toFixed(3)}`);
  console.log(`BENCH sharp_png_cpu_ms_per_image=${png.cpu.toFixed(1)}`);
})().catch((e) => { console.error(e.message); process.exit(1); });
