/* The cluster and node overview: clusters, their nodes' figures and cluster-wide series, computed from
 * node_exporter series (and kube-state-metrics / kubelet series when present) that carry the cluster
 * label (clusters.label). One service call per endpoint; every PromQL expression goes through
 * service_query_cached — parse, tenant enforcement, limits, executor — so a tenant sees only clusters
 * whose series it owns, and a cluster it has no series of is "not found", never "forbidden".
 *
 * What a node is: a series of node_uname_info (node_exporter always exposes it) with the cluster
 * label; (cluster, instance) identifies the node, its `nodename` label names it. The figures are
 * matched to nodes by (cluster, instance); readiness from kube-state-metrics by its `node` label equal
 * to the node's name; kubelet's running pods by `node`, else by its instance's host being the node's
 * name or address.
 *
 * The expressions live here only (expr_* below): the endpoints and the alert rules of the group
 * vigil-cluster-thresholds are built from the same text. The queries of one request run at once on
 * the service's pool, each with its own arena; what the answer needs is copied into the caller's
 * arena before those arenas go. */
#include "service_int.h"

#include "rules/rules.h"
#include "util/buf.h"
#include "util/pool.h"
#include "util/timeutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NET_EXCLUDED "lo|veth.*|docker.*|br.*|cni.*"
#define RATE_WINDOW_MS (5 * 60 * 1000)
#define DAY_MS (24LL * 3600 * 1000)

/* ---- threshold states ---- */

service_state_t service_threshold_state(double v, const config_threshold_t *t) {
    if (isnan(v)) return SERVICE_STATE_UNKNOWN;
    if (v >= t->critical) return SERVICE_STATE_CRITICAL;
    if (v >= t->warning) return SERVICE_STATE_WARNING;
    return SERVICE_STATE_OK;
}

const char *service_state_name(service_state_t s) {
    switch (s) {
    case SERVICE_STATE_OK: return "ok";
    case SERVICE_STATE_WARNING: return "warning";
    case SERVICE_STATE_CRITICAL: return "critical";
    default: return NULL;
    }
}

/* ---- expressions ---- */

static char *aprintf(vg_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *aprintf(vg_arena_t *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? vg_arena_alloc(a, (size_t)n + 1) : NULL;
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* `L="value"` with value as a PromQL string, or NULL for a value no cluster can have (control bytes). */
static char *cluster_matcher(const char *label, const char *value, vg_arena_t *a) {
    size_t n = strlen(value);
    char *q = vg_arena_alloc(a, 2 * n + 1), *p = q;
    if (!q) return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)value[i];
        if (ch < 0x20 || ch == 0x7f) return NULL;
        if (ch == '"' || ch == '\\') *p++ = '\\';
        *p++ = (char)ch;
    }
    *p = '\0';
    return aprintf(a, "%s=\"%s\"", label, q);
}

/* The matcher selecting a cluster's series (cluster != NULL) or every cluster's. */
static char *selector_of(const char *label, const char *cluster, vg_arena_t *a) {
    return cluster ? cluster_matcher(label, cluster, a) : aprintf(a, "%s!=\"\"", label);
}

/* Per node (by cluster label and instance). sel: the selector's matchers; w: the rate window. */
static char *expr_node_cpu(vg_arena_t *a, const char *l, const char *sel, const char *w) {
    return aprintf(a, "100 * (1 - avg by (%s, instance) (rate(node_cpu_seconds_total{mode=\"idle\",%s}[%s])))", l, sel, w);
}
static char *expr_node_mem_pct(vg_arena_t *a, const char *l, const char *sel) {
    return aprintf(a,
                   "100 * (1 - max by (%s, instance) (node_memory_MemAvailable_bytes{%s}) / max by (%s, instance) "
                   "(node_memory_MemTotal_bytes{%s}))",
                   l, sel, l, sel);
}
static char *expr_node_disk_pct(vg_arena_t *a, const char *l, const char *sel) {
    return aprintf(a,
                   "100 * (1 - max by (%s, instance) (node_filesystem_avail_bytes{mountpoint=\"/\",%s}) / max by (%s, "
                   "instance) (node_filesystem_size_bytes{mountpoint=\"/\",%s}))",
                   l, sel, l, sel);
}
static char *expr_node_gauge(vg_arena_t *a, const char *l, const char *metric, const char *extra, const char *sel) {
    return aprintf(a, "max by (%s, instance) (%s{%s%s})", l, metric, extra, sel);
}
static char *expr_node_net(vg_arena_t *a, const char *l, const char *dir, const char *sel, const char *w) {
    return aprintf(a, "8 * sum by (%s, instance) (rate(node_network_%s_bytes_total{device!~\"" NET_EXCLUDED "\",%s}[%s]))",
                   l, dir, sel, w);
}

