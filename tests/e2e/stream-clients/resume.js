// resume.js - an SSE client of the npm `eventsource` package that follows
// one stream through a list of replicas, as it would behind a load
// balancer: its fetch goes to the current replica and, when that one
// refuses the connection, to the next. The reconnects are the package's
// own (after the server's `retry:`), with the Last-Event-ID it kept.
//   node resume.js PATH TOKEN OUT.json REPLICA_URL...
// PATH is a job's /v1/jobs/{id}/stream or /v1/events?owner=... Appends
// every event's id to OUT.json.ids as it arrives (the scenario watches
// that file) and, at `done` or on SIGTERM (an owner's stream never ends),
// writes {events: [...], connects: [{url, lastEventId}], done} to OUT.json.
'use strict';
const fs = require('fs');
const { EventSource } = require('eventsource');

const [path, token, out, ...replicas] = process.argv.slice(2);
let cur = 0;
const connects = [];
const events = [];
fs.writeFileSync(out + '.ids', '');

async function failover(input, init) {
  const path = new URL(input).pathname + new URL(input).search;
  let lastErr;
  for (let i = 0; i < replicas.length; i++) {
    const url = replicas[cur] + path;
    const h = init.headers || {};
    connects.push({ url: replicas[cur], lastEventId: h['Last-Event-ID'] || null });
    try {
      return await fetch(url, { ...init, headers: { ...h, Authorization: 'Bearer ' + token } });
    } catch (e) {
      lastErr = e;
      connects[connects.length - 1].refused = true;
      cur = (cur + 1) % replicas.length;
    }
  }
  throw lastErr;
}

const es = new EventSource(replicas[0] + path, { fetch: failover });
process.on('SIGTERM', () => {
  es.close();
  fs.writeFileSync(out, JSON.stringify({ events, connects, done: null }));
  process.exit(0);
});
const timer = setTimeout(() => {
  console.error('resume.js: no done within 120 s');
  fs.writeFileSync(out, JSON.stringify({ events, connects, done: null }));
  process.exit(1);
}, 120000);
for (const k of ['status', 'progress', 'logs', 'output', 'error', 'done']) {
  es.addEventListener(k, (e) => {
    // an `event: error` frame and the EventSource's own connection error
    // share the name; only the frame carries data
    if (e.data === undefined) return;
    const d = JSON.parse(e.data);
    if (k === 'done') {
      es.close();
      clearTimeout(timer);
      fs.writeFileSync(out, JSON.stringify({ events, connects, done: d }));
      return;
    }
    events.push({ id: Number(e.lastEventId), event: k, replica: replicas[cur] });
    fs.appendFileSync(out + '.ids', e.lastEventId + '\n');
  });
}
es.onerror = (e) => console.error('resume.js: stream error:', e.message || e.code || '', '(reconnecting)');
