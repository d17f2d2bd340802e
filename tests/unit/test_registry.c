/*
 * test_registry.c - loading and validating registry documents, built-in
 * presets, the embedded registry, the shipped example, template rendering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "easel/registry.h"

static const char good[] =
    "version: 1\n"
    "default_model: a/one\n"
    "idempotency_window: 2h\n"
    "presets:\n"
    "  small:\n"
    "    - {name: s, format: webp, width: 300, height: 200, quality: 70}\n"
    "models:\n"
    "  - id: a/one\n"
    "    provider: local\n"
    "    timeout: 45s\n"
    "    retry: {max_attempts: 5, initial: 250ms, factor: 3, max: 10s}\n"
    "    concurrency: 4\n"
    "    preset: small\n"
    "    fallback: [b/two]\n"
    "    input:\n"
    "      prompt: \"a {{style}} room\"\n"
    "      seed: \"{{seed}}\"\n"
    "      steps: 28\n"
    "      go_fast: true\n"
    "      quoted: \"28\"\n"
    "      nothing: ~\n"
    "      list: [1, \"{{style}}\"]\n"
    "  - id: b/two\n"
    "    provider: replicate\n"
    "    endpoint: http://127.0.0.1:9/v1\n"
    "    credential_env: REPLICATE_API_TOKEN\n";

static struct easel_registry *load(const char *text, struct easel_diags *d)
{
    struct easel_registry *r = NULL;
    easel_err rc = easel_registry_parse(text, strlen(text), "test.yaml", &r, d);
    if (rc != EASEL_OK)
        return NULL;
    return r;
}

static bool has_diag(const struct easel_diags *d, const char *needle, int line)
{
    for (size_t i = 0; i < d->n; i++)
        if (strstr(d->items[i].msg, needle) && (line == 0 || d->items[i].line == line))
            return true;
    return false;
}

static void test_good_document(void **state)
{
    (void)state;
    struct easel_diags d = {0};
    struct easel_registry *r = load(good, &d);
    assert_non_null(r);
    assert_int_equal(d.n, 0);
    assert_string_equal(r->default_model, "a/one");
    assert_int_equal(r->idempotency_window_ms, 2 * 3600 * 1000);
    assert_int_equal(r->nmodels, 2);
    const struct easel_model *m = easel_registry_model(r, "a/one");
    assert_non_null(m);
    assert_int_equal(m->timeout_ms, 45000);
    assert_int_equal(m->retry.max_attempts, 5);
    assert_int_equal(m->retry.initial_ms, 250);
    assert_true(m->retry.factor == 3.0);
    assert_int_equal(m->retry.max_ms, 10000);
    assert_int_equal(m->concurrency, 4);
    assert_string_equal(m->preset, "small");
    assert_int_equal(m->nfallback, 1);
    assert_string_equal(m->fallback[0], "b/two");
    /* plain scalars are typed, quoted ones stay strings */
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(m->input, "steps")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(m->input, "go_fast")));
    assert_true(cJSON_IsString(cJSON_GetObjectItem(m->input, "quoted")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(m->input, "nothing")));
    const struct easel_model *b = easel_registry_model(r, "b/two");
    assert_string_equal(b->provider, "replicate");
    assert_string_equal(b->preset, "default"); /* defaulted */
    assert_int_equal(b->retry.max_attempts, 3); /* default policy */
    assert_null(easel_registry_model(r, "c/three"));
    /* own preset plus every built-in one */
    const struct easel_preset *p = easel_registry_preset(r, "small");
    assert_non_null(p);
    assert_int_equal(p->nvariants, 1);
    assert_int_equal(p->variants[0].format, EASEL_FMT_WEBP);
    assert_int_equal(p->variants[0].width, 300);
    assert_int_equal(p->variants[0].quality, 70);
    const char *builtins[] = {"default", "thumbnail", "dall-e", "sora",
                              "stable-diffusion"};
    for (size_t i = 0; i < 5; i++)
        assert_non_null(easel_registry_preset(r, builtins[i]));
    const struct easel_preset *sora = easel_registry_preset(r, "sora");
    assert_int_equal(sora->variants[0].width, 1280);
    assert_int_equal(sora->variants[0].height, 720);
    assert_int_equal(sora->variants[0].quality, 85);
    assert_int_equal(sora->variants[1].format, EASEL_FMT_WEBP);
    assert_int_equal(sora->variants[1].width, 1920);
    const struct easel_preset *de = easel_registry_preset(r, "dall-e");
    assert_int_equal(de->variants[1].width, 2048);
    assert_int_equal(de->variants[1].quality, 95);
    const struct easel_preset *sd = easel_registry_preset(r, "stable-diffusion");
    assert_int_equal(sd->variants[0].width, 768);
    assert_int_equal(sd->variants[1].width, 1536);
    easel_registry_unref(r);
}