/* Cluster-wide (one series), for the metrics endpoint. */
static char *expr_cluster(vg_arena_t *a, int kind, const char *sel, const char *w) {
    switch (kind) {
    case 0: return aprintf(a, "100 * (1 - avg(rate(node_cpu_seconds_total{mode=\"idle\",%s}[%s])))", sel, w);
    case 1:
        return aprintf(a, "100 * (1 - sum(node_memory_MemAvailable_bytes{%s}) / sum(node_memory_MemTotal_bytes{%s}))", sel,
                       sel);
    case 2:
        return aprintf(a,
                       "100 * (1 - sum(node_filesystem_avail_bytes{mountpoint=\"/\",%s}) / "
                       "sum(node_filesystem_size_bytes{mountpoint=\"/\",%s}))",
                       sel, sel);
    case 3:
        return aprintf(a, "8 * sum(rate(node_network_receive_bytes_total{device!~\"" NET_EXCLUDED "\",%s}[%s]))", sel, w);
    default:
        return aprintf(a, "8 * sum(rate(node_network_transmit_bytes_total{device!~\"" NET_EXCLUDED "\",%s}[%s]))", sel, w);
    }
}

static const struct {
    const char *name, *type, *unit;
    int threshold; /* 0 cpu, 1 memory, 2 disk, -1 none */
} cluster_metrics[] = {
    {"cpu", "cpu", "percent", 0},
    {"memory", "memory", "percent", 1},
    {"disk", "disk", "percent", 2},
    {"network_receive", "network", "bits_per_second", -1},
    {"network_transmit", "network", "bits_per_second", -1},
};
#define N_CLUSTER_METRICS (sizeof cluster_metrics / sizeof cluster_metrics[0])

/* ---- running a batch of queries at once ---- */

typedef struct {
    const char *text;
    int64_t start, end, step;
    unsigned flags;
    vg_arena_t arena;
    promql_result_t *res;
    int rc;
    vg_error_t err;
} task_t;

typedef struct {
    service_ctx_t *ctx;
    task_t *t;
} batch_t;

static void run_task(void *p, size_t i) {
    batch_t *b = p;
    task_t *t = &b->t[i];
    service_query_t q = {t->text, t->start, t->end, t->step, 0};
    t->rc = service_query_cached(b->ctx, &q, t->flags, &t->arena, &t->res, NULL, &t->err);
}

static void tasks_free(task_t *t, size_t n) {
    for (size_t i = 0; t && i < n; i++) vg_arena_deinit(&t[i].arena);
}

