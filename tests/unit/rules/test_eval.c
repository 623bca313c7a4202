/* Rule evaluation at explicit timestamps: the alert state machine (pending → firing after `for`,
 * resolved when gone, ALERTS / ALERTS_FOR_STATE samples and their stale markers, notifications with
 * Prometheus' endsAt, limit), the startup restore sequence, recording rules chained through a real
 * in-memory TSDB, stale markers of vanished series, the aligned schedule, and reload keeping state. */
#include "promql/engine/promql_engine.h"
#include "rules/rules.h"
#include "tsdb/tsdb.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define S 1000000000LL /* ns per second */

/* ---- a fake executor: the test decides each query's answer from the expression and time ---- */
typedef struct {
    promql_executor_t base;
    /* the vector answered: n series {job=<jobs[i]>} with value vals[i] */
    const char *jobs[4];
    double vals[4];
    size_t n;
    int queries;
    char last_expr[256];
} fexec_t;

static int f_query(promql_executor_t *ex, const promql_query_t *q, vg_arena_t *arena, promql_result_t **out, vg_error_t *err) {
    (void)err;
    fexec_t *f = (fexec_t *)ex;
    vg_buf_t b = VG_BUF_INIT;
    promql_print(q->expr, &b);
    snprintf(f->last_expr, sizeof f->last_expr, "%.*s", (int)b.len, b.data);
    vg_buf_deinit(&b);
    f->queries++;
    promql_result_t *r = vg_arena_calloc(arena, 1, sizeof *r);
    r->type = PROMQL_TYPE_VECTOR;
    r->series = vg_arena_calloc(arena, f->n ? f->n : 1, sizeof *r->series);
    for (size_t i = 0; i < f->n; i++) {
        model_label_t *l = vg_arena_alloc(arena, 2 * sizeof *l);
        l[0] = (model_label_t){"__name__", "up"};
        l[1] = (model_label_t){"job", f->jobs[i]};
        promql_point_t *p = vg_arena_alloc(arena, sizeof *p);
        *p = (promql_point_t){q->start_ms, f->vals[i]};
        r->series[i] = (promql_series_t){l, 2, p, 1};
    }
    r->n_series = f->n;
    *out = r;
    return 0;
}
static void f_free(promql_executor_t *ex) { (void)ex; }
static const promql_executor_vt fexec_vt = {.query_instant = f_query, .query_range = f_query, .free = f_free};

/* ---- a fake appender: committed samples as "labels t v" lines ---- */
typedef struct {
    storage_appender_t base;
    char lines[256][200];
    size_t n, pending;
    int commits;
} fapp_t;

static int a_append(storage_appender_t *a, const model_label_t *l, size_t n, int64_t t, double v, uint64_t *ref, vg_error_t *err) {
    (void)ref, (void)err;
    fapp_t *f = (fapp_t *)a;
    char ls[150];
    model_labels_format(l, n, ls, sizeof ls);
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    if (f->n < 256) {
        if (bits == PROMQL_STALE_NAN_BITS) snprintf(f->lines[f->n++], 200, "%s %lld stale", ls, (long long)t);
        else snprintf(f->lines[f->n++], 200, "%s %lld %g", ls, (long long)t, v);
    }
    f->pending++;
    return 0;
}
static int a_ref(storage_appender_t *a, uint64_t ref, int64_t t, double v, vg_error_t *err) {
    (void)a, (void)ref, (void)t, (void)v;
    return vg_error_set(err, VG_ENOTFOUND, "no");
}
static int a_commit(storage_appender_t *a, vg_error_t *err) {
    (void)err;
    ((fapp_t *)a)->commits++;
    ((fapp_t *)a)->pending = 0;
    return 0;
}
static void a_rollback(storage_appender_t *a) { (void)a; }
static void a_free(storage_appender_t *a) { (void)a; }
static const storage_appender_vt fapp_vt = {a_append, a_ref, a_commit, a_rollback, a_free, NULL};

static bool has_line(const fapp_t *f, const char *want) {
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->lines[i], want)) return true;
    return false;
}

static void dump(const fapp_t *f) {
    for (size_t i = 0; i < f->n; i++) print_message("  %s\n", f->lines[i]);
}