static void test_overriding_builtin_preset(void **state)
{
    (void)state;
    const char *doc = "presets:\n  default:\n    - {name: only, format: png, width: 10, height: 10}\n"
                      "models:\n  - {id: x, provider: local}\n";
    struct easel_registry *r = load(doc, NULL);
    assert_non_null(r);
    const struct easel_preset *p = easel_registry_preset(r, "default");
    assert_int_equal(p->nvariants, 1);
    assert_string_equal(p->variants[0].name, "only");
    assert_int_equal(p->variants[0].quality, 85);
    assert_string_equal(r->default_model, "x"); /* first model when unset */
    easel_registry_unref(r);
}

static void test_every_problem_reported(void **state)
{
    (void)state;
    const char *doc =
        "version: 1\n"                                   /* 1 */
        "default_model: missing/model\n"                 /* 2 */
        "modles: []\n"                                   /* 3 */
        "models:\n"                                      /* 4 */
        "  - id: broken\n"                               /* 5 */
        "    provider: nowhere\n"                        /* 6 */
        "    timout: 5s\n"                               /* 7 */
        "    timeout: soon\n"                            /* 8 */
        "    retry: {max_attempts: 0, factor: 0.5}\n"    /* 9 */
        "    preset: nope\n"                             /* 10 */
        "    fallback: [ghost]\n"                        /* 11 */
        "    endpoint: ftp://x\n"                        /* 12 */
        "    credential_env: \"bad name\"\n"             /* 13 */
        "  - id: broken\n"                               /* 14 */
        "    provider: local\n"                          /* 15 */
        "presets:\n"                                     /* 16 */
        "  p:\n"                                         /* 17 */
        "    - {name: a, format: gif, width: 0, height: 10, quality: 101}\n"; /* 18 */
    struct easel_diags d = {0};
    struct easel_registry *r = NULL;
    assert_int_equal(easel_registry_parse(doc, strlen(doc), "t", &r, &d),
                     EASEL_EPARSE);
    assert_null(r);
    assert_true(has_diag(&d, "unknown key \"modles\"", 3));
    assert_true(has_diag(&d, "did you mean \"models\"", 3));
    assert_true(has_diag(&d, "unknown provider \"nowhere\"", 6));
    assert_true(has_diag(&d, "did you mean \"timeout\"", 7));
    assert_true(has_diag(&d, "timeout must be a duration", 8));
    assert_true(has_diag(&d, "retry.max_attempts", 9));
    assert_true(has_diag(&d, "retry.factor", 9));
    assert_true(has_diag(&d, "preset \"nope\"", 0));
    assert_true(has_diag(&d, "fallback \"ghost\"", 0));
    assert_true(has_diag(&d, "endpoint must be", 12));
    assert_true(has_diag(&d, "credential_env", 13));
    assert_true(has_diag(&d, "defined twice", 14));
    assert_true(has_diag(&d, "format must be jpeg, webp or png", 18));
    assert_true(has_diag(&d, "width must be", 18));
    assert_true(has_diag(&d, "quality must be", 18));
    assert_true(has_diag(&d, "default_model \"missing/model\"", 2));
    /* columns point at the node */
    for (size_t i = 0; i < d.n; i++) {
        assert_true(d.items[i].line >= 1);
        assert_true(d.items[i].col >= 1);
    }
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    easel_diags_print(&d, "models.yaml", f);
    fclose(f);
    assert_non_null(strstr(buf, "models.yaml:6:15: unknown provider"));
    free(buf);
    easel_diags_cleanup(&d);
    assert_int_equal(d.n, 0);
}

