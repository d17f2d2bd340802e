/* providers_int.h - what the provider files share (pkg/providers only). */
#ifndef EASEL_PROVIDERS_INT_H
#define EASEL_PROVIDERS_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "easel/providers.h"
#include "easel/yamljson.h"

easel_err prov_replicate(const struct easel_call *c, struct easel_call_result *out,
                         struct easel_error *err);

/* The create's Prefer: wait=*wait_s and Cancel-After: *cancel_after_s for
 * an attempt with left_ms to go: the wait within 1..5 s (Replicate allows
 * 1..60), Cancel-After what is left in whole seconds but at least 5, the
 * minimum Replicate's API reference sets. */
void prov_replicate_timing(int64_t left_ms, int64_t *wait_s, int64_t *cancel_after_s);

easel_err prov_openai(const struct easel_call *c, struct easel_call_result *out,
                      struct easel_error *err);
easel_err prov_gemini(const struct easel_call *c, struct easel_call_result *out,
                      struct easel_error *err);
easel_err prov_imagen(const struct easel_call *c, struct easel_call_result *out,
                      struct easel_error *err);

/* How each provider's answers are read, apart from the HTTP exchange (no
 * I/O), so that the fuzz targets in tests/fuzz reach them with any bytes.
 * A failure answer (any status but the provider's success) becomes err,
 * with the HTTP status, Retry-After and the key redacted; returns its code.
 * r->body is NUL-terminated. */
easel_err prov_replicate_failure(const struct easel_call *c, const struct easel_http_resp *r,
                                 struct easel_error *err);
/* A prediction no longer starting or processing: EASEL_OK with *url its
 * first output to download (pointing into pred), or its failure. A
 * succeeded prediction's metrics go to out->usage. */
easel_err prov_replicate_finished(const struct easel_call *c, const cJSON *pred, const char *id,
                                  const char **url, struct easel_call_result *out,
                                  struct easel_error *err);
easel_err prov_openai_failure(const struct easel_call *c, const struct easel_http_resp *r,
                              struct easel_error *err);
/* A 200 answer of the images API (body NUL-terminated): data[0].b64_json
 * decoded into out->data, its usage into out->usage. */
easel_err prov_openai_answer(const char *body, struct easel_call_result *out,
                             struct easel_error *err);
/* who: "gemini" or "imagen". */
easel_err prov_google_failure(const struct easel_call *c, const char *who,
                              const struct easel_http_resp *r, struct easel_error *err);
/* A parsed 200 answer (j may be NULL): the image into out->data, or the
 * blocked prompt, safety stop or missing image as a permanent failure. */
easel_err prov_gemini_answer(const cJSON *j, struct easel_call_result *out,
                             struct easel_error *err);
easel_err prov_imagen_answer(const cJSON *j, struct easel_call_result *out,
                             struct easel_error *err);

/* Decodes standard base64 into out->data (EASEL_EPARSE when it is not). */
easel_err prov_b64_decode(const char *b64, struct easel_call_result *out);
/* The start of a response body, printable, for error messages. */
const char *prov_snippet(const char *body);
/* s is exactly n hex digits. */
bool prov_is_hex(const char *s, size_t n);
/* Records the HTTP status and Retry-After on err and redacts the key. */
void prov_finish_error(const struct easel_call *c, struct easel_error *err, long status,
                       int64_t retry_after_ms);
/* Tells the call's progress callback (if any) the provider's status, its
 * id for the call, and, from a Replicate prediction `pred` (or NULL), its
 * logs and the percent of their newest progress bar. */
void prov_report(const struct easel_call *c, const char *status, const char *ref,
                 const cJSON *pred, bool final);
/* The job asked to stop (canceled or terminating). */
bool prov_stopping(const struct easel_call *c);
/* Sleeps up to ms, waking early when the job stops; never past the deadline. */
void prov_sleep(const struct easel_call *c, int64_t ms);
/* Downloads an output URL into out->data through easel_fetch: http(s)
 * (SSRF guard, --source-allow, the model's own endpoint origin trusted) or
 * data: only. A refused URL fails permanently as "output_url_blocked". */
easel_err prov_download(const struct easel_call *c, const char *url,
                        struct easel_call_result *out, struct easel_error *err);
/* A provider's message says the content was refused (safety, NSFW...). */
bool prov_mentions_policy(const char *msg);

#endif
