// schema-check: YAML or JSON documents against a JSON Schema (draft-07),
// with ajv and ajv-formats; run through hack/schema-check.sh, which puts
// the packages' folder in SCHEMA_CHECK_MODULES.
//
// usage: node check.mjs [--kind KIND] SCHEMA FILE|- ...
// Every error is printed as "Kind/name: /instance/path: message" (the
// file and the document's number for documents without a kind), then
// "schema-check: N documents, M invalid". Exit 0 all valid, 1 one is not,
// 2 bad usage, unreadable input, or --kind matching nothing.

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const modules = process.env.SCHEMA_CHECK_MODULES;
if (!modules) {
  console.error("schema-check: SCHEMA_CHECK_MODULES is not set (run hack/schema-check.sh)");
  process.exit(2);
}
const require = createRequire(join(modules, "resolver.js"));
const Ajv = require("ajv").default;
const addFormats = require("ajv-formats").default;
const YAML = require("yaml");

const args = process.argv.slice(2);
let kind = null;
if (args[0] === "--kind") {
  kind = args[1];
  args.splice(0, 2);
}
if (args.length < 2 || !kind && args[0].startsWith("-")) {
  console.error("usage: schema-check [--kind KIND] SCHEMA FILE|- ...");
  process.exit(2);
}
const read = (f) => readFileSync(f === "-" ? 0 : f, "utf8");

let validate;
try {
  const ajv = new Ajv({ allErrors: true, strict: true });
  addFormats(ajv);
  validate = ajv.compile(JSON.parse(read(args[0])));
} catch (e) {
  console.error(`schema-check: ${args[0]}: ${e.message}`);
  process.exit(2);
}

let n = 0;
let bad = 0;
for (const file of args.slice(1)) {
  let docs;
  try {
    docs = YAML.parseAllDocuments(read(file));
  } catch (e) {
    console.error(`schema-check: ${file}: ${e.message}`);
    process.exit(2);
  }
  docs.forEach((d, i) => {
    if (d.errors.length) {
      console.error(`schema-check: ${file}: document ${i + 1}: ${d.errors[0].message}`);
      process.exit(2);
    }
    const v = d.toJS();
    if (v === null || v === undefined) return;
    if (kind && v.kind !== kind) return;
    n++;
    const name = v.kind ? `${v.kind}/${v.metadata?.name ?? "?"}` : `${file}#${i + 1}`;
    if (!validate(v)) {
      bad++;
      for (const e of validate.errors) {
        const extra = e.params?.additionalProperty ? ` (${e.params.additionalProperty})` :
          e.params?.allowedValues ? ` (${e.params.allowedValues.join(", ")})` : "";
        console.log(`${name}: ${e.instancePath || "/"}: ${e.message}${extra}`);
      }
    }
  });
}
if (kind && n === 0) {
  console.error(`schema-check: no document of kind ${kind}`);
  process.exit(2);
}
console.log(`schema-check: ${n} documents, ${bad} invalid`);
process.exit(bad ? 1 : 0);