/* Runs every task (its text set; NULL text: out of memory) on the pool; the first failure is returned. */
static int run_tasks(service_ctx_t *ctx, task_t *t, size_t n, vg_error_t *err) {
    for (size_t i = 0; i < n; i++) {
        vg_arena_init(&t[i].arena, 16 * 1024);
        if (!t[i].text) return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    service__priv_t *p = ctx->svc ? ctx->svc->priv : NULL;
    batch_t b = {ctx, t};
    vg_pool_map(p ? p->pool : NULL, run_task, &b, n);
    for (size_t i = 0; i < n; i++)
        if (t[i].rc) {
            *err = t[i].err;
            return t[i].rc;
        }
    return 0;
}

/* ---- nodes ---- */

enum { Q_UNAME, Q_CPU, Q_MEM_TOTAL, Q_MEM_AVAIL, Q_FS_SIZE, Q_FS_AVAIL, Q_UP, Q_KUBE_READY, Q_NET_RX, Q_NET_TX, Q_PODS, N_Q };

static const char *label_of(const promql_series_t *s, const char *name) {
    return model_labels_get(s->labels, s->n_labels, name);
}

/* The value of the series of r whose (label, instance) = (cluster, instance); NaN when none. */
static double value_at(const promql_result_t *r, const char *label, const char *cluster, const char *instance) {
    for (size_t i = 0; r && i < r->n_series; i++) {
        const promql_series_t *s = &r->series[i];
        const char *c = label_of(s, label), *in = label_of(s, "instance");
        if (c && in && !strcmp(c, cluster) && !strcmp(in, instance) && s->n_points) return s->points[s->n_points - 1].v;
    }
    return NAN;
}

static char *host_of(const char *instance, vg_arena_t *a) {
    const char *s = instance, *e;
    if (*s == '[') {
        s++;
        e = strchr(s, ']');
        if (!e) e = s + strlen(s);
    } else {
        e = strrchr(s, ':');
        if (!e || strchr(s, ':') != e) e = s + strlen(s); /* no port, or a bare IPv6 address */
    }
    return vg_arena_strndup(a, s, (size_t)(e - s));
}

/* The series of r (by `node`, else by instance host) that belongs to node n. */
static double node_match(const promql_result_t *r, const char *label, const service_node_t *n, vg_arena_t *a) {
    for (size_t i = 0; r && i < r->n_series; i++) {
        const promql_series_t *s = &r->series[i];
        const char *c = label_of(s, label), *node = label_of(s, "node"), *in = label_of(s, "instance");
        if (!c || strcmp(c, n->cluster) || !s->n_points) continue;
        bool match = node ? !strcmp(node, n->name) : false;
        if (!node && in) {
            char *h = host_of(in, a);
            match = h && (!strcmp(h, n->name) || !strcmp(h, n->ip));
        }
        if (match) return s->points[s->n_points - 1].v;
    }
    return NAN;
}

static char *dup_a(vg_arena_t *a, const char *s) { return s ? vg_arena_strndup(a, s, strlen(s)) : NULL; }

/* The nodes of one cluster (cluster != NULL) or of all, with every figure (full) or only those the
 * cluster list needs. Strings and nodes in arena. */
static int collect_nodes(service_ctx_t *ctx, const char *cluster, bool full, vg_arena_t *arena, service_node_t **out,
                         size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    const char *l = ctx->cfg->clusters.label;
    const char *sel = selector_of(l, cluster, arena);
    if (!sel) return VG_ENOTFOUND; /* a name no series can carry */
    task_t t[N_Q];
    memset(t, 0, sizeof t);
    size_t nq = full ? N_Q : Q_KUBE_READY + 1;
    int64_t now = vg_now_ms();
    t[Q_UNAME].text = aprintf(arena, "node_uname_info{%s}", sel);
    t[Q_CPU].text = expr_node_cpu(arena, l, sel, "5m");
    t[Q_MEM_TOTAL].text = expr_node_gauge(arena, l, "node_memory_MemTotal_bytes", "", sel);
    t[Q_MEM_AVAIL].text = expr_node_gauge(arena, l, "node_memory_MemAvailable_bytes", "", sel);
    t[Q_FS_SIZE].text = expr_node_gauge(arena, l, "node_filesystem_size_bytes", "mountpoint=\"/\",", sel);
    t[Q_FS_AVAIL].text = expr_node_gauge(arena, l, "node_filesystem_avail_bytes", "mountpoint=\"/\",", sel);
    t[Q_UP].text = aprintf(arena, "max by (%s, instance) (up{%s})", l, sel);
    t[Q_KUBE_READY].text =
        aprintf(arena, "max by (%s, node) (kube_node_status_condition{condition=\"Ready\",status=\"true\",%s})", l, sel);
    t[Q_NET_RX].text = expr_node_net(arena, l, "receive", sel, "5m");
    t[Q_NET_TX].text = expr_node_net(arena, l, "transmit", sel, "5m");
    t[Q_PODS].text = aprintf(arena, "kubelet_running_pods{%s}", sel);
    for (size_t i = 0; i < nq; i++) t[i].start = t[i].end = now, t[i].flags = SERVICE_CACHE_RECENT;
    int rc = run_tasks(ctx, t, nq, err);
    const promql_result_t *u = rc ? NULL : t[Q_UNAME].res;
    service_node_t *nodes = u ? vg_arena_calloc(arena, u->n_series ? u->n_series : 1, sizeof *nodes) : NULL;
    if (!rc && !nodes) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; !rc && i < u->n_series; i++) {
        const promql_series_t *s = &u->series[i];
        const char *c = label_of(s, l), *in = label_of(s, "instance"), *nn = label_of(s, "nodename");
        if (!c || !in) continue;
        bool dup = false; /* one node per (cluster, instance), whatever else its series differ in */
        for (size_t k = 0; k < n && !dup; k++) dup = !strcmp(nodes[k].cluster, c) && !strcmp(nodes[k].instance, in);
        if (dup) continue;
        service_node_t *x = &nodes[n++];
        x->cluster = dup_a(arena, c);
        x->instance = dup_a(arena, in);
        x->ip = host_of(in, arena);
        x->name = dup_a(arena, nn && *nn ? nn : x->ip);
        if (!x->cluster || !x->instance || !x->ip || !x->name) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    const config_clusters_t *cc = &ctx->cfg->clusters;
    for (size_t i = 0; !rc && i < n; i++) {
        service_node_t *x = &nodes[i];
        x->cpu_percent = value_at(t[Q_CPU].res, l, x->cluster, x->instance);
        x->memory_total = value_at(t[Q_MEM_TOTAL].res, l, x->cluster, x->instance);
        x->memory_used = x->memory_total - value_at(t[Q_MEM_AVAIL].res, l, x->cluster, x->instance);
        x->memory_percent = 100 * x->memory_used / x->memory_total;
        x->disk_total = value_at(t[Q_FS_SIZE].res, l, x->cluster, x->instance);
        x->disk_used = x->disk_total - value_at(t[Q_FS_AVAIL].res, l, x->cluster, x->instance);
        x->disk_percent = 100 * x->disk_used / x->disk_total;
        x->cpu_state = service_threshold_state(x->cpu_percent, &cc->thresholds.cpu);
        x->memory_state = service_threshold_state(x->memory_percent, &cc->thresholds.memory);
        x->disk_state = service_threshold_state(x->disk_percent, &cc->thresholds.disk);
        /* readiness: the Kubernetes condition when kube-state-metrics reports the node, else the scrape */
        double kr = NAN;
        for (size_t k = 0; t[Q_KUBE_READY].res && k < t[Q_KUBE_READY].res->n_series && isnan(kr); k++) {
            const promql_series_t *s = &t[Q_KUBE_READY].res->series[k];
            const char *c = label_of(s, l), *node = label_of(s, "node");
            if (c && node && !strcmp(c, x->cluster) && !strcmp(node, x->name) && s->n_points) kr = s->points[0].v;
        }
        double up = value_at(t[Q_UP].res, l, x->cluster, x->instance);
        if (!isnan(kr)) x->ready = kr == 1 ? 1 : 0, x->ready_source = "kube_node_status_condition";
        else if (!isnan(up)) x->ready = up == 1 ? 1 : 0, x->ready_source = "up";
        else x->ready = -1, x->ready_source = NULL;
        x->net_receive_bps = full ? value_at(t[Q_NET_RX].res, l, x->cluster, x->instance) : NAN;
        x->net_transmit_bps = full ? value_at(t[Q_NET_TX].res, l, x->cluster, x->instance) : NAN;
        x->running_pods = full ? node_match(t[Q_PODS].res, l, x, arena) : NAN;
    }
    tasks_free(t, nq);
    if (rc) return rc;
    *out = nodes;
    *n_out = n;
    return 0;
}

static int cmp_node(const void *a, const void *b) {
    const service_node_t *x = a, *y = b;
    int c = strcmp(x->cluster, y->cluster);
    if (!c) c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->instance, y->instance);
}