#define ASSERT_LINE(f, want)                                                                                            \
    do {                                                                                                               \
        if (!has_line((f), (want))) {                                                                                  \
            dump(f);                                                                                                   \
            fail_msg("missing sample %s", (want));                                                                     \
        }                                                                                                              \
    } while (0)

/* ---- captured notifications ---- */
typedef struct {
    int calls;
    size_t n;
    int64_t starts_at, ends_at;
    char alertname[64], url[256];
} sent_t;
static void capture(void *ctx, const rules_alert_t *a, size_t n) {
    sent_t *s = ctx;
    s->calls++;
    s->n = n;
    s->starts_at = a[0].starts_at_ms;
    s->ends_at = a[0].ends_at_ms;
    snprintf(s->alertname, sizeof s->alertname, "%s", model_labels_get(a[0].labels, a[0].n_labels, "alertname"));
    snprintf(s->url, sizeof s->url, "%s", a[0].generator_url);
}

static rules_file_t *parse(const char *y) {
    rules_file_t *f;
    rules_errors_t errs;
    int rc = rules_file_parse("r.yml", y, strlen(y), &f, &errs);
    if (rc) fail_msg("parse: %s", errs.n ? errs.v[0].msg : "?");
    return f;
}

typedef struct {
    rules_alert_state_t state;
    int64_t active_at;
    size_t n;
} one_t;
static void grab(void *ctx, const rules_alert_view_t *a) {
    one_t *o = ctx;
    o->state = a->state;
    o->active_at = a->active_at_ns;
    o->n++;
}
static one_t alert_of(rules_group_t *g, size_t rule) {
    one_t o = {0};
    rules_group_each_alert(g, rule, grab, &o);
    return o;
}

static void alert_state_machine(void **state) {
    (void)state;
    rules_file_t *f = parse("groups:\n- name: g\n  interval: 1s\n  rules:\n"
                            "  - alert: Down\n    expr: up == 0\n    for: 3s\n    labels: {severity: page}\n"
                            "    annotations: {summary: down}\n");
    rules_group_t *g;
    vg_error_t err;
    assert_int_equal(rules_group_new(&f->groups[0], 60000, NULL, false, &g, &err), 0);
    fexec_t ex = {.base.vt = &fexec_vt, .jobs = {"a"}, .vals = {0}, .n = 1};
    fapp_t app = {.base.vt = &fapp_vt};
    sent_t sent = {0};
    rules_env_t env = {.exec = &ex.base, .app = &app.base, .send = capture, .send_ctx = &sent, .external_url = "http://x",
                       .resend_delay_ms = 60000};
    int64_t t0 = 1000 * S;
    assert_int_equal(rules_group_eval(g, &env, t0), 0);
    assert_string_equal(ex.last_expr, "up == 0");
    one_t o = alert_of(g, 0);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.state, RULES_PENDING);
    assert_int_equal(o.active_at, t0);
    ASSERT_LINE(&app, "ALERTS{alertname=\"Down\", alertstate=\"pending\", job=\"a\", severity=\"page\"} 1000000 1");
    ASSERT_LINE(&app, "ALERTS_FOR_STATE{alertname=\"Down\", job=\"a\", severity=\"page\"} 1000000 1000");
    assert_int_equal(sent.calls, 0); /* pending alerts are not sent */
    for (int k = 1; k <= 2; k++) {
        assert_int_equal(rules_group_eval(g, &env, t0 + k * S), 0);
        assert_int_equal(alert_of(g, 0).state, RULES_PENDING);
    }
    app.n = 0;
    assert_int_equal(rules_group_eval(g, &env, t0 + 3 * S), 0); /* for: 3s held */
    assert_int_equal(alert_of(g, 0).state, RULES_FIRING);
    ASSERT_LINE(&app, "ALERTS{alertname=\"Down\", alertstate=\"firing\", job=\"a\", severity=\"page\"} 1003000 1");
    ASSERT_LINE(&app, "ALERTS{alertname=\"Down\", alertstate=\"pending\", job=\"a\", severity=\"page\"} 1003000 stale");
    ASSERT_LINE(&app, "ALERTS_FOR_STATE{alertname=\"Down\", job=\"a\", severity=\"page\"} 1003000 1000");
    assert_int_equal(sent.calls, 1);
    assert_string_equal(sent.alertname, "Down");
    assert_int_equal(sent.starts_at, 1003000);
    assert_int_equal(sent.ends_at, 1003000 + 4 * 60000); /* 4 × max(resend delay, interval) */
    assert_string_equal(sent.url, "http://x/graph?g0.expr=up+%3D%3D+0&g0.tab=1");
    assert_int_equal(rules_group_eval(g, &env, t0 + 4 * S), 0);
    assert_int_equal(sent.calls, 1); /* not again before the resend delay */
    /* gone: resolved, sent once with endsAt = resolvedAt, series marked stale */
    ex.n = 0;
    app.n = 0;
    assert_int_equal(rules_group_eval(g, &env, t0 + 5 * S), 0);
    assert_int_equal(alert_of(g, 0).n, 0);
    ASSERT_LINE(&app, "ALERTS{alertname=\"Down\", alertstate=\"firing\", job=\"a\", severity=\"page\"} 1005000 stale");
    ASSERT_LINE(&app, "ALERTS_FOR_STATE{alertname=\"Down\", job=\"a\", severity=\"page\"} 1005000 stale");
    assert_int_equal(sent.calls, 2);
    assert_int_equal(sent.ends_at, 1005000);
    /* back: a new pending alert with a new activeAt */
    ex.n = 1;
    assert_int_equal(rules_group_eval(g, &env, t0 + 6 * S), 0);
    o = alert_of(g, 0);
    assert_int_equal(o.state, RULES_PENDING);
    assert_int_equal(o.active_at, t0 + 6 * S);
    char e[64];
    assert_string_equal(rules_group_rule_health(g, 0, e, sizeof e), "ok");
    rules_group_free(g);
    rules_file_free(f);
}

