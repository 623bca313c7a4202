/* Label matchers `= != =~ !~` with Prometheus semantics: a missing label matches as the empty string
 * (`{a=""}` selects series without `a`); regexes are model_regex (regex.h): RE2 syntax, fully anchored,
 * `.` not matching a newline (Prometheus 2.42: Go's regexp without (?s)), fast paths for literals,
 * prefixes, suffixes, infixes, `.*`, `.+` and literal alternations `a|b|c`. A compiled matcher is
 * immutable and may be used from many threads at once. */
#ifndef VG_MODEL_MATCHER_H
#define VG_MODEL_MATCHER_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum { MODEL_MATCH_EQ, MODEL_MATCH_NEQ, MODEL_MATCH_RE, MODEL_MATCH_NRE } model_match_type_t;

typedef struct model_matcher model_matcher_t;
typedef struct model_regex_limits model_regex_limits_t; /* regex.h */

/* Compiles a matcher (name and value are copied). Returns 0, or VG_EINVAL with the regex error
 * ("invalid regular expression \"re\": error parsing regexp: ...") and its byte offset in err (err->pos). *out is owned: free with model_matcher_free(). */
int model_matcher_new(model_match_type_t type, const char *name, const char *value, model_matcher_t **out,
                      vg_error_t *err);
/* Same, with the regex's match limits (NULL: the defaults; tests use tiny ones to reach errors). */
int model_matcher_new_limits(model_match_type_t type, const char *name, const char *value,
                             const model_regex_limits_t *limits, model_matcher_t **out, vg_error_t *err);
void model_matcher_free(model_matcher_t *m);

/* The matcher of "label is one of values" (n >= 1): `=` for one value, else `=~` of the values
 * regex-quoted and joined with '|' (a literal alternation, so selection uses the postings set path).
 * The one place a value set becomes a matcher: tenants' matchers are built here. */
int model_matcher_new_set(const char *name, const char *const *values, size_t n, model_matcher_t **out, vg_error_t *err);

model_match_type_t model_matcher_type(const model_matcher_t *m);
const char *model_matcher_name(const model_matcher_t *m);  /* borrowed, lives as long as m */
/* The value as given to the constructor (a regex's source for =~ and !~); borrowed, lives as long as m. */
const char *model_matcher_value(const model_matcher_t *m);
const char *model_match_type_str(model_match_type_t t);    /* "=", "!=", "=~", "!~" */

/* Does a label value match? value NULL means the label is absent and matches as "". Returns 1 (it
 * matches), 0 (it does not), or <0 when a regex match could not be decided (model_regex_match: a limit,
 * no memory) — never 0 or 1 in its place, whatever the operator: callers fail their work with it
 * (model_matcher_error words the message). `=`, `!=` and the regex fast paths never fail. */
int model_matcher_match(const model_matcher_t *m, const char *value);

/* Sets err for a model_matcher_match error rc on m: VG_ELIMIT or VG_ENOMEM as they are, anything else
 * VG_EEXEC (all of them 422 "execution" when a query fails with them); returns the code. */
int model_matcher_error(const model_matcher_t *m, int rc, vg_error_t *err);

/* Whether the matcher selects series that lack the label (i.e. matches ""). */
bool model_matcher_matches_empty(const model_matcher_t *m);

/* For set-based index lookups: if the matcher (=, or =~ of a literal alternation) accepts exactly a
 * finite set of non-empty values, returns their count and the array (borrowed) in *values; else 0. */
size_t model_matcher_set_values(const model_matcher_t *m, const char *const **values);

/* Which fast path a matcher uses ("literal", "prefix", "suffix", "contains", "any", "nonempty", "set",
 * "regex"); for tests and benchmarks. */
const char *model_matcher_kind(const model_matcher_t *m);

#endif
