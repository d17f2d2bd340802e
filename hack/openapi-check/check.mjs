// openapi-check: easel's checks of its OpenAPI document (docs/openapi.json)
// and of the server's real responses against it. The judging is done by
// third-party validators from the npm registry:
//  - @seriousme/openapi-schema-validator: the document against the official
//    OpenAPI JSON schemas, with every internal $ref resolved;
//  - ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1) with ajv-formats:
//    each schema of the document compiled in strict mode (an unknown keyword
//    is an error), and response bodies validated against them.
// What is written here only finds things: the operation for a concrete
// method and path, the response for a status, the schema for a media type.
//
// usage:
//   check.mjs doc FILE
//       FILE is a valid OpenAPI 3.1 document: the official schema, every
//       schema compiles, each {param} of a path is a path parameter and the
//       other way round, operationIds are unique.
//   check.mjs routes FILE
//       one line per operation, "METHOD /path/{param}", sorted.
//   check.mjs response [--unrouted] FILE METHOD PATH STATUS BODYFILE [CONTENT-TYPE [HEADERSFILE]]
//       the response to METHOD PATH (a concrete path; a query string is
//       ignored) with STATUS and the body in BODYFILE is what the document
//       says. CONTENT-TYPE "-" or absent: the one from HEADERSFILE, else
//       application/json. HEADERSFILE is what `curl -D` wrote; the headers
//       the response declares required must be in it, and every declared
//       header present must match its schema.
//   check.mjs batch [--unrouted] FILE
//       the same for each line of stdin, "METHOD PATH STATUS BODYFILE
//       [CONTENT-TYPE|- [HEADERSFILE]]" (blank lines and # comments skipped).
// --unrouted: the server answers a path the document lacks with 404 and a
// method a documented path lacks with 405; with this flag those two are
// checked against components.responses.NotFound and MethodNotAllowed
// instead of being refused as undocumented.
//
// response and batch print one line per problem, "WHERE: what is wrong", the
// schema location named as a JSON pointer into the document, then
// "openapi-check: N responses, M invalid". Exit 0 when all is valid, 1 when
// something is invalid or undocumented, 2 on bad usage, an unreadable file
// or a document that is not valid.
//
// hack/openapi-check.sh installs the packages and passes their folder in
// OPENAPI_CHECK_MODULES; they are resolved there, so this file runs from the
// source tree.

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const modules = process.env.OPENAPI_CHECK_MODULES;
if (!modules) {
  console.error("openapi-check: OPENAPI_CHECK_MODULES is not set (run hack/openapi-check.sh)");
  process.exit(2);
}
const req = createRequire(join(modules, "index.js"));
const importPkg = async (spec) => import(pathToFileURL(req.resolve(spec)).href);

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const ROOT_ID = "urn:easel:openapi";
const SCHEMAS = "#/components/schemas/";

class Usage extends Error {}

function readText(file) {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new Usage(`cannot read ${file}: ${e.code || e.message}`);
  }
}

function loadDoc(file) {
  const text = readText(file);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Usage(`${file} is not JSON: ${e.message}`);
  }
}

const escPointer = (s) => String(s).replaceAll("~", "~0").replaceAll("/", "~1");
const unescPointer = (s) => s.replaceAll("~1", "/").replaceAll("~0", "~");
const pointer = (...parts) => "#/" + parts.map(escPointer).join("/");

// The object a local "#/a/b" reference names, or undefined.
function lookup(doc, ref) {
  if (typeof ref !== "string" || !ref.startsWith("#/")) return undefined;
  let node = doc;
  for (const part of ref.slice(2).split("/").map(unescPointer)) {
    if (node === null || typeof node !== "object" || !Object.hasOwn(node, part)) return undefined;
    node = node[part];
  }
  return node;
}