/* checks: defaults, every key, and the problems it reports. */
static void test_checks(void **state)
{
    (void)state;
    const char *doc =
        "models:\n"
        "  - id: r/one\n"
        "    provider: replicate\n"
        "    checks: {blank: 4.5, unchanged: 3, min_side: 128, aspect: \"16:9\",\n"
        "             aspect_tolerance: 0.1, repeat: false}\n"
        "  - id: r/two\n"
        "    provider: openai\n"
        "    checks: {blank: off, unchanged: off, aspect: match_input}\n"
        "  - id: r/defaults\n"
        "    provider: gemini\n"
        "  - id: l/local\n"
        "    provider: local\n";
    struct easel_diags d = {0};
    struct easel_registry *r = load(doc, &d);
    assert_non_null(r);
    const struct easel_quality *q = &easel_registry_model(r, "r/one")->quality;
    assert_true(q->blank == 4.5 && q->unchanged == 3 && q->min_side == 128);
    assert_true(q->aspect_w == 16 && q->aspect_h == 9 && q->aspect_tolerance == 0.1);
    assert_false(q->repeat);
    q = &easel_registry_model(r, "r/two")->quality;
    assert_true(q->blank < 0 && q->unchanged < 0 && q->aspect_w == -1 && q->aspect_h == -1);
    q = &easel_registry_model(r, "r/defaults")->quality;
    assert_true(q->blank == 2.0 && q->unchanged == 0 && q->min_side == 16 && q->aspect_w == 0);
    assert_true(q->repeat);
    assert_true(easel_registry_model(r, "l/local")->quality.unchanged < 0);
    easel_registry_unref(r);
    easel_diags_cleanup(&d);

    const char *bad =
        "models:\n"
        "  - id: x\n"
        "    provider: replicate\n"
        "    checks: {blank: -1, unchanged: 65, aspect: wide, aspect_tolerance: 2,\n"
        "             repeat: maybe, blnak: 3}\n";
    assert_null(load(bad, &d));
    assert_true(has_diag(&d, "checks.blank", 4));
    assert_true(has_diag(&d, "checks.unchanged", 4));
    assert_true(has_diag(&d, "checks.aspect must be", 4));
    assert_true(has_diag(&d, "checks.aspect_tolerance", 4));
    assert_true(has_diag(&d, "checks.repeat", 5));
    assert_true(has_diag(&d, "did you mean \"blank\"", 5));
    easel_diags_cleanup(&d);
}

static void test_syntax_error_position(void **state)
{
    (void)state;
    const char *doc = "models:\n  - id: a\n    provider: [local\n";
    struct easel_diags d = {0};
    struct easel_registry *r = NULL;
    assert_int_equal(easel_registry_parse(doc, strlen(doc), "t", &r, &d),
                     EASEL_EPARSE);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.items[0].msg, "YAML syntax"));
    assert_true(d.items[0].line >= 3);
    easel_diags_cleanup(&d);

    const char *empty = "";
    assert_int_equal(easel_registry_parse(empty, 0, "t", &r, &d), EASEL_EPARSE);
    assert_true(has_diag(&d, "empty", 1));
    easel_diags_cleanup(&d);

    const char *two = "models:\n  - {id: a, provider: local}\n---\nmodels: []\n";
    assert_int_equal(easel_registry_parse(two, strlen(two), "t", &r, &d), EASEL_EPARSE);
    assert_true(has_diag(&d, "more than one YAML document", 0));
    easel_diags_cleanup(&d);

    const char *none = "version: 1\n";
    assert_int_equal(easel_registry_parse(none, strlen(none), "t", &r, &d), EASEL_EPARSE);
    assert_true(has_diag(&d, "no models", 0));
    easel_diags_cleanup(&d);
}

