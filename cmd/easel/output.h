/*
 * output.h - how the CLI's job commands print: a table for a person, or the
 * JSON or YAML of the same object for a program. Jobs and events here are
 * in the API's shape, whether they came from a server or were rendered
 * from the database (easel_event_to_json).
 */
#ifndef EASEL_CMD_OUTPUT_H
#define EASEL_CMD_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "settings.h"

enum out_fmt { OUT_TABLE, OUT_JSON, OUT_YAML };

/* -o as a format; an unknown one is reported on stderr and the table used
 * (what `easel get -o foo` has always done). */
enum out_fmt out_format(const struct settings *s, const char *mode);

/* o as indented JSON (OUT_JSON) or block YAML (OUT_YAML), on stdout. */
void out_doc(enum out_fmt f, const cJSON *o);

/* A duration for a table column: "0.42s", "37s", "12m"; "-" when ms < 0. */
void out_duration(int64_t ms, char *buf, size_t n);

/* An API job object (GET /v1/jobs/{id}) as "Field: value" lines. */
void out_job_table(const cJSON *job);
/* API job objects as one line each, under a header. */
void out_jobs_table(const cJSON *items);

/* One event per call, for `easel logs` and its -f: a line (table), a JSON
 * object on one line (json: JSON Lines), or a YAML document (yaml). */
struct out_events {
    enum out_fmt fmt;
    size_t n; /* events printed so far */
};
int out_event(void *ud, const cJSON *event); /* an easel_event_fn */

#endif
