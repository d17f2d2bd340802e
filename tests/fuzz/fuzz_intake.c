/*
 * fuzz_intake.c - one queue entry, as a producer LPUSHes it, through
 * intake: envelopes and plain objects matched against payload rules (the
 * built-in registry's, or one with channels, owners, idempotency fields and
 * a model field). The first byte picks the registry; the rest is the entry.
 */
#include <stdio.h>

#include "easel/registry.h"
#include "fuzz.h"

static const char rules_yaml[] =
    "version: 1\n"
    "default_model: local/vips-stage\n"
    "payloads:\n"
    "  - name: stage-run\n"
    "    when: [image_id, original_url]\n"
    "    type: stage\n"
    "    images: [original_url, extra.url]\n"
    "    model_field: model\n"
    "    fields: {image_id: image_id, room_type: room_type, style: style, seed: seed}\n"
    "  - name: tryon\n"
    "    when: [channel, person_image_url, garment_image_url]\n"
    "    type: tryon\n"
    "    images: [person_image_url, garment_image_url]\n"
    "    channel: channel\n"
    "    owner: {b2b: store_id, b2c: user_id}\n"
    "    idempotency: task_id\n"
    "    fields: {task_id: task_id, category: category, nested: a.b.c}\n"
    "models:\n"
    "  - id: local/vips-stage\n"
    "    provider: local\n"
    "    input: {style: \"{{style}}\", seed: \"{{seed}}\", label: \"{{room_type}}\"}\n"
    "  - id: other/model\n"
    "    provider: local\n"
    "    fallback: [local/vips-stage]\n";

static struct easel_registry *regs[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct easel_diags d = {0};
    if (easel_registry_builtin(&regs[0]) != EASEL_OK ||
        easel_registry_parse(rules_yaml, sizeof(rules_yaml) - 1, "rules", &regs[1], &d) !=
            EASEL_OK) {
        easel_diags_print(&d, "rules", stderr);
        abort();
    }
    easel_diags_cleanup(&d);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const struct easel_registry *r = regs[data[0] & 1];
    char *entry = fuzz_cstr(data + 1, size - 1);
    struct easel_intake in;
    struct easel_error err;
    memset(&in, 0, sizeof(in));
    easel_error_clear(&err);
    easel_err rc = easel_registry_intake(r, entry, size - 1, &in, &err);
    if (rc == EASEL_OK || rc == EASEL_ENOTFOUND) {
        /* what the controller does next with a job it records */
        const struct easel_model *m = easel_registry_model(r, in.model);
        if (m && in.input) {
            cJSON *rendered = NULL;
            if (easel_registry_render_input(m, cJSON_GetObjectItemCaseSensitive(in.input, "fields"),
                                            &rendered) == EASEL_OK)
                cJSON_Delete(rendered);
        }
    }
    easel_intake_cleanup(&in);
    free(entry);
    return 0;
}
