/* `vigil test rules`: the rule unit-test format of Prometheus 2.42 (`promtool test rules`), run on vigil's
 * rule engine over a fresh in-memory storage per test.
 *
 * A test file names rule files (relative to itself, globs allowed), an evaluation interval (1m) and an
 * optional group order; each test loads input series in the `load` notation of the scripted PromQL
 * tests (spaced by the test's `interval`, which defaults to 0 as in 2.42: every sample at time 0, the
 * first one of a series kept), then evaluates every group at 0, interval, 2×interval … up to the
 * largest eval_time. Input samples are appended lazily, up to each evaluation instant, so a rule never
 * sees a sample from its future. After an evaluation at ts, the alert tests whose eval_time lies in
 * [ts, ts + interval) compare the firing alerts of their alertname (every group) with exp_alerts as
 * sets; once every evaluation ran, each promql_expr_test is an instant query compared with exp_samples
 * by exact float equality. A rule that fails to evaluate ends the test.
 *
 * Output follows promtool's: "Unit Testing:  FILE", then "  SUCCESS" (stdout) or "  FAILED:" and one
 * block per failure (stderr); the exit code is 1 when any file failed. Structure errors of a test file
 * are reported FILE:LINE:COL. */
#include "rules_int.h"

#include "util/fs.h"

#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define UT_MAX_SAMPLES 10000           /* the engine settings of promtool's test storage */
#define UT_TIMEOUT_MS (100 * 1000)
#define UT_DEFAULT_EVAL_MS (60 * 1000)

/* ---- the test file --------------------------------------------------------------------------------- */

typedef struct {
    const char *series, *values;
    int line, col;
} ut_input_t;

typedef struct {
    model_label_t *labels, *annotations; /* sorted */
    size_t n_labels, n_annotations;
} ut_alert_t;

typedef struct {
    int64_t eval_ms;
    const char *alertname; /* NULL when missing */
    ut_alert_t *exp;
    size_t n_exp;
    int line, col;
} ut_alert_test_t;

typedef struct {
    const char *labels;
    double value;
    int line, col;
} ut_sample_t;

typedef struct {
    const char *expr;
    int64_t eval_ms;
    ut_sample_t *exp;
    size_t n_exp;
    int line, col;
} ut_expr_test_t;

typedef struct {
    const char *name; /* "" when none */
    int64_t interval_ms;
    ut_input_t *inputs;
    size_t n_inputs;
    ut_alert_test_t *alerts;
    size_t n_alerts;
    ut_expr_test_t *exprs;
    size_t n_exprs;
    model_label_t *ext; /* sorted */
    size_t n_ext;
    const char *external_url;
} ut_test_t;

typedef struct {
    const char **rule_files;
    size_t n_rule_files;
    int64_t eval_ms;
    const char **order;
    size_t n_order;
    ut_test_t *tests;
    size_t n_tests;
} ut_file_t;

/* ---- YAML → ut_file_t ------------------------------------------------------------------------------ */

typedef struct {
    yaml_document_t *doc;
    vg_arena_t *a;
    rules_errors_t *errs;
} yp_t;

static void add_err(yp_t *p, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void add_err(yp_t *p, const yaml_node_t *n, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rules_file_error_t *nv = realloc(p->errs->v, (p->errs->n + 1) * sizeof *nv);
    char *m = strdup(msg);
    if (!nv || !m) {
        free(m);
        if (nv) p->errs->v = nv;
        return;
    }
    p->errs->v = nv;
    nv[p->errs->n++] = (rules_file_error_t){n ? (int)n->start_mark.line + 1 : 0, n ? (int)n->start_mark.column + 1 : 0, m};
}

static yaml_node_t *node(yp_t *p, int id) { return yaml_document_get_node(p->doc, id); }

static bool is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    size_t l = n->data.scalar.length;
    const char *s = (const char *)n->data.scalar.value;
    return l == 0 || (l == 1 && s[0] == '~') || (l == 4 && !memcmp(s, "null", 4));
}

static const char *kind(const yaml_node_t *n) {
    return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

/* A string scalar (any scalar, as a Go string field takes it; null is ""), or NULL with an error. */
static const char *str_of(yp_t *p, const yaml_node_t *n, const char *what) {
    if (n->type != YAML_SCALAR_NODE) {
        add_err(p, n, "%s: expected a string, got %s", what, kind(n));
        return NULL;
    }
    if (is_null(n)) return "";
    return vg_arena_strndup(p->a, (const char *)n->data.scalar.value, n->data.scalar.length);
}

static bool dur_of(yp_t *p, const yaml_node_t *n, const char *what, int64_t *out) {
    const char *s = str_of(p, n, what);
    if (!s) return false;
    if (!*s) return *out = 0, true;
    if (vg_duration_parse(s, strlen(s), out) < 0) {
        add_err(p, n, "%s: not a valid duration string: \"%s\"", what, s);
        return false;
    }
    return true;
}

/* A YAML 1.1 float as Go's yaml.v2 decodes one into a float64. */
static bool float_of(yp_t *p, const yaml_node_t *n, const char *what, double *out) {
    *out = 0;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        add_err(p, n, "%s: expected a number, got %s", what, n->type == YAML_SCALAR_NODE ? "a string" : kind(n));
        return false;
    }
    if (is_null(n)) return true;
    char buf[128];
    size_t k = 0;
    const char *s = (const char *)n->data.scalar.value;
    for (size_t i = 0; i < n->data.scalar.length && k + 1 < sizeof buf; i++)
        if (s[i] != '_') buf[k++] = s[i];
    buf[k] = 0;
    const char *b = buf[0] == '+' || buf[0] == '-' ? buf + 1 : buf;
    if (!strcmp(b, ".inf") || !strcmp(b, ".Inf") || !strcmp(b, ".INF")) {
        *out = buf[0] == '-' ? -INFINITY : INFINITY;
        return true;
    }
    if (b == buf && (!strcmp(b, ".nan") || !strcmp(b, ".NaN") || !strcmp(b, ".NAN"))) {
        *out = NAN;
        return true;
    }
    char *end;
    errno = 0;
    bool alpha = false;
    for (const char *c = b; *c; c++) alpha |= (*c >= 'g' && *c <= 'z' && *c != 'x') || (*c >= 'G' && *c <= 'Z');
    *out = alpha ? 0 : strtod(buf, &end);
    if (alpha || !*b || *end || errno == ERANGE) {
        add_err(p, n, "%s: cannot unmarshal \"%s\" into a float", what, buf);
        return false;
    }
    return true;
}