/* A billion-laughs document must not blow up the input template. */
static void test_alias_bomb(void **state)
{
    (void)state;
    struct easel_buf b;
    easel_buf_init(&b, 0);
    easel_buf_puts(&b, "models:\n  - id: a\n    provider: local\n    input:\n");
    easel_buf_puts(&b, "      l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 9; i++)
        easel_buf_printf(&b, "      l%d: &l%d [*l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d, *l%d]\n",
                         i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1,
                         i - 1, i - 1, i - 1);
    struct easel_diags d = {0};
    struct easel_registry *r = NULL;
    assert_int_equal(easel_registry_parse(b.data, b.len, "t", &r, &d), EASEL_EPARSE);
    assert_true(has_diag(&d, "too large", 0));
    easel_diags_cleanup(&d);
    easel_buf_cleanup(&b);
}

static void test_builtin_and_example(void **state)
{
    (void)state;
    struct easel_registry *r = NULL;
    assert_int_equal(easel_registry_builtin(&r), EASEL_OK);
    assert_string_equal(r->default_model, "local/vips-stage");
    assert_string_equal(r->source, "builtin");
    assert_non_null(easel_registry_model(r, "local/vips-stage"));
    assert_int_equal(r->npayloads, 2);
    assert_string_equal(r->payloads[0].name, "stage-run");
    assert_string_equal(r->payloads[1].name, "tryon");
    assert_non_null(strstr(easel_registry_builtin_yaml(), "local/vips-stage"));
    /* references are counted */
    assert_ptr_equal(easel_registry_ref(r), r);
    assert_int_equal(r->refs, 2);
    easel_registry_unref(r);
    assert_int_equal(r->refs, 1);
    easel_registry_unref(r);
    easel_registry_unref(NULL);

    const char *root = getenv("EASEL_ROOT");
    char path[4096];
    snprintf(path, sizeof(path), "%s/docs/examples/models.yaml", root ? root : ".");
    struct easel_diags d = {0};
    easel_err rc = easel_registry_load_file(path, &r, &d);
    easel_diags_print(&d, path, stderr);
    assert_int_equal(rc, EASEL_OK);
    assert_non_null(easel_registry_model(r, "qwen/qwen-image-edit"));
    assert_non_null(easel_registry_model(r, "local/vips-stage"));
    easel_registry_unref(r);
    easel_diags_cleanup(&d);

    assert_int_equal(easel_registry_load_file("/nonexistent/models.yaml", &r, &d),
                     EASEL_ENOTFOUND);
    assert_int_equal(d.n, 1);
    easel_diags_cleanup(&d);
}

static void test_render(void **state)
{
    (void)state;
    struct easel_registry *r = load(good, NULL);
    assert_non_null(r);
    const struct easel_model *m = easel_registry_model(r, "a/one");
    cJSON *fields = cJSON_Parse("{\"style\":\"scandinavian\",\"seed\":42}");
    cJSON *out = NULL;
    assert_int_equal(easel_registry_render_input(m, fields, &out), EASEL_OK);
    assert_string_equal(cJSON_GetObjectItem(out, "prompt")->valuestring,
                        "a scandinavian room");
    const cJSON *seed = cJSON_GetObjectItem(out, "seed");
    assert_true(cJSON_IsNumber(seed));
    assert_int_equal(seed->valueint, 42);
    assert_int_equal(cJSON_GetObjectItem(out, "steps")->valueint, 28);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(out, "list"), 1)->valuestring,
                        "scandinavian");
    cJSON_Delete(out);
    cJSON_Delete(fields);

    /* missing fields: null when alone, empty text when interpolated */
    fields = cJSON_Parse("{}");
    assert_int_equal(easel_registry_render_input(m, fields, &out), EASEL_OK);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(out, "seed")));
    assert_string_equal(cJSON_GetObjectItem(out, "prompt")->valuestring, "a  room");
    cJSON_Delete(out);
    cJSON_Delete(fields);

    /* dotted paths, numbers in text, unclosed braces stay literal */
    struct easel_model t = {0};
    t.input = cJSON_Parse("{\"a\":\"{{ p.name }} x{{n}}\",\"b\":\"{{p}}\",\"c\":\"{{open\"}");
    fields = cJSON_Parse("{\"p\":{\"name\":\"Ann\"},\"n\":1.5}");
    assert_int_equal(easel_registry_render_input(&t, fields, &out), EASEL_OK);
    assert_string_equal(cJSON_GetObjectItem(out, "a")->valuestring, "Ann x1.5");
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(out, "b")));
    assert_string_equal(cJSON_GetObjectItem(out, "c")->valuestring, "{{open");
    cJSON_Delete(out);
    cJSON_Delete(t.input);
    /* no template: the fields themselves */
    t.input = NULL;
    assert_int_equal(easel_registry_render_input(&t, fields, &out), EASEL_OK);
    assert_true(cJSON_Compare(out, fields, 1));
    cJSON_Delete(out);
    cJSON_Delete(fields);
    easel_registry_unref(r);
}