typedef struct {
    char summary[128], sev[64];
} ann_t;
static void grab_ann(void *ctx, const rules_alert_view_t *a) {
    ann_t *o = ctx;
    snprintf(o->summary, sizeof o->summary, "%s", model_labels_get(a->annotations, a->n_annotations, "summary"));
    snprintf(o->sev, sizeof o->sev, "%s", model_labels_get(a->labels, a->n_labels, "severity"));
}

static void templates(void **state) {
    (void)state;
    rules_file_t *f = parse("groups:\n- name: g\n  rules:\n  - alert: T\n    expr: up\n"
                            "    labels: {severity: \"{{ if gt $value 1.0 }}page{{ else }}ticket{{ end }}\"}\n"
                            "    annotations: {summary: \"{{ $labels.job }} is {{ $value }} in {{ $externalLabels.dc }}\"}\n");
    rules_group_t *g;
    vg_error_t err;
    assert_int_equal(rules_group_new(&f->groups[0], 1000, NULL, false, &g, &err), 0);
    fexec_t ex = {.base.vt = &fexec_vt, .jobs = {"api"}, .vals = {2.5}, .n = 1};
    fapp_t app = {.base.vt = &fapp_vt};
    model_label_t ext[] = {{"dc", "eu1"}};
    rules_env_t env = {.exec = &ex.base, .app = &app.base, .external_labels = ext, .n_external_labels = 1};
    assert_int_equal(rules_group_eval(g, &env, 10 * S), 0);
    ann_t a = {0};
    rules_group_each_alert(g, 0, grab_ann, &a);
    assert_string_equal(a.summary, "api is 2.5 in eu1");
    assert_string_equal(a.sev, "page");
    ASSERT_LINE(&app, "ALERTS{alertname=\"T\", alertstate=\"firing\", job=\"api\", severity=\"page\"} 10000 1");
    rules_group_free(g);
    rules_file_free(f);
}