/* A mapping of strings (exp_labels, external_labels…) as sorted labels. */
static bool labels_of(yp_t *p, const yaml_node_t *n, const char *what, model_label_t **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (is_null(n)) return true;
    if (n->type != YAML_MAPPING_NODE) {
        add_err(p, n, "%s: expected a mapping, got %s", what, kind(n));
        return false;
    }
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    model_label_t *l = vg_arena_calloc(p->a, cnt + 1, sizeof *l);
    bool ok = true;
    for (size_t i = 0; i < cnt; i++) {
        const yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
        const char *k = str_of(p, node(p, pr->key), what), *v = str_of(p, node(p, pr->value), what);
        if (!k || !v) {
            ok = false;
            continue;
        }
        for (size_t j = 0; j < *n_out; j++)
            if (!strcmp(l[j].name, k)) {
                add_err(p, node(p, pr->key), "%s: key \"%s\" already set", what, k);
                ok = false;
            }
        l[(*n_out)++] = (model_label_t){k, v};
    }
    model_labels_sort(l, *n_out);
    *out = l;
    return ok;
}

/* Iterates a mapping's keys against a list of known ones; unknown keys are errors (as a strict
 * decoder has them). Returns the value node of key `k` or NULL. */
static yaml_node_t *get(yp_t *p, const yaml_node_t *m, const char *k) {
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        yaml_node_t *key = node(p, pr->key);
        if (key->type == YAML_SCALAR_NODE && key->data.scalar.length == strlen(k) &&
            !memcmp(key->data.scalar.value, k, key->data.scalar.length))
            return node(p, pr->value);
    }
    return NULL;
}

static bool check_keys(yp_t *p, const yaml_node_t *m, const char *what, const char *const *known) {
    if (m->type != YAML_MAPPING_NODE) {
        add_err(p, m, "%s: expected a mapping, got %s", what, kind(m));
        return false;
    }
    bool ok = true;
    for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top; pr++) {
        yaml_node_t *key = node(p, pr->key);
        size_t i = 0;
        while (known[i] && !(key->type == YAML_SCALAR_NODE && key->data.scalar.length == strlen(known[i]) &&
                             !memcmp(key->data.scalar.value, known[i], key->data.scalar.length)))
            i++;
        if (!known[i]) {
            add_err(p, key, "%s: unknown field \"%.*s\"", what, key->type == YAML_SCALAR_NODE ? (int)key->data.scalar.length : 0,
                    key->type == YAML_SCALAR_NODE ? (const char *)key->data.scalar.value : "");
            ok = false;
        }
    }
    return ok;
}

/* The items of a list (null: none). */
static bool list_of(yp_t *p, const yaml_node_t *n, const char *what, yaml_node_item_t **items, size_t *cnt) {
    *items = NULL;
    *cnt = 0;
    if (!n || is_null(n)) return true;
    if (n->type != YAML_SEQUENCE_NODE) {
        add_err(p, n, "%s: expected a list, got %s", what, kind(n));
        return false;
    }
    *items = n->data.sequence.items.start;
    *cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    return true;
}

static const char **strings_of(yp_t *p, const yaml_node_t *n, const char *what, size_t *cnt) {
    yaml_node_item_t *it;
    if (!list_of(p, n, what, &it, cnt)) return NULL;
    const char **v = vg_arena_calloc(p->a, *cnt + 1, sizeof *v);
    for (size_t i = 0; i < *cnt; i++)
        if (!(v[i] = str_of(p, node(p, it[i]), what))) v[i] = "";
    return v;
}

static void parse_alert_test(yp_t *p, const yaml_node_t *n, ut_alert_test_t *t) {
    static const char *const keys[] = {"eval_time", "alertname", "exp_alerts", NULL};
    static const char *const akeys[] = {"exp_labels", "exp_annotations", NULL};
    t->line = (int)n->start_mark.line + 1, t->col = (int)n->start_mark.column + 1;
    if (!check_keys(p, n, "alert_rule_test", keys)) return;
    yaml_node_t *v;
    if ((v = get(p, n, "eval_time"))) dur_of(p, v, "eval_time", &t->eval_ms);
    if ((v = get(p, n, "alertname")) && !is_null(v)) t->alertname = str_of(p, v, "alertname");
    if (t->alertname && !*t->alertname) t->alertname = NULL;
    yaml_node_item_t *it;
    if (!list_of(p, get(p, n, "exp_alerts"), "exp_alerts", &it, &t->n_exp)) return;
    t->exp = vg_arena_calloc(p->a, t->n_exp + 1, sizeof *t->exp);
    for (size_t i = 0; i < t->n_exp; i++) {
        yaml_node_t *a = node(p, it[i]);
        if (is_null(a)) continue;
        if (!check_keys(p, a, "exp_alerts", akeys)) continue;
        if ((v = get(p, a, "exp_labels"))) labels_of(p, v, "exp_labels", &t->exp[i].labels, &t->exp[i].n_labels);
        if ((v = get(p, a, "exp_annotations")))
            labels_of(p, v, "exp_annotations", &t->exp[i].annotations, &t->exp[i].n_annotations);
    }
}

