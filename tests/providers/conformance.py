"""conformance.py - what each provider's own published API definition allows
a request to carry, written down as data, and the checker every emulator
runs on every request it receives.

The emulators answer the way the real services do; what they accept is not
evidence that a request is right. The tables here are: one per endpoint,
each naming the part of the provider's definition it comes from:

  - Replicate: its OpenAPI document ("Replicate HTTP API", served at
    https://api.replicate.com/openapi.json), operations models.predictions.create,
    predictions.create, predictions.get, predictions.cancel, with
    components.parameters (Prefer, Cancel-After), components.schemas
    (schemas_prediction_request, schemas_version_prediction_request) and
    components.securitySchemes.bearerAuth;
  - OpenAI: its OpenAPI document (openai/openai-openapi, openapi.json),
    operation createImageEdit (POST /images/edits) and
    components.schemas.CreateImageEditRequest / InputFidelity /
    PartialImages;
  - Gemini: googleapis google/ai/generativelanguage/v1beta, the
    google.api.http binding of GenerativeService.GenerateContent and the
    messages GenerateContentRequest, Content, Part, Blob, FileData,
    SafetySetting, GenerationConfig, ImageConfig, ThinkingConfig, read
    through the proto3 JSON mapping;
  - Imagen on Vertex AI: googleapis google/cloud/aiplatform/v1,
    PredictionService.Predict (binding, PredictRequest, the OAuth rule in
    aiplatform_v1.yaml), and Vertex AI's REST reference for the instance
    and parameters inside it (VisionGenerativeModelInstance,
    VisionGenerativeModelParams, the imagen-api model reference);
  - both Google services: Google's "system parameters" page
    (cloud.google.com/apis/docs/system-parameters) for the API key header
    and the query parameters every Google API takes.

check(service, method, target, headers, body) returns a Result: the
endpoint it matched, the violations (each a rule name and a detail), and
notes (what the definition advises against without forbidding). Python
3.11 standard library only.
"""

import base64
import binascii
import email.parser
import email.policy
import json
import re
import urllib.parse

# --------------------------------------------------------------------------
# The result


class Result:
    def __init__(self):
        self.endpoint = None
        self.violations = []  # dicts: kind, rule, detail
        self.notes = []

    def bad(self, kind, rule, detail):
        """kind: auth, header, query, path or body (what the emulator's
        answer depends on); rule: a short stable name tests can match."""
        self.violations.append({"kind": kind, "rule": rule, "detail": detail})

    def note(self, detail):
        self.notes.append(detail)


# --------------------------------------------------------------------------
# A small schema language: enough of JSON Schema for the tables below.
# Each schema is a dict; validate() appends violations for value v at where.


def string(**kw):
    return dict(kw, type="string")


def integer(lo=None, hi=None):
    return {"type": "integer", "min": lo, "max": hi}


def number(lo=None, hi=None):
    return {"type": "number", "min": lo, "max": hi}


BOOLEAN = {"type": "boolean"}
ANY = {"type": "any"}


def array(items, lo=None, hi=None):
    return {"type": "array", "items": items, "min": lo, "max": hi}


def obj(props, required=(), additional=False):
    """additional: False (unknown names are violations), True, or "note"
    (allowed, but worth a note: the definition does not list them)."""
    return {"type": "object", "props": props, "required": tuple(required),
            "additional": additional}


def nullable(schema):
    return dict(schema, nullable=True)


def validate(v, s, where, res, kind="body"):
    t = s["type"]
    if v is None and s.get("nullable"):
        return
    if t == "any":
        return
    if t == "string":
        if not isinstance(v, str):
            return res.bad(kind, "type", "%s must be a string, not %s" % (where, jtype(v)))
        if "enum" in s and v not in s["enum"]:
            return res.bad(kind, "enum", "%s is %r; allowed: %s" % (where, v, ", ".join(s["enum"])))
        if "pattern" in s and not re.search(s["pattern"], v):
            res.bad(kind, "format", "%s is %r, not %s" % (where, short(v), s.get("what", s["pattern"])))
        if s.get("min_len") is not None and len(v) < s["min_len"]:
            res.bad(kind, "length", "%s is shorter than %d characters" % (where, s["min_len"]))
        if s.get("max_len") is not None and len(v) > s["max_len"]:
            res.bad(kind, "length", "%s is longer than %d characters" % (where, s["max_len"]))
        return
    if t in ("integer", "number"):
        ok = isinstance(v, int) if t == "integer" else isinstance(v, (int, float))
        if not ok or isinstance(v, bool):
            return res.bad(kind, "type", "%s must be an %s, not %s" % (where, t, jtype(v)))
        bounds(v, s, where, res, kind)
        return
    if t == "boolean":
        if not isinstance(v, bool):
            res.bad(kind, "type", "%s must be a boolean, not %s" % (where, jtype(v)))
        return
    if t == "array":
        if not isinstance(v, list):
            return res.bad(kind, "type", "%s must be an array, not %s" % (where, jtype(v)))
        if s["min"] is not None and len(v) < s["min"]:
            res.bad(kind, "items", "%s has %d items; at least %d" % (where, len(v), s["min"]))
        if s["max"] is not None and len(v) > s["max"]:
            res.bad(kind, "items", "%s has %d items; at most %d" % (where, len(v), s["max"]))
        for i, e in enumerate(v):
            validate(e, s["items"], "%s[%d]" % (where, i), res, kind)
        return
    if t == "object":
        if not isinstance(v, dict):
            return res.bad(kind, "type", "%s must be an object, not %s" % (where, jtype(v)))
        for k in s["required"]:
            if k not in v:
                res.bad(kind, "required", "%s.%s is required" % (where, k))
        for k, e in v.items():
            if k in s["props"]:
                validate(e, s["props"][k], "%s.%s" % (where, k), res, kind)
            elif s["additional"] is False:
                res.bad(kind, "unknown_field", "%s.%s is not a documented field" % (where, k))
            elif s["additional"] == "note":
                res.note("%s.%s is not among the documented fields" % (where, k))
        return
    raise ValueError("unknown schema type %r" % t)