static void keep_firing_for(void **state) {
    (void)state;
    rules_file_t *f = parse("groups:\n- name: g\n  interval: 1s\n  rules:\n"
                            "  - alert: K\n    expr: up == 0\n    keep_firing_for: 2s\n");
    rules_group_t *g;
    vg_error_t err;
    assert_int_equal(rules_group_new(&f->groups[0], 60000, NULL, false, &g, &err), 0);
    fexec_t ex = {.base.vt = &fexec_vt, .jobs = {"a"}, .n = 1};
    fapp_t app = {.base.vt = &fapp_vt};
    rules_env_t env = {.exec = &ex.base, .app = &app.base, .resend_delay_ms = 60000};
    rules_group_eval(g, &env, 10 * S);
    assert_int_equal(alert_of(g, 0).state, RULES_FIRING); /* no `for`: fires at once */
    ex.n = 0;
    rules_group_eval(g, &env, 11 * S);
    assert_int_equal(alert_of(g, 0).state, RULES_FIRING);
    rules_group_eval(g, &env, 12 * S);
    assert_int_equal(alert_of(g, 0).state, RULES_FIRING);
    rules_group_eval(g, &env, 13 * S); /* 2s since it was first gone */
    assert_int_equal(alert_of(g, 0).n, 0);
    rules_group_free(g);
    rules_file_free(f);
}

static void limit_fails_rule(void **state) {
    (void)state;
    rules_file_t *f = parse("groups:\n- name: g\n  limit: 1\n  rules:\n"
                            "  - alert: L\n    expr: up == 0\n  - record: r\n    expr: up\n");
    rules_group_t *g;
    vg_error_t err;
    assert_int_equal(rules_group_new(&f->groups[0], 1000, NULL, false, &g, &err), 0);
    fexec_t ex = {.base.vt = &fexec_vt, .jobs = {"a", "b"}, .n = 2};
    fapp_t app = {.base.vt = &fapp_vt};
    rules_env_t env = {.exec = &ex.base, .app = &app.base, .resend_delay_ms = 60000};
    assert_int_equal(rules_group_eval(g, &env, 100 * S), 2);
    assert_int_equal(app.n, 0);
    assert_int_equal(alert_of(g, 0).n, 0);
    char e[256];
    assert_string_equal(rules_group_rule_health(g, 0, e, sizeof e), "err");
    assert_string_equal(e, "exceeded limit of 1 with 2 alerts");
    assert_string_equal(rules_group_rule_health(g, 1, e, sizeof e), "err");
    assert_string_equal(e, "exceeded limit of 1 with 2 series");
    ex.n = 1;
    assert_int_equal(rules_group_eval(g, &env, 101 * S), 0);
    ASSERT_LINE(&app, "r{job=\"a\"} 101000 0");
    rules_group_free(g);
    rules_file_free(f);
}

static void restore_sequence(void **state) {
    (void)state;
    rules_file_t *f = parse("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n");
    rules_group_t *g;
    vg_error_t err;
    assert_int_equal(rules_group_new(&f->groups[0], 1000, NULL, true, &g, &err), 0);
    fexec_t ex = {.base.vt = &fexec_vt, .jobs = {"a"}, .n = 1};
    fapp_t app = {.base.vt = &fapp_vt};
    rules_env_t env = {.exec = &ex.base, .app = &app.base, .resend_delay_ms = 60000, .grace_period_ms = 600000};
    rules_group_eval(g, &env, 1 * S);
    rules_group_eval(g, &env, 2 * S);
    assert_int_equal(app.n, 0); /* the first two evaluations write no ALERTS */
    rules_group_eval(g, &env, 3 * S);
    ASSERT_LINE(&app, "ALERTS{alertname=\"A\", alertstate=\"firing\", job=\"a\"} 3000 1");
    rules_group_free(g);
    rules_file_free(f);
}

static void recording_stale(void **state) {
    (void)state;
    rules_file_t *f = parse("groups:\n- name: g\n  rules:\n  - record: job:x\n    expr: up\n    labels: {k: v}\n");
    rules_group_t *g;
    vg_error_t err;
    assert_int_equal(rules_group_new(&f->groups[0], 1000, NULL, false, &g, &err), 0);
    fexec_t ex = {.base.vt = &fexec_vt, .jobs = {"a", "b"}, .vals = {1, 2}, .n = 2};
    fapp_t app = {.base.vt = &fapp_vt};
    rules_env_t env = {.exec = &ex.base, .app = &app.base};
    rules_group_eval(g, &env, 5 * S);
    ASSERT_LINE(&app, "job:x{job=\"a\", k=\"v\"} 5000 1");
    ASSERT_LINE(&app, "job:x{job=\"b\", k=\"v\"} 5000 2");
    ex.n = 1;
    app.n = 0;
    rules_group_eval(g, &env, 6 * S);
    ASSERT_LINE(&app, "job:x{job=\"a\", k=\"v\"} 6000 1");
    ASSERT_LINE(&app, "job:x{job=\"b\", k=\"v\"} 6000 stale");
    rules_group_free(g);
    rules_file_free(f);
}