static void test_formats(void **state)
{
    (void)state;
    enum easel_format f;
    assert_int_equal(easel_format_parse("jpg", &f), EASEL_OK);
    assert_int_equal(f, EASEL_FMT_JPEG);
    assert_int_equal(easel_format_parse("webp", &f), EASEL_OK);
    assert_int_equal(f, EASEL_FMT_WEBP);
    assert_int_equal(easel_format_parse("gif", &f), EASEL_EINVAL);
    assert_string_equal(easel_format_mime(EASEL_FMT_WEBP), "image/webp");
    assert_string_equal(easel_format_ext(EASEL_FMT_JPEG), "jpg");
    assert_string_equal(easel_format_name(EASEL_FMT_PNG), "png");
}

static void test_kubernetes_section_and_export(void **state)
{
    (void)state;
    const char *doc =
        "presets:\n"
        "  small: [{name: s, format: png, width: 64, height: 64, quality: 90}]\n"
        "models:\n"
        "  - id: a/main\n"
        "    provider: local\n"
        "    timeout: 90s\n"
        "    preset: small\n"
        "    fallback: [a/backup]\n"
        "    input: {style: \"{{style}}\"}\n"
        "    kubernetes:\n"
        "      resources: {requests: {cpu: 500m, memory: 256Mi}, limits: {memory: 1Gi}}\n"
        "      nodeSelector: {pool: gpu}\n"
        "      tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}]\n"
        "  - id: a/backup\n"
        "    provider: local\n"
        "  - id: a/unrelated\n"
        "    provider: local\n";
    struct easel_diags d = {0};
    struct easel_registry *r = load(doc, &d);
    assert_non_null(r);
    const struct easel_model *m = easel_registry_model(r, "a/main");
    assert_non_null(m->kube);
    char *text = easel_registry_export(r, "a/main");
    assert_non_null(text);
    /* what a worker pod reads back is the same model */
    struct easel_registry *back = load(text, &d);
    assert_non_null(back);
    const struct easel_model *bm = easel_registry_model(back, "a/main");
    assert_non_null(bm);
    assert_int_equal(bm->timeout_ms, 90000);
    assert_string_equal(bm->preset, "small");
    assert_int_equal(bm->retry.max_attempts, m->retry.max_attempts);
    assert_true(cJSON_Compare(bm->input, m->input, true));
    assert_true(cJSON_Compare(bm->kube, m->kube, true));
    assert_non_null(easel_registry_model(back, "a/backup"));
    assert_null(easel_registry_model(back, "a/unrelated"));
    const struct easel_preset *p = easel_registry_preset(back, "small");
    assert_non_null(p);
    assert_int_equal(p->variants[0].format, EASEL_FMT_PNG);
    assert_string_equal(back->default_model, "a/main");
    assert_null(easel_registry_export(r, "no/such"));
    free(text);
    easel_registry_unref(back);
    easel_registry_unref(r);

    const char *bad =
        "models:\n"
        "  - id: a/x\n"
        "    provider: local\n"
        "    kubernetes:\n"
        "      resources: {limits: {memory: lots}, wants: {}}\n"
        "      nodeSelektor: {a: b}\n";
    easel_diags_cleanup(&d);
    assert_null(load(bad, &d));
    assert_true(has_diag(&d, "\"lots\" is not a resource quantity", 5));
    assert_true(has_diag(&d, "not \"wants\"", 5));
    assert_true(has_diag(&d, "nodeSelector", 6));
    easel_diags_cleanup(&d);
}

/* `executor`: pod | pool | local, at its line and column; a controller
 * refuses a model that names an executor it does not run. */
