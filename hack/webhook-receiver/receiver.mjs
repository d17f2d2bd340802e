// A webhook receiver for easel's end-to-end tests. Every request is checked
// with the Standard Webhooks reference library (npm "standardwebhooks"),
// not with code of ours, and written as one JSON line to --log:
//   {"path", "id", "timestamp", "signature", "body", "at" (ms),
//    "status" (what we answered), "verified": [one boolean per --secret],
//    "tampered": whether a changed body still verifies (must be false),
//    "stale": whether the same message verifies ten minutes later (false)}
// What a path answers:
//   /ok              200
//   /fail/N/...      500 to the first N requests of each webhook-id, then 200
//   /gone            410
//   /redirect        302 to /ok on this server
//   /retry-after/S   503 with Retry-After: S to the first request of each id, then 200
// Usage: node receiver.mjs --port P --log FILE --secret whsec_... [--secret ...]
import { createServer } from "node:http";
import { appendFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const modules = process.env.WEBHOOK_RECEIVER_MODULES;
const { Webhook } = require(modules ? `${modules}/standardwebhooks` : "standardwebhooks");

const args = process.argv.slice(2);
const opt = { secret: [] };
for (let i = 0; i < args.length; i += 2) {
  const k = args[i].replace(/^--/, "");
  if (k === "secret") opt.secret.push(args[i + 1]);
  else opt[k] = args[i + 1];
}
const hooks = opt.secret.map((s) => new Webhook(s));
const seen = new Map(); // "path id" -> requests so far

function verifies(hook, body, headers) {
  try {
    hook.verify(body, headers);
    return true;
  } catch {
    return false;
  }
}

// The same message as if it arrived ten minutes later: the library must
// refuse it for its timestamp alone.
function verifiesLater(hook, body, headers) {
  const now = Date.now;
  Date.now = () => now() + 10 * 60 * 1000;
  try {
    return verifies(hook, body, headers);
  } finally {
    Date.now = now;
  }
}

createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const headers = {
      "webhook-id": req.headers["webhook-id"] ?? "",
      "webhook-timestamp": req.headers["webhook-timestamp"] ?? "",
      "webhook-signature": req.headers["webhook-signature"] ?? "",
    };
    const id = headers["webhook-id"];
    const key = `${req.url} ${id}`;
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    let status = 200;
    const extra = {};
    const parts = req.url.split("/");
    if (parts[1] === "fail" && n <= Number(parts[2])) status = 500;
    else if (parts[1] === "gone") status = 410;
    else if (parts[1] === "redirect") {
      status = 302;
      extra.Location = `http://${req.headers.host}/ok`;
    } else if (parts[1] === "retry-after" && n === 1) {
      status = 503;
      extra["Retry-After"] = parts[2];
    }
    const tampered = body.length ? body.slice(0, -1) + (body.endsWith("}") ? " }" : "}") : "x";
    const line = {
      path: req.url,
      method: req.method,
      id,
      timestamp: headers["webhook-timestamp"],
      signature: headers["webhook-signature"],
      content_type: req.headers["content-type"] ?? "",
      body,
      at: Date.now(),
      status,
      verified: hooks.map((h) => verifies(h, body, headers)),
      tampered: hooks.some((h) => verifies(h, tampered, headers)),
      stale: hooks.some((h) => verifiesLater(h, body, headers)),
    };
    appendFileSync(opt.log, JSON.stringify(line) + "\n");
    res.writeHead(status, { "Content-Type": "text/plain", ...extra });
    res.end(status < 300 ? "ok\n" : "no\n");
  });
}).listen(Number(opt.port), "127.0.0.1", () => {
  appendFileSync(opt.log, JSON.stringify({ listening: Number(opt.port) }) + "\n");
});
