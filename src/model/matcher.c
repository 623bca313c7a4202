/* Matcher compilation and evaluation (see matcher.h): a type, a label name and either a literal value
 * (= and !=) or a compiled model_regex (=~ and !~), which owns the RE2 check, anchoring and the fast
 * paths.
 *
 * Invariants: `re` is non-NULL exactly for =~ and !~; `match_empty` is decided at compile time. A
 * matcher is immutable after model_matcher_new, so evaluation needs no lock. */
#include "model/matcher.h"

#include "model/regex.h"

#include <stdlib.h>
#include <string.h>

struct model_matcher {
    model_match_type_t type;
    char *name;
    char *value;
    size_t value_len;
    model_regex_t *re;
    bool match_empty;
};

const char *model_match_type_str(model_match_type_t t) {
    switch (t) {
    case MODEL_MATCH_EQ: return "=";
    case MODEL_MATCH_NEQ: return "!=";
    case MODEL_MATCH_RE: return "=~";
    case MODEL_MATCH_NRE: return "!~";
    }
    return "?";
}

int model_matcher_match(const model_matcher_t *m, const char *value) {
    const char *v = value ? value : "";
    size_t len = strlen(v);
    int r = m->re ? model_regex_match(m->re, v, len) : len == m->value_len && memcmp(v, m->value, len) == 0;
    if (r < 0) return r; /* undecided: inverting it for != and !~ would be a wrong answer */
    return (m->type == MODEL_MATCH_NEQ || m->type == MODEL_MATCH_NRE) ? !r : r;
}

int model_matcher_error(const model_matcher_t *m, int rc, vg_error_t *err) {
    int code = rc == VG_ENOMEM || rc == VG_ELIMIT ? rc : VG_EEXEC;
    return vg_error_set(err, code, "regex %s%s\"%.200s\" could not be evaluated on a value of label \"%.200s\": %s", m->name,
                        model_match_type_str(m->type), m->value, m->name, vg_error_str(rc));
}

int model_matcher_new(model_match_type_t type, const char *name, const char *value, model_matcher_t **out,
                      vg_error_t *err) {
    return model_matcher_new_limits(type, name, value, NULL, out, err);
}

int model_matcher_new_limits(model_match_type_t type, const char *name, const char *value,
                             const model_regex_limits_t *limits, model_matcher_t **out, vg_error_t *err) {
    *out = NULL;
    if (!name || !value) return vg_error_set(err, VG_EINVAL, "matcher needs a name and a value");
    model_matcher_t *m = calloc(1, sizeof *m);
    if (!m) return vg_error_set(err, VG_ENOMEM, "out of memory");
    m->type = type;
    m->name = strdup(name);
    m->value = strdup(value);
    m->value_len = strlen(value);
    if (!m->name || !m->value) {
        model_matcher_free(m);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    if (type == MODEL_MATCH_RE || type == MODEL_MATCH_NRE) {
        vg_error_t rerr;
        vg_error_clear(&rerr);
        int rc = model_regex_new(value, m->value_len, limits, &m->re, &rerr);
        if (rc) {
            model_matcher_free(m);
            if (rc == VG_ENOMEM) return vg_error_set(err, VG_ENOMEM, "out of memory");
            return vg_error_set_pos(err, rc, rerr.pos, rerr.end, "invalid regular expression \"%.200s\": %s", value, rerr.msg);
        }
    }
    m->match_empty = model_matcher_match(m, "") == 1; /* "" was decided when the regex compiled */
    *out = m;
    return 0;
}

void model_matcher_free(model_matcher_t *m) {
    if (!m) return;
    free(m->name);
    free(m->value);
    model_regex_free(m->re);
    free(m);
}

model_match_type_t model_matcher_type(const model_matcher_t *m) { return m->type; }
const char *model_matcher_name(const model_matcher_t *m) { return m->name; }
const char *model_matcher_value(const model_matcher_t *m) { return m->value; }
bool model_matcher_matches_empty(const model_matcher_t *m) { return m->match_empty; }
const char *model_matcher_kind(const model_matcher_t *m) { return m->re ? model_regex_kind(m->re) : "literal"; }

size_t model_matcher_set_values(const model_matcher_t *m, const char *const **values) {
    if (m->type == MODEL_MATCH_EQ && m->value_len > 0) {
        *values = (const char *const *)&m->value;
        return 1;
    }
    if (m->type != MODEL_MATCH_RE) return 0;
    size_t n = model_regex_literals(m->re, values);
    for (size_t i = 0; i < n; i++)
        if ((*values)[i][0] == '\0') return 0; /* "a|" also matches absent labels */
    return n;
}

int model_matcher_new_set(const char *name, const char *const *values, size_t n, model_matcher_t **out, vg_error_t *err) {
    *out = NULL;
    if (n == 0) return vg_error_set(err, VG_EINVAL, "a value set matcher needs at least one value");
    if (n == 1) return model_matcher_new(MODEL_MATCH_EQ, name, values[0], out, err);
    vg_buf_t re = VG_BUF_INIT;
    model_regex_alternation(&re, values, n);
    int rc = re.failed ? vg_error_set(err, VG_ENOMEM, "out of memory") : model_matcher_new(MODEL_MATCH_RE, name, re.data, out, err);
    vg_buf_deinit(&re);
    return rc;
}
