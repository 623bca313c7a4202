/* Relabeling with Prometheus 2.42 semantics: the rules of `relabel_configs` (targets) and
 * `metric_relabel_configs` (scraped series) applied to a label builder.
 *
 * A compiled rule list is immutable and shared by threads; each call gets its own builder. Regexes are
 * fully anchored (`^(?:re)$`), RE2 syntax (validated when the config loads), `.` does not match a
 * newline (as Go's regexp without (?s)); replacements expand $1, ${1}, $name, ${name} and $$ with
 * Go's regexp.Expand rules (a `$name` takes the longest run of [A-Za-z0-9_], so "$1x" names group
 * "1x" and expands to nothing). hashmod takes the last 8 bytes of MD5(value) as a big-endian integer
 * modulo `modulus`, as Prometheus does, so shards agree with Prometheus'. */
#ifndef VG_INGEST_RELABEL_H
#define VG_INGEST_RELABEL_H

#include "config/config.h"
#include "model/labels.h"
#include "util/arena.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct ingest_relabel ingest_relabel_t;

/* Compiles a rule list. *out is owned: free with ingest_relabel_free(). An empty list compiles to a
 * valid object that changes nothing. */
int ingest_relabel_compile(const config_relabel_list_t *rules, ingest_relabel_t **out, vg_error_t *err);
void ingest_relabel_free(ingest_relabel_t *r);
size_t ingest_relabel_count(const ingest_relabel_t *r);

/* A mutable label set; strings it stores live in `arena`. Names are unique; a label set to "" is
 * deleted. */
typedef struct ingest_lbuilder {
    vg_arena_t *arena; /* borrowed */
    model_label_t *v;  /* arena */
    size_t n, cap;
    bool oom;
    int err;                /* 0, or a regex match error (VG_ELIMIT, ...) that stopped relabeling */
    const char *err_regex;  /* borrowed from the rule list: the regex err came from */
    const char *err_action; /* static */
} ingest_lbuilder_t;

void ingest_lbuilder_init(ingest_lbuilder_t *b, vg_arena_t *arena);
/* Replaces the content with a copy of v[0..n) (strings are borrowed: they must outlive the builder). */
void ingest_lbuilder_reset(ingest_lbuilder_t *b, const model_label_t *v, size_t n);
const char *ingest_lbuilder_get(const ingest_lbuilder_t *b, const char *name);
/* Sets name=value (both copied into the arena); an empty value deletes the label. */
void ingest_lbuilder_set(ingest_lbuilder_t *b, const char *name, const char *value);
void ingest_lbuilder_del(ingest_lbuilder_t *b, const char *name);
/* Sorts by name (the builder's array becomes a valid sorted label set, without empty values). */
void ingest_lbuilder_sort(ingest_lbuilder_t *b);

/* Applies every rule in order. Returns false when a rule drops the set (keep/drop/keepequal/dropequal),
 * true otherwise; b holds the result (unsorted: call ingest_lbuilder_sort). b->oom reports arena
 * exhaustion and b->err a regex that could not be evaluated on a value (model_regex_match < 0); either
 * way, whatever the return value, the result is unusable: check ingest_relabel_error first. */
bool ingest_relabel_apply(const ingest_relabel_t *r, ingest_lbuilder_t *b);

/* 0 when the last ingest_relabel_apply on b completed; else sets err (VG_ENOMEM, or VG_ELIMIT/VG_EEXEC
 * naming the action and regex) and returns its code. Callers fail the scrape or the target with it. */
int ingest_relabel_error(const ingest_lbuilder_t *b, vg_error_t *err);

#endif
