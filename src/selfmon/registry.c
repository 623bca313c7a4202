/* The metrics registry and its exposition writer; see selfmon.h for the life-cycle invariants.
 *
 * Counters: SHARDS cache-line-padded doubles (stored as bits in atomic u64, added by CAS); a thread
 * picks its shard once, round-robin. Gauges: one atomic double. Histograms: atomic per-bucket counts
 * (non-cumulative; made cumulative when written), an atomic sum and count. */
#include "selfmon.h"

#include "util/json.h"
#include "util/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 8

typedef struct {
    _Alignas(64) _Atomic uint64_t bits;
} shard_t;

struct selfmon_metric {
    selfmon_family_t *fam;
    char **values;
    selfmon_metric_t *next;
    shard_t *shards;           /* counter */
    _Atomic uint64_t gauge;    /* gauge: double bits */
    _Atomic uint64_t *buckets; /* histogram: n_buckets + 1 (the last is +Inf) */
    _Atomic uint64_t sum;      /* histogram: double bits */
    _Atomic uint64_t count;    /* histogram */
};

struct selfmon_family {
    char *name, *help;
    selfmon_type_t type;
    size_t n_labels, n_buckets;
    char *labels[SELFMON_MAX_LABELS];
    double bounds[SELFMON_MAX_BUCKETS];
    selfmon_value_fn fn;
    void *fn_ctx;
    pthread_mutex_t mu;
    selfmon_metric_t *head, *tail;
    selfmon_family_t *next;
};

struct selfmon_registry {
    pthread_mutex_t mu;
    selfmon_family_t *families;
    size_t n_families;
};

static double bits_to_f64(uint64_t b) {
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static uint64_t f64_to_bits(double d) {
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}

static void atomic_add_f64(_Atomic uint64_t *p, double v) {
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed), nw;
    do {
        nw = f64_to_bits(bits_to_f64(old) + v);
    } while (!atomic_compare_exchange_weak_explicit(p, &old, nw, memory_order_relaxed, memory_order_relaxed));
}

static int shard_index(void) {
    static _Atomic unsigned next;
    static _Thread_local int mine = -1;
    if (mine < 0) mine = (int)(atomic_fetch_add(&next, 1) % SHARDS);
    return mine;
}

selfmon_registry_t *selfmon_registry_new(void) {
    selfmon_registry_t *r = calloc(1, sizeof *r);
    if (r) pthread_mutex_init(&r->mu, NULL);
    return r;
}

static void metric_free(selfmon_metric_t *m, size_t n_labels) {
    for (size_t i = 0; i < n_labels && m->values; i++) free(m->values[i]);
    free(m->values);
    free(m->shards);
    free((void *)m->buckets);
    free(m);
}

void selfmon_registry_free(selfmon_registry_t *r) {
    if (!r) return;
    for (selfmon_family_t *f = r->families, *fn; f; f = fn) {
        fn = f->next;
        for (selfmon_metric_t *m = f->head, *mn; m; m = mn) {
            mn = m->next;
            metric_free(m, f->n_labels);
        }
        for (size_t i = 0; i < f->n_labels; i++) free(f->labels[i]);
        pthread_mutex_destroy(&f->mu);
        free(f->name);
        free(f->help);
        free(f);
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static selfmon_registry_t *default_registry;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static void default_init(void) { default_registry = selfmon_registry_new(); }

selfmon_registry_t *selfmon_default(void) {
    pthread_once(&default_once, default_init);
    return default_registry;
}

static bool valid_name(const char *s, bool label) {
    if (!s || !*s) return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':') ||
                  (p != s && c >= '0' && c <= '9');
        if (!ok) return false;
    }
    return true;
}

static size_t name_len_suffix(const char *name, const char *suffix) {
    size_t n = strlen(name), s = strlen(suffix);
    return n > s && !strcmp(name + n - s, suffix);
}

static selfmon_family_t *family_new(selfmon_registry_t *r, selfmon_type_t type, const char *name,
                                    const char *help, size_t n_labels, const char *const *label_names,
                                    size_t n_buckets, const double *buckets) {
    if (!r || !valid_name(name, false) || n_labels > SELFMON_MAX_LABELS || n_buckets > SELFMON_MAX_BUCKETS ||
        (type == SELFMON_COUNTER && !name_len_suffix(name, "_total")))
        goto bad;
    for (size_t i = 0; i < n_labels; i++)
        if (!valid_name(label_names[i], true) || (type == SELFMON_HISTOGRAM && !strcmp(label_names[i], "le")))
            goto bad;
    for (size_t i = 1; i < n_buckets; i++)
        if (!(buckets[i] > buckets[i - 1])) goto bad;
    pthread_mutex_lock(&r->mu);
    for (selfmon_family_t *f = r->families; f; f = f->next) {
        if (strcmp(f->name, name)) continue;
        pthread_mutex_unlock(&r->mu);
        if (f->type != type || f->n_labels != n_labels || f->fn) goto bad;
        return f;
    }
    selfmon_family_t *f = calloc(1, sizeof *f);
    if (!f || !(f->name = strdup(name)) || !(f->help = strdup(help ? help : ""))) {
        pthread_mutex_unlock(&r->mu);
        if (f) free(f->name);
        free(f);
        return NULL;
    }
    f->type = type;
    f->n_labels = n_labels;
    for (size_t i = 0; i < n_labels; i++) f->labels[i] = strdup(label_names[i]);
    f->n_buckets = n_buckets;
    if (n_buckets) memcpy(f->bounds, buckets, n_buckets * sizeof *buckets);
    pthread_mutex_init(&f->mu, NULL);
    f->next = r->families;
    r->families = f;
    r->n_families++;
    pthread_mutex_unlock(&r->mu);
    return f;
bad:
    vg_log_error("selfmon", "invalid metric family", VG_LS("name", name ? name : ""));
    return NULL;
}

