// browser.js - test_stream_clients' page in headless Chromium (Debian's,
// driven by playwright-core): an EventSource and a WebSocket on one job,
// both authorised by ?access_token= as a browser must be, watch the job
// run from before it starts to its `done`.
//   node browser.js API JOB_ID READ_TOKEN WRITE_TOKEN OUT.json
// The controller serves no pages, so the page is the API's own /healthz
// (the same origin as the streams: no CORS involved); the code runs in it
// through page.evaluate. The job was created scheduled an hour ahead; the
// page asks for it to run now (POST /worker/jobs/{id}/process) only once
// both streams are open, so most of its events arrive live.
// Then a page of another origin tries both.
// Writes {sse: [...], ws: [...], before: {sse, ws}, badToken, crossOrigin}
// to OUT.json;
// the shell scenario does the checking.
'use strict';
const fs = require('fs');
const http = require('http');
const { chromium } = require('playwright-core');

const [api, jobId, readTok, writeTok, out] = process.argv.slice(2);

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => console.error('page:', m.text()));
    const resp = await page.goto(api + '/healthz');
    if (!resp || resp.status() !== 200) throw new Error('could not open ' + api + '/healthz');
    const got = await page.evaluate(async ({ jobId, readTok, writeTok }) => {
      const kinds = ['status', 'progress', 'logs', 'output', 'error', 'done'];
      const sse = [], ws = [];
      const before = {};
      let sseDone, wsDone, sseOpen, wsOpen;
      const sseEnd = new Promise((r) => (sseDone = r));
      const wsEnd = new Promise((r) => (wsDone = r));
      const sseUp = new Promise((r) => (sseOpen = r));
      const wsUp = new Promise((r) => (wsOpen = r));
      const tok = encodeURIComponent(readTok);

      const es = new EventSource(`/v1/jobs/${jobId}/stream?access_token=${tok}`);
      es.onopen = () => sseOpen();
      for (const k of kinds) {
        es.addEventListener(k, (e) => {
          // `event: error` frames and EventSource's own connection errors
          // share the name "error"; only the frames carry data
          if (e.data === undefined) return;
          sse.push({ event: k, id: e.lastEventId, data: JSON.parse(e.data) });
          if (k === 'done') { es.close(); sseDone(); }
        });
      }

      const sock = new WebSocket(`ws://${location.host}/v1/ws?access_token=${tok}`);
      sock.onopen = () => sock.send(JSON.stringify({ subscribe: { jobs: [jobId] } }));
      sock.onmessage = (m) => {
        const d = JSON.parse(m.data);
        if (d.type === 'subscribed') return wsOpen();
        if (d.type !== 'event') { ws.push({ event: 'unexpected', data: d }); return; }
        ws.push({ event: d.event, id: d.id === undefined ? '' : String(d.id), data: d.data });
        if (d.event === 'done') { sock.close(); wsDone(); }
      };
      const timeout = (ms, what) => new Promise((_, rej) => setTimeout(() => rej(new Error(what)), ms));
      await Promise.race([Promise.all([sseUp, wsUp]), timeout(20000, 'streams did not open')]);
      // what had arrived before the job was set going: the history
      before.sse = sse.length;
      before.ws = ws.length;
      const r = await fetch(`/worker/jobs/${jobId}/process`, {
        method: 'POST', headers: { Authorization: 'Bearer ' + writeTok },
      });
      before.process = r.status;
      await Promise.race([Promise.all([sseEnd, wsEnd]), timeout(90000, 'no done on both streams')]);

      // a wrong token: the EventSource gets a 401 and gives up (CLOSED)
      const badToken = await new Promise((res) => {
        const bad = new EventSource(`/v1/jobs/${jobId}/stream?access_token=not-a-token-0000000000`);
        bad.onerror = () => setTimeout(() => { res(bad.readyState); bad.close(); }, 100);
        bad.onmessage = () => res('message');
      });
      return { sse, ws, before, badToken };
    }, { jobId, readTok, writeTok });

    // a page of another origin (a loopback server of this script's): a
    // WebSocket needs no CORS; an EventSource needs the API to answer
    // Access-Control-Allow-Origin, and the API sends none today
    const other = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<!doctype html><title>another origin</title>');
    });
    await new Promise((r) => other.listen(0, '127.0.0.1', r));
    const page2 = await browser.newPage();
    await page2.goto(`http://localhost:${other.address().port}/`);
    got.crossOrigin = await page2.evaluate(async ({ api, jobId, readTok }) => {
      const tok = encodeURIComponent(readTok);
      const ws = await new Promise((res) => {
        const ids = [];
        const sock = new WebSocket(api.replace(/^http/, 'ws') + `/v1/ws?access_token=${tok}`);
        sock.onopen = () => sock.send(JSON.stringify({ subscribe: { jobs: [jobId] } }));
        sock.onmessage = (m) => {
          const d = JSON.parse(m.data);
          if (d.type === 'event') ids.push(d.event === 'done' ? 'done' : d.id);
          if (d.event === 'done') { sock.close(); res(ids); }
        };
        sock.onerror = () => res(ids.concat(['error']));
        setTimeout(() => res(ids.concat(['timeout'])), 15000);
      });
      const sse = await new Promise((res) => {
        const es = new EventSource(`${api}/v1/jobs/${jobId}/stream?access_token=${tok}`);
        es.addEventListener('done', () => { es.close(); res('read'); });
        es.onerror = (e) => { if (e.data === undefined) { es.close(); res('refused'); } };
        setTimeout(() => { es.close(); res('timeout'); }, 10000);
      });
      return { ws, sse };
    }, { api, jobId, readTok });
    other.close();
    fs.writeFileSync(out, JSON.stringify(got));
  } finally {
    await browser.close();
  }
})().catch((e) => { console.error('browser.js:', e && e.stack || e); process.exit(1); });