static void parse_expr_test(yp_t *p, const yaml_node_t *n, ut_expr_test_t *t) {
    static const char *const keys[] = {"expr", "eval_time", "exp_samples", NULL};
    static const char *const skeys[] = {"labels", "value", NULL};
    t->line = (int)n->start_mark.line + 1, t->col = (int)n->start_mark.column + 1;
    t->expr = "";
    if (!check_keys(p, n, "promql_expr_test", keys)) return;
    yaml_node_t *v;
    if ((v = get(p, n, "expr")) && !(t->expr = str_of(p, v, "expr"))) t->expr = "";
    if ((v = get(p, n, "eval_time"))) dur_of(p, v, "eval_time", &t->eval_ms);
    yaml_node_item_t *it;
    if (!list_of(p, get(p, n, "exp_samples"), "exp_samples", &it, &t->n_exp)) return;
    t->exp = vg_arena_calloc(p->a, t->n_exp + 1, sizeof *t->exp);
    for (size_t i = 0; i < t->n_exp; i++) {
        yaml_node_t *s = node(p, it[i]);
        t->exp[i].labels = "";
        t->exp[i].line = (int)s->start_mark.line + 1, t->exp[i].col = (int)s->start_mark.column + 1;
        if (is_null(s) || !check_keys(p, s, "exp_samples", skeys)) continue;
        if ((v = get(p, s, "labels")) && !(t->exp[i].labels = str_of(p, v, "labels"))) t->exp[i].labels = "";
        if ((v = get(p, s, "value"))) float_of(p, v, "value", &t->exp[i].value);
    }
}

static void parse_test(yp_t *p, const yaml_node_t *n, ut_test_t *t) {
    static const char *const keys[] = {"interval",       "input_series", "alert_rule_test", "promql_expr_test",
                                       "external_labels", "external_url", "name",            NULL};
    static const char *const skeys[] = {"series", "values", NULL};
    t->name = "";
    t->external_url = "";
    if (!check_keys(p, n, "test", keys)) return;
    yaml_node_t *v;
    if ((v = get(p, n, "interval"))) dur_of(p, v, "interval", &t->interval_ms);
    if ((v = get(p, n, "name")) && !(t->name = str_of(p, v, "name"))) t->name = "";
    if ((v = get(p, n, "external_url")) && !(t->external_url = str_of(p, v, "external_url"))) t->external_url = "";
    if ((v = get(p, n, "external_labels"))) labels_of(p, v, "external_labels", &t->ext, &t->n_ext);
    yaml_node_item_t *it;
    if (list_of(p, get(p, n, "input_series"), "input_series", &it, &t->n_inputs)) {
        t->inputs = vg_arena_calloc(p->a, t->n_inputs + 1, sizeof *t->inputs);
        for (size_t i = 0; i < t->n_inputs; i++) {
            yaml_node_t *s = node(p, it[i]);
            ut_input_t *in = &t->inputs[i];
            in->series = in->values = "";
            in->line = (int)s->start_mark.line + 1, in->col = (int)s->start_mark.column + 1;
            if (is_null(s) || !check_keys(p, s, "input_series", skeys)) continue;
            if ((v = get(p, s, "series")) && !(in->series = str_of(p, v, "series"))) in->series = "";
            if ((v = get(p, s, "values")) && !(in->values = str_of(p, v, "values"))) in->values = "";
        }
    }
    if (list_of(p, get(p, n, "alert_rule_test"), "alert_rule_test", &it, &t->n_alerts)) {
        t->alerts = vg_arena_calloc(p->a, t->n_alerts + 1, sizeof *t->alerts);
        for (size_t i = 0; i < t->n_alerts; i++) parse_alert_test(p, node(p, it[i]), &t->alerts[i]);
    }
    if (list_of(p, get(p, n, "promql_expr_test"), "promql_expr_test", &it, &t->n_exprs)) {
        t->exprs = vg_arena_calloc(p->a, t->n_exprs + 1, sizeof *t->exprs);
        for (size_t i = 0; i < t->n_exprs; i++) parse_expr_test(p, node(p, it[i]), &t->exprs[i]);
    }
}

/* Parses a test file into f (arena a); structure errors go to errs. */
static int parse_file(const char *text, size_t len, vg_arena_t *a, ut_file_t *f, rules_errors_t *errs) {
    static const char *const keys[] = {"rule_files", "evaluation_interval", "group_eval_order", "tests", NULL};
    memset(f, 0, sizeof *f);
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    yp_t p = {&doc, a, errs};
    if (!yaml_parser_load(&parser, &doc)) {
        rules_file_error_t *nv = realloc(errs->v, (errs->n + 1) * sizeof *nv);
        char msg[512];
        snprintf(msg, sizeof msg, "yaml: %s", parser.problem ? parser.problem : "invalid document");
        if (nv) {
            errs->v = nv;
            nv[errs->n++] = (rules_file_error_t){(int)parser.problem_mark.line + 1, (int)parser.problem_mark.column + 1, strdup(msg)};
        }
        yaml_parser_delete(&parser);
        return VG_EINVAL;
    }
    yaml_parser_delete(&parser);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && !is_null(root) && check_keys(&p, root, "test file", keys)) {
        yaml_node_t *v;
        f->rule_files = strings_of(&p, get(&p, root, "rule_files"), "rule_files", &f->n_rule_files);
        f->order = strings_of(&p, get(&p, root, "group_eval_order"), "group_eval_order", &f->n_order);
        if ((v = get(&p, root, "evaluation_interval"))) dur_of(&p, v, "evaluation_interval", &f->eval_ms);
        yaml_node_item_t *it;
        if (list_of(&p, get(&p, root, "tests"), "tests", &it, &f->n_tests)) {
            f->tests = vg_arena_calloc(a, f->n_tests + 1, sizeof *f->tests);
            for (size_t i = 0; i < f->n_tests; i++) parse_test(&p, node(&p, it[i]), &f->tests[i]);
        }
    }
    if (!f->eval_ms) f->eval_ms = UT_DEFAULT_EVAL_MS;
    yaml_document_delete(&doc);
    return errs->n ? VG_EINVAL : 0;
}

int rules_unittest_check(const char *text, size_t len, rules_errors_t *errs) {
    vg_arena_t a;
    vg_arena_init(&a, 16 * 1024);
    ut_file_t f;
    int rc = parse_file(text, len, &a, &f, errs);
    vg_arena_deinit(&a);
    return rc;
}

/* ---- formatting as promtool prints ----------------------------------------------------------------- */