// Follows $ref chains of an OpenAPI object (a response, parameter, header):
// [the object, its location as a pointer].
function deref(doc, obj, where) {
  for (let hops = 0; obj && typeof obj === "object" && typeof obj.$ref === "string"; hops++) {
    if (hops > 20) throw new Error(`${where}: $ref loop`);
    const target = lookup(doc, obj.$ref);
    if (target === undefined) throw new Error(`${where}: $ref ${obj.$ref} names nothing`);
    where = obj.$ref;
    obj = target;
  }
  return [obj, where];
}

// ------------------------------------------------------------- schemas
// The document's schemas go to ajv as one schema resource, ROOT_ID, whose
// $defs are components.schemas; every "#/components/schemas/X" becomes an
// absolute reference into it, so any schema of the document compiles on
// its own. Each object of the copies is remembered with its location in
// the document, which is how an error names the schema it comes from.
const origin = new WeakMap();
function rewriteRefs(node, where) {
  if (Array.isArray(node)) return node.map((v, i) => rewriteRefs(v, `${where}/${i}`));
  if (node === null || typeof node !== "object") return node;
  const out = {};
  origin.set(out, where);
  for (const [k, v] of Object.entries(node)) {
    if (k === "$ref" && typeof v === "string") {
      if (v.startsWith(SCHEMAS)) out[k] = `${ROOT_ID}#/$defs/${v.slice(SCHEMAS.length)}`;
      else throw new Error(`$ref ${v}: a schema may only refer to ${SCHEMAS}*`);
    } else {
      out[k] = rewriteRefs(v, `${where}/${escPointer(k)}`);
    }
  }
  return out;
}

async function makeSchemas(doc) {
  const { default: Ajv2020 } = await importPkg("ajv/dist/2020.js");
  const { default: addFormats } = await importPkg("ajv-formats");
  const ajv = new Ajv2020({
    strict: true,
    strictTypes: false, // {"type": ["object", "null"], "required": [...]} is fine
    allowUnionTypes: true,
    allErrors: true,
    verbose: true, // errors carry the schema object they come from
    validateFormats: true,
  });
  addFormats(ajv);
  // keywords the OpenAPI 3.1 dialect adds to JSON Schema; annotations only
  ajv.addVocabulary(["example", "discriminator", "xml", "externalDocs"]);
  ajv.addSchema({ $id: ROOT_ID, $defs: rewriteRefs(doc.components?.schemas ?? {}, "#/components/schemas") });
  const cache = new Map();
  return {
    // the validator of the schema at document location `where`
    get(schema, where) {
      if (!cache.has(where)) {
        let fn;
        if (where.startsWith(SCHEMAS) && !where.slice(SCHEMAS.length).includes("/"))
          fn = ajv.getSchema(`${ROOT_ID}#/$defs/${where.slice(SCHEMAS.length)}`);
        else fn = ajv.compile(rewriteRefs(schema, where));
        cache.set(where, fn);
      }
      return cache.get(where);
    },
    // the pointer into the document of the keyword an ajv error is about
    locate(e) {
      const at = origin.get(e.parentSchema);
      return at ? `${at}/${escPointer(e.keyword)}` : e.schemaPath;
    },
  };
}

const shown = (v) => {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
};

// One line per ajv error: where in the instance, what, which schema.
// `what` names the instance: "body" or "header X".
function describe(schemas, errors, instance, label, what0) {
  // the errors about one property name are said by its propertyNames error
  return errors.filter((e) => e.propertyName === undefined).map((e) => {
    let at = e.instancePath;
    let what = e.message;
    if (e.keyword === "propertyNames") {
      at = `${e.instancePath}/${escPointer(e.params.propertyName)}`;
      what = "property name not allowed";
    } else if (e.keyword === "required") {
      at = `${e.instancePath}/${escPointer(e.params.missingProperty)}`;
      what = "required property is missing";
    } else if (e.keyword === "additionalProperties") {
      at = `${e.instancePath}/${escPointer(e.params.additionalProperty)}`;
      what = `unknown property "${e.params.additionalProperty}"`;
    } else if (e.keyword === "enum") {
      what = `must be one of ${e.params.allowedValues.map(shown).join(", ")}`;
    }
    if (["type", "enum", "const", "format", "pattern", "minimum", "maximum"].includes(e.keyword)) {
      let v = instance;
      for (const part of e.instancePath.split("/").slice(1)) v = v?.[unescPointer(part)];
      what += ` (got ${shown(v)})`;
    }
    return `${label}: ${what0}${at}: ${what} [schema ${schemas.locate(e)}]`;
  });
}