static void test_executor_key(void **state)
{
    (void)state;
    const char *doc = "version: 1\n"
                      "models:\n"
                      "  - id: a\n"
                      "    provider: local\n"
                      "  - id: b\n"
                      "    provider: noop\n"
                      "    executor: pool\n"
                      "  - id: c\n"
                      "    provider: local\n"
                      "    executor: pod\n";
    struct easel_diags d = {0};
    struct easel_registry *r = load(doc, &d);
    assert_non_null(r);
    assert_int_equal(easel_registry_model(r, "a")->executor, EASEL_MODEL_EXEC_DEFAULT);
    assert_int_equal(easel_registry_model(r, "b")->executor, EASEL_MODEL_EXEC_POOL);
    assert_true(easel_registry_runs_on_pool(r, "b"));
    assert_false(easel_registry_runs_on_pool(r, "a"));
    assert_false(easel_registry_runs_on_pool(r, "nope"));
    /* pod under a local controller: refused at the key */
    assert_int_equal(easel_registry_check_executors(r, "local", &d), EASEL_EPARSE);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.items[0].line, 10);
    assert_int_equal(d.items[0].col, 15);
    assert_true(has_diag(&d, "model \"c\" asks for executor pod, but this controller runs the local executor", 10));
    easel_diags_cleanup(&d);
    memset(&d, 0, sizeof(d));
    assert_int_equal(easel_registry_check_executors(r, "kubernetes", &d), EASEL_OK);
    assert_int_equal(d.n, 0);
    easel_registry_unref(r);

    const char *local = "version: 1\nmodels:\n  - {id: x, provider: local, executor: local}\n";
    r = load(local, &d);
    assert_non_null(r);
    assert_int_equal(easel_registry_check_executors(r, "kubernetes", &d), EASEL_EPARSE);
    assert_true(has_diag(&d, "asks for executor local, but this controller runs the kubernetes executor", 3));
    easel_diags_cleanup(&d);
    memset(&d, 0, sizeof(d));
    easel_registry_unref(r);

    const char *bad = "version: 1\nmodels:\n  - id: y\n    provider: local\n    executor: lambda\n";
    assert_null(load(bad, &d));
    assert_true(has_diag(&d, "executor must be pod, pool or local, not \"lambda\"", 5));
    easel_diags_cleanup(&d);
}

/* cost: a number, or per channel with a default; exported so that a job
 * pod's registry document reads back the same; mistakes at their line */
static void test_cost_key(void **state)
{
    (void)state;
    const char *doc = "version: 1\n"
                      "models:\n"
                      "  - id: a\n"
                      "    provider: local\n"
                      "    cost: 3\n"
                      "  - id: b\n"
                      "    provider: local\n"
                      "    cost: {default: 4, b2b: 1}\n"
                      "  - id: c\n"
                      "    provider: local\n";
    struct easel_diags d = {0};
    struct easel_registry *r = load(doc, &d);
    assert_non_null(r);
    const struct easel_model *a = easel_registry_model(r, "a"), *b = easel_registry_model(r, "b");
    assert_int_equal(easel_model_cost(a, "b2c"), 3);
    assert_int_equal(easel_model_cost(a, NULL), 3);
    assert_int_equal(easel_model_cost(b, "b2b"), 1);
    assert_int_equal(easel_model_cost(b, "b2c"), 4);
    assert_int_equal(easel_model_cost(b, ""), 4);
    assert_int_equal(easel_model_cost(easel_registry_model(r, "c"), "b2b"), 0);
    assert_int_equal(easel_model_cost(NULL, "b2b"), 0);
    char *out = easel_registry_export(r, "b");
    assert_non_null(out);
    struct easel_registry *r2 = NULL;
    assert_int_equal(easel_registry_parse(out, strlen(out), "export", &r2, &d), EASEL_OK);
    assert_int_equal(easel_model_cost(easel_registry_model(r2, "b"), "b2b"), 1);
    assert_int_equal(easel_model_cost(easel_registry_model(r2, "b"), "b2c"), 4);
    easel_registry_unref(r2);
    free(out);
    easel_registry_unref(r);

    const char *bad = "version: 1\nmodels:\n"
                      "  - {id: x, provider: local, cost: -1}\n"
                      "  - {id: y, provider: local, cost: {b2b: lots}}\n"
                      "  - {id: z, provider: local, cost: {b2b: 1, b2b: 2}}\n"
                      "  - {id: w, provider: local, cost: [1]}\n"
                      "  - {id: v, provider: local, cost: 0, cost: 2}\n";
    assert_null(load(bad, &d));
    assert_true(has_diag(&d, "cost must be a whole number from 0 to 1000000000, not \"-1\"", 3));
    assert_true(has_diag(&d, "a cost must be a whole number", 4));
    assert_true(has_diag(&d, "cost names channel \"b2b\" twice", 5));
    assert_true(has_diag(&d, "cost (a number, or channel: number)", 6));
    assert_true(has_diag(&d, "cost is given twice", 7));
    easel_diags_cleanup(&d);
}