/* Go's time.Duration.String for whole milliseconds ("0s", "1m0s", "1h2m3.5s", "500ms"). */
static void go_duration(int64_t ms, vg_buf_t *b) {
    if (ms < 0) vg_buf_putc(b, '-'), ms = -ms;
    if (ms == 0) {
        vg_buf_puts(b, "0s");
        return;
    }
    if (ms < 1000) {
        vg_buf_printf(b, "%lldms", (long long)ms);
        return;
    }
    int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
    if (h) vg_buf_printf(b, "%lldh", (long long)h);
    if (h || m) vg_buf_printf(b, "%lldm", (long long)m);
    vg_buf_printf(b, "%lld", (long long)s);
    if (frac) {
        char f[8];
        snprintf(f, sizeof f, "%03lld", (long long)frac);
        size_t n = strlen(f);
        while (n && f[n - 1] == '0') f[--n] = 0;
        vg_buf_printf(b, ".%s", f);
    }
    vg_buf_putc(b, 's');
}

/* Prometheus' model.Duration form ("5m", "1h30m", "0s"). */
static void prom_duration(int64_t ms, vg_buf_t *b) {
    char d[VG_DURATION_MAX];
    vg_duration_format(ms, d);
    vg_buf_puts(b, d);
}

/* Go's strconv.FormatFloat(v, 'E', -1, 64). */
static void go_float_e(double v, vg_buf_t *b) {
    if (isnan(v)) {
        vg_buf_puts(b, "NaN");
        return;
    }
    if (isinf(v)) {
        vg_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char s[64];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(s, sizeof s, "%.*E", prec, v);
        if (strtod(s, NULL) == v) break;
    }
    vg_buf_puts(b, s);
}

/* Prometheus' labels.Labels.String: {a="b", c="d"} with Go-quoted values, __name__ included. */
static void labels_str(const model_label_t *l, size_t n, vg_buf_t *b) {
    vg_buf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i) vg_buf_puts(b, ", ");
        vg_buf_printf(b, "%s=", l[i].name);
        promql_quote(b, l[i].value, strlen(l[i].value));
    }
    vg_buf_putc(b, '}');
}

/* Appends s with every line after the first prefixed by indent. */
static void indent_lines(const char *s, const char *indent, vg_buf_t *b) {
    for (const char *p = s; *p; p++) {
        vg_buf_putc(b, *p);
        if (*p == '\n') vg_buf_puts(b, indent);
    }
}

/* ---- running ------------------------------------------------------------------------------------- */

typedef struct {
    model_label_t *labels, *annotations;
    size_t n_labels, n_annotations;
} ut_got_t;

/* One error block of a file's failure report. */
typedef struct {
    vg_buf_t *v;
    size_t n;
} ut_errs_t;

