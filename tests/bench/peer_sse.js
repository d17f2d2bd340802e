// peer_sse.js - the peer tests/bench/sse_fanout.sh measures easel's SSE
// fan-out beside: node:http and the pg package, the usual way to build it.
// One connection LISTENs on easel_events; each announced row ("<job> <seq>
// [owner]") is read back from job_events by seq (as easel's hub reads the
// rows it is told of) and written as one SSE frame to every client of its
// job. GET /v1/jobs/:id/stream opens a stream (no history, no auth).
// Usage: node peer_sse.js PORT   (DATABASE_URL in the environment)
// Prints "listening" once the port is open.
'use strict';
const http = require('node:http');
const { Client } = require('pg');

const port = Number(process.argv[2]);
const listen = new Client({ connectionString: process.env.DATABASE_URL });
const reader = new Client({ connectionString: process.env.DATABASE_URL });
const streams = new Map(); // job id -> Set of responses
const path = /^\/v1\/jobs\/([0-9a-f-]{36})\/stream$/;

listen.on('notification', async (n) => {
  const [job, seq] = n.payload.split(' ');
  const subs = streams.get(job);
  if (!subs || !subs.size) return;
  const r = await reader.query(
    'SELECT seq, job_id, at, from_status, to_status, attempt, reason, message, kind, data FROM job_events WHERE seq = $1', [seq]);
  if (!r.rows.length) return;
  const e = r.rows[0];
  const frame = `id: ${e.seq}\nevent: ${e.kind || 'status'}\ndata: ${JSON.stringify({
    seq: Number(e.seq), at: e.at, from: e.from_status, to: e.to_status, attempt: e.attempt,
    reason: e.reason, message: e.message, kind: e.kind, data: e.data, job_id: e.job_id })}\n\n`;
  for (const res of subs) res.write(frame);
});

const server = http.createServer((req, res) => {
  const m = path.exec(req.url);
  if (req.method !== 'GET' || !m) { res.writeHead(404); res.end(); return; }
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
  res.write('retry: 1000\n\n');
  let subs = streams.get(m[1]);
  if (!subs) streams.set(m[1], (subs = new Set()));
  subs.add(res);
  req.on('close', () => subs.delete(res));
});
server.keepAliveTimeout = 0;
server.headersTimeout = 0;
server.requestTimeout = 0;

(async () => {
  await listen.connect();
  await reader.connect();
  await listen.query('LISTEN easel_events');
  server.listen(port, '127.0.0.1', () => console.log('listening'));
})().catch((e) => { console.error('peer_sse.js:', e); process.exit(1); });