typedef struct {
    fapp_t app;
} hooks_t;
static int give_app(void *ctx, const char *tenant, storage_appender_t **out, vg_error_t *err) {
    (void)tenant, (void)err;
    *out = &((hooks_t *)ctx)->app.base;
    return 0;
}

/* ---- a real engine over an in-memory TSDB, for chains ---- */
typedef struct {
    promql_executor_t base;
    promql_engine_t *eng;
    tsdb_db_t *db;
} lexec_t;
static int open_q(void *ctx, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    return tsdb_db_querier(ctx, mint, maxt, out, err);
}
static int l_query(promql_executor_t *ex, const promql_query_t *q, vg_arena_t *arena, promql_result_t **out, vg_error_t *err) {
    lexec_t *l = (lexec_t *)ex;
    promql_queryable_t qb = {open_q, l->db};
    return promql_exec(l->eng, &qb, q, arena, out, err);
}
static const promql_executor_vt lexec_vt = {.query_instant = l_query, .query_range = l_query, .free = f_free};

static void recording_chain(void **state) {
    (void)state;
    tsdb_options_t o;
    tsdb_options_default(&o);
    o.path = NULL;
    o.register_metrics = false;
    o.out_of_bounds_ms = 0;
    o.max_future_ms = 0;
    o.retention_ms = 0;
    lexec_t ex = {.base.vt = &lexec_vt};
    vg_error_t err;
    assert_int_equal(tsdb_db_open(&o, &ex.db, &err), 0);
    assert_int_equal(promql_engine_new(NULL, &ex.eng, &err), 0);
    storage_appender_t *app;
    assert_int_equal(tsdb_db_appender(ex.db, &app, &err), 0);
    model_label_t a[] = {{"__name__", "x"}, {"i", "1"}}, b[] = {{"__name__", "x"}, {"i", "2"}};
    storage_append(app, a, 2, 9000, 1, NULL, &err);
    storage_append(app, b, 2, 9000, 2, NULL, &err);
    assert_true(storage_commit(app, &err) >= 0);
    rules_file_t *f = parse("groups:\n- name: chain\n  rules:\n"
                            "  - record: x:sum\n    expr: sum(x)\n"
                            "  - record: x:sum2\n    expr: x:sum * 2\n");
    rules_group_t *g;
    assert_int_equal(rules_group_new(&f->groups[0], 1000, NULL, false, &g, &err), 0);
    rules_env_t env = {.exec = &ex.base, .app = app};
    assert_int_equal(rules_group_eval(g, &env, 10 * S), 0);
    vg_arena_t ar;
    vg_arena_init(&ar, 4096);
    promql_node_t *n;
    assert_int_equal(promql_parse("x:sum2", 6, &ar, &n, &err), 0);
    promql_result_t *res;
    promql_queryable_t qb = {open_q, ex.db};
    assert_int_equal(promql_exec_instant(ex.eng, &qb, n, 10000, &ar, &res, &err), 0);
    assert_int_equal(res->n_series, 1); /* the second rule read the first one's output in the same evaluation */
    assert_true(res->series[0].points[0].v == 6);
    vg_arena_deinit(&ar);
    rules_group_free(g);
    rules_file_free(f);
    storage_appender_free(app);
    promql_engine_free(ex.eng);
    tsdb_db_close(ex.db);
}

static int restore_querier(void *ctx, const char *tenant, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    (void)tenant;
    return tsdb_db_querier(ctx, mint, maxt, out, err);
}

/* Prometheus' RestoreForState: an alert pending for 100s when the server went down resumes with its
 * activeAt moved forward by the downtime. */
