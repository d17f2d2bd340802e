// peer_api.js - the peer tests/bench/api_http.sh measures easel's
// GET /v1/jobs/{id} beside: node:http and the pg package, a Pool of as
// many connections as easel has API threads, answering GET /jobs/:id with
// the same columns of the jobs row easel reads (timestamps as epoch ms,
// JSON columns as text), as JSON; 404 for an unknown or malformed id.
// Usage: node peer_api.js PORT POOL_SIZE   (DATABASE_URL in the environment)
// Prints "listening" once the port is open.
"use strict";
const http = require("node:http");
const { Pool } = require("pg");

const port = Number(process.argv[2]);
const size = Number(process.argv[3] || 2);
const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: size });
const ms = (c) => `(extract(epoch from j.${c}) * 1000)::bigint AS ${c}`;
const text =
  "SELECT j.id, j.type, j.model, j.result_model, j.status, j.priority, j.idempotency_key," +
  " j.payload::text AS payload, j.input::text AS input, j.metadata::text AS metadata," +
  " j.webhook, j.channel, j.owner, j.attempts, j.max_attempts, j.error_class," +
  " j.error_reason, j.error_message, j.result::text AS result, j.worker, " +
  ["created_at", "updated_at", "dispatched_at", "started_at", "finished_at",
   "heartbeat_at", "run_after"].map(ms).join(", ") +
  " FROM jobs j WHERE j.id = $1::uuid";
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function send(res, code, obj) {
  const b = JSON.stringify(obj);
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(b) });
  res.end(b);
}

http.createServer((req, res) => {
  const m = /^\/jobs\/([^/?]+)$/.exec(req.url);
  if (req.method !== "GET" || !m) return send(res, 404, { error: { code: "not_found" } });
  if (!uuid.test(m[1])) return send(res, 404, { error: { code: "not_found" } });
  pool.query({ name: "job", text, values: [m[1]] }).then(
    (r) => {
      if (r.rows.length === 0) return send(res, 404, { error: { code: "not_found" } });
      const j = r.rows[0];
      for (const k of ["payload", "input", "metadata", "result"])
        if (j[k] !== null) j[k] = JSON.parse(j[k]);
      send(res, 200, j);
    },
    (e) => send(res, 503, { error: { code: "unavailable", message: String(e.message) } }));
}).listen(port, "127.0.0.1", () => console.log("listening"));
