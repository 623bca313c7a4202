/* Label sets: the identity of a series. A label set is an array of (name, value) pairs sorted by name
 * with unique names and no empty values (an empty value means "label absent", as in Prometheus).
 * Strings are NUL-terminated; in the head they point into the symbol table (symbols.h), in requests
 * they are borrowed from the caller. The hash is XXH64 over name 0xff value 0xff ..., stable across
 * runs and machines (it is not persisted, but replay relies on it being deterministic). */
#ifndef VG_MODEL_LABELS_H
#define VG_MODEL_LABELS_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct model_label {
    const char *name;  /* borrowed (or interned) */
    const char *value; /* borrowed (or interned) */
} model_label_t;

#define MODEL_METRIC_NAME "__name__"

/* Limits checked by model_labels_normalize(); 0 means unlimited. Defaults: MODEL_LIMITS_DEFAULT. */
typedef struct model_label_limits {
    size_t max_labels;      /* labels per series */
    size_t max_name_len;    /* bytes per label name */
    size_t max_value_len;   /* bytes per label value */
} model_label_limits_t;

#define MODEL_LIMITS_DEFAULT ((model_label_limits_t){.max_labels = 64, .max_name_len = 1024, .max_value_len = 4096})

/* Sorts v by name (in place). */
void model_labels_sort(model_label_t *v, size_t n);

/* Makes v a canonical label set in place: drops empty values, sorts, and validates (name charset
 * [a-zA-Z_][a-zA-Z0-9_]*, __name__ value [a-zA-Z_:][a-zA-Z0-9_:]*, values valid UTF-8, unique names,
 * limits). On success *n is the new count; returns 0 or VG_EINVAL/VG_ELIMIT with a message naming the
 * offending label. lim may be NULL (defaults). */
int model_labels_normalize(model_label_t *v, size_t *n, const model_label_limits_t *lim, vg_error_t *err);

/* True if s[0..len) is a valid label name / metric name / UTF-8 string. */
bool model_label_name_valid(const char *s, size_t len);
bool model_metric_name_valid(const char *s, size_t len);
bool model_utf8_valid(const char *s, size_t len);

/* XXH64 of a sorted label set. */
uint64_t model_labels_hash(const model_label_t *v, size_t n);

/* Lexicographic order of sorted label sets (pairwise by name then value; a prefix sorts first). */
int model_labels_cmp(const model_label_t *a, size_t na, const model_label_t *b, size_t nb);
bool model_labels_equal(const model_label_t *a, size_t na, const model_label_t *b, size_t nb);

/* The value of label `name`, or NULL when absent. v must be sorted. */
const char *model_labels_get(const model_label_t *v, size_t n, const char *name);

/* A deep copy of v in one allocation (array and strings); caller frees with free(). NULL on ENOMEM. */
model_label_t *model_labels_dup(const model_label_t *v, size_t n);

/* Formats as {a="b", c="d"} (with __name__ in front as metric name) into out (cap bytes, always
 * NUL-terminated); returns the length it needed. For logs and errors. */
size_t model_labels_format(const model_label_t *v, size_t n, char *out, size_t cap);

#endif
