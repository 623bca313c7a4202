/* Alert templates: the subset of Go's text/template that Prometheus rule files use in annotations
 * and labels, with Prometheus' template data and functions.
 *
 * Data: `.Labels` / `$labels` (the alert's labels), `.Value` / `$value` (the sample value),
 * `.ExternalLabels` / `$externalLabels`, `.ExternalURL` / `$externalURL`. Prometheus defines the `$`
 * variables by prefixing every template with
 *   {{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}
 * and so does this module (positions in errors are those of the user's text, not of the prefix).
 *
 * Syntax: text and actions `{{ }}` with trim markers `{{-` / `-}}`, comment actions (slash-star ... star-slash inside braces), pipelines
 * `a | b c`, variables (`$x := ...`, `$x = ...`), field and map access (`.Labels.x`, `$labels.x`),
 * `if`/`else if`/`else`/`end`, `range` (over a map: sorted keys; over a query result; with `$i, $e :=`),
 * `with`, parenthesized pipelines, literals (strings "…" and `…`, numbers, true/false, nil), and the
 * builtins `and`, `or`, `not`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `len`, `index`, `print`, `printf`,
 * `println`, `html`, `js`, `urlquery`. Prometheus functions: `humanize`, `humanize1024`,
 * `humanizeDuration`, `humanizePercentage`, `humanizeTimestamp`, `title`, `toUpper`, `toLower`,
 * `reReplaceAll`, `match`, `query`, `first`, `value`, `label`, `sortByLabel`, `strvalue`, `stripPort`,
 * `safeHtml`, `args`, `parseDuration`, `toTime`, `pathPrefix`, `externalURL`. Any other identifier is a
 * parse error naming its position. Output formatting follows Go (fmt's %v of floats is strconv 'g'
 * shortest, as Prometheus' templates print `{{ $value }}`). */
#ifndef VG_RULES_TEMPLATE_H
#define VG_RULES_TEMPLATE_H

#include "model/labels.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct rules_template rules_template_t;

/* One element of a `query` result (an instant vector sample, or a scalar with no labels). */
typedef struct rules_tmpl_sample {
    const model_label_t *labels;
    size_t n_labels;
    double value;
} rules_tmpl_sample_t;

/* Evaluates expr as an instant query at the evaluation time; results live in arena. A query error
 * fails the template's execution with err (Prometheus then shows the error text in place of the
 * expansion). */
typedef int (*rules_tmpl_query_fn)(void *ctx, const char *expr, int64_t t_ms, vg_arena_t *arena,
                                   rules_tmpl_sample_t **out, size_t *n_out, vg_error_t *err);

typedef struct rules_tmpl_data {
    const model_label_t *labels; /* sorted */
    size_t n_labels;
    const model_label_t *external_labels;
    size_t n_external_labels;
    const char *external_url; /* "" when none */
    double value;
    int64_t t_ms;             /* evaluation time, for query */
    rules_tmpl_query_fn query; /* NULL: `query` fails with an error */
    void *query_ctx;
} rules_tmpl_data_t;

/* Parses src (len bytes). name is used in errors, which read as Go's:
 * "template: NAME:LINE:COL: message" (line and column 1-based, of src). */
int rules_template_parse(const char *name, const char *src, size_t len, rules_template_t **out, vg_error_t *err);
void rules_template_free(rules_template_t *t);
/* Appends the expansion to out. On an execution error (a bad function argument, a failed query,
 * exceeding the output or step limits) returns <0 with err "error executing template NAME: …";
 * out may hold a partial expansion then. Thread-safe: a parsed template is immutable. */
int rules_template_exec(const rules_template_t *t, const rules_tmpl_data_t *d, vg_buf_t *out, vg_error_t *err);

/* Limits: output 64 KiB per expansion, 100,000 evaluation steps, nesting depth 100, query results
 * 10,000 samples. */
#define RULES_TMPL_MAX_OUTPUT (64 * 1024)

/* `vigil template expand [--labels 'a=b,c=d'] [--value V] [--external-url URL] [--name NAME] TEMPLATE`
 * (argv[0] is "template"): prints the expansion, or the error to stderr; returns the exit code. */
int rules_cmd_template(int argc, char **argv);

#endif