static void ut_err(ut_errs_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ut_err(ut_errs_t *e, const char *fmt, ...) {
    vg_buf_t *nv = realloc(e->v, (e->n + 1) * sizeof *nv);
    if (!nv) return;
    e->v = nv;
    nv[e->n] = (vg_buf_t)VG_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    vg_buf_vprintf(&nv[e->n], fmt, ap);
    va_end(ap);
    e->n++;
}

static void ut_err_buf(ut_errs_t *e, vg_buf_t *b) {
    vg_buf_t *nv = realloc(e->v, (e->n + 1) * sizeof *nv);
    if (!nv) {
        vg_buf_deinit(b);
        return;
    }
    e->v = nv;
    nv[e->n++] = *b;
    *b = (vg_buf_t)VG_BUF_INIT;
}

/* The executor of one test: the engine over the test's storage. */
typedef struct {
    promql_executor_t base;
    promql_engine_t *eng;
    const promql_test_storage_t *st;
    void *db;
} ut_exec_t;

static int ex_querier(void *ctx, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    ut_exec_t *x = ctx;
    return x->st->querier(x->db, mint, maxt, out, err);
}
static int ex_query(promql_executor_t *ex, const promql_query_t *q, vg_arena_t *arena, promql_result_t **out, vg_error_t *err) {
    ut_exec_t *x = (ut_exec_t *)ex;
    promql_queryable_t qb = {ex_querier, x};
    return promql_exec(x->eng, &qb, q, arena, out, err);
}
static int ex_series(promql_executor_t *ex, int64_t s, int64_t e, const promql_matcher_set_t *sets, size_t n_sets,
                     vg_arena_t *arena, promql_labels_t **out, size_t *n_out, vg_error_t *err) {
    (void)ex, (void)s, (void)e, (void)sets, (void)n_sets, (void)arena;
    *out = NULL, *n_out = 0;
    return vg_error_set(err, VG_EUNSUPPORTED, "not available in rule unit tests");
}
static int ex_labels(promql_executor_t *ex, const char *name, int64_t s, int64_t e, const promql_matcher_set_t *sets,
                     size_t n_sets, vg_arena_t *arena, const char *const **out, size_t *n_out, vg_error_t *err) {
    (void)ex, (void)name, (void)s, (void)e, (void)sets, (void)n_sets, (void)arena;
    *out = NULL, *n_out = 0;
    return vg_error_set(err, VG_EUNSUPPORTED, "not available in rule unit tests");
}
static int ex_metadata(promql_executor_t *ex, const char *metric, long limit, const promql_matcher_set_t *scope,
                       vg_arena_t *arena, promql_metadata_t **out, size_t *n_out, vg_error_t *err) {
    (void)ex, (void)metric, (void)limit, (void)scope, (void)arena;
    *out = NULL, *n_out = 0;
    return vg_error_set(err, VG_EUNSUPPORTED, "not available in rule unit tests");
}
static int ex_latest(promql_executor_t *ex, int64_t t, int64_t lb, const promql_matcher_set_t *sets, size_t n_sets,
                     vg_arena_t *arena, promql_latest_t **out, size_t *n_out, vg_error_t *err) {
    (void)ex, (void)t, (void)lb, (void)sets, (void)n_sets, (void)arena;
    *out = NULL, *n_out = 0;
    return vg_error_set(err, VG_EUNSUPPORTED, "not available in rule unit tests");
}
static void ex_free(promql_executor_t *ex) { (void)ex; }
static const promql_executor_vt ut_exec_vt = {ex_query, ex_query, ex_series, ex_labels, ex_metadata, ex_latest, ex_free};

/* Input series and how far each has been appended. */
typedef struct {
    promql_test_series_t s;
    size_t next;
    int64_t last_t;
} ut_load_t;

typedef struct {
    const char *path;       /* the test file as given */
    const ut_file_t *f;
    rules_group_spec_t *specs; /* every group of every rule file, in evaluation order */
    size_t n_specs;
    ut_errs_t *errs;
} ut_run_t;

static char *trim_dup(vg_arena_t *a, const char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    char *r = vg_arena_strndup(a, s, n);
    for (char *p = r; p && *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t') *p = ' ';
    return r;
}

/* Appends every input sample at or before t_ms. */
static int load_till(ut_load_t *ld, size_t n, int64_t gap, void *db, const promql_test_storage_t *st, int64_t t_ms,
                     vg_error_t *err) {
    storage_appender_t *app;
    int rc = st->appender(db, &app, err);
    if (rc) return rc;
    for (size_t i = 0; i < n && !rc; i++)
        for (; ld[i].next < ld[i].s.n_values; ld[i].next++) {
            int64_t t = (int64_t)ld[i].next * gap;
            if (t > t_ms) break;
            /* a zero interval puts every sample at 0: the first one stays, as in promtool's storage */
            if (ld[i].s.omit[ld[i].next] || (ld[i].last_t != INT64_MIN && t <= ld[i].last_t)) continue;
            int ar = storage_append(app, ld[i].s.labels, ld[i].s.n_labels, t, ld[i].s.values[ld[i].next], NULL, err);
            if (ar < 0) {
                rc = ar;
                break;
            }
            ld[i].last_t = t;
        }
    if (!rc) rc = storage_commit(app, err);
    else storage_rollback(app);
    storage_appender_free(app);
    return rc;
}

typedef struct {
    vg_arena_t *a;
    ut_got_t *v;
    size_t n, cap;
} ut_collect_t;

static void collect_alert(void *ctx, const rules_alert_view_t *av) {
    ut_collect_t *c = ctx;
    if (av->state != RULES_FIRING) return;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 8;
        ut_got_t *nv = vg_arena_calloc(c->a, nc, sizeof *nv);
        if (!nv) return;
        if (c->n) memcpy(nv, c->v, c->n * sizeof *nv);
        c->v = nv, c->cap = nc;
    }
    ut_got_t *g = &c->v[c->n++];
    g->labels = vg_arena_alloc(c->a, (av->n_labels + 1) * sizeof *g->labels);
    g->annotations = vg_arena_alloc(c->a, (av->n_annotations + 1) * sizeof *g->annotations);
    for (size_t i = 0; i < av->n_labels; i++)
        g->labels[i] = (model_label_t){vg_arena_strndup(c->a, av->labels[i].name, strlen(av->labels[i].name)),
                                       vg_arena_strndup(c->a, av->labels[i].value, strlen(av->labels[i].value))};
    for (size_t i = 0; i < av->n_annotations; i++)
        g->annotations[i] = (model_label_t){vg_arena_strndup(c->a, av->annotations[i].name, strlen(av->annotations[i].name)),
                                            vg_arena_strndup(c->a, av->annotations[i].value, strlen(av->annotations[i].value))};
    g->n_labels = av->n_labels;
    g->n_annotations = av->n_annotations;
}

static int cmp_got(const void *x, const void *y) {
    const ut_got_t *a = x, *b = y;
    int c = model_labels_cmp(a->labels, a->n_labels, b->labels, b->n_labels);
    return c ? c : model_labels_cmp(a->annotations, a->n_annotations, b->annotations, b->n_annotations);
}

static void alerts_str(const ut_got_t *v, size_t n, vg_buf_t *out) {
    if (!n) {
        vg_buf_puts(out, "[]");
        return;
    }
    vg_buf_t s = VG_BUF_INIT;
    vg_buf_puts(&s, "[");
    for (size_t i = 0; i < n; i++) {
        vg_buf_printf(&s, "%s\n%zu:\n  Labels:", i ? "," : "", i);
        labels_str(v[i].labels, v[i].n_labels, &s);
        vg_buf_puts(&s, "\n  Annotations:");
        labels_str(v[i].annotations, v[i].n_annotations, &s);
    }
    vg_buf_puts(&s, "\n]");
    indent_lines(s.data, "            ", out);
    vg_buf_deinit(&s);
}

static bool got_equal(const ut_got_t *a, const ut_got_t *b) {
    return model_labels_equal(a->labels, a->n_labels, b->labels, b->n_labels) &&
           model_labels_equal(a->annotations, a->n_annotations, b->annotations, b->n_annotations);
}

/* Compares the firing alerts of every alert test at eval time t after the evaluation. */
static void check_alerts(ut_run_t *r, const ut_test_t *t, rules_group_t **groups, int64_t eval_ms) {
    for (size_t k = 0; k < t->n_alerts; k++) {
        const ut_alert_test_t *at = &t->alerts[k];
        if (at->eval_ms != eval_ms) continue;
        vg_arena_t a;
        vg_arena_init(&a, 16 * 1024);
        ut_collect_t c = {&a, NULL, 0, 0};
        for (size_t g = 0; g < r->n_specs; g++) {
            const rules_group_spec_t *gs = rules_group_spec(groups[g]);
            for (size_t i = 0; i < gs->n_rules; i++)
                if (gs->rules[i].alert && !strcmp(gs->rules[i].name, at->alertname))
                    rules_group_each_alert(groups[g], i, collect_alert, &c);
        }
        ut_got_t *exp = vg_arena_calloc(&a, at->n_exp + 1, sizeof *exp);
        for (size_t i = 0; i < at->n_exp; i++) {
            const ut_alert_t *e = &at->exp[i];
            model_label_t *l = vg_arena_alloc(&a, (e->n_labels + 2) * sizeof *l);
            size_t n = 0;
            for (size_t j = 0; j < e->n_labels; j++)
                if (strcmp(e->labels[j].name, "alertname")) l[n++] = e->labels[j];
            l[n++] = (model_label_t){"alertname", at->alertname};
            model_labels_sort(l, n);
            exp[i] = (ut_got_t){l, e->annotations, n, e->n_annotations};
        }
        if (c.n) qsort(c.v, c.n, sizeof *c.v, cmp_got);
        if (at->n_exp) qsort(exp, at->n_exp, sizeof *exp, cmp_got);
        bool same = c.n == at->n_exp;
        for (size_t i = 0; same && i < c.n; i++) same = got_equal(&c.v[i], &exp[i]);
        if (!same) {
            vg_buf_t b = VG_BUF_INIT;
            if (*t->name) vg_buf_printf(&b, "    name: %s,\n", t->name);
            vg_buf_printf(&b, "    alertname: %s, time: ", at->alertname);
            prom_duration(at->eval_ms, &b);
            vg_buf_puts(&b, ", \n        exp:");
            alerts_str(exp, at->n_exp, &b);
            vg_buf_puts(&b, ", \n        got:");
            alerts_str(c.v, c.n, &b);
            ut_err_buf(r->errs, &b);
        }
        vg_arena_deinit(&a);
    }
}

typedef struct {
    const model_label_t *labels;
    size_t n_labels;
    double v;
} ut_sample_got_t;

static int cmp_sample(const void *x, const void *y) {
    const ut_sample_got_t *a = x, *b = y;
    return model_labels_cmp(a->labels, a->n_labels, b->labels, b->n_labels);
}

static void samples_str(const ut_sample_got_t *v, size_t n, vg_buf_t *b) {
    if (!n) vg_buf_puts(b, "nil");
    for (size_t i = 0; i < n; i++) {
        if (i) vg_buf_puts(b, ", ");
        labels_str(v[i].labels, v[i].n_labels, b);
        vg_buf_putc(b, ' ');
        go_float_e(v[i].v, b);
    }
}

static void expr_head(vg_buf_t *b, const ut_expr_test_t *e) {
    vg_buf_puts(b, "    expr: ");
    promql_quote(b, e->expr, strlen(e->expr));
    vg_buf_puts(b, ", time: ");
    prom_duration(e->eval_ms, b);
}

static void check_expr(ut_run_t *r, ut_exec_t *x, const ut_expr_test_t *e) {
    vg_arena_t a;
    vg_arena_init(&a, 64 * 1024);
    vg_buf_t b = VG_BUF_INIT;
    vg_error_t err;
    vg_error_clear(&err);
    promql_node_t *expr;
    promql_result_t *res = NULL;
    int rc = promql_parse(e->expr, strlen(e->expr), &a, &expr, &err);
    if (!rc) {
        promql_queryable_t qb = {ex_querier, x};
        rc = promql_exec_instant(x->eng, &qb, expr, e->eval_ms, &a, &res, &err);
    }
    if (!rc && res->type != PROMQL_TYPE_VECTOR && res->type != PROMQL_TYPE_SCALAR)
        rc = vg_error_set(&err, VG_EINVAL, "rule result is not a vector or scalar");
    if (rc) {
        expr_head(&b, e);
        vg_buf_printf(&b, ", err: %s", err.msg);
        ut_err_buf(r->errs, &b);
        vg_arena_deinit(&a);
        return;
    }
    size_t n_got = res->type == PROMQL_TYPE_SCALAR ? 1 : res->n_series;
    ut_sample_got_t *got = vg_arena_calloc(&a, n_got + 1, sizeof *got);
    if (res->type == PROMQL_TYPE_SCALAR) got[0].v = res->scalar;
    else
        for (size_t i = 0; i < n_got; i++)
            got[i] = (ut_sample_got_t){res->series[i].labels, res->series[i].n_labels, res->series[i].points[0].v};
    ut_sample_got_t *exp = vg_arena_calloc(&a, e->n_exp + 1, sizeof *exp);
    for (size_t i = 0; i < e->n_exp; i++) {
        model_label_t *l;
        size_t nl;
        if (promql_test_parse_metric(&a, e->exp[i].labels, &l, &nl)) {
            expr_head(&b, e);
            vg_buf_puts(&b, ", err: labels ");
            promql_quote(&b, e->exp[i].labels, strlen(e->exp[i].labels));
            vg_buf_printf(&b, ": not a valid metric (%s:%d:%d)", r->path, e->exp[i].line, e->exp[i].col);
            ut_err_buf(r->errs, &b);
            vg_arena_deinit(&a);
            return;
        }
        exp[i] = (ut_sample_got_t){l, nl, e->exp[i].value};
    }
    qsort(got, n_got, sizeof *got, cmp_sample);
    qsort(exp, e->n_exp, sizeof *exp, cmp_sample);
    bool same = n_got == e->n_exp;
    for (size_t i = 0; same && i < n_got; i++)
        same = model_labels_equal(got[i].labels, got[i].n_labels, exp[i].labels, exp[i].n_labels) && got[i].v == exp[i].v;
    if (!same) {
        expr_head(&b, e);
        vg_buf_puts(&b, ",\n        exp: ");
        samples_str(exp, e->n_exp, &b);
        vg_buf_puts(&b, "\n        got: ");
        samples_str(got, n_got, &b);
        ut_err_buf(r->errs, &b);
    }
    vg_arena_deinit(&a);
}

static int64_t max_eval(const ut_test_t *t) {
    int64_t m = 0;
    for (size_t i = 0; i < t->n_alerts; i++) m = t->alerts[i].eval_ms > m ? t->alerts[i].eval_ms : m;
    for (size_t i = 0; i < t->n_exprs; i++) m = t->exprs[i].eval_ms > m ? t->exprs[i].eval_ms : m;
    return m;
}

static int cmp_i64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return a < b ? -1 : a > b;
}