def bounds(v, s, where, res, kind):
    if s.get("min") is not None and v < s["min"]:
        res.bad(kind, "range", "%s is %s; the minimum is %s" % (where, v, s["min"]))
    if s.get("max") is not None and v > s["max"]:
        res.bad(kind, "range", "%s is %s; the maximum is %s" % (where, v, s["max"]))


def jtype(v):
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "an object", type(None): "null"}.get(type(v), type(v).__name__)


def short(v, n=60):
    return v if len(v) <= n else v[:n] + "..."


# --------------------------------------------------------------------------
# Shared header and value rules

# RFC 6750 section 2.1: credentials = "Bearer" 1*SP b64token
B64TOKEN = r"[A-Za-z0-9\-._~+/]+=*"


def bearer(res, value, who):
    if value is None:
        return res.bad("auth", "authorization", "no Authorization header (%s)" % who)
    if not re.fullmatch(r"Bearer " + B64TOKEN, value):
        res.bad("auth", "authorization",
                "Authorization must be \"Bearer <token>\" (%s), got %r" % (who, value.split(" ")[0]))


def media_type(value):
    """(type/subtype lowercased, params dict) of a Content-Type value."""
    if not value:
        return None, {}
    main, _, rest = value.partition(";")
    params = {}
    for p in rest.split(";"):
        k, eq, val = p.strip().partition("=")
        if eq:
            params[k.strip().lower()] = val.strip().strip('"')
    return main.strip().lower(), params


def json_content_type(res, headers):
    mt, params = media_type(headers.get("Content-Type"))
    if mt != "application/json":
        res.bad("header", "content_type", "Content-Type must be application/json, got %r"
                % headers.get("Content-Type"))
    elif params.get("charset", "utf-8").lower() != "utf-8":
        res.bad("header", "content_type", "a JSON body is UTF-8 (RFC 8259), charset says %r"
                % params["charset"])


def parse_json(res, body):
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        res.bad("body", "json", "the body is not JSON: %s" % e)
        return None


def no_body(res, body, op):
    if body:
        res.bad("body", "body", "%s defines no request body; %d bytes were sent" % (op, len(body)))


