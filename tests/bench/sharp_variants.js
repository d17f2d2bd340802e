// sharp_variants.js - the same work as bench_variants.c, through sharp (npm):
// every source JPEG in a directory, one decode each (auto-rotated, failing
// on errors like easel), cloned into the "dall-e" preset's three variants
// encoded in parallel, with sharp's operation cache off as easel's is.
// Prints one human line and "BENCH sharp_*" lines.
'use strict';
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

sharp.cache(false);
const dir = process.argv[2];
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.jpg')).sort();
const fit = { fit: 'inside', withoutEnlargement: true };

(async () => {
  const out = [0, 0, 0];
  const lat = [];
  const t0 = process.hrtime.bigint();
  for (const f of files) {
    const a = process.hrtime.bigint();
    const img = sharp(fs.readFileSync(path.join(dir, f)), { failOn: 'error' }).rotate();
    const r = await Promise.all([
      img.clone().resize(1024, 1024, fit).jpeg({ quality: 80, optimizeCoding: true }).toBuffer(),
      img.clone().resize(2048, 2048, fit).webp({ quality: 95 }).toBuffer(),
      img.clone().resize(256, 256, fit).jpeg({ quality: 75, optimizeCoding: true }).toBuffer(),
    ]);
    r.forEach((b, i) => { out[i] += b.length; });
    lat.push(Number(process.hrtime.bigint() - a) / 1e6);
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  lat.sort((x, y) => x - y);
  const ips = files.length / secs;
  const rss = process.resourceUsage().maxRSS / 1024;
  console.log(`sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}): ` +
    `${ips.toFixed(2)} images/s, p50 ${lat[Math.floor(lat.length / 2)].toFixed(0)} ms, ` +
    `peak RSS ${rss.toFixed(1)} MB; out normal ${(out[0] / 1e6).toFixed(2)} MB ` +
    `hq ${(out[1] / 1e6).toFixed(2)} MB thumb ${(out[2] / 1e6).toFixed(2)} MB`);
  console.log(`BENCH sharp_images_per_s=${ips.toFixed(3)}`);
  console.log(`BENCH sharp_peak_rss_mb=${rss.toFixed(1)}`);
  console.log(`BENCH sharp_out_bytes=${out.join(',')}`);
})().catch((e) => { console.error(e.message); process.exit(1); });