/* credits: internal by default; external needs all three statements, each
 * with args matching its $1..$N (outside quotes and comments), and names
 * every mistake at its line */
static void test_credits_key(void **state)
{
    (void)state;
    struct easel_diags d = {0};
    struct easel_registry *r = load("version: 1\nmodels:\n  - {id: a, provider: local}\n", &d);
    assert_non_null(r);
    assert_false(r->credits.external);
    assert_int_equal(r->credits.abandon_ms, 600000);
    easel_registry_unref(r);

    const char *doc =
        "version: 1\n"
        "credits:\n"
        "  mode: external\n"
        "  abandon_after: 2m\n"
        "  reserve: {sql: \"select r($1, $2, $3) -- not $4\", args: [owner_key, amount, key]}\n"
        "  consume: {sql: \"select c($1, '$2 is text')\", args: [key]}\n"
        "  refund: {sql: \"select f($2, $1)\", args: [key, reason]}\n"
        "models:\n  - {id: a, provider: local, cost: 2}\n";
    r = load(doc, &d);
    assert_non_null(r);
    assert_true(r->credits.external);
    assert_int_equal(r->credits.abandon_ms, 120000);
    assert_int_equal(r->credits.reserve.nargs, 3);
    assert_int_equal(r->credits.reserve.args[0], EASEL_ARG_OWNER_KEY);
    assert_int_equal(r->credits.reserve.args[2], EASEL_ARG_KEY);
    assert_int_equal(r->credits.reserve.line, 5);
    assert_int_equal(r->credits.consume.nargs, 1);
    assert_int_equal(r->credits.refund.args[1], EASEL_ARG_REASON);
    assert_string_equal(easel_app_arg_name(EASEL_ARG_OWNER_KEY), "owner_key");
    easel_registry_unref(r);

    const char *bad =
        "version: 1\n"
        "credits:\n"
        "  mode: externel\n"
        "  reserve: {sql: \"select r($1, $3)\", args: [key, amount]}\n"
        "  consume: {sql: \"select c($1)\", args: [wallet]}\n"
        "  refund: {sql: \"do $$ begin end $$\", args: []}\n"
        "  refunds: 1\n"
        "models:\n  - {id: a, provider: local}\n";
    assert_null(load(bad, &d));
    assert_true(has_diag(&d, "credits.mode must be internal or external, not \"externel\"", 3));
    assert_true(has_diag(&d, "the sql uses $1 to $3 but 2 args are given", 4));
    assert_true(has_diag(&d, "\"wallet\" is not an argument", 5));
    assert_true(has_diag(&d, "credits.refund: the sql has a $ that is not $1 to $10", 6));
    assert_true(has_diag(&d, "unknown key \"refunds\" in credits (did you mean \"refund\"?)", 7));
    easel_diags_cleanup(&d);

    const char *missing = "version: 1\ncredits: {mode: external, reserve: {sql: \"select r()\"}}\n"
                          "models:\n  - {id: a, provider: local}\n";
    assert_null(load(missing, &d));
    assert_true(has_diag(&d, "mode external needs consume", 2));
    assert_true(has_diag(&d, "mode external needs refund", 2));
    easel_diags_cleanup(&d);

    const char *internal = "version: 1\ncredits: {mode: internal, consume: {sql: \"select c()\"}}\n"
                           "models:\n  - {id: a, provider: local}\n";
    assert_null(load(internal, &d));
    assert_true(has_diag(&d, "reserve, consume and refund are for mode: external", 2));
    easel_diags_cleanup(&d);
}

/* records: a rule by channel or payload rule, a key, the columns per
 * status with their values; names that could reach SQL are plain
 * identifiers; every mistake at its line */