def sniff(data):
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def png_size(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# RFC 2397: dataurl := "data:" [ mediatype ] [ ";base64" ] "," data
DATA_URL = re.compile(r"data:(?P<type>[\w!#$&^.+-]+/[\w!#$&^.+-]+)?(?P<params>(;[\w!#$&^.+-]+=[^;,]*)*)"
                      r"(?P<b64>;base64)?,(?P<data>.*)", re.S)


def data_url(res, v, where):
    """A data URL's bytes, or None (and a violation) when it is malformed."""
    m = DATA_URL.fullmatch(v)
    if not m:
        res.bad("body", "data_url", "%s is not an RFC 2397 data URL" % where)
        return None
    if m.group("b64"):
        try:
            return base64.b64decode(m.group("data"), validate=True)
        except (binascii.Error, ValueError):
            res.bad("body", "data_url", "%s: its base64 data does not decode" % where)
            return None
    return urllib.parse.unquote_to_bytes(m.group("data"))


# --------------------------------------------------------------------------
# Replicate (Replicate's OpenAPI document)

# components.parameters.parameters_prefer_header: schema pattern
# ^wait(=([1-9]|[1-9][0-9]|60))?$, and the description's bound "a number of
# seconds between 1 and 60" (the pattern alone would let 61..99 through).
PREFER = re.compile(r"wait(=([1-9]|[1-9][0-9]|60))?")
PREFER_MAX_S = 60

# components.parameters.parameters_cancel_after_header: a duration with an
# optional unit suffix s, m or h (no suffix means seconds), units may be
# combined (1h30m45s); "The minimum allowed duration is 5 seconds". No
# maximum is documented, nor fractions.
CANCEL_AFTER = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
CANCEL_AFTER_MIN_S = 5


def replicate_prefer(res, v):
    if v is None:
        return
    if not PREFER.fullmatch(v):
        return res.bad("header", "prefer", "Prefer must be wait or wait=N, got %r" % v)
    if "=" in v and not 1 <= int(v.split("=")[1]) <= PREFER_MAX_S:
        res.bad("header", "prefer", "Prefer: %s: N must be between 1 and %d" % (v, PREFER_MAX_S))


def cancel_after_seconds(v):
    """Seconds of a Cancel-After value, or None when it is not one."""
    if re.fullmatch(r"\d+", v):
        return int(v)
    m = CANCEL_AFTER.fullmatch(v)
    if not v or not m:
        return None
    h, mi, s = (int(g) if g else 0 for g in m.groups())
    return h * 3600 + mi * 60 + s


def replicate_cancel_after(res, v):
    if v is None:
        return
    secs = cancel_after_seconds(v)
    if secs is None:
        return res.bad("header", "cancel_after",
                       "Cancel-After %r is not a duration like 30, 30s, 5m or 1h30m45s" % v)
    if secs < CANCEL_AFTER_MIN_S:
        res.bad("header", "cancel_after", "Cancel-After %r is below the minimum of %d seconds"
                % (v, CANCEL_AFTER_MIN_S))


# components.schemas.schemas_prediction_request: additionalProperties false,
# input required (an object); webhook "An HTTPS URL"; webhook_events_filter
# items start|output|logs|completed; stream boolean (deprecated).
PREDICTION_REQUEST = obj({
    "input": {"type": "object", "props": {}, "required": (), "additional": True},
    "stream": BOOLEAN,
    "webhook": string(pattern=r"^https://", what="an HTTPS URL"),
    "webhook_events_filter": array(string(enum=["start", "output", "logs", "completed"])),
}, required=["input"])

# components.schemas.schemas_version_prediction_request: the same plus
# version (required), in one of the three documented forms.
VERSION_ID = r"[A-Za-z0-9]{64}"
VERSION_PREDICTION_REQUEST = obj(dict(PREDICTION_REQUEST["props"], version=string(
    pattern=r"^([\w.-]+/[\w.-]+|[\w.-]+/[\w.-]+:%s|%s)$" % (VERSION_ID, VERSION_ID),
    what="owner/name, owner/name:<64-character id> or a 64-character id")),
    required=["version", "input"])

# The input's own schema is the model's (not part of the API definition);
# what the API says of it: "Files should be passed as HTTP URLs or data
# URLs", and a data URL is for "a small file <= 256kb".
DATA_URL_ADVISED_MAX = 256 * 1000


def replicate_input(res, body):
    def walk(v, where):
        if isinstance(v, dict):
            for k, e in v.items():
                walk(e, "%s.%s" % (where, k))
        elif isinstance(v, list):
            for i, e in enumerate(v):
                walk(e, "%s[%d]" % (where, i))
        elif isinstance(v, str) and v.startswith("data:"):
            data = data_url(res, v, where)
            if data is not None and len(data) > DATA_URL_ADVISED_MAX:
                res.note("%s is a %d-byte data URL; Replicate advises data URLs for files "
                         "up to 256kb and HTTP URLs above" % (where, len(data)))
    if isinstance(body, dict) and isinstance(body.get("input"), dict):
        walk(body["input"], "input")


def replicate_create(schema):
    def run(res, req, m):
        bearer(res, req.headers.get("Authorization"), "bearerAuth")
        replicate_prefer(res, req.headers.get("Prefer"))
        replicate_cancel_after(res, req.headers.get("Cancel-After"))
        json_content_type(res, req.headers)
        body = parse_json(res, req.body)
        if body is not None:
            validate(body, schema, "body", res)
            replicate_input(res, body)
    return run


def replicate_read(op):
    def run(res, req, m):
        bearer(res, req.headers.get("Authorization"), "bearerAuth")
        no_body(res, req.body, op)
    return run


# servers: https://api.replicate.com/v1; the paths below carry the /v1.
# Query parameters: none of these operations defines one.
REPLICATE = [
    ("models.predictions.create", "POST", r"/v1/models/[^/]+/[^/]+/predictions",
     replicate_create(PREDICTION_REQUEST)),
    ("predictions.create", "POST", r"/v1/predictions", replicate_create(VERSION_PREDICTION_REQUEST)),
    ("predictions.get", "GET", r"/v1/predictions/[^/]+", replicate_read("predictions.get")),
    ("predictions.cancel", "POST", r"/v1/predictions/[^/]+/cancel",
     replicate_read("predictions.cancel")),
]

# --------------------------------------------------------------------------
# OpenAI (openai-openapi, createImageEdit, multipart/form-data)

# components.schemas.CreateImageEditRequest.model: any string, these named
GPT_IMAGE = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2",
             "gpt-image-2-2026-04-21", "chatgpt-image-latest")
DALL_E_2 = "dall-e-2"
DEFAULT_MODEL = "gpt-image-1.5"  # the property's default
MB = 1024 * 1024

# One row per CreateImageEditRequest property: the part is a file (format
# binary) or text; the text's type and value set; how often it may come.
# "image" is an array of up to 16 binaries; the operation's own curl
# example sends them as repeated "image[]" parts, so both names are image.
OPENAI_EDIT_FIELDS = {
    "image": {"file": True, "max": 16},
    "mask": {"file": True},
    "prompt": {"text": string()},
    "background": {"text": string(enum=["transparent", "opaque", "auto"])},
    "model": {"text": string()},
    "n": {"text": integer(1, 10)},
    "size": {"text": string()},  # per model, below
    "response_format": {"text": string(enum=["url", "b64_json"])},
    "output_format": {"text": string(enum=["png", "jpeg", "webp"])},
    "output_compression": {"text": integer(0, 100)},  # "(0-100%)"
    "user": {"text": string()},
    "input_fidelity": {"text": string(enum=["high", "low"])},  # InputFidelity
    "stream": {"text": BOOLEAN},
    "partial_images": {"text": integer(0, 3)},  # PartialImages
    "quality": {"text": string(enum=["standard", "low", "medium", "high", "auto"])},
}
OPENAI_EDIT_REQUIRED = ("prompt", "image")
OPENAI_FIELD_ALIASES = {"image[]": "image"}