/* Runs one test (one entry of `tests`); failures go to r->errs. */
static void run_test(ut_run_t *r, const ut_test_t *t, const promql_test_storage_t *st) {
    const char *in_group = *t->name ? " (in TestGroup " : "";
    for (size_t i = 0; i < t->n_alerts; i++)
        if (!t->alerts[i].alertname) {
            vg_buf_t b = VG_BUF_INIT;
            vg_buf_printf(&b, "%s:%d:%d: an item under alert_rule_test misses required attribute alertname at eval_time ",
                          r->path, t->alerts[i].line, t->alerts[i].col);
            prom_duration(t->alerts[i].eval_ms, &b);
            if (*t->name) vg_buf_printf(&b, "%s%s)", in_group, t->name);
            ut_err_buf(r->errs, &b);
            return;
        }
    vg_arena_t a;
    vg_arena_init(&a, 64 * 1024);
    vg_error_t err;
    vg_error_clear(&err);
    ut_exec_t x = {{&ut_exec_vt}, NULL, st, NULL};
    rules_group_t **groups = vg_arena_calloc(&a, r->n_specs + 1, sizeof *groups);
    ut_load_t *ld = vg_arena_calloc(&a, t->n_inputs + 1, sizeof *ld);
    size_t n_groups = 0;
    bool bad = false;
    for (size_t i = 0; i < t->n_inputs; i++) {
        const char *line = trim_dup(&a, t->inputs[i].series), *vals = trim_dup(&a, t->inputs[i].values);
        size_t len = strlen(line) + strlen(vals) + 2;
        char *full = vg_arena_alloc(&a, len);
        snprintf(full, len, "%s %s", line, vals);
        ld[i].last_t = INT64_MIN;
        if (!*line || promql_test_parse_series(&a, full, &ld[i].s)) {
            ut_err(r->errs, "%s:%d:%d: input_series: invalid series description \"%s\"", r->path, t->inputs[i].line,
                   t->inputs[i].col, full);
            bad = true;
        }
    }
    /* a later description of the same series replaces an earlier one */
    for (size_t i = 0; !bad && i < t->n_inputs; i++)
        for (size_t j = i + 1; j < t->n_inputs; j++)
            if (model_labels_equal(ld[i].s.labels, ld[i].s.n_labels, ld[j].s.labels, ld[j].s.n_labels)) {
                ld[i].s.n_values = 0;
                break;
            }
    promql_engine_opts_t eo = {.max_samples = UT_MAX_SAMPLES, .timeout_ms = UT_TIMEOUT_MS, .subquery_step_ms = r->f->eval_ms};
    if (bad || st->create(st->ctx, &x.db, &err) || promql_engine_new(&eo, &x.eng, &err)) {
        if (!bad) ut_err(r->errs, "%s", err.msg);
        goto out;
    }
    for (size_t i = 0; i < r->n_specs; i++) {
        if (rules_group_new(&r->specs[i], t->interval_ms, NULL, false, &groups[n_groups], &err)) {
            ut_err(r->errs, "%s", err.msg);
            goto out;
        }
        n_groups++;
    }
    int64_t *times = vg_arena_alloc(&a, (t->n_alerts + 1) * sizeof *times);
    size_t n_times = 0;
    for (size_t i = 0; i < t->n_alerts; i++) times[n_times++] = t->alerts[i].eval_ms;
    qsort(times, n_times, sizeof *times, cmp_i64);
    size_t curr = 0;
    int64_t maxt = max_eval(t), step = r->f->eval_ms;
    rules_env_t env = {.exec = &x.base,
                       .external_labels = t->ext,
                       .n_external_labels = t->n_ext,
                       .external_url = t->external_url,
                       .resend_delay_ms = 60 * 1000,
                       .outage_tolerance_ms = 3600 * 1000,
                       .grace_period_ms = 600 * 1000};
    for (int64_t ts = 0; ts <= maxt; ts += step) {
        if (load_till(ld, t->n_inputs, t->interval_ms, x.db, st, ts, &err)) {
            ut_err(r->errs, "%s", err.msg);
            goto out;
        }
        bool eval_failed = false;
        for (size_t g = 0; g < n_groups; g++) {
            storage_appender_t *app;
            if (st->appender(x.db, &app, &err)) {
                ut_err(r->errs, "%s", err.msg);
                goto out;
            }
            env.app = app;
            rules_group_eval(groups[g], &env, ts * RULES__NS_PER_MS);
            storage_appender_free(app);
            const rules_group_spec_t *gs = rules_group_spec(groups[g]);
            for (size_t i = 0; i < gs->n_rules; i++) {
                char le[1024];
                if (strcmp(rules_group_rule_health(groups[g], i, le, sizeof le), "err")) continue;
                vg_buf_t b = VG_BUF_INIT;
                vg_buf_printf(&b, "    rule: %s, time: ", gs->rules[i].name);
                go_duration(ts, &b);
                vg_buf_printf(&b, ", err: %s", le);
                ut_err_buf(r->errs, &b);
                eval_failed = true;
            }
        }
        if (eval_failed) goto out;
        while (curr < n_times && ts <= times[curr] && times[curr] < ts + step) {
            int64_t te = times[curr];
            check_alerts(r, t, groups, te);
            while (curr < n_times && times[curr] == te) curr++;
        }
    }
    for (size_t i = 0; i < t->n_exprs; i++) check_expr(r, &x, &t->exprs[i]);
out:
    for (size_t g = 0; g < n_groups; g++) rules_group_free(groups[g]);
    promql_engine_free(x.eng);
    if (x.db) st->destroy(x.db);
    vg_arena_deinit(&a);
}

