// kube-validate: easel's strict check of Kubernetes objects, run by the
// tests on everything easel writes to a cluster or ships (manifests, the Helm
// chart's output, `easel render job`, objects a fake API server stored).
//
// Two checks, each from an official source:
//  - kubernetes-models: validators compiled from the Kubernetes OpenAPI
//    schemas (types, formats such as quantity and date-time, enums, required
//    fields);
//  - @kubernetes/client-node: its generated models list every field of
//    every type (attributeTypeMap). Walking the object along them finds the
//    fields the schema does not know, which the API server would drop or
//    refuse (a misspelt field is the usual way a manifest silently loses a
//    setting). The OpenAPI validators alone accept any extra field.
//
// usage: node validate.mjs [--skip-unknown-kinds] FILE|- ...
// Each input may hold several YAML or JSON documents; a document that is a
// List (kind ending in "List" with items) is checked item by item.
// Prints one line per problem, "Kind/name: field.path: what is wrong", then
// "kube-validate: N objects, M invalid". Exit 0 when every object is valid,
// 1 when one is not, 2 on bad usage or unreadable input.
//
// The wrapper hack/kube-validate.sh installs the packages and passes their
// node_modules folder in KUBE_VALIDATE_MODULES; the packages are looked up
// there, not next to this file, so it runs from the source tree.

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const modulesDir = process.env.KUBE_VALIDATE_MODULES;
if (!modulesDir) {
  console.error("kube-validate: KUBE_VALIDATE_MODULES is not set (run hack/kube-validate.sh)");
  process.exit(2);
}
const requireFrom = createRequire(join(modulesDir, "resolver.js"));
const load = (spec) => import(pathToFileURL(requireFrom.resolve(spec)).href);
// kubernetes-models publishes ESM builds next to the CommonJS ones; the
// resolver above follows "require", so switch to the .mjs file beside it.
const loadModels = (spec) => import(pathToFileURL(requireFrom.resolve(spec).replace(/\.js$/, ".mjs")).href);

const YAML = await load("yaml");

// ---------------------------------------------------------------- schemas
// The kubernetes-models module of one apiVersion ("v1" is the core group),
// or null when the package has none.
const groupModules = new Map();
async function groupModule(apiVersion) {
  if (!groupModules.has(apiVersion)) {
    let mod = null;
    if (/^[a-z0-9.-]+(\/[a-z0-9]+)?$/.test(apiVersion)) {
      try {
        mod = await loadModels(`kubernetes-models/${apiVersion}`);
      } catch {
        mod = null;
      }
    }
    groupModules.set(apiVersion, mod);
  }
  return groupModules.get(apiVersion);
}

// The class of a top-level kind: exported by its group module and carrying
// the same apiVersion and kind (nested types such as JobSpec carry none).
async function kindClass(apiVersion, kind) {
  const mod = await groupModule(apiVersion);
  const cls = mod && Object.hasOwn(mod, kind) ? mod[kind] : null;
  return cls && cls.apiVersion === apiVersion && cls.kind === kind ? cls : null;
}

// ----------------------------------------------------------- field models
// client-node names a type after its version and kind (V1Job), and puts the
// group in front where two groups share a name (CoreV1Event, EventsV1Event).
const fieldModels = new Map();
async function fieldModel(name) {
  if (!fieldModels.has(name)) {
    let cls = null;
    if (/^[A-Za-z0-9]+$/.test(name)) {
      try {
        const mod = await load(`@kubernetes/client-node/dist/gen/models/${name}.js`);
        cls = mod[name] && Array.isArray(mod[name].attributeTypeMap) ? mod[name] : null;
      } catch {
        cls = null;
      }
    }
    fieldModels.set(name, cls);
  }
  return fieldModels.get(name);
}

const upper = (s) => s.charAt(0).toUpperCase() + s.slice(1);
async function topFieldModel(apiVersion, kind) {
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "core" : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  const v = upper(version);
  for (const name of [`${upper(group.split(".")[0])}${v}${kind}`, `${v}${kind}`]) {
    const cls = await fieldModel(name);
    if (cls) return cls;
  }
  return null;
}