// ------------------------------------------------------------- the document
async function checkDoc(file) {
  const doc = loadDoc(file);
  const problems = [];
  // another version would be judged by another version's schema
  if (typeof doc.openapi !== "string" || !/^3\.1\.\d+$/.test(doc.openapi))
    return [`openapi: must be 3.1.x (got ${shown(doc.openapi)})`];
  const { Validator } = await importPkg("@seriousme/openapi-schema-validator");
  const validator = new Validator();
  const res = await validator.validate(structuredClone(doc));
  if (!res.valid) {
    if (Array.isArray(res.errors))
      for (const e of res.errors) problems.push(`${e.instancePath || "(document)"}: ${e.message} [official schema ${e.schemaPath}]`);
    else problems.push(String(res.errors));
  }
  if (problems.length) return problems;

  // Every schema compiles under strict ajv, references included. A fault
  // in a component is said once, not again for each schema using it.
  const said = new Set();
  const compileFault = (where, e) => {
    if (!said.has(e.message)) problems.push(`${where}: ${e.message}`);
    said.add(e.message);
  };
  let schemas;
  try {
    schemas = await makeSchemas(doc);
    for (const name of Object.keys(doc.components?.schemas ?? {})) {
      const where = SCHEMAS + escPointer(name);
      try {
        schemas.get(doc.components.schemas[name], where);
      } catch (e) {
        compileFault(where, e);
      }
    }
  } catch (e) {
    return [`components.schemas: ${e.message}`];
  }
  const seenIds = new Map();
  const visitSchemas = (node, where) => {
    if (node === null || typeof node !== "object") return;
    if (node.schema !== null && typeof node.schema === "object" && !Array.isArray(node)) {
      try {
        schemas.get(node.schema, `${where}/schema`);
      } catch (e) {
        compileFault(`${where}/schema`, e);
      }
    }
    for (const [k, v] of Object.entries(node))
      if (!["schema", "schemas", "example", "examples"].includes(k)) visitSchemas(v, `${where}/${escPointer(k)}`);
  };
  visitSchemas(doc.paths, "#/paths");
  visitSchemas(doc.components, "#/components");

  // Path templates and path parameters agree; operationIds are unique.
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    const named = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    const base = pointer("paths", path);
    for (const method of METHODS.filter((m) => item[m])) {
      const where = `${base}/${method}`;
      const inPath = new Map();
      for (const [list, at] of [[item.parameters, `${base}/parameters`], [item[method].parameters, `${where}/parameters`]])
        (list ?? []).forEach((p, i) => {
          try {
            const [param] = deref(doc, p, `${at}/${i}`);
            if (param.in === "path") inPath.set(param.name, param);
          } catch (e) {
            problems.push(e.message);
          }
        });
      for (const n of named) if (!inPath.has(n)) problems.push(`${where}: {${n}} has no path parameter`);
      for (const n of inPath.keys()) if (!named.includes(n)) problems.push(`${where}: path parameter "${n}" is not in the path`);
      const id = item[method].operationId;
      if (id !== undefined) {
        if (seenIds.has(id)) problems.push(`${where}: operationId "${id}" is also ${seenIds.get(id)}`);
        else seenIds.set(id, where);
      }
    }
  }
  return problems;
}

function routes(doc) {
  const lines = [];
  for (const [path, item] of Object.entries(doc.paths ?? {}))
    for (const m of METHODS) if (item && item[m]) lines.push(`${m.toUpperCase()} ${path}`);
  return lines.sort();
}