selfmon_family_t *selfmon_counter(selfmon_registry_t *r, const char *name, const char *help, size_t n_labels,
                                  const char *const *label_names) {
    return family_new(r, SELFMON_COUNTER, name, help, n_labels, label_names, 0, NULL);
}

selfmon_family_t *selfmon_gauge(selfmon_registry_t *r, const char *name, const char *help, size_t n_labels,
                                const char *const *label_names) {
    return family_new(r, SELFMON_GAUGE, name, help, n_labels, label_names, 0, NULL);
}

selfmon_family_t *selfmon_histogram(selfmon_registry_t *r, const char *name, const char *help, size_t n_labels,
                                    const char *const *label_names, size_t n_buckets, const double *buckets) {
    return family_new(r, SELFMON_HISTOGRAM, name, help, n_labels, label_names, n_buckets, buckets);
}

selfmon_family_t *selfmon_func(selfmon_registry_t *r, selfmon_type_t type, const char *name, const char *help,
                               selfmon_value_fn fn, void *ctx) {
    if (type == SELFMON_HISTOGRAM || !fn) return NULL;
    selfmon_family_t *f = family_new(r, type, name, help, 0, NULL, 0, NULL);
    if (!f) return NULL;
    pthread_mutex_lock(&f->mu);
    f->fn = fn;
    f->fn_ctx = ctx;
    pthread_mutex_unlock(&f->mu);
    return f;
}

selfmon_metric_t *selfmon_with(selfmon_family_t *f, const char *const *label_values) {
    if (!f) return NULL;
    pthread_mutex_lock(&f->mu);
    selfmon_metric_t *m;
    for (m = f->head; m; m = m->next) {
        size_t i = 0;
        while (i < f->n_labels && !strcmp(m->values[i], label_values[i])) i++;
        if (i == f->n_labels) goto out;
    }
    m = calloc(1, sizeof *m);
    if (!m) goto out;
    m->fam = f;
    bool ok = true;
    if (f->n_labels) {
        m->values = calloc(f->n_labels, sizeof *m->values);
        ok = m->values != NULL;
        for (size_t i = 0; ok && i < f->n_labels; i++) ok = (m->values[i] = strdup(label_values[i])) != NULL;
    }
    if (ok && f->type == SELFMON_COUNTER) {
        m->shards = aligned_alloc(64, SHARDS * sizeof *m->shards);
        ok = m->shards != NULL;
        for (size_t i = 0; ok && i < SHARDS; i++) atomic_init(&m->shards[i].bits, f64_to_bits(0));
    }
    if (ok && f->type == SELFMON_HISTOGRAM) {
        m->buckets = calloc(f->n_buckets + 1, sizeof *m->buckets);
        ok = m->buckets != NULL;
    }
    if (!ok) {
        metric_free(m, f->n_labels);
        m = NULL;
        goto out;
    }
    if (f->tail) f->tail->next = m;
    else f->head = m;
    f->tail = m;
out:
    pthread_mutex_unlock(&f->mu);
    return m;
}

selfmon_metric_t *selfmon_metric(selfmon_family_t *f) { return selfmon_with(f, NULL); }

void selfmon_counter_add(selfmon_metric_t *m, double v) {
    if (!m || !m->shards || !(v >= 0)) return;
    atomic_add_f64(&m->shards[shard_index()].bits, v);
}

void selfmon_counter_inc(selfmon_metric_t *m) { selfmon_counter_add(m, 1); }

void selfmon_gauge_set(selfmon_metric_t *m, double v) {
    if (m) atomic_store_explicit(&m->gauge, f64_to_bits(v), memory_order_relaxed);
}

void selfmon_histogram_observe(selfmon_metric_t *m, double v) {
    if (!m || !m->buckets) return;
    size_t i = 0;
    while (i < m->fam->n_buckets && v > m->fam->bounds[i]) i++;
    atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
    atomic_add_f64(&m->sum, v);
    atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
}