static int cmp_order(const void *x, const void *y) {
    const int *a = x, *b = y;
    return a[0] != b[0] ? (a[0] < b[0] ? -1 : 1) : (a[1] > b[1]) - (a[1] < b[1]);
}

/* Loads the rule files (paths relative to the test file's directory, globs expanded) into r->specs in
 * evaluation order. Returns false when the rules cannot be used (errors added). */
static bool load_rules(ut_run_t *r, FILE *errout) {
    char *dir = strdup(r->path);
    char *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) slash[1] = 0;
    else if (dir) dir[0] = 0;
    bool ok = true;
    size_t cap = 0;
    for (size_t i = 0; i < r->f->n_rule_files && dir; i++) {
        const char *rf = r->f->rule_files[i];
        if (!*rf) continue;
        vg_buf_t pat = VG_BUF_INIT;
        if (rf[0] != '/') vg_buf_puts(&pat, dir);
        vg_buf_puts(&pat, rf);
        glob_t gl;
        int grc = glob(pat.data, 0, NULL, &gl);
        if (grc == GLOB_NOMATCH || (grc == 0 && gl.gl_pathc == 0)) fprintf(errout, "  WARNING: no file match pattern %s\n", pat.data);
        for (size_t k = 0; grc == 0 && k < gl.gl_pathc; k++) {
            rules_file_t *file = NULL;
            rules_errors_t fe = {0};
            int rc = rules_file_load(gl.gl_pathv[k], &file, &fe);
            if (rc) {
                ok = false;
                for (size_t e = 0; e < fe.n; e++) {
                    if (fe.v[e].line) ut_err(r->errs, "%s:%d:%d: %s", gl.gl_pathv[k], fe.v[e].line, fe.v[e].col, fe.v[e].msg);
                    else ut_err(r->errs, "%s: %s", gl.gl_pathv[k], fe.v[e].msg);
                }
                if (!fe.n) ut_err(r->errs, "%s: cannot load the rule file (%s)", gl.gl_pathv[k], vg_error_str(rc));
            }
            for (size_t g = 0; file && g < file->n_groups; g++) {
                if (r->n_specs == cap) {
                    cap = cap ? cap * 2 : 8;
                    rules_group_spec_t *nv = realloc(r->specs, cap * sizeof *nv);
                    if (!nv) break;
                    r->specs = nv;
                }
                if (!rules_group_spec_copy(&file->groups[g], &r->specs[r->n_specs])) r->n_specs++;
            }
            rules_file_free(file);
            rules_errors_free(&fe);
        }
        if (grc == 0) globfree(&gl);
        vg_buf_deinit(&pat);
    }
    free(dir);
    /* group_eval_order: named groups in that order first-come, the others (rank 0 as in promtool) in
     * file order among the first rank */
    int(*rank)[2] = calloc(r->n_specs + 1, sizeof *rank);
    rules_group_spec_t *sorted = calloc(r->n_specs + 1, sizeof *sorted);
    if (rank && sorted) {
        for (size_t i = 0; i < r->n_specs; i++) {
            rank[i][0] = 0, rank[i][1] = (int)i;
            for (size_t k = 0; k < r->f->n_order; k++)
                if (!strcmp(r->f->order[k], r->specs[i].name)) rank[i][0] = (int)k;
        }
        qsort(rank, r->n_specs, sizeof *rank, cmp_order);
        for (size_t i = 0; i < r->n_specs; i++) sorted[i] = r->specs[rank[i][1]];
        if (r->n_specs) memcpy(r->specs, sorted, r->n_specs * sizeof *sorted);
    }
    free(rank);
    free(sorted);
    return ok;
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    vg_buf_t b = VG_BUF_INIT;
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0) vg_buf_append(&b, tmp, k);
    fclose(f);
    if (!b.data) vg_buf_puts(&b, "");
    return vg_buf_steal(&b, len);
}