// Type names of client-node that are values, not objects with fields.
const LEAF_TYPES = new Set(["string", "number", "boolean", "any", "object", "Date", "IntOrString", "V1MicroTime"]);

const isPlainObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const fieldPath = (path, key) => (/^[A-Za-z_$][\w$-]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`);

// "V1SecurityContext", "CoreV1Event", "RbacV1Subject" as the API names them.
const shortType = (type) => type.replace(/^([A-Z][a-z]+)?V\d+((alpha|beta)\d+)?(?=[A-Z])/, "");

// Walks value along client-node type `type`, pushing "path: unknown field"
// for each key the type does not define. Types and required fields are the
// schema check's job; a value of the wrong shape is left to it.
async function unknownFields(value, type, path, out) {
  if (value === null || value === undefined || LEAF_TYPES.has(type)) return;
  let m = /^Array<(.+)>$/.exec(type);
  if (m) {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) await unknownFields(value[i], m[1], `${path}[${i}]`, out);
    }
    return;
  }
  m = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (m) {
    if (isPlainObject(value)) {
      for (const [k, v] of Object.entries(value)) await unknownFields(v, m[1], fieldPath(path, k), out);
    }
    return;
  }
  const cls = await fieldModel(type);
  if (!cls) {
    out.push(`${path || "(object)"}: no field list for type ${type} (validator out of date?)`);
    return;
  }
  if (!isPlainObject(value)) return;
  const fields = new Map(cls.attributeTypeMap.map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    const p = fieldPath(path, k);
    if (!fields.has(k)) {
      out.push(`${p}: unknown field "${k}" in ${shortType(type)}`);
      continue;
    }
    await unknownFields(v, fields.get(k), p, out);
  }
}

// ------------------------------------------------------- schema messages
// ajv's instancePath "/spec/containers/0/name" as "spec.containers[0].name".
function dotted(instancePath) {
  let out = "";
  for (const raw of instancePath.split("/").slice(1)) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    out = /^\d+$/.test(key) ? `${out}[${key}]` : fieldPath(out, key);
  }
  return out;
}

function valueAt(obj, instancePath) {
  let v = obj;
  for (const raw of instancePath.split("/").slice(1)) {
    if (v === null || typeof v !== "object") return undefined;
    v = v[raw.replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  return v;
}

function describe(e) {
  switch (e.keyword) {
    case "type": return `must be ${e.params.type}`;
    case "format": return `must be a ${e.params.format} string`;
    case "enum": return `must be one of ${e.params.allowedValues.join(", ")}`;
    case "pattern": return `must match ${e.params.pattern}`;
    default: return e.message;
  }
}

// One line per field from ajv's errors. A oneOf (int-or-string, quantity)
// fails with one error per branch at the same path: those become one line.
function schemaProblems(obj, errors) {
  const byPath = new Map();
  for (const e of errors) {
    let path = e.instancePath;
    let text;
    if (e.keyword === "required") {
      path = `${path}/${e.params.missingProperty}`;
      text = "required field is missing";
    } else if (e.keyword === "additionalProperties") {
      path = `${path}/${e.params.additionalProperty}`;
      text = "unknown field";
    }
    if (!byPath.has(path)) byPath.set(path, { errs: [], text: null });
    const entry = byPath.get(path);
    if (text) entry.text = text;
    else entry.errs.push(e);
  }
  const out = [];
  for (const [path, { errs, text }] of byPath) {
    let line = text;
    if (!line) {
      const alt = errs.filter((e) => e.keyword !== "oneOf" && e.keyword !== "anyOf");
      const choice = errs.length > alt.length;
      const parts = [...new Set(alt.map(describe))];
      line = choice ? `must be one of: ${parts.map((p) => p.replace(/^must be /, "")).join(" | ")}` : parts.join("; ");
      const v = valueAt(obj, path);
      if (v !== undefined && (typeof v !== "object" || v === null)) line += ` (got ${JSON.stringify(v)})`;
      else if (v !== undefined) line += ` (got ${Array.isArray(v) ? "a list" : "an object"})`;
    }
    out.push(`${dotted(path) || "(object)"}: ${line}`);
  }
  return out;
}

// YAML as kubectl reads it (sigs.k8s.io/yaml over go-yaml v2): YAML 1.1, so
// yes/no/on/off are booleans, but a timestamp-like scalar stays a string.
const YAML_OPTIONS = {
  version: "1.1",
  customTags: (tags) => tags.filter((t) => t.tag !== "tag:yaml.org,2002:timestamp"),
};

// ----------------------------------------------------------------- checks
async function checkObject(obj, opts) {
  if (!isPlainObject(obj)) return { problems: ["(document): not an object"] };
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !apiVersion || !kind) {
    return { problems: ["(object): apiVersion and kind are required strings"] };
  }
  const cls = await kindClass(apiVersion, kind);
  const fields = await topFieldModel(apiVersion, kind);
  if (!cls || !fields) {
    if (opts.skipUnknownKinds) return { skipped: true, problems: [] };
    // a schema without a field list: an API that current Kubernetes removed
    const why = cls ? "no field list (an API removed from current Kubernetes?)" : "no official schema";
    return { problems: [`(object): ${why} for apiVersion ${apiVersion} kind ${kind}`] };
  }
  const problems = [];
  try {
    new cls(obj).validate();
  } catch (e) {
    if (!Array.isArray(e.errors)) throw e;
    problems.push(...schemaProblems(obj, e.errors));
  }
  await unknownFields(obj, fields.name, "", problems);
  return { problems };
}

function objectName(obj) {
  const kind = isPlainObject(obj) && typeof obj.kind === "string" ? obj.kind : "?";
  const meta = isPlainObject(obj) && isPlainObject(obj.metadata) ? obj.metadata : {};
  return `${kind}/${meta.name ?? meta.generateName ?? "?"}`;
}

async function main(argv) {
  const opts = { skipUnknownKinds: false };
  const inputs = [];
  for (const a of argv) {
    if (a === "--skip-unknown-kinds") opts.skipUnknownKinds = true;
    else if (a === "-h" || a === "--help") {
      console.log("usage: kube-validate [--skip-unknown-kinds] FILE|- ...");
      return 0;
    } else if (a.startsWith("--")) {
      console.error(`kube-validate: unknown option ${a}`);
      return 2;
    } else inputs.push(a);
  }
  if (!inputs.length) {
    console.error("usage: kube-validate [--skip-unknown-kinds] FILE|- ...");
    return 2;
  }
  let count = 0, invalid = 0, skipped = 0;
  const where = (input, n) => (inputs.length > 1 ? ` (${input === "-" ? "stdin" : input}, document ${n})` : "");
  for (const input of inputs) {
    let text;
    try {
      text = readFileSync(input === "-" ? 0 : input, "utf8");
    } catch (e) {
      console.error(`kube-validate: ${input}: ${e.message}`);
      return 2;
    }
    const docs = YAML.parseAllDocuments(text, YAML_OPTIONS);
    let n = 0;
    for (const doc of Array.isArray(docs) ? docs : [docs]) {
      n++;
      if (doc.errors && doc.errors.length) {
        console.log(`${input}: document ${n}: YAML error: ${doc.errors[0].message.split("\n")[0]}`);
        count++;
        invalid++;
        continue;
      }
      const value = doc.toJS({ maxAliasCount: 1000 });
      if (value === null || value === undefined) continue; // an empty document
      const items = isPlainObject(value) && typeof value.kind === "string" && value.kind.endsWith("List") && Array.isArray(value.items)
        ? value.items : [value];
      for (const obj of items) {
        count++;
        const { problems, skipped: skip } = await checkObject(obj, opts);
        if (skip) {
          skipped++;
          console.log(`${objectName(obj)}: skipped, no official schema for ${obj.apiVersion} ${obj.kind}${where(input, n)}`);
          continue;
        }
        if (problems.length) invalid++;
        for (const p of problems) console.log(`${objectName(obj)}: ${p}${where(input, n)}`);
      }
    }
  }
  console.log(`kube-validate: ${count} objects, ${invalid} invalid${skipped ? `, ${skipped} skipped` : ""}`);
  return invalid ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