static service_state_t worst(service_state_t a, service_state_t b) { return a > b ? a : b; }

int service_clusters(service_ctx_t *ctx, vg_arena_t *arena, service_cluster_t **out, size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    service_node_t *nodes;
    size_t n;
    int rc = collect_nodes(ctx, NULL, false, arena, &nodes, &n, err);
    if (rc) return rc;
    if (n > 1) qsort(nodes, n, sizeof *nodes, cmp_node);
    service_cluster_t *cl = vg_arena_calloc(arena, n ? n : 1, sizeof *cl);
    if (!cl) return vg_error_set(err, VG_ENOMEM, "out of memory");
    size_t nc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!nc || strcmp(cl[nc - 1].name, nodes[i].cluster))
            cl[nc++] = (service_cluster_t){.name = nodes[i].cluster, .status = SERVICE_STATE_UNKNOWN};
        service_cluster_t *c = &cl[nc - 1];
        c->n_nodes++;
        c->n_ready += nodes[i].ready == 1;
        c->status = worst(c->status, worst(nodes[i].cpu_state, worst(nodes[i].memory_state, nodes[i].disk_state)));
    }
    *out = cl;
    *n_out = nc;
    return 0;
}

int service_cluster_nodes(service_ctx_t *ctx, const char *cluster, vg_arena_t *arena, service_node_t **out, size_t *n_out,
                          vg_error_t *err) {
    int rc = collect_nodes(ctx, cluster, true, arena, out, n_out, err);
    if (rc == VG_ENOTFOUND || (!rc && *n_out == 0))
        return vg_error_set(err, VG_ENOTFOUND, "cluster \"%s\" not found", cluster);
    if (!rc && *n_out > 1) qsort(*out, *n_out, sizeof **out, cmp_node);
    return rc;
}

