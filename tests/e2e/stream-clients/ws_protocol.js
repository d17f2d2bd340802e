// ws_protocol.js - GET /v1/ws through the npm `ws` client: subscribe and
// unsubscribe, since as a number and per key, ping/pong at both levels,
// bad messages, owner-confined tokens, a job's end, and a slow consumer
// closed with 1008 while the other clients go on being served.
//   node ws_protocol.js   (settings from the environment, see below)
// Events are written as any writer would: INSERT INTO job_events through
// the npm `pg` client (the row's trigger numbers and announces it).
// Prints "PASS: ..." / "FAIL: ..." lines for hack/run-tests.sh.
'use strict';
const WebSocket = require('ws');
const { Client } = require('pg');

const E = process.env;
const API = E.API, WSURL = E.API.replace(/^http/, 'ws') + '/v1/ws';
const [JX, JY, JZ, JW, J7, J8] = [E.JX, E.JY, E.JZ, E.JW, E.J7, E.J8];
let fails = 0;
function check(what, ok, detail) {
  if (ok) console.log('PASS: ' + what);
  else { fails++; console.log('FAIL: ' + what); if (detail !== undefined) console.log('   got: ' + JSON.stringify(detail).slice(0, 600)); }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Client1 {
  constructor(token, query) {
    const opts = token ? { headers: { Authorization: 'Bearer ' + token } } : {};
    this.msgs = [];
    this.pings = 0;
    this.ws = new WebSocket(WSURL + (query || ''), opts);
    this.ws.on('message', (b) => { try { this.msgs.push(JSON.parse(b.toString())); } catch { this.msgs.push({ raw: b.toString() }); } });
    this.ws.on('ping', () => this.pings++);
    this.closed = new Promise((r) => this.ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    this.opened = new Promise((res) => {
      this.ws.on('open', () => res(true));
      this.ws.on('unexpected-response', (req, resp) => res('http ' + resp.statusCode));
      this.ws.on('error', (e) => res('error ' + e.message));
    });
  }
  send(m) { this.ws.send(typeof m === 'string' ? m : JSON.stringify(m)); }
  // waits for the first message after index `from` that pred accepts
  async next(pred, from = 0, ms = 10000) {
    const end = Date.now() + ms;
    for (;;) {
      for (let i = from; i < this.msgs.length; i++) if (pred(this.msgs[i])) return this.msgs[i];
      if (Date.now() > end) return null;
      await sleep(20);
    }
  }
  // sends m and waits for the answer of the given type
  async ask(m, type, ms) {
    const from = this.msgs.length;
    this.send(m);
    return this.next((x) => x.type === type || x.type === 'error', from, ms);
  }
  events(job) { return this.msgs.filter((m) => m.type === 'event' && m.event !== 'done' && (!job || m.job_id === job)).map((m) => m.id); }
  close() { try { this.ws.terminate(); } catch { /* gone */ } }
}

(async () => {
  const db = new Client({ connectionString: E.EASEL_DATABASE_URL });
  await db.connect();
  const seqs = async (job, after = 0) =>
    (await db.query('SELECT seq FROM job_events WHERE job_id = $1 AND seq > $2 ORDER BY seq', [job, after])).rows.map((r) => Number(r.seq));
  const emit = async (job, msg) =>
    Number((await db.query("INSERT INTO job_events (job_id, reason, message, kind, data) VALUES ($1, 'Test', $2, 'logs', jsonb_build_object('line', $2::text)) RETURNING seq", [job, msg])).rows[0].seq);
  const clients = [];
  const mk = (t, q) => { const c = new Client1(t, q); clients.push(c); return c; };
  try {
    // --- the handshake and its token ---------------------------------------
    const anon = mk(null);
    check('no token: the handshake is refused', (await anon.opened) !== true, await anon.opened);
    const wrong = mk('not-a-token-at-all-0000');
    check('a wrong token: the handshake is refused', (await wrong.opened) !== true, await wrong.opened);
    const viaQuery = mk(null, '?access_token=' + E.READ_TOKEN);
    check('?access_token= opens a WebSocket', (await viaQuery.opened) === true, await viaQuery.opened);
    viaQuery.close();

    const a = mk(E.READ_TOKEN);
    check('a read token opens a WebSocket', (await a.opened) === true, await a.opened);

    // --- ping/pong ----------------------------------------------------------
    let m = await a.ask({ ping: { n: 1, s: 'x' } }, 'pong');
    check('{"ping": x} -> {"type":"pong","data":x}', m && m.type === 'pong' && JSON.stringify(m.data) === '{"n":1,"s":"x"}', m);
    const p0 = a.pings;
    await sleep(3300);
    check('protocol PING frames every --stream-heartbeat (1 s): at least 2 in 3.3 s', a.pings - p0 >= 2, a.pings - p0);

    // --- bad messages ---------------------------------------------------------
    const bad = [
      ['text that is not JSON', 'not json'],
      ['a JSON array', '[1,2]'],
      ['an object with no known key', { hello: 1 }],
      ['a job id that is not a UUID', { subscribe: { jobs: ['not-a-uuid'] } }],
      ['jobs that is not an array', { subscribe: { jobs: JX } }],
      ['a negative since', { subscribe: { jobs: [JX], since: -1 } }],
      ['a fractional since', { subscribe: { jobs: [JX], since: 1.5 } }],
      ['an owner without a channel', { subscribe: { owners: ['u-7'] } }],
    ];
    for (const [what, msg] of bad) {
      m = await a.ask(msg, 'subscribed');
      check('bad message (' + what + '): error bad_message', m && m.type === 'error' && m.code === 'bad_message' && m.message, m);
    }
    const many = Array.from({ length: 101 }, (_, i) => '00000000-0000-4000-8000-' + String(i).padStart(12, '0'));
    m = await a.ask({ subscribe: { jobs: many } }, 'subscribed');
    check('101 subscriptions on one connection: error too_many_subscriptions', m && m.code === 'too_many_subscriptions', m);
    m = await a.ask({ ping: 2 }, 'pong');
    check('after the bad messages the connection still answers', m && m.type === 'pong' && m.data === 2, m);
    check('none of the bad messages subscribed anything', a.msgs.every((x) => x.type !== 'subscribed' && x.type !== 'event'));

    // --- subscribe from the start, then live -----------------------------------
    let from = a.msgs.length;
    m = await a.ask({ subscribe: { jobs: [JX] } }, 'subscribed');
    check('subscribe: {"type":"subscribed","jobs":[id],"owners":[]}', m && m.type === 'subscribed' && m.jobs[0] === JX && m.owners.length === 0, m);
    const live = [await emit(JX, 'live 1'), await emit(JX, 'live 2'), await emit(JX, 'live 3')];
    await a.next((x) => x.type === 'event' && x.id === live[2], from);
    check('without since: the job\'s whole history, then live events, as Postgres holds them', JSON.stringify(a.events(JX)) === JSON.stringify(await seqs(JX)), { got: a.events(JX), want: await seqs(JX) });
    m = a.msgs.find((x) => x.id === live[1]);
    check('an event message: type, event, id, job_id and the SSE data', m && m.event === 'logs' && m.job_id === JX && m.data.seq === live[1] && m.data.message === 'live 2' && m.data.job_id === JX && m.data.data.line === 'live 2', m);
    m = await a.ask({ subscribe: { jobs: [JX] } }, 'subscribed');
    const dupFrom = a.msgs.length;
    const after = await emit(JX, 'after a repeated subscribe');
    await a.next((x) => x.id === after, dupFrom);
    check('subscribing again to a followed job sends nothing twice', a.msgs.slice(dupFrom).filter((x) => x.type === 'event').length === 1, a.msgs.slice(dupFrom));

    // --- since: a number ----------------------------------------------------------
    const all = await seqs(JX);
    const sinceN = all[1];
    const b = mk(E.READ_TOKEN);
    await b.opened;
    m = await b.ask({ subscribe: { jobs: [JX], since: sinceN } }, 'subscribed');
    const mark = await emit(JX, 'marker b');
    await b.next((x) => x.id === mark);
    check('since N: exactly the events after N', JSON.stringify(b.events(JX)) === JSON.stringify(await seqs(JX, sinceN)), { got: b.events(JX), want: await seqs(JX, sinceN) });

    // --- since: per key; unsubscribe ----------------------------------------------
    await emit(JY, 'y 1'); await emit(JY, 'y 2'); await emit(JY, 'y 3');
    const ys = await seqs(JY), xs = await seqs(JX);
    const sx = xs[xs.length - 2], sy = ys[ys.length - 3];
    const c = mk(E.READ_TOKEN);
    await c.opened;
    m = await c.ask({ subscribe: { jobs: [JX, JY], since: { [JX]: sx, [JY]: sy } } }, 'subscribed');
    check('subscribe to two jobs at once', m && m.type === 'subscribed' && m.jobs.length === 2, m);
    const mx = await emit(JX, 'marker x'), my = await emit(JY, 'marker y');
    await c.next((x) => x.id === mx); await c.next((x) => x.id === my);
    check('since {id: N, id2: M}: each job from its own position',
      JSON.stringify(c.events(JX)) === JSON.stringify(await seqs(JX, sx)) && JSON.stringify(c.events(JY)) === JSON.stringify(await seqs(JY, sy)),
      { x: c.events(JX), wantx: await seqs(JX, sx), y: c.events(JY), wanty: await seqs(JY, sy) });
    m = await c.ask({ unsubscribe: { jobs: [JX] } }, 'unsubscribed');
    check('unsubscribe: {"type":"unsubscribed","jobs":[id]}', m && m.type === 'unsubscribed' && m.jobs[0] === JX, m);
    from = c.msgs.length;
    const gone = await emit(JX, 'after unsubscribe'), still = await emit(JY, 'still followed');
    await c.next((x) => x.id === still, from);
    check('after unsubscribe: none of that job\'s events, the other job\'s still', !c.msgs.some((x) => x.id === gone) && c.msgs.some((x) => x.id === still));

    // --- owners and owner-confined tokens ------------------------------------------
    const u7 = mk(E.U7_TOKEN);
    await u7.opened;
    m = await u7.ask({ subscribe: { owners: ['b2c:u-8'] } }, 'subscribed');
    check('an owner-confined token subscribing to another owner: error forbidden', m && m.type === 'error' && m.code === 'forbidden' && m.owner === 'b2c:u-8', m);
    from = u7.msgs.length;
    u7.send({ subscribe: { jobs: [J8] } });
    // the answer is "subscribed" (the ids are checked as ids), then the
    // fetch finds no such job for this token
    m = await u7.next((x) => x.type === 'error', from);
    check('another owner\'s job: error not_found naming the job', m && m.code === 'not_found' && m.job_id === J8, m);
    const nobody = '00000000-0000-4000-8000-00000000abcd';
    from = u7.msgs.length;
    u7.send({ subscribe: { jobs: [nobody] } });
    m = await u7.next((x) => x.type === 'error', from);
    check('an unknown job: error not_found', m && m.code === 'not_found' && m.job_id === nobody, m);
    check('nothing of the other owner\'s job reached the confined client', !u7.msgs.some((x) => x.type === 'event'));
    from = u7.msgs.length;
    m = await u7.ask({ subscribe: { owners: ['b2c:u-7'] } }, 'subscribed');
    check('its own owner: subscribed', m && m.type === 'subscribed' && m.owners[0] === 'b2c:u-7', m);
    const e7 = await emit(J7, 'owner event'), e8 = await emit(J8, 'other owner event');
    m = await u7.next((x) => x.id === e7, from);
    await sleep(300);
    check('an owner subscription starts from now and gets its owner\'s new events only', m && m.job_id === J7 && !u7.msgs.some((x) => x.id === e8) &&
      u7.msgs.slice(from).filter((x) => x.type === 'event').length === 1, u7.msgs.slice(from));
    m = await a.ask({ subscribe: { owners: ['b2c:u-7'], since: 0 } }, 'subscribed');
    const o7 = (await db.query("SELECT seq FROM job_events WHERE owner = 'b2c:u-7' ORDER BY seq")).rows.map((r) => Number(r.seq));
    await a.next((x) => x.id === o7[o7.length - 1]);
    check('an unconfined token follows any owner; since 0: the owner\'s whole history',
      JSON.stringify(a.msgs.filter((x) => x.type === 'event' && x.data && x.job_id === J7).map((x) => x.id)) === JSON.stringify(o7), o7);

    // --- a job's end: done, then its subscription is over --------------------------------
    const d = mk(E.READ_TOKEN);
    await d.opened;
    await d.ask({ subscribe: { jobs: [JZ] } }, 'subscribed');
    const r = await fetch(`${API}/v1/jobs/${JZ}/cancel`, { method: 'POST', headers: { Authorization: 'Bearer ' + E.WRITE_TOKEN } });
    check('cancel the followed job: 200', r.status === 200, r.status);
    m = await d.next((x) => x.event === 'done');
    const zs = await seqs(JZ);
    check('its end: the status event, then done with the job object and no id',
      m && m.job_id === JZ && m.id === undefined && m.data.id === JZ && m.data.status === 'canceled' &&
      JSON.stringify(d.events(JZ)) === JSON.stringify(zs), { done: m, got: d.events(JZ), want: zs });
    const afterDone = await emit(JZ, 'after done');
    const pz = await d.ask({ ping: 'z' }, 'pong');
    await sleep(300);
    check('after done the job\'s subscription is over', pz && !d.msgs.some((x) => x.id === afterDone));

    // --- a burst to a client that reads ----------------------------------------
    // 20 events of ~3 KB committed together: 60 KB, far less than the
    // kernel's socket buffers take on loopback, so a client that reads has
    // nothing unread for long; --stream-max-buffer (16 KiB here) is about
    // a client that does not read, not about the size of one burst
    const burst = mk(E.READ_TOKEN);
    await burst.opened;
    await burst.ask({ subscribe: { jobs: [JW], since: (await seqs(JW)).pop() } }, 'subscribed');
    const bids = (await db.query("INSERT INTO job_events (job_id, reason, message, kind, data) SELECT $1, 'Burst', 'b' || g, 'logs', jsonb_build_object('line', repeat('y', 3000)) FROM generate_series(1, 20) g RETURNING seq", [JW])).rows.map((r) => Number(r.seq)).sort((x, y) => x - y);
    const bend = await Promise.race([burst.next((x) => x.id === bids[bids.length - 1], 0, 10000), burst.closed]);
    check('a client that reads gets a 60 KB burst (20 events committed together) whole, not cut at --stream-max-buffer 16 KiB',
      JSON.stringify(burst.events(JW)) === JSON.stringify(bids), { last: bend, got: burst.events(JW).length, want: bids.length });

    // --- a slow consumer -------------------------------------------------------------
    const slow = mk(E.READ_TOKEN);
    await slow.opened;
    const tail = (await seqs(JX)).pop();
    m = await slow.ask({ subscribe: { jobs: [JX], since: tail } }, 'subscribed');
    check('the slow client subscribed', m && m.type === 'subscribed', m);
    slow.ws._socket.pause();
    const logLines = () => require('fs').readFileSync(E.CTL_LOG, 'utf8').split('\n').filter((l) => l.includes('slow consumer')).length;
    const cut0 = logLines();
    // ~3 KB each, about 18 MB: more than the kernel's socket buffers hold
    await db.query("INSERT INTO job_events (job_id, reason, message, kind, data) SELECT $1, 'Flood', 'n' || g, 'logs', jsonb_build_object('line', repeat('x', 3000)) FROM generate_series(1, 6000) g", [JX]);
    let t = 0;
    while (logLines() === cut0 && t++ < 200) await sleep(100);
    check('a client that reads nothing for --stream-stall-timeout (3 s) while events wait is given up on', logLines() > cut0);
    slow.ws._socket.resume();
    const closed = await Promise.race([slow.closed, sleep(15000).then(() => null)]);
    check('the slow client is closed with 1008 and a reason starting "slow consumer"',
      closed && closed.code === 1008 && closed.reason.startsWith('slow consumer'), closed);
    from = c.msgs.length;
    m = await c.ask({ ping: 'still there' }, 'pong');
    const ey = await emit(JY, 'after the slow one');
    const got = await c.next((x) => x.id === ey, from);
    check('the other clients are still served (pong, a new event)', m && m.data === 'still there' && got);
    check('the other clients lost no event on the way', (() => { const ids = c.events(JY); return ids.every((v, i) => i === 0 || v > ids[i - 1]); })(), c.events(JY));
  } catch (e) {
    check('ws_protocol.js ran to the end', false, String(e && e.stack || e));
  } finally {
    clients.forEach((x) => x.close());
    await db.end();
  }
  process.exit(fails ? 1 : 0);
})();