# size: "The standard sizes 1024x1024, 1536x1024, and 1024x1536 are
# supported by the GPT image models; auto is supported for models that
# allow automatic sizing. For dall-e-2, use one of 256x256, 512x512, or
# 1024x1024." gpt-image-2 also takes WIDTHxHEIGHT, both divisible by 16,
# aspect between 1:3 and 3:1, at most 3840x2160.
GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
DALL_E_2_SIZES = ("256x256", "512x512", "1024x1024")
GPT_IMAGE_2 = ("gpt-image-2", "gpt-image-2-2026-04-21")
# image: GPT image models take png, webp or jpg files under 50MB, up to 16;
# dall-e-2 one square png under 4MB. mask: a PNG under 4MB. prompt: at
# most 1000 characters for dall-e-2, 32000 for the GPT image models.
GPT_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
LIMITS = {"gpt": {"image_types": GPT_IMAGE_TYPES, "image_bytes": 50 * MB, "images": 16,
                  "prompt": 32000},
          "dall-e-2": {"image_types": ("image/png",), "image_bytes": 4 * MB, "images": 1,
                       "prompt": 1000}}


def text_value(raw, schema):
    """A multipart text value converted to what its schema types it as."""
    if schema["type"] == "integer":
        return int(raw) if re.fullmatch(r"-?\d+", raw) else raw
    if schema["type"] == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    return raw


def form_parts(res, req):
    """[(name, filename or None, content type or None, bytes)] of a
    multipart/form-data body (RFC 7578), or None."""
    mt, params = media_type(req.headers.get("Content-Type"))
    if not params.get("boundary"):
        res.bad("header", "content_type", "multipart/form-data without a boundary")
        return None
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + req.headers.get("Content-Type").encode() + b"\r\n\r\n" + req.body)
    if not msg.is_multipart() or msg.defects:
        res.bad("body", "multipart", "the body is not well-formed multipart/form-data")
        return None
    out = []
    for i, part in enumerate(msg.iter_parts()):
        cd = part.get("Content-Disposition")
        if not cd or part.get_content_disposition() != "form-data" or \
                part.get_param("name", header="content-disposition") is None:
            res.bad("body", "multipart", "part %d has no Content-Disposition: form-data; name=..." % i)
            continue
        out.append((part.get_param("name", header="content-disposition"), part.get_filename(),
                    part.get("Content-Type"), part.get_payload(decode=True) or b""))
    return out


def openai_edit(res, req, m):
    bearer(res, req.headers.get("Authorization"), "ApiKeyAuth")
    mt, _ = media_type(req.headers.get("Content-Type"))
    if mt == "application/json":
        # the operation's other body (EditImageBodyJsonParam): images and
        # prompt required; easel sends multipart, so only the outline
        body = parse_json(res, req.body)
        if body is not None:
            validate(body, obj({"images": array(ANY, 1, 16), "prompt": string(min_len=1, max_len=32000)},
                               required=["images", "prompt"], additional=True), "body", res)
        return
    if mt != "multipart/form-data":
        return res.bad("header", "content_type", "Content-Type must be multipart/form-data (or "
                       "application/json), got %r" % req.headers.get("Content-Type"))
    parts = form_parts(res, req)
    if parts is None:
        return
    fields, files = {}, {}
    for name, filename, ctype, data in parts:
        key = OPENAI_FIELD_ALIASES.get(name, name)
        row = OPENAI_EDIT_FIELDS.get(key)
        if row is None:
            res.bad("body", "unknown_field", "%r is not a field of CreateImageEditRequest" % name)
            continue
        if row.get("file"):
            if filename is None:
                res.bad("body", "file_part", "%s must be a file part (format binary), not text" % name)
                continue
            files.setdefault(key, []).append((name, filename, ctype, data))
            continue
        if filename is not None:
            res.bad("body", "text_part", "%s must be a text field, not a file" % name)
            continue
        if key in fields:
            res.bad("body", "repeated", "%s is given more than once" % name)
            continue
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError:
            res.bad("body", "type", "%s is not UTF-8 text" % name)
            continue
        fields[key] = raw
        validate(text_value(raw, row["text"]), row["text"], name, res)
    for k in OPENAI_EDIT_REQUIRED:
        if k not in fields and k not in files:
            res.bad("body", "required", "%s is required" % k)
    if len(files.get("mask", [])) > 1:
        res.bad("body", "repeated", "mask is given more than once")
    openai_model_rules(res, fields, files)


