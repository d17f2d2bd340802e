// peer_bullmq.js - the peer `make bench` sets beside `easel worker`: the
// worker a team would otherwise write on BullMQ, keeping the same record
// easel keeps. The producer adds N jobs and inserts each job's row
// (queued, with its history row); a BullMQ Worker at the given concurrency
// moves each row dispatched -> running -> succeeded, one statement per
// change writing the row and its history row, as easel's transitions do.
// The work itself is a no-op. Prints one JSON line: jobs, seconds, jobs/s.
// Usage: node peer_bullmq.js REDIS_URL DATABASE_URL N CONCURRENCY PROGRESS_ROWS
// (PROGRESS_ROWS: the progress events easel's runner records per job, so
// both keep the same history)
'use strict';
const { Queue, Worker } = require('bullmq');
const { Pool } = require('pg');
const crypto = require('crypto');

const [redisUrl, dbUrl, nArg, concArg, rowsArg] = process.argv.slice(2);
const n = parseInt(nArg, 10), conc = parseInt(concArg, 10), rows = parseInt(rowsArg || '1', 10);
const u = new URL(redisUrl);
const connection = { host: u.hostname, port: parseInt(u.port || '6379', 10) };
const db = new Pool({ connectionString: dbUrl, max: conc + 2 });

// one statement per change: the row and its history row
const move = `WITH j AS (UPDATE jobs SET status = $2, updated_at = now(),
    attempts = attempts + CASE WHEN $2 = 'dispatched' THEN 1 ELSE 0 END,
    dispatched_at = CASE WHEN $2 = 'dispatched' THEN now() ELSE dispatched_at END,
    started_at = CASE WHEN $2 = 'running' THEN now() ELSE started_at END,
    finished_at = CASE WHEN $2 = 'succeeded' THEN now() ELSE finished_at END,
    worker = $4, result = COALESCE($5::jsonb, result)
  WHERE id = $1 AND status = $3 RETURNING id, attempts)
  INSERT INTO job_events (job_id, from_status, to_status, attempt, reason, message)
  SELECT id, $3, $2, attempts, 'Peer', 'bullmq' FROM j`;
// progress: the job's stage and a typed history row, as the runner's
// progress events
const progress = `WITH j AS (UPDATE jobs SET stage = $2, percent = $3, updated_at = now()
    WHERE id = $1 AND status = 'running' RETURNING id, attempts)
  INSERT INTO job_events (job_id, attempt, kind, data, message)
  SELECT id, attempts, $4, $5::jsonb, $2 FROM j`;
const insert = `WITH j AS (INSERT INTO jobs (id, model, status, payload, max_attempts)
  VALUES ($1, 'peer/noop', 'queued', $2::jsonb, 3) RETURNING id)
  INSERT INTO job_events (job_id, to_status, attempt, reason, message)
  SELECT id, 'queued', 0, 'Queued', 'bullmq' FROM j`;

async function main() {
  const name = 'peer-' + process.pid;
  const queue = new Queue(name, { connection });
  const ids = Array.from({ length: n }, () => crypto.randomUUID());
  let done = 0, finish;
  const all = new Promise((r) => { finish = r; });
  const t0 = process.hrtime.bigint();
  const worker = new Worker(name, async (job) => {
    const id = job.data.id, who = 'bullmq:' + process.pid;
    await db.query(move, [id, 'dispatched', 'queued', who, null]);
    await db.query(move, [id, 'running', 'dispatched', who, null]);
    for (let i = 0; i < rows; i++)
      await db.query(progress, [id, 'model', 50, 'progress', '{"stage":"model","percent":50}']);
    await db.query(move, [id, 'succeeded', 'running', who, '{"outputs":[]}']);
  }, { connection, concurrency: conc, removeOnComplete: { count: 0 } });
  worker.on('completed', () => { if (++done === n) finish(); });
  // intake: the row, then the queue entry, in batches as a producer would
  for (let i = 0; i < n; i += 100) {
    const batch = ids.slice(i, i + 100);
    await Promise.all(batch.map((id) => db.query(insert, [id, JSON.stringify({ id })])));
    await queue.addBulk(batch.map((id) => ({ name: 'noop', data: { id } })));
  }
  await all;
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ jobs: n, seconds: secs, jobs_per_s: n / secs }));
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  await db.end();
}
main().catch((e) => { console.error(e); process.exit(1); });