int service_cluster_check(service_ctx_t *ctx, const char *cluster, vg_arena_t *arena, vg_error_t *err) {
    const char *sel = selector_of(ctx->cfg->clusters.label, cluster, arena);
    if (!sel) return vg_error_set(err, VG_ENOTFOUND, "cluster \"%s\" not found", cluster);
    task_t t = {.text = aprintf(arena, "node_uname_info{%s}", sel), .flags = SERVICE_CACHE_RECENT};
    t.start = t.end = vg_now_ms();
    int rc = run_tasks(ctx, &t, 1, err);
    bool found = !rc && t.res && t.res->n_series > 0;
    tasks_free(&t, 1);
    if (rc) return rc;
    return found ? 0 : vg_error_set(err, VG_ENOTFOUND, "cluster \"%s\" not found", cluster);
}

/* ---- cluster metrics over a preset range ---- */

int service_cluster_range(const char *name, int64_t now_ms, service_range_t *out) {
    static const struct {
        const char *name;
        int64_t len, step; /* len 0: since midnight UTC */
    } presets[] = {
        {"10min", 10 * 60 * 1000, 30 * 1000},
        {"today", 0, 5 * 60 * 1000},
        {"7days", 7 * DAY_MS, 6 * 3600 * 1000},
        {"month", 30 * DAY_MS, DAY_MS},
    };
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(name, presets[i].name)) continue;
        int64_t step = presets[i].step;
        int64_t end = now_ms - ((now_ms % step) + step) % step; /* the last step boundary: the cache can reuse it */
        int64_t start = presets[i].len ? end - presets[i].len : now_ms - ((now_ms % DAY_MS) + DAY_MS) % DAY_MS;
        *out = (service_range_t){presets[i].name, start, end, step};
        return 0;
    }
    return VG_EINVAL;
}