int rules_unittest_run(const char *path, const promql_test_storage_t *storage, FILE *out, FILE *errout) {
    fprintf(out, "Unit Testing:  %s\n", path);
    ut_errs_t errs = {0};
    ut_run_t r = {.path = path, .errs = &errs};
    vg_arena_t a;
    vg_arena_init(&a, 16 * 1024);
    ut_file_t f;
    size_t len;
    char *text = read_all(path, &len);
    if (!text) {
        ut_err(&errs, "open %s: %s", path, strerror(errno));
    } else {
        rules_errors_t pe = {0};
        if (parse_file(text, len, &a, &f, &pe)) {
            for (size_t i = 0; i < pe.n; i++) ut_err(&errs, "%s:%d:%d: %s", path, pe.v[i].line, pe.v[i].col, pe.v[i].msg);
        } else {
            r.f = &f;
            for (size_t i = 0; i < f.n_order && !errs.n; i++)
                for (size_t k = 0; k < i; k++)
                    if (!strcmp(f.order[i], f.order[k])) {
                        ut_err(&errs, "group name repeated in evaluation order: %s", f.order[i]);
                        break;
                    }
            if (!errs.n && load_rules(&r, errout))
                for (size_t i = 0; i < f.n_tests; i++) run_test(&r, &f.tests[i], storage);
        }
        rules_errors_free(&pe);
    }
    free(text);
    for (size_t i = 0; i < r.n_specs; i++) rules_group_spec_deinit(&r.specs[i]);
    free(r.specs);
    vg_arena_deinit(&a);
    if (errs.n) {
        fflush(out);
        fputs("  FAILED:\n", errout);
        for (size_t i = 0; i < errs.n; i++) {
            fprintf(errout, "%s\n", errs.v[i].data ? errs.v[i].data : "");
            fflush(errout);
            fputs("\n", out);
            fflush(out);
            vg_buf_deinit(&errs.v[i]);
        }
        free(errs.v);
    } else {
        fputs("  SUCCESS\n", out);
    }
    fputs("\n", out);
    fflush(out);
    return errs.n ? 1 : 0;
}

int rules_cmd_test(int argc, char **argv, const promql_test_storage_t *storage) {
    if (argc < 1) {
        fputs("usage: vigil test rules FILE...\n", stderr);
        return 2;
    }
    /* a rule that fails is reported in the test output; the engine's own log lines would repeat it */
    vg_log_level_t lvl = vg_log_get_level();
    vg_log_set_level(VG_LOG_OFF);
    int failed = 0;
    for (int i = 0; i < argc; i++) failed |= rules_unittest_run(argv[i], storage, stdout, stderr);
    vg_log_set_level(lvl);
    return failed ? 1 : 0;
}
