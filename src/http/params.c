/* Prometheus API parameter parsing; see params.h. */
#include "params.h"

#include "promql/promql.h"
#include "util/timeutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int api_parse_time(const char *param, const char *s, int64_t *out_ms, vg_error_t *err) {
    if (!s) s = "";
    char *end;
    errno = 0;
    double f = strtod(s, &end);
    if (*s && !*end && errno != ERANGE && strncasecmp(s, "nan", 3) && !strchr(s, 'x') && !strchr(s, 'X') &&
        !strpbrk(s, "iI")) {
        /* whole seconds, and the fraction rounded to ms (Prometheus: math.Modf then round to 1/1000) */
        double sec, frac = modf(f, &sec);
        double ms = sec * 1000 + round(frac * 1000);
        if (ms >= -9.2e18 && ms <= 9.2e18) {
            *out_ms = (int64_t)ms;
            return 0;
        }
    }
    /* Prometheus' own min/max time strings, as clients send them back */
    if (!strcmp(s, "-292273086-05-16T16:47:06Z")) return *out_ms = API_MIN_TIME_MS, 0;
    if (!strcmp(s, "292277025-08-18T07:12:54.999999999Z")) return *out_ms = API_MAX_TIME_MS, 0;
    if (!vg_rfc3339_parse(s, strlen(s), out_ms)) return 0;
    return vg_error_set(err, VG_EINVAL, "invalid parameter \"%s\": cannot parse \"%s\" to a valid timestamp", param, s);
}

int api_time_param(http_req_t *req, const char *param, int64_t dflt, int64_t *out_ms) {
    const char *s = http_req_param(req, param);
    if (!s || !*s) {
        *out_ms = dflt;
        return 0;
    }
    if (!api_parse_time(param, s, out_ms, NULL)) return 0;
    return vg_error_set(&req->err, VG_EINVAL,
                        "invalid parameter \"%s\": Invalid time value for '%s': cannot parse \"%.200s\" to a valid timestamp", param,
                        param, s);
}

int api_parse_duration(const char *param, const char *s, int64_t *out_ms, vg_error_t *err) {
    char *end;
    errno = 0;
    double f = strtod(s, &end);
    if (*s && !*end && !strpbrk(s, "xXiInN")) {
        double ms = f * 1000;
        if (!(ms >= -9.2e15 && ms <= 9.2e15)) /* ns would overflow int64, as in Prometheus */
            return vg_error_set(err, VG_EINVAL, "invalid parameter \"%s\": cannot parse \"%s\" to a valid duration. It overflows int64",
                                param, s);
        *out_ms = (int64_t)ms;
        return 0;
    }
    if (!vg_duration_parse(s, strlen(s), out_ms)) return 0;
    return vg_error_set(err, VG_EINVAL, "invalid parameter \"%s\": cannot parse \"%s\" to a valid duration", param, s);
}

static model_match_type_t match_type(promql_match_type_t t) {
    switch (t) {
    case PROMQL_MATCH_EQ: return MODEL_MATCH_EQ;
    case PROMQL_MATCH_NEQ: return MODEL_MATCH_NEQ;
    case PROMQL_MATCH_RE: return MODEL_MATCH_RE;
    default: return MODEL_MATCH_NRE;
    }
}

int api_selector_matchers(http_req_t *req, const promql_node_t *sel, model_matcher_t **out, size_t cap, size_t *n_out) {
    *n_out = 0;
    if (sel->u.vector.n_matchers > cap) return vg_error_set(&req->err, VG_ELIMIT, "more than %zu matchers in a selector", cap);
    for (size_t m = 0; m < sel->u.vector.n_matchers; m++) {
        const promql_matcher_t *pm = &sel->u.vector.matchers[m];
        int rc = model_matcher_new(match_type(pm->type), pm->name.ptr, pm->value.ptr, &out[m], &req->err);
        if (rc) {
            while (m) model_matcher_free(out[--m]);
            return rc;
        }
    }
    *n_out = sel->u.vector.n_matchers;
    return 0;
}

void api_matchers_release(api_matchers_t *sets, size_t n) {
    for (size_t i = 0; sets && i < n; i++)
        for (size_t k = 0; k < sets[i].n; k++) model_matcher_free(sets[i].v[k]);
}