// ------------------------------------------------------------- responses
// The documented path a concrete one falls under: [template, item], or
// null. The most literal template wins (/a/b before /a/{x}), as OpenAPI
// says; a trailing slash is the same path, as for the server.
function matchPath(doc, concrete) {
  let path = concrete.replace(/[?#].*$/, "");
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  let best = null;
  for (const [template, item] of Object.entries(doc.paths ?? {})) {
    const re = new RegExp(
      "^" + template.split(/(\{[^}]+\})/).map((p) => (p.startsWith("{") ? "[^/]+" : p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))).join("") + "$");
    if (!re.test(path)) continue;
    const literal = template.replace(/\{[^}]+\}/g, "").length;
    if (!best || literal > best.literal) best = { template, item, literal };
  }
  return best;
}

// The last header block curl -D wrote (after 100 Continue and redirects):
// {status, headers: Map(lower-case name -> value)}.
function readHeaders(file) {
  const blocks = readText(file).split(/\r?\n\r?\n/).filter((b) => /^HTTP\//.test(b.trim()));
  if (!blocks.length) throw new Usage(`${file}: no HTTP status line`);
  const lines = blocks[blocks.length - 1].trim().split(/\r?\n/);
  const headers = new Map();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  return { status: lines[0].split(/\s+/)[1], headers };
}

function mediaMatches(declared, actual) {
  const [dt, ds] = declared.toLowerCase().split("/");
  const [at, as] = actual.split("/");
  return (dt === "*" || dt === at) && (ds === "*" || ds === as);
}

// Problems with one response; [] when it is what the document says.
function checkResponse(doc, schemas, flags, method, concrete, status, bodyFile, ctype, headersFile) {
  const label = `${method.toUpperCase()} ${concrete} ${status}`;
  const problems = [];
  const m = method.toLowerCase();
  let response, where;
  const match = matchPath(doc, concrete);
  const unrouted = (name) => {
    where = `#/components/responses/${name}`;
    response = doc.components?.responses?.[name];
    if (!response) throw new Usage(`--unrouted: the document has no ${where}`);
  };
  if (!match) {
    if (flags.unrouted && status === "404") unrouted("NotFound");
    else return [`${label}: not documented: no path matches ${concrete}`];
  } else if (!METHODS.includes(m) || !match.item[m]) {
    if (flags.unrouted && status === "405") unrouted("MethodNotAllowed");
    else return [`${label}: not documented: ${method.toUpperCase()} is not an operation of ${match.template}`];
  } else {
    const op = match.item[m];
    const opWhere = `${pointer("paths", match.template)}/${m}`;
    const responses = op.responses ?? {};
    const key = [status, `${status[0]}XX`, `${status[0]}xx`, "default"].find((k) => Object.hasOwn(responses, k));
    if (!key) return [`${label}: not documented: ${method.toUpperCase()} ${match.template} has no response ${status}`];
    [response, where] = deref(doc, responses[key], `${opWhere}/responses/${escPointer(key)}`);
  }

  let headers = null;
  if (headersFile) {
    const h = readHeaders(headersFile);
    headers = h.headers;
    if (h.status !== status) problems.push(`${label}: the headers say status ${h.status}`);
  }
  if (!ctype || ctype === "-") ctype = headers?.get("content-type") ?? null;
  let body;
  try {
    body = readFileSync(bodyFile);
  } catch (e) {
    throw new Usage(`cannot read ${bodyFile}: ${e.code || e.message}`);
  }
  const content = response.content ?? {};
  const types = Object.keys(content);

  if (headers) {
    for (const [name, decl] of Object.entries(response.headers ?? {})) {
      if (name.toLowerCase() === "content-type") continue; // ignored by OpenAPI
      const [h, hWhere] = deref(doc, decl, `${where}/headers/${escPointer(name)}`);
      const value = headers.get(name.toLowerCase());
      if (value === undefined) {
        if (h.required) problems.push(`${label}: header ${name} is missing [${hWhere}]`);
        continue;
      }
      if (h.schema) {
        const sWhere = `${hWhere}/schema`;
        const validate = schemas.get(h.schema, sWhere);
        let v = value;
        const t = h.schema.type;
        if ((t === "integer" || t === "number") && /^-?[0-9.]+$/.test(value)) v = Number(value);
        if (!validate(v)) problems.push(...describe(schemas, validate.errors, v, label, `header ${name}`));
      }
    }
  }

  if (types.length === 0) {
    if (body.length > 0) problems.push(`${label}: a body of ${body.length} bytes, but the response declares no content [${where}]`);
    return problems;
  }
  let type;
  if (ctype) {
    const actual = ctype.split(";")[0].trim().toLowerCase();
    type = types.find((t) => t.toLowerCase() === actual) ?? types.find((t) => mediaMatches(t, actual));
    if (!type) return [...problems, `${label}: content type ${actual} is not one of ${types.join(", ")} [${where}/content]`];
  } else {
    type = types.find((t) => t.toLowerCase() === "application/json") ?? types[0];
  }
  if (body.length === 0) return [...problems, `${label}: empty body, but the response declares ${type} [${where}/content]`];
  const media = content[type];
  if (!media.schema) return problems;
  const sWhere = `${where}/content/${escPointer(type)}/schema`;
  let instance = body.toString("utf8");
  if (/^application\/(.+\+)?json$/i.test(type)) {
    try {
      instance = JSON.parse(instance);
    } catch (e) {
      return [...problems, `${label}: the body is not JSON: ${e.message}`];
    }
  }
  const validate = schemas.get(media.schema, sWhere);
  if (!validate(instance)) problems.push(...describe(schemas, validate.errors, instance, label, "body"));
  return problems;
}

// ------------------------------------------------------------- main
async function main(argv) {
  const [cmd, ...rest] = argv;
  const flags = { unrouted: false };
  const args = rest.filter((a) => (a === "--unrouted" ? ((flags.unrouted = true), false) : true));
  if (cmd === "doc" && args.length === 1) {
    const problems = await checkDoc(args[0]);
    for (const p of problems) console.log(p);
    console.log(`openapi-check: ${args[0]}: ${problems.length ? `${problems.length} problems` : "a valid OpenAPI 3.1 document"}`);
    return problems.length ? 1 : 0;
  }
  if (cmd === "routes" && args.length === 1) {
    for (const l of routes(loadDoc(args[0]))) console.log(l);
    return 0;
  }
  let items;
  if (cmd === "response" && args.length >= 5 && args.length <= 7) {
    items = [{ fields: args.slice(1), label: "" }];
  } else if (cmd === "batch" && args.length === 1) {
    items = readText("/dev/stdin")
      .split("\n")
      .map((l, i) => ({ fields: l.trim().split(/\s+/), label: `line ${i + 1}: `, raw: l.trim() }))
      .filter((it) => it.raw && !it.raw.startsWith("#"));
  } else {
    throw new Usage(
      "usage: openapi-check.sh doc FILE | routes FILE | response [--unrouted] FILE METHOD PATH STATUS BODYFILE [CONTENT-TYPE [HEADERSFILE]] | batch [--unrouted] FILE <lines");
  }
  const file = args[0];
  const docProblems = await checkDoc(file);
  if (docProblems.length) {
    for (const p of docProblems) console.log(p);
    throw new Usage(`${file} is not a valid OpenAPI 3.1 document`);
  }
  const doc = loadDoc(file);
  const schemas = await makeSchemas(doc);
  let invalid = 0;
  for (const { fields, label } of items) {
    if (fields.length < 4 || fields.length > 6 || !/^[1-5][0-9][0-9]$/.test(fields[2]))
      throw new Usage(`${label}want METHOD PATH STATUS BODYFILE [CONTENT-TYPE|- [HEADERSFILE]], got "${fields.join(" ")}"`);
    const problems = checkResponse(doc, schemas, flags, fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]);
    for (const p of problems) console.log(label + p);
    if (problems.length) invalid++;
  }
  console.log(`openapi-check: ${items.length} responses, ${invalid} invalid`);
  return invalid ? 1 : 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  console.error(`openapi-check: ${e instanceof Usage ? e.message : e.stack || e.message}`);
  process.exitCode = 2;
}