double selfmon_value(const selfmon_metric_t *m) {
    if (!m) return 0;
    switch (m->fam->type) {
    case SELFMON_COUNTER: {
        double s = 0;
        for (size_t i = 0; i < SHARDS; i++)
            s += bits_to_f64(atomic_load_explicit(&m->shards[i].bits, memory_order_relaxed));
        return s;
    }
    case SELFMON_GAUGE: return bits_to_f64(atomic_load_explicit(&m->gauge, memory_order_relaxed));
    case SELFMON_HISTOGRAM: return (double)atomic_load_explicit(&m->count, memory_order_relaxed);
    }
    return 0;
}

/* ---- exposition ---- */

void selfmon_escape(vg_buf_t *b, const char *s, bool quote) {
    for (; *s; s++) {
        if (*s == '\\') vg_buf_puts(b, "\\\\");
        else if (*s == '\n') vg_buf_puts(b, "\\n");
        else if (*s == '"' && quote) vg_buf_puts(b, "\\\"");
        else vg_buf_putc(b, *s);
    }
}

static void put_value(vg_buf_t *b, double v) {
    char tmp[VG_FLOAT_MAX];
    vg_buf_append(b, tmp, vg_fmt_float_g(v, tmp));
}

/* name{labels[,le="x"]} value\n */
static void put_sample(vg_buf_t *b, const selfmon_family_t *f, const selfmon_metric_t *m, const char *suffix,
                       const char *le, double v) {
    vg_buf_puts(b, f->name);
    vg_buf_puts(b, suffix);
    if (f->n_labels || le) {
        vg_buf_putc(b, '{');
        for (size_t i = 0; i < f->n_labels; i++) {
            if (i) vg_buf_putc(b, ',');
            vg_buf_puts(b, f->labels[i]);
            vg_buf_puts(b, "=\"");
            selfmon_escape(b, m->values[i], true);
            vg_buf_putc(b, '"');
        }
        if (le) {
            if (f->n_labels) vg_buf_putc(b, ',');
            vg_buf_puts(b, "le=\"");
            vg_buf_puts(b, le);
            vg_buf_putc(b, '"');
        }
        vg_buf_putc(b, '}');
    }
    vg_buf_putc(b, ' ');
    put_value(b, v);
    vg_buf_putc(b, '\n');
}

static void write_family(vg_buf_t *b, selfmon_family_t *f, bool om) {
    static const char *const types[] = {"counter", "gauge", "histogram"};
    size_t base_len = strlen(f->name);
    if (om && f->type == SELFMON_COUNTER) base_len -= strlen("_total");
    vg_buf_puts(b, "# HELP ");
    vg_buf_append(b, f->name, base_len);
    vg_buf_putc(b, ' ');
    selfmon_escape(b, f->help, om);
    vg_buf_puts(b, "\n# TYPE ");
    vg_buf_append(b, f->name, base_len);
    vg_buf_putc(b, ' ');
    vg_buf_puts(b, types[f->type]);
    vg_buf_putc(b, '\n');
    pthread_mutex_lock(&f->mu);
    if (f->fn) {
        double v = f->fn(f->fn_ctx);
        vg_buf_puts(b, f->name);
        vg_buf_putc(b, ' ');
        put_value(b, v);
        vg_buf_putc(b, '\n');
    }
    for (selfmon_metric_t *m = f->head; m; m = m->next) {
        if (f->type != SELFMON_HISTOGRAM) {
            put_sample(b, f, m, "", NULL, selfmon_value(m));
            continue;
        }
        uint64_t cum = 0;
        char le[VG_FLOAT_MAX];
        for (size_t i = 0; i <= f->n_buckets; i++) {
            cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
            if (i < f->n_buckets) vg_fmt_float_g(f->bounds[i], le);
            else strcpy(le, "+Inf");
            put_sample(b, f, m, "_bucket", le, (double)cum);
        }
        put_sample(b, f, m, "_sum", NULL, bits_to_f64(atomic_load_explicit(&m->sum, memory_order_relaxed)));
        put_sample(b, f, m, "_count", NULL, (double)cum);
    }
    pthread_mutex_unlock(&f->mu);
}

static int cmp_family(const void *a, const void *b) {
    return strcmp((*(selfmon_family_t *const *)a)->name, (*(selfmon_family_t *const *)b)->name);
}

void selfmon_write(selfmon_registry_t *r, vg_buf_t *out, bool openmetrics) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    size_t n = r->n_families;
    selfmon_family_t **fs = malloc((n ? n : 1) * sizeof *fs);
    size_t k = 0;
    for (selfmon_family_t *f = r->families; fs && f; f = f->next) fs[k++] = f;
    pthread_mutex_unlock(&r->mu);
    if (!fs) {
        out->failed = true;
        return;
    }
    qsort(fs, k, sizeof *fs, cmp_family);
    for (size_t i = 0; i < k; i++) write_family(out, fs[i], openmetrics);
    if (openmetrics) vg_buf_puts(out, "# EOF\n");
    free(fs);
}