int api_enforce_query(http_req_t *req, promql_node_t *expr) {
    if (!req->ident || !req->ident->scoped) return 0;
    int rc = promql_enforce(expr, &req->ident->enforced, 1, PROMQL_ENFORCE_REJECT, req->arena, &req->err);
    return rc < 0 ? rc : 0;
}

int api_tenant_matcher(const http_req_t *req, model_matcher_t **out) {
    const http_identity_t *id = req->ident;
    vg_error_t *err = (vg_error_t *)&req->err;
    if (id->matcher.n_values == 1) return model_matcher_new(MODEL_MATCH_EQ, id->matcher.label, id->matcher.values[0], out, err);
    vg_buf_t re = VG_BUF_INIT;
    for (size_t i = 0; i < id->matcher.n_values; i++) {
        if (i) vg_buf_putc(&re, '|');
        for (const char *c = id->matcher.values[i]; *c; c++) {
            if (strchr("\\.+*?()|[]{}^$", *c)) vg_buf_putc(&re, '\\');
            vg_buf_putc(&re, *c);
        }
    }
    int rc = re.failed ? vg_error_set(err, VG_ENOMEM, "out of memory")
                       : model_matcher_new(MODEL_MATCH_RE, id->matcher.label, re.data, out, err);
    vg_buf_deinit(&re);
    return rc;
}

int api_match_params(http_req_t *req, bool wrap, api_matchers_t **out, size_t *n_out) {
    size_t n = http_req_param_count(req, "match[]");
    *out = NULL;
    *n_out = 0;
    bool scoped = req->ident && req->ident->scoped;
    static const char all_series[] = "{__name__=~\".+\"}";
    const char **texts = vg_arena_calloc(req->arena, n ? n : 1, sizeof *texts);
    size_t *lens = vg_arena_calloc(req->arena, n ? n : 1, sizeof *lens);
    api_matchers_t *sets = vg_arena_calloc(req->arena, n ? n : 1, sizeof *sets);
    promql_node_t **nodes = vg_arena_calloc(req->arena, n ? n : 1, sizeof *nodes);
    if (!texts || !lens || !sets || !nodes) return vg_error_set(&req->err, VG_ENOMEM, "out of memory");
    for (size_t i = 0, k = 0; i < req->n_params; i++)
        if (!strcmp(req->params[i].key, "match[]")) texts[k] = req->params[i].value, lens[k] = strlen(texts[k]), k++;
    if (scoped && n == 0) { /* a tenant asking about "everything" asks about its own series */
        texts[0] = all_series;
        lens[0] = sizeof all_series - 1;
        n = 1;
    }
    if (scoped) {
        int rc = promql_enforce_match(texts, lens, n, &req->ident->enforced, 1, PROMQL_ENFORCE_REJECT, NULL, req->arena,
                                      nodes, &req->err);
        if (rc < 0) return rc;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        promql_node_t *sel = nodes[i];
        int rc = sel ? 0 : promql_parse_selector(texts[i], lens[i], NULL, req->arena, &sel, &req->err);
        if (rc) {
            api_matchers_release(sets, k);
            if (!wrap) return rc;
            char msg[VG_ERROR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", req->err.msg);
            return vg_error_set(&req->err, rc, "invalid parameter \"match[]\": %s", msg);
        }
        api_matchers_t *set = &sets[k++];
        set->v = vg_arena_calloc(req->arena, sel->u.vector.n_matchers ? sel->u.vector.n_matchers : 1, sizeof *set->v);
        if (!set->v) {
            api_matchers_release(sets, k);
            return vg_error_set(&req->err, VG_ENOMEM, "out of memory");
        }
        if ((rc = api_selector_matchers(req, sel, set->v, sel->u.vector.n_matchers, &set->n))) {
            api_matchers_release(sets, k);
            return rc;
        }
        bool nonempty = false;
        for (size_t m = 0; m < set->n; m++) nonempty |= !model_matcher_matches_empty(set->v[m]);
        if (!nonempty) {
            api_matchers_release(sets, k);
            return vg_error_set(&req->err, VG_EINVAL,
                                "invalid parameter \"match[]\": match[] must contain at least one non-empty matcher");
        }
    }
    *out = sets;
    *n_out = k;
    return 0;
}