static void averages(const promql_result_t *r, double *avg, const promql_point_t **pts, size_t *n) {
    *avg = NAN;
    *pts = NULL;
    *n = 0;
    if (!r || !r->n_series) return;
    const promql_series_t *s = &r->series[0];
    double sum = 0;
    for (size_t i = 0; i < s->n_points; i++) sum += s->points[i].v;
    if (s->n_points) *avg = sum / (double)s->n_points;
    *pts = s->points;
    *n = s->n_points;
}

int service_cluster_metrics(service_ctx_t *ctx, const char *cluster, const char *time_range, const char *metric_type,
                            vg_arena_t *arena, service_cluster_metrics_t *out, vg_error_t *err) {
    memset(out, 0, sizeof *out);
    if (service_cluster_range(time_range, vg_now_ms(), &out->range))
        return vg_error_set(err, VG_EINVAL, "invalid parameter \"time_range\": %s (10min, today, 7days or month)", time_range);
    bool any = !strcmp(metric_type, "all");
    size_t nm = 0;
    for (size_t i = 0; i < N_CLUSTER_METRICS; i++) nm += any || !strcmp(metric_type, cluster_metrics[i].type);
    if (!nm)
        return vg_error_set(err, VG_EINVAL,
                            "invalid parameter \"metric_type\": %s (all, cpu, memory, disk or network)", metric_type);
    const char *l = ctx->cfg->clusters.label;
    const char *sel = selector_of(l, cluster, arena);
    if (!sel) return vg_error_set(err, VG_ENOTFOUND, "cluster \"%s\" not found", cluster);
    const service_range_t *rg = &out->range;
    int64_t len = rg->end - rg->start, now = vg_now_ms();
    char w[32];
    vg_duration_format(rg->step > RATE_WINDOW_MS ? rg->step : RATE_WINDOW_MS, w);
    /* per metric: now, the range, the previous range of the same length; then the cluster's existence */
    size_t nt = 3 * nm + 1;
    task_t *t = vg_arena_calloc(arena, nt, sizeof *t);
    service_cluster_metric_t *m = vg_arena_calloc(arena, nm, sizeof *m);
    if (!t || !m) return vg_error_set(err, VG_ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < N_CLUSTER_METRICS; i++) {
        if (!any && strcmp(metric_type, cluster_metrics[i].type)) continue;
        m[k].name = cluster_metrics[i].name;
        m[k].unit = cluster_metrics[i].unit;
        task_t *x = &t[3 * k];
        x[0] = (task_t){.text = expr_cluster(arena, (int)i, sel, "5m"), .start = now, .end = now, .flags = SERVICE_CACHE_RECENT};
        const char *range_expr = expr_cluster(arena, (int)i, sel, w);
        x[1] = (task_t){.text = range_expr, .start = rg->start, .end = rg->end, .step = rg->step,
                        .flags = SERVICE_CACHE_RECENT | SERVICE_CACHE_EXTENTS};
        x[2] = (task_t){.text = range_expr, .start = rg->start - len, .end = rg->end - len, .step = rg->step,
                        .flags = SERVICE_CACHE_RECENT | SERVICE_CACHE_EXTENTS};
        k++;
    }
    t[nt - 1] = (task_t){.text = aprintf(arena, "node_uname_info{%s}", sel), .start = now, .end = now,
                         .flags = SERVICE_CACHE_RECENT};
    int rc = run_tasks(ctx, t, nt, err);
    if (!rc && (!t[nt - 1].res || !t[nt - 1].res->n_series))
        rc = vg_error_set(err, VG_ENOTFOUND, "cluster \"%s\" not found", cluster);
    const config_clusters_t *cc = &ctx->cfg->clusters;
    const config_threshold_t *th[] = {&cc->thresholds.cpu, &cc->thresholds.memory, &cc->thresholds.disk};
    for (size_t i = 0; !rc && i < nm; i++) {
        const promql_result_t *cur = t[3 * i].res;
        m[i].current = cur && cur->n_series && cur->series[0].n_points ? cur->series[0].points[0].v : NAN;
        int ti = -1;
        for (size_t x = 0; x < N_CLUSTER_METRICS; x++)
            if (!strcmp(cluster_metrics[x].name, m[i].name)) ti = cluster_metrics[x].threshold;
        m[i].state = ti >= 0 ? service_threshold_state(m[i].current, th[ti]) : SERVICE_STATE_UNKNOWN;
        const promql_point_t *pts, *prev_pts;
        size_t np, nprev;
        averages(t[3 * i + 1].res, &m[i].average, &pts, &np);
        averages(t[3 * i + 2].res, &m[i].previous_average, &prev_pts, &nprev);
        promql_point_t *copy = vg_arena_alloc(arena, (np ? np : 1) * sizeof *copy);
        if (!copy) {
            rc = vg_error_set(err, VG_ENOMEM, "out of memory");
            break;
        }
        if (np) memcpy(copy, pts, np * sizeof *copy);
        m[i].points = copy;
        m[i].n_points = np;
        m[i].change = m[i].average - m[i].previous_average;
        m[i].change_percent = m[i].previous_average != 0 ? 100 * m[i].change / m[i].previous_average : NAN;
    }
    tasks_free(t, nt);
    if (rc) return rc;
    out->v = m;
    out->n = nm;
    return 0;
}

