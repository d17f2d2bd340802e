// sse_fanout.js - the load and the clock of tests/bench/sse_fanout.sh:
// CLIENTS SSE streams over node:http (10 per job by default), then EVENTS
// job_events rows INSERTed one at a time through the npm `pg` client at a
// steady RATE, each timed from its INSERT's answer (the commit, as the
// writer sees it) to its frame's arrival at every client, in this one
// process with one clock (performance.now()).
//   node sse_fanout.js LABEL BASE PATH_FMT JOBS_FILE PER_JOB EVENTS RATE SERVER_PID OUT.json
// PATH_FMT holds "{id}" for the job id (easel: /v1/jobs/{id}/stream).
// Reads the server's VmRSS from /proc before the streams open and once
// they have been idle 3 s. DATABASE_URL in the environment; TOKEN, when
// set, is sent as a bearer token.
'use strict';
const fs = require('fs');
const http = require('http');
const { Client } = require('pg');

const [label, base, pathFmt, jobsFile, perJob, nEvents, rate, pid, out] = process.argv.slice(2);
const jobs = fs.readFileSync(jobsFile, 'utf8').split('\n').filter(Boolean);
const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssKB = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const u = new URL(base);

const arrivals = new Map(); // seq -> [ms at each client]
let opened = 0, failed = 0, ended = 0;

function open(job) {
  return new Promise((resolve) => {
    const headers = { Accept: 'text/event-stream' };
    if (process.env.TOKEN) headers.Authorization = 'Bearer ' + process.env.TOKEN;
    const req = http.get({ host: u.hostname, port: u.port, path: pathFmt.replace('{id}', job), headers, agent: false }, (res) => {
      if (res.statusCode !== 200) { failed++; res.resume(); return resolve(false); }
      opened++;
      resolve(true);
      res.setEncoding('utf8');
      let buf = '';
      res.on('data', (chunk) => {
        const t = now();
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const m = /^id: (\d+)$/m.exec(frame);
          if (!m) continue;
          // a frame can beat its INSERT's answer (NOTIFY goes out at
          // commit): its entry is made here then, and its latency is < 0
          const seq = Number(m[1]);
          let a = arrivals.get(seq);
          if (!a) arrivals.set(seq, (a = []));
          a.push(t);
        }
      });
      res.on('end', () => ended++);
      res.on('error', () => ended++);
    });
    req.on('error', () => { failed++; resolve(false); });
  });
}

function pct(xs, p) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

(async () => {
  const db = new Client({ connectionString: process.env.DATABASE_URL });
  await db.connect();
  const rssBefore = rssKB();
  const t0 = now();
  // in waves of 100, as many clients arriving at once would
  const targets = [];
  for (const j of jobs) for (let k = 0; k < Number(perJob); k++) targets.push(j);
  for (let i = 0; i < targets.length; i += 100) await Promise.all(targets.slice(i, i + 100).map(open));
  const connectMs = now() - t0;
  await sleep(3000);
  const rssIdle = rssKB();

  // the events: one INSERT each, committed on its own, round robin over the jobs
  const commits = new Map();
  const gap = 1000 / Number(rate);
  const start = now();
  for (let i = 0; i < Number(nEvents); i++) {
    const wait = start + i * gap - now();
    if (wait > 0) await sleep(wait);
    const job = jobs[i % jobs.length];
    const sent = now();
    const r = await db.query(
      "INSERT INTO job_events (job_id, reason, message, kind, data) VALUES ($1, 'Bench', $2, 'logs', jsonb_build_object('line', $2::text)) RETURNING seq",
      [job, 'bench line ' + i]);
    commits.set(Number(r.rows[0].seq), [now(), sent]);
  }
  await sleep(2000);
  await db.end();

  // from the INSERT's answer (the commit as its writer learns of it); and,
  // as an upper bound, from the moment the INSERT was sent
  const toLast = [], toEach = [], fromSend = [];
  let missing = 0, early = 0;
  for (const [seq, [tc, ts]] of commits) {
    const a = arrivals.get(seq) || [];
    missing += Number(perJob) - a.length;
    if (a.length < Number(perJob)) continue;
    for (const t of a) { toEach.push(t - tc); if (t < tc) early++; }
    toLast.push(Math.max(...a) - tc);
    fromSend.push(Math.max(...a) - ts);
  }
  const res = {
    label, clients: targets.length, opened, failed, ended_early: ended, connect_ms: Math.round(connectMs),
    rss_before_kb: rssBefore, rss_idle_kb: rssIdle,
    kb_per_stream: (rssIdle - rssBefore) / Math.max(1, opened),
    events: commits.size, missing, early,
    last_p50_ms: pct(toLast, 50), last_p99_ms: pct(toLast, 99), last_max_ms: pct(toLast, 100),
    each_p50_ms: pct(toEach, 50), each_p99_ms: pct(toEach, 99),
    send_last_p50_ms: pct(fromSend, 50), send_last_p99_ms: pct(fromSend, 99),
  };
  fs.writeFileSync(out, JSON.stringify(res));
  console.log(JSON.stringify(res));
  process.exit(0);
})().catch((e) => { console.error('sse_fanout.js:', e && e.stack || e); process.exit(1); });