static void test_records_key(void **state)
{
    (void)state;
    const char *doc =
        "version: 1\n"
        "payloads:\n"
        "  - {name: tryon, when: [garment], model: a, images: [garment]}\n"
        "records:\n"
        "  - name: b2c\n"
        "    channel: b2c\n"
        "    table: app.generation_sessions\n"
        "    key: {column: id, field: task.session_id}\n"
        "    on:\n"
        "      running: {status: processing, started_at: $now}\n"
        "      succeeded: {status: completed, url: $variant.hq, err: $null, note: $$5}\n"
        "  - name: by-rule\n"
        "    rule: tryon\n"
        "    table: t\n"
        "    key: {column: k, field: n}\n"
        "    on: {failed: {why: $reason}}\n"
        "models:\n  - {id: a, provider: local}\n";
    struct easel_diags d = {0};
    struct easel_registry *r = load(doc, &d);
    assert_non_null(r);
    assert_int_equal(r->nrecords, 2);
    const struct easel_record_rule *rr = easel_registry_record(r, "b2c");
    assert_non_null(rr);
    assert_string_equal(rr->schema, "app");
    assert_string_equal(rr->table, "generation_sessions");
    assert_string_equal(rr->key_field, "task.session_id");
    assert_int_equal(rr->on[EASEL_STATUS_RUNNING].ncols, 2);
    assert_int_equal(rr->on[EASEL_STATUS_RUNNING].cols[1].kind, EASEL_REC_NOW);
    const struct easel_rec_set *ok = &rr->on[EASEL_STATUS_SUCCEEDED];
    assert_int_equal(ok->ncols, 4);
    assert_int_equal(ok->cols[1].kind, EASEL_REC_VARIANT);
    assert_string_equal(ok->cols[1].text, "hq");
    assert_int_equal(ok->cols[2].kind, EASEL_REC_NULL);
    assert_int_equal(ok->cols[3].kind, EASEL_REC_LITERAL);
    assert_string_equal(ok->cols[3].text, "$5");
    assert_int_equal(ok->cols[3].line, 11);
    assert_int_equal(rr->on[EASEL_STATUS_QUEUED].ncols, 0);
    assert_null(rr->rule);

    /* which rule a job keeps, and its key from the payload */
    struct easel_intake in;
    memset(&in, 0, sizeof(in));
    in.channel = (char *)"b2c";
    in.rule = (char *)"envelope";
    in.payload = cJSON_Parse("{\"task\": {\"session_id\": \"s-1\"}, \"n\": 42}");
    char *key = NULL;
    assert_ptr_equal(easel_registry_record_for(r, &in, &key), rr);
    assert_string_equal(key, "s-1");
    free(key);
    in.channel = (char *)"b2b";
    in.rule = (char *)"tryon";
    assert_ptr_equal(easel_registry_record_for(r, &in, &key), easel_registry_record(r, "by-rule"));
    assert_string_equal(key, "42");
    free(key);
    in.rule = (char *)"other";
    assert_null(easel_registry_record_for(r, &in, &key));
    assert_null(key);
    cJSON_Delete(in.payload);
    easel_registry_unref(r);

    const char *bad =
        "version: 1\n"
        "records:\n"
        "  - name: x\n"
        "    channel: b2c\n"
        "    rule: nope\n"
        "    table: \"t; drop table u\"\n"
        "    key: {column: \"id)\", field: s}\n"
        "    on:\n"
        "      finished: {status: done}\n"
        "      running: {\"a b\": 1, c: $when}\n"
        "  - {name: x, channel: b2b, table: t, key: {column: k, field: f}}\n"
        "models:\n  - {id: a, provider: local}\n";
    assert_null(load(bad, &d));
    assert_true(has_diag(&d, "needs one of rule (a payload rule's name) or channel", 3));
    assert_true(has_diag(&d, "is not TABLE or SCHEMA.TABLE of plain names", 3));
    assert_true(has_diag(&d, "records.key.column \"id)\" is not a plain column name", 7));
    assert_true(has_diag(&d, "\"finished\" is not a job status", 9));
    assert_true(has_diag(&d, "\"a b\" is not a plain column name", 10));
    assert_true(has_diag(&d, "\"$when\" is not a value", 10));
    assert_true(has_diag(&d, "names payload rule \"nope\", which is not defined", 3));
    assert_true(has_diag(&d, "needs on: the columns to set for each status", 11));
    assert_true(has_diag(&d, "record rule \"x\" is defined twice", 11));
    easel_diags_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_document),
        cmocka_unit_test(test_cost_key),
        cmocka_unit_test(test_credits_key),
        cmocka_unit_test(test_records_key),
        cmocka_unit_test(test_overriding_builtin_preset),
        cmocka_unit_test(test_every_problem_reported),
        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_syntax_error_position),
        cmocka_unit_test(test_alias_bomb),
        cmocka_unit_test(test_builtin_and_example),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_kubernetes_section_and_export),
        cmocka_unit_test(test_executor_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