/* ---- the thresholds as alert rules ---- */

/* One alert: expr within [lo, hi) (hi < 0: no upper bound). */
static void rule(vg_buf_t *b, const char *alert, const char *what, const char *expr, const char *l, double lo, double hi,
                 const char *severity) {
    vg_buf_printf(b, "      - alert: %s\n        expr: '%s >= %g", alert, expr, lo);
    if (hi >= 0) vg_buf_printf(b, " < %g", hi);
    vg_buf_printf(b, "'\n        for: 5m\n        labels: {severity: %s}\n", severity);
    vg_buf_printf(b,
                  "        annotations:\n          summary: '%s use of {{ $labels.instance }} in cluster {{ $labels.%s }} "
                  "is {{ $value }}%% (%s at %g%%)'\n",
                  what, l, severity, lo);
}

int service__cluster_rules(const config_t *cfg, rules_file_t **out, vg_error_t *err) {
    *out = NULL;
    const config_clusters_t *cc = &cfg->clusters;
    if (!cc->alert_rules) return 0;
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    const char *l = cc->label;
    char *sel = selector_of(l, NULL, &a);
    const struct {
        const char *alert, *what;
        char *expr;
        const config_threshold_t *t;
    } m[] = {
        {"ClusterNodeCPU", "CPU", sel ? expr_node_cpu(&a, l, sel, "5m") : NULL, &cc->thresholds.cpu},
        {"ClusterNodeMemory", "Memory", sel ? expr_node_mem_pct(&a, l, sel) : NULL, &cc->thresholds.memory},
        {"ClusterNodeDisk", "Disk", sel ? expr_node_disk_pct(&a, l, sel) : NULL, &cc->thresholds.disk},
    };
    vg_buf_t b = VG_BUF_INIT;
    vg_buf_puts(&b, "groups:\n  - name: " SERVICE_CLUSTER_RULE_GROUP "\n    rules:\n");
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        if (!m[i].expr) continue;
        char name[64];
        snprintf(name, sizeof name, "%sWarning", m[i].alert);
        rule(&b, name, m[i].what, m[i].expr, l, m[i].t->warning, m[i].t->critical, "warning");
        snprintf(name, sizeof name, "%sCritical", m[i].alert);
        rule(&b, name, m[i].what, m[i].expr, l, m[i].t->critical, -1, "critical");
    }
    int rc = 0;
    if (b.failed || !sel) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    rules_errors_t errs = {0};
    if (!rc && (rc = rules_file_parse(SERVICE_CLUSTER_RULE_FILE, b.data, b.len, out, &errs)))
        rc = vg_error_set(err, rc == VG_ENOMEM ? VG_ENOMEM : VG_ECONFIG, "clusters: the threshold rules do not load: %s",
                          errs.n ? errs.v[0].msg : "out of memory");
    rules_errors_free(&errs);
    vg_buf_deinit(&b);
    vg_arena_deinit(&a);
    return rc;
}
