/* Regular expressions with Prometheus semantics: the one place vigil compiles and runs a regex (label
 * matchers, relabel rules, label_replace, config validation).
 *
 * Syntax is RE2's (Go regexp): constructs PCRE2 would accept but Go rejects — backreferences,
 * lookaround, atomic groups, possessive or stacked quantifiers, \C and other PCRE-only escapes, verbs,
 * recursion, conditionals, (?<name>), flags other than imsU, repeat counts above 1000 — fail to compile
 * with Go's text ("error parsing regexp: <what>: `<where>`"). A pattern re means `^(?:re)$` (fully
 * anchored, as Prometheus compiles it), `.` does not match a newline and `$` only matches at the end.
 *
 * Matching uses fast paths for literals, a literal prefix/suffix/infix around `.*`, `.*`, `.+` and
 * literal alternations `a|b|c`; everything else runs on PCRE2 (JIT when available, on a per-thread JIT
 * stack) with explicit match and depth limits, and a value the backtracker gives up on is decided again
 * by PCRE2's DFA matcher, whose time is linear in the value; so RE2 patterns on values up to the
 * largest label value (1 MiB) get an answer. Match data is cached per thread and sized for the pattern,
 * so a match allocates nothing once a thread has seen a pattern with as many groups. A compiled regex
 * may be used from many threads at once. A match that still cannot be decided is an error (<0), never
 * "no match": callers pass it on. */
#ifndef VG_MODEL_REGEX_H
#define VG_MODEL_REGEX_H

#include "util/buf.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct model_regex model_regex_t;

/* PCRE2 limits applied to every backtracking match (the library's match and depth defaults, set
 * explicitly); a match stopped by one goes to the DFA matcher. */
#define MODEL_REGEX_MATCH_LIMIT_DEFAULT 10000000u
#define MODEL_REGEX_DEPTH_LIMIT_DEFAULT 10000000u
#define MODEL_REGEX_HEAP_LIMIT_KIB (256u * 1024u) /* interpreter backtracking frames (no JIT) */
/* Per thread: the JIT stack's largest size (reserved, touched as used) and the DFA workspace's (ints;
 * it holds the pattern's active states, so it grows with the pattern, not the value). */
#define MODEL_REGEX_JIT_STACK_MAX (8u * 1024u * 1024u)
#define MODEL_REGEX_DFA_WORKSPACE_DEFAULT (1024u * 1024u)

typedef struct model_regex_limits {
    uint32_t match_limit;   /* 0: MODEL_REGEX_MATCH_LIMIT_DEFAULT */
    uint32_t depth_limit;   /* 0: MODEL_REGEX_DEPTH_LIMIT_DEFAULT */
    uint32_t dfa_workspace; /* ints, 0: MODEL_REGEX_DFA_WORKSPACE_DEFAULT */
} model_regex_limits_t;

/* Checks that re[0..len) is a valid RE2 pattern without keeping a compiled form. If matches_empty is
 * not NULL it receives whether the anchored pattern matches "". Returns 0, or VG_EINVAL with Go's
 * message in err (err->pos: byte offset in re when known) / VG_ENOMEM. */
int model_regex_check(const char *re, size_t len, bool *matches_empty, vg_error_t *err);

/* Compiles re[0..len) (copied). limits NULL means the defaults. Returns 0 or VG_EINVAL (as
 * model_regex_check) / VG_ENOMEM. *out is owned: free with model_regex_free(). */
int model_regex_new(const char *re, size_t len, const model_regex_limits_t *limits, model_regex_t **out,
                    vg_error_t *err);
void model_regex_free(model_regex_t *r);

const char *model_regex_source(const model_regex_t *r); /* borrowed, lives as long as r */
bool model_regex_matches_empty(const model_regex_t *r);

/* Which fast path the regex uses ("literal", "prefix", "suffix", "contains", "any", "nonempty", "set",
 * "regex"); for tests and benchmarks. */
const char *model_regex_kind(const model_regex_t *r);

/* If the regex accepts exactly a finite set of values (a literal, or an alternation of literals),
 * returns their count and the sorted array (borrowed, lives as long as r; may contain "") in *values;
 * else 0. */
size_t model_regex_literals(const model_regex_t *r, const char *const **values);

/* Does the whole of s[0..len) match? Returns 1 (match), 0 (no match), or <0 when the match could not
 * be decided: VG_ELIMIT (a backtracking limit reached and the DFA matcher could not decide either:
 * invalid UTF-8 in s, or its workspace limit), VG_ENOMEM, VG_EINTERNAL. */
int model_regex_match(const model_regex_t *r, const char *s, size_t len);

/* The groups of a successful match: group g matched s[ov[2g], ov[2g+1]) unless ov[2g] == SIZE_MAX. */
typedef struct model_regex_caps {
    const char *subject; /* borrowed: the s passed to model_regex_capture */
    const size_t *ov;    /* borrowed: per-thread storage, valid until this thread's next match */
    uint32_t n;          /* pairs in ov (group 0 is the whole match) */
} model_regex_caps_t;

/* Like model_regex_match, filling *caps on a match (always through PCRE2, fast paths have no groups).
 * The DFA matcher can turn a backtracking limit into "no match" but not into groups: a match it finds
 * stays VG_ELIMIT. */
int model_regex_capture(const model_regex_t *r, const char *s, size_t len, model_regex_caps_t *caps);

/* Expands tmpl[0..tmpl_len) with Go's regexp.Expand rules: $1, ${1}, $name, ${name}; $$ is a '$'; a
 * name is the longest run of [A-Za-z0-9_] and bytes >= 0x80 (so "$1x" names group "1x"), a number
 * has no leading zero; an unknown or unmatched group expands to nothing; a malformed reference leaves
 * its '$' as text. Writes at most cap bytes to dst (which may be NULL when cap is 0) and NUL-terminates
 * when cap > 0, like snprintf; returns the full length, so callers size dst with a first call. */
size_t model_regex_expand(const model_regex_t *r, const char *tmpl, size_t tmpl_len, const model_regex_caps_t *caps,
                          char *dst, size_t cap);

/* Appends the regex source of "one of values" (each quoted, joined with '|': a literal alternation,
 * so it takes the set fast path) to out. */
void model_regex_alternation(vg_buf_t *out, const char *const *values, size_t n);

#endif