def openai_model_rules(res, fields, files):
    """The rules CreateImageEditRequest's descriptions tie to the model."""
    model = fields.get("model", DEFAULT_MODEL)
    kind = "dall-e-2" if model == DALL_E_2 else "gpt" if model in GPT_IMAGE else None
    lim = LIMITS.get(kind)
    images = files.get("image", [])
    if lim and len(images) > lim["images"]:
        res.bad("body", "items", "%s takes at most %d image(s); %d were sent"
                % (model, lim["images"], len(images)))
    elif len(images) > OPENAI_EDIT_FIELDS["image"]["max"]:
        res.bad("body", "items", "at most 16 images; %d were sent" % len(images))
    for name, filename, ctype, data in images:
        allowed = lim["image_types"] if lim else GPT_IMAGE_TYPES
        where = "%s (%s)" % (name, filename)
        if ctype is None:
            res.bad("body", "file_type", "%s has no Content-Type" % where)
        elif media_type(ctype)[0] not in allowed:
            res.bad("body", "file_type", "%s is %s; %s takes %s" % (where, ctype, model, ", ".join(allowed)))
        elif sniff(data) != media_type(ctype)[0]:
            res.bad("body", "file_type", "%s says %s but holds %s" % (where, ctype, sniff(data) or "no image"))
        if lim and len(data) >= lim["image_bytes"]:
            res.bad("body", "file_size", "%s is %d bytes; %s takes less than %d MB"
                    % (where, len(data), model, lim["image_bytes"] // MB))
        if kind == "dall-e-2":
            wh = png_size(data)
            if wh and wh[0] != wh[1]:
                res.bad("body", "file_shape", "%s is %dx%d; dall-e-2 takes a square image" % ((where,) + wh))
    for name, filename, ctype, data in files.get("mask", []):
        if sniff(data) != "image/png" or len(data) >= 4 * MB:
            res.bad("body", "file_type", "mask must be a PNG file under 4MB")
    prompt = fields.get("prompt")
    if prompt is not None and lim and len(prompt) > lim["prompt"]:
        res.bad("body", "length", "prompt is %d characters; %s takes at most %d"
                % (len(prompt), model, lim["prompt"]))
    size = fields.get("size")
    if size is not None:
        openai_size(res, size, model, kind)
    if kind == "dall-e-2":
        for k in ("output_format", "output_compression", "background", "input_fidelity"):
            if k in fields:
                res.bad("body", "model_field", "%s is only supported for the GPT image models" % k)
    if kind == "gpt" and "response_format" in fields:
        res.bad("body", "model_field", "response_format is only supported for dall-e-2 (GPT image "
                "models always return base64)")
    if "input_fidelity" in fields and model == "gpt-image-1-mini":
        res.bad("body", "model_field", "input_fidelity is unsupported for gpt-image-1-mini")
    out_fmt = fields.get("output_format", "png")
    if "output_compression" in fields and out_fmt not in ("webp", "jpeg"):
        res.bad("body", "model_field", "output_compression applies to webp or jpeg output only; "
                "output_format is %s" % out_fmt)
    if fields.get("background") == "transparent" and out_fmt not in ("png", "webp"):
        res.bad("body", "model_field", "a transparent background needs output_format png or webp")


def openai_size(res, size, model, kind):
    if kind == "dall-e-2":
        if size not in DALL_E_2_SIZES:
            res.bad("body", "enum", "size %r: dall-e-2 takes %s" % (size, ", ".join(DALL_E_2_SIZES)))
        return
    if size in GPT_SIZES or (kind is None and size in DALL_E_2_SIZES):
        return
    m = re.fullmatch(r"(\d+)x(\d+)", size)
    if model in GPT_IMAGE_2 and m:
        w, h = int(m.group(1)), int(m.group(2))
        if w % 16 or h % 16 or not (1 / 3 <= w / max(h, 1) <= 3) or max(w, h) > 3840 or w * h > 3840 * 2160:
            res.bad("body", "enum", "size %r: gpt-image-2 sizes are multiples of 16, between 1:3 and "
                    "3:1, at most 3840x2160" % size)
        return
    res.bad("body", "enum", "size %r is not one of %s" % (size, ", ".join(GPT_SIZES)))


# servers: https://api.openai.com/v1. No query parameters are defined.
OPENAI = [("createImageEdit", "POST", r"/v1/images/edits", openai_edit)]

# --------------------------------------------------------------------------
# The proto3 JSON mapping, for Google's request messages: a field may be
# named by its lowerCamelCase JSON name or its proto name; unknown fields
# are rejected; at most one member of a oneof is set; int32 is a number or
# a decimal string; float a number or "NaN"/"Infinity"/"-Infinity"; bytes
# standard or URL-safe base64, padded or not; an enum its value's name or
# number; null is the field's default. field_behavior REQUIRED fields must
# be set (a repeated one non-empty).


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def field(t, repeated=False, required=False, json_name=None, check=None):
    """t: string, int32, float, bool, bytes, value, struct, ("enum", names),
    or a message (dict from message()). check(res, value, where) adds rules
    the field's comment states."""
    return {"t": t, "repeated": repeated, "required": required, "json": json_name, "check": check}


def message(name, fields, oneofs=()):
    return {"name": name, "fields": fields, "oneofs": oneofs}


OPAQUE = "struct"  # a message whose inside easel never sends: any object


def proto_validate(v, msg, where, res):
    if v is None:
        return
    if not isinstance(v, dict):
        return res.bad("body", "type", "%s (%s) must be an object, not %s" % (where, msg["name"], jtype(v)))
    names = {}
    for pname, f in msg["fields"].items():
        names[f["json"] or camel(pname)] = pname
        names[pname] = pname
    seen = {}
    for k, e in v.items():
        pname = names.get(k)
        if pname is None:
            res.bad("body", "unknown_field", "%s.%s: %s has no such field" % (where, k, msg["name"]))
            continue
        if pname in seen:
            res.bad("body", "repeated", "%s: %s is given twice (%s and %s)" % (where, pname, seen[pname], k))
            continue
        seen[pname] = k
        f = msg["fields"][pname]
        w = "%s.%s" % (where, k)
        if e is None:
            continue
        if f["repeated"]:
            if not isinstance(e, list):
                res.bad("body", "type", "%s is repeated: it must be an array" % w)
                continue
            for i, x in enumerate(e):
                proto_value(x, f, "%s[%d]" % (w, i), res)
        else:
            proto_value(e, f, w, res)
        if f["check"]:
            f["check"](res, e, w)
    for pname, f in msg["fields"].items():
        if f["required"] and (pname not in seen or v[seen[pname]] in (None, [], "")):
            res.bad("body", "required", "%s.%s is required (%s)" % (where, f["json"] or camel(pname), msg["name"]))
    for group, members in msg["oneofs"]:
        set_ = [seen[m] for m in members if m in seen and v[seen[m]] is not None]
        if len(set_) > 1:
            res.bad("body", "oneof", "%s sets %s: they are one oneof (%s)" % (where, " and ".join(set_), group))


INT32 = (-2 ** 31, 2 ** 31 - 1)


def proto_value(e, f, w, res):
    t = f["t"]
    if isinstance(t, dict):
        return proto_validate(e, t, w, res)
    if isinstance(t, tuple) and t[0] == "enum":
        if isinstance(e, str) and e in t[1]:
            return
        if isinstance(e, int) and not isinstance(e, bool) and 0 <= e < len(t[1]):
            return
        return res.bad("body", "enum", "%s is %r; allowed: %s" % (w, e, ", ".join(t[1])))
    if t == "string":
        if not isinstance(e, str):
            res.bad("body", "type", "%s must be a string, not %s" % (w, jtype(e)))
    elif t == "int32":
        n = int(e) if isinstance(e, str) and re.fullmatch(r"-?\d+", e) else e
        if not isinstance(n, int) or isinstance(n, bool) or not INT32[0] <= n <= INT32[1]:
            res.bad("body", "type", "%s must be an int32, not %r" % (w, e))
    elif t == "float":
        if not ((isinstance(e, (int, float)) and not isinstance(e, bool))
                or e in ("NaN", "Infinity", "-Infinity")
                or (isinstance(e, str) and re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", e))):
            res.bad("body", "type", "%s must be a number, not %r" % (w, e))
    elif t == "bool":
        if not isinstance(e, bool):
            res.bad("body", "type", "%s must be true or false, not %r" % (w, e))
    elif t == "bytes":
        if not isinstance(e, str) or proto_bytes(e) is None:
            res.bad("body", "bytes", "%s must be base64 (standard or URL-safe)" % w)
    elif t == "struct":
        if not isinstance(e, dict):
            res.bad("body", "type", "%s must be an object, not %s" % (w, jtype(e)))
    elif t == "value":
        pass
    else:
        raise ValueError("unknown proto type %r" % (t,))


def proto_bytes(s):
    try:  # the common case, standard padded base64, on the fast path
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        pass
    s = re.sub(r"\s", "", s)
    if not re.fullmatch(r"[A-Za-z0-9+/_-]*={0,2}", s):
        return None
    try:
        return base64.b64decode(s.replace("-", "+").replace("_", "/") + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def bound(lo, hi):
    def run(res, v, w):
        try:
            x = float(v)
        except (TypeError, ValueError):
            return
        if not lo <= x <= hi:
            res.bad("body", "range", "%s is %s; the range is [%s, %s]" % (w, v, lo, hi))
    return run


def one_of(*allowed):
    def run(res, v, w):
        if isinstance(v, str) and v not in allowed:
            res.bad("body", "enum", "%s is %r; documented: %s" % (w, v, ", ".join(allowed)))
    return run


# --- Gemini: google/ai/generativelanguage/v1beta

# Blob.mime_type: "If an unsupported MIME type is provided, an error will
# be returned"; the supported image types per the Gemini API's image
# understanding guide are PNG, JPEG, WEBP, HEIC and HEIF. The data is the
# bytes of that type (Blob: "The IANA standard MIME type of the source data").
GEMINI_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")


def blob_check(res, v, w):
    if not isinstance(v, dict):
        return
    mime = v.get("mimeType", v.get("mime_type"))
    data = v.get("data")
    if mime is None:
        return res.bad("body", "required", "%s: a Blob needs its mime_type" % w)
    if isinstance(mime, str) and mime.startswith("image/"):
        if mime not in GEMINI_IMAGE_TYPES:
            return res.bad("body", "mime_type", "%s: %s is not a supported image type" % (w, mime))
        raw = proto_bytes(data) if isinstance(data, str) else None
        got = sniff(raw) if raw else None
        if raw is not None and got in ("image/png", "image/jpeg", "image/webp", "image/gif") and got != mime:
            res.bad("body", "mime_type", "%s says %s but the data is %s" % (w, mime, got))


BLOB = message("Blob", {"mime_type": field("string"), "data": field("bytes")})
FILE_DATA = message("FileData", {"mime_type": field("string"), "file_uri": field("string", required=True)})
PART = message("Part", {
    "text": field("string"),
    "inline_data": field(BLOB, check=blob_check),
    "function_call": field(OPAQUE),
    "function_response": field(OPAQUE),
    "file_data": field(FILE_DATA),
    "executable_code": field(OPAQUE),
    "code_execution_result": field(OPAQUE),
    "video_metadata": field(OPAQUE),
    "thought": field("bool"),
    "thought_signature": field("bytes"),
    "part_metadata": field("struct"),
}, oneofs=[("data", ["text", "inline_data", "function_call", "function_response", "file_data",
                     "executable_code", "code_execution_result"]),
           ("metadata", ["video_metadata"])])
# Content.role: "Must be either 'user' or 'model'".
CONTENT = message("Content", {"parts": field(PART, repeated=True),
                              "role": field("string", check=one_of("user", "model"))})
HARM_CATEGORY = ("enum", ["HARM_CATEGORY_UNSPECIFIED", "HARM_CATEGORY_DEROGATORY",
                          "HARM_CATEGORY_TOXICITY", "HARM_CATEGORY_VIOLENCE", "HARM_CATEGORY_SEXUAL",
                          "HARM_CATEGORY_MEDICAL", "HARM_CATEGORY_DANGEROUS",
                          "HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH",
                          "HARM_CATEGORY_SEXUALLY_EXPLICIT", "HARM_CATEGORY_DANGEROUS_CONTENT",
                          "HARM_CATEGORY_CIVIC_INTEGRITY"])
# GenerateContentRequest.safety_settings: only these categories "are
# supported", and "There should not be more than one setting for each
# SafetyCategory type".
GEMINI_SAFETY_CATEGORIES = ("HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_SEXUALLY_EXPLICIT",
                            "HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_HARASSMENT",
                            "HARM_CATEGORY_CIVIC_INTEGRITY")
SAFETY_SETTING = message("SafetySetting", {
    "category": field(HARM_CATEGORY, required=True, check=one_of(*GEMINI_SAFETY_CATEGORIES)),
    "threshold": field(("enum", ["HARM_BLOCK_THRESHOLD_UNSPECIFIED", "BLOCK_LOW_AND_ABOVE",
                                 "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF"]),
                       required=True)})


def safety_settings_check(res, v, w):
    cats = [s.get("category") for s in v if isinstance(s, dict)] if isinstance(v, list) else []
    dup = {c for c in cats if cats.count(c) > 1}
    if dup:
        res.bad("body", "repeated", "%s has more than one setting for %s" % (w, ", ".join(sorted(map(str, dup)))))


# ImageConfig.aspect_ratio: "Supported aspect ratios: 1:1, 2:3, 3:2, 3:4,
# 4:3, 9:16, 16:9, 21:9."
IMAGE_CONFIG = message("ImageConfig", {"aspect_ratio": field(
    "string", check=one_of("1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9"))})
THINKING_CONFIG = message("ThinkingConfig", {"include_thoughts": field("bool"),
                                             "thinking_budget": field("int32")})
MODALITY = ("enum", ["MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO"])


def stop_sequences_check(res, v, w):
    if isinstance(v, list) and len(v) > 5:
        res.bad("body", "items", "%s has %d sequences; up to 5" % (w, len(v)))


GENERATION_CONFIG = message("GenerationConfig", {
    "candidate_count": field("int32"),
    "stop_sequences": field("string", repeated=True, check=stop_sequences_check),
    "max_output_tokens": field("int32"),
    "temperature": field("float", check=bound(0.0, 2.0)),  # "range from [0.0, 2.0]"
    "top_p": field("float"),
    "top_k": field("int32"),
    "seed": field("int32"),
    "response_mime_type": field("string"),
    "response_schema": field(OPAQUE),
    "response_json_schema": field("value", json_name="_responseJsonSchema"),
    "response_json_schema_ordered": field("value", json_name="responseJsonSchema"),
    "presence_penalty": field("float"),
    "frequency_penalty": field("float"),
    "response_logprobs": field("bool"),
    "logprobs": field("int32", check=bound(0, 20)),  # "in the range of [0, 20]"
    "enable_enhanced_civic_answers": field("bool"),
    "response_modalities": field(MODALITY, repeated=True),
    "speech_config": field(OPAQUE),
    "thinking_config": field(THINKING_CONFIG),
    "image_config": field(IMAGE_CONFIG),
    "media_resolution": field(("enum", ["MEDIA_RESOLUTION_UNSPECIFIED", "MEDIA_RESOLUTION_LOW",
                                        "MEDIA_RESOLUTION_MEDIUM", "MEDIA_RESOLUTION_HIGH"])),
})
GENERATE_CONTENT_REQUEST = message("GenerateContentRequest", {
    "model": field("string"),  # bound from the path; body "*" takes the rest
    "system_instruction": field(CONTENT),
    "contents": field(CONTENT, repeated=True, required=True),
    "tools": field(OPAQUE, repeated=True),
    "tool_config": field(OPAQUE),
    "safety_settings": field(SAFETY_SETTING, repeated=True, check=safety_settings_check),
    "generation_config": field(GENERATION_CONFIG),
    "cached_content": field("string"),
})


def generation_config_rules(res, body):
    """GenerationConfig's cross-field rules: response_schema "If set, a
    compatible response_mime_type must also be set"; responseJsonSchema
    "If set, response_schema must be omitted, but response_mime_type is
    required"."""
    gc = body.get("generationConfig", body.get("generation_config")) if isinstance(body, dict) else None
    if not isinstance(gc, dict):
        return
    names = {}
    for pname, f in GENERATION_CONFIG["fields"].items():
        names[pname] = names[f["json"] or camel(pname)] = pname
    has = {names.get(k) for k, v in gc.items() if v is not None}
    if "response_schema" in has and "response_mime_type" not in has:
        res.bad("body", "required", "generationConfig.responseSchema needs responseMimeType")
    if has & {"response_json_schema", "response_json_schema_ordered"} and \
            ("response_schema" in has or "response_mime_type" not in has):
        res.bad("body", "required", "generationConfig.responseJsonSchema needs responseMimeType "
                "and no responseSchema")


# Google's system parameters: what every Google API takes besides its own
# fields. The API key goes in the X-Goog-Api-Key header or the key query
# parameter; the query parameters are these (with or without a leading $).
GOOGLE_QUERY = {"alt", "callback", "fields", "key", "prettyPrint", "quotaUser", ".xgafv",
                "access_token", "upload_protocol", "uploadType"}


def google_query(res, req):
    for k, _ in req.query:
        if k.lstrip("$") not in GOOGLE_QUERY:
            res.bad("query", "query", "%r is not a parameter of this method nor a Google system "
                    "parameter" % k)
    for k, v in req.query:
        if k.lstrip("$") == "alt" and v not in ("json", "media", "proto"):
            res.bad("query", "query", "alt=%r: json, media or proto" % v)


def gemini_generate(res, req, m):
    google_query(res, req)
    key_hdr = req.headers.get("x-goog-api-key")
    key_q = [v for k, v in req.query if k.lstrip("$") == "key"]
    if not key_hdr and not key_q and not req.headers.get("Authorization"):
        res.bad("auth", "api_key", "no credential: an API key in X-Goog-Api-Key or ?key=, or an "
                "OAuth bearer token")
    if req.headers.get("Authorization"):
        bearer(res, req.headers.get("Authorization"), "OAuth")
    json_content_type(res, req.headers)
    body = parse_json(res, req.body)
    if body is not None:
        proto_validate(body, GENERATE_CONTENT_REQUEST, "body", res)
        generation_config_rules(res, body)


# --- Imagen: google/cloud/aiplatform/v1 PredictionService.Predict

# PredictRequest: endpoint bound from the path, instances required
# (google.protobuf.Value each), parameters a Value, labels map<string,string>.
PREDICT_REQUEST = message("PredictRequest", {
    "endpoint": field("string"),
    "instances": field("value", repeated=True, required=True),
    "parameters": field("value"),
    "labels": field("struct", check=lambda res, v, w: [
        res.bad("body", "type", "%s.%s must be a string" % (w, k))
        for k, x in (v.items() if isinstance(v, dict) else []) if not isinstance(x, str)]),
})

# Vertex AI's REST reference, VisionGenerativeModelInstance and
# VisionGenerativeModelParams (and the imagen-api parameter table): the
# names and types of what goes inside. Neither says unknown names are
# refused, so they are noted, not counted as violations.
IMAGEN_IMAGE = obj({"mimeType": string(), "bytesBase64Encoded": string(), "gcsUri": string()},
                   additional="note")
IMAGEN_INSTANCE = obj({
    "prompt": string(min_len=1),
    "image": IMAGEN_IMAGE,
    "mask": obj({}, additional=True),
    "referenceImages": array(obj({}, additional=True)),
}, required=["prompt"], additional="note")
IMAGEN_PARAMS = obj({
    "sampleCount": integer(1, 8),
    "sampleImageSize": string(),
    "storageUri": string(),
    "negativePrompt": string(),
    "seed": integer(0, 4294967295),
    "mode": string(),
    "aspectRatio": string(enum=["1:1", "9:16", "16:9", "3:4", "4:3", "5:4", "3:2", "7:4"]),
    "guidanceScale": number(),
    "safetySetting": string(),
    "personGeneration": string(),
    "addWatermark": BOOLEAN,
    "enhancePrompt": BOOLEAN,
    "language": string(),
    "includeRaiReason": BOOLEAN,
    "includeSafetyAttributes": BOOLEAN,
    "outputOptions": obj({"mimeType": string(enum=["image/png", "image/jpeg"]),
                          "compressionQuality": integer(0, 100)}, additional="note"),
}, additional="note")


def imagen_predict(res, req, m):
    google_query(res, req)
    # aiplatform_v1.yaml: PredictionService.* takes OAuth (cloud-platform)
    bearer(res, req.headers.get("Authorization"), "OAuth 2 access token")
    json_content_type(res, req.headers)
    body = parse_json(res, req.body)
    if body is None:
        return
    proto_validate(body, PREDICT_REQUEST, "body", res)
    if not isinstance(body, dict):
        return
    for i, inst in enumerate(body.get("instances") or []):
        validate(inst, IMAGEN_INSTANCE, "body.instances[%d]" % i, res)
    if body.get("parameters") is not None:
        validate(body["parameters"], IMAGEN_PARAMS, "body.parameters", res)


# The google.api.http bindings: GenerateContent on models/*, tunedModels/*
# and dynamic/*; Predict on endpoints and on publisher models.
GOOGLE = [
    ("GenerativeService.GenerateContent", "POST",
     r"/v1beta/(models|tunedModels|dynamic)/[^/:]+:generateContent", gemini_generate),
    ("PredictionService.Predict", "POST",
     r"/v1/projects/[^/]+/locations/[^/]+/(endpoints/[^/:]+|publishers/[^/]+/models/[^/:]+):predict",
     imagen_predict),
]

SERVICES = {"replicate": REPLICATE, "openai": OPENAI, "google": GOOGLE}
# the only service whose operations define query parameters
QUERY_ALLOWED = {"google"}


# --------------------------------------------------------------------------
# The checker


class Request:
    def __init__(self, method, target, headers, body):
        u = urllib.parse.urlsplit(target)
        self.method, self.path, self.headers, self.body = method, u.path, headers, body or b""
        self.query = urllib.parse.parse_qsl(u.query, keep_blank_values=True)


def check(service, method, target, headers, body):
    """Checks one request (headers: anything with a case-insensitive .get,
    such as http.client.HTTPMessage) against the service's tables."""
    res = Result()
    req = Request(method, target, headers, body)
    for name, meth, pattern, rule in SERVICES[service]:
        m = re.fullmatch(pattern, req.path)
        if m and meth == method:
            res.endpoint = name
            if req.query and service not in QUERY_ALLOWED:
                res.bad("query", "query", "%s defines no query parameters; got %s"
                        % (name, ", ".join(k for k, _ in req.query)))
            rule(res, req, m)
            return res
    res.endpoint = "%s %s" % (method, req.path)
    res.bad("path", "operation", "%s %s is no operation of %s's API definition" % (method, req.path, service))
    return res