static void restore_for_state(void **state) {
    (void)state;
    tsdb_options_t o;
    tsdb_options_default(&o);
    o.path = NULL;
    o.register_metrics = false;
    o.out_of_bounds_ms = 0;
    o.max_future_ms = 0;
    o.retention_ms = 0;
    tsdb_db_t *db;
    vg_error_t err;
    assert_int_equal(tsdb_db_open(&o, &db, &err), 0);
    storage_appender_t *app;
    assert_int_equal(tsdb_db_appender(db, &app, &err), 0);
    model_label_t fs[] = {{"__name__", "ALERTS_FOR_STATE"}, {"alertname", "A"}, {"job", "a"}};
    assert_int_equal(storage_append(app, fs, 3, 1000000, 900, NULL, &err), 0); /* down at 1000s, active since 900s */
    assert_true(storage_commit(app, &err) >= 0);
    rules_file_t *f = parse("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 30m\n");
    rules_group_t *g;
    assert_int_equal(rules_group_new(&f->groups[0], 1000, NULL, true, &g, &err), 0);
    fexec_t ex = {.base.vt = &fexec_vt, .jobs = {"a"}, .n = 1};
    fapp_t fa = {.base.vt = &fapp_vt};
    rules_env_t env = {.exec = &ex.base, .app = &fa.base, .querier = restore_querier, .querier_ctx = db,
                       .resend_delay_ms = 60000, .outage_tolerance_ms = 3600000, .grace_period_ms = 600000};
    rules_group_eval(g, &env, 1100 * S);
    assert_int_equal(alert_of(g, 0).active_at, 1100 * S);
    rules_group_eval(g, &env, 1101 * S); /* restore runs after the second evaluation */
    assert_int_equal(alert_of(g, 0).active_at, (900 + 101) * S);
    assert_int_equal(alert_of(g, 0).state, RULES_PENDING);
    rules_group_free(g);
    rules_file_free(f);
    storage_appender_free(app);
    tsdb_db_close(db);
}

/* ---- tenant groups: enforced before execution, shown only to their tenant ---- */
typedef struct {
    int calls;
    char tenant[32];
} enf_t;
static int fake_enforce(void *ctx, const char *tenant, promql_node_t *root, vg_arena_t *arena, vg_error_t *err) {
    enf_t *e = ctx;
    e->calls++;
    snprintf(e->tenant, sizeof e->tenant, "%s", tenant);
    const char *vals[] = {"client-t1"};
    promql_enforced_label_t l = {"namespace", vals, 1};
    int rc = promql_enforce(root, &l, 1, PROMQL_ENFORCE_REJECT, arena, err);
    return rc < 0 ? rc : 0;
}

static char *rules_json(rules_manager_t *m, const rules_filter_t *f) {
    vg_buf_t b = VG_BUF_INIT;
    vg_json_t j;
    vg_json_init(&j, &b);
    rules_manager_write_rules_json(m, f, &j);
    vg_buf_putc(&b, '\0');
    return vg_buf_steal(&b, NULL);
}

static void tenant_groups(void **state) {
    (void)state;
    config_t *cfg = config_default();
    fexec_t ex = {.base.vt = &fexec_vt, .jobs = {"a"}, .n = 1};
    hooks_t h = {.app.base.vt = &fapp_vt};
    enf_t enf = {0};
    rules_manager_opts_t o = {.exec = &ex.base, .appender = give_app, .appender_ctx = &h, .enforce = fake_enforce,
                              .enforce_ctx = &enf, .no_thread = true};
    rules_manager_t *m;
    vg_error_t err;
    assert_int_equal(rules_manager_new(&o, cfg, &m, &err), 0);
    rules_file_t *f = parse("groups:\n- name: tg\n  interval: 1s\n  rules:\n  - record: r\n    expr: sum(up)\n");
    assert_int_equal(rules_manager_set_tenant_group(m, "t1", &f->groups[0], &err), 0);
    assert_int_equal(rules_manager_n_groups(m), 1);
    assert_int_equal(rules_manager_eval_due(m, 3000 * S), 1);
    assert_int_equal(enf.calls, 1);
    assert_string_equal(enf.tenant, "t1");
    assert_string_equal(ex.last_expr, "sum(up{namespace=\"client-t1\"})"); /* the executor saw the enforced form */
    rules_filter_t mine = {.tenant = "t1"}, other = {.tenant = "t2"}, admin = {.see_operator = true};
    char *js = rules_json(m, &mine);
    assert_non_null(strstr(js, "\"name\":\"tg\""));
    free(js);
    js = rules_json(m, &other);
    assert_string_equal(js, "{\"groups\":[]}");
    free(js);
    js = rules_json(m, &admin);
    assert_non_null(strstr(js, "\"name\":\"tg\""));
    free(js);
    assert_int_equal(rules_manager_delete_tenant_group(m, "t1", "r.yml", "tg"), 0);
    assert_int_equal(rules_manager_delete_tenant_group(m, "t1", "r.yml", "tg"), VG_ENOTFOUND);
    assert_int_equal(rules_manager_n_groups(m), 0);
    rules_manager_free(m);
    rules_file_free(f);
    config_unref(cfg);
}

static void aligned_schedule(void **state) {
    (void)state;
    rules_file_t *f = parse("groups:\n- name: g\n  interval: 10s\n  rules:\n  - record: r\n    expr: up\n");
    rules_group_t *g;
    vg_error_t err;
    assert_int_equal(rules_group_new(&f->groups[0], 1000, NULL, false, &g, &err), 0);
    model_label_t l[] = {{"file", "r.yml"}, {"name", "g"}};
    uint64_t h = model_labels_hash(l, 2);
    assert_true(rules_group_hash(g) == h);
    int64_t iv = 10 * S, offset = (int64_t)(h % (uint64_t)iv);
    for (int64_t now = 1700000000 * S; now < 1700000000 * S + 3 * iv; now += 777777777) {
        int64_t ts = rules_group_eval_timestamp(g, now);
        assert_true(ts <= now && ts > now - iv);
        assert_int_equal((ts - offset) % iv, 0);
    }
    rules_group_free(g);
    rules_file_free(f);
}

/* ---- the manager: reload keeps the state of unchanged groups ---- */

static void write_file(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void reload_keeps_state(void **state) {
    (void)state;
    char dir[] = "/tmp/vigil_rules_dirXXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfgp[300], rp[300];
    snprintf(cfgp, sizeof cfgp, "%s/vigil.yml", dir);
    snprintf(rp, sizeof rp, "%s/r.yml", dir);
    const char *g1 = "groups:\n- name: keep\n  interval: 1s\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 1h\n";
    write_file(rp, g1);
    write_file(cfgp, "rule_files: [r.yml]\n");
    config_t *cfg;
    vg_error_t err;
    assert_int_equal(config_load_file(cfgp, &cfg, &err), 0);
    fexec_t ex = {.base.vt = &fexec_vt, .jobs = {"a"}, .n = 1};
    hooks_t h = {.app.base.vt = &fapp_vt};
    rules_manager_opts_t o = {.exec = &ex.base, .appender = give_app, .appender_ctx = &h, .no_thread = true};
    rules_manager_t *m;
    assert_int_equal(rules_manager_new(&o, cfg, &m, &err), 0);
    assert_int_equal(rules_manager_n_groups(m), 1);
    int64_t now = 2000000000LL * S;
    assert_int_equal(rules_manager_eval_due(m, now), 1);
    assert_int_equal(rules_manager_eval_due(m, now + S), 1);
    /* add a group; `keep` is unchanged and must keep its pending alert and activeAt */
    char both[600];
    snprintf(both, sizeof both, "%s- name: new\n  rules:\n  - record: r\n    expr: up\n", g1);
    write_file(rp, both);
    assert_int_equal(rules_manager_apply(m, cfg, &err), 0);
    assert_int_equal(rules_manager_n_groups(m), 2);
    vg_buf_t b = VG_BUF_INIT;
    vg_json_t j;
    vg_json_init(&j, &b);
    rules_manager_write_alerts_json(m, NULL, &j);
    vg_buf_putc(&b, '\0');
    assert_non_null(strstr(b.data, "\"state\":\"pending\""));
    char active[80];
    const char *at = strstr(b.data, "\"activeAt\":");
    assert_non_null(at);
    snprintf(active, sizeof active, "%.*s", (int)(strchr(at + 12, ',') - at), at);
    vg_buf_deinit(&b);
    assert_int_equal(rules_manager_eval_due(m, now + 2 * S), 2);
    b = (vg_buf_t)VG_BUF_INIT;
    vg_json_init(&j, &b);
    rules_manager_write_rules_json(m, NULL, &j);
    vg_buf_putc(&b, '\0');
    /* activeAt of the first evaluation survived the reload */
    if (!strstr(b.data, active)) fail_msg("want %s in %s", active, b.data);
    assert_non_null(strstr(b.data, "\"name\":\"new\""));
    vg_buf_deinit(&b);
    /* a broken file changes nothing and says where */
    write_file(rp, "groups:\n- name: keep\n  rules:\n  - record: \"bad name\"\n    expr: up\n");
    assert_int_equal(rules_manager_apply(m, cfg, &err), VG_ECONFIG);
    assert_non_null(strstr(err.msg, "r.yml:4:13: group \"keep\", rule 1"));
    assert_int_equal(rules_manager_n_groups(m), 2);
    rules_manager_free(m);
    config_unref(cfg);
    unlink(rp);
    unlink(cfgp);
    rmdir(dir);
}

/* server.external_url reaches templates ($externalURL) through the manager; a trailing slash is dropped
 * and a non-http(s) URL is refused. */
static void external_url(void **state) {
    (void)state;
    char dir[] = "/tmp/vigil_rules_urlXXXXXX";
    assert_non_null(mkdtemp(dir));
    char cfgp[300], rp[300];
    snprintf(cfgp, sizeof cfgp, "%s/vigil.yml", dir);
    snprintf(rp, sizeof rp, "%s/r.yml", dir);
    write_file(rp, "groups:\n- name: u\n  interval: 1s\n  rules:\n  - alert: A\n    expr: up\n"
                   "    annotations: {link: \"{{ $externalURL }}/x\"}\n");
    write_file(cfgp, "server:\n  external_url: https://vigil.example.com/prefix/\nrule_files: [r.yml]\n");
    config_t *cfg;
    vg_error_t err;
    assert_int_equal(config_load_file(cfgp, &cfg, &err), 0);
    assert_string_equal(cfg->server.external_url, "https://vigil.example.com/prefix");
    fexec_t ex = {.base.vt = &fexec_vt, .jobs = {"a"}, .n = 1};
    hooks_t h = {.app.base.vt = &fapp_vt};
    rules_manager_opts_t o = {.exec = &ex.base, .appender = give_app, .appender_ctx = &h, .no_thread = true};
    rules_manager_t *m;
    assert_int_equal(rules_manager_new(&o, cfg, &m, &err), 0);
    assert_int_equal(rules_manager_eval_due(m, 2000000000LL * S), 1);
    vg_buf_t b = VG_BUF_INIT;
    vg_json_t j;
    vg_json_init(&j, &b);
    rules_manager_write_alerts_json(m, NULL, &j);
    vg_buf_putc(&b, '\0');
    if (!strstr(b.data, "\"link\":\"https://vigil.example.com/prefix/x\"")) fail_msg("alerts: %s", b.data);
    vg_buf_deinit(&b);
    rules_manager_free(m);
    config_unref(cfg);
    config_t *bad;
    write_file(cfgp, "server:\n  external_url: ftp://x\n");
    assert_int_equal(config_load_file(cfgp, &bad, &err), VG_ECONFIG);
    assert_non_null(strstr(err.msg, "server.external_url"));
    unlink(cfgp);
    unlink(rp);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alert_state_machine), cmocka_unit_test(keep_firing_for), cmocka_unit_test(templates), cmocka_unit_test(limit_fails_rule),
        cmocka_unit_test(restore_sequence),    cmocka_unit_test(recording_stale), cmocka_unit_test(recording_chain),
        cmocka_unit_test(aligned_schedule), cmocka_unit_test(restore_for_state), cmocka_unit_test(tenant_groups),    cmocka_unit_test(reload_keeps_state),
        cmocka_unit_test(external_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
