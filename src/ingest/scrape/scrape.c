/* The scrape manager (see scrape.h for the semantics it implements).
 *
 * Threads: one scrape thread owns every pool and target and all libcurl handles. Other threads talk
 * to it through `mu`: ingest_scraper_apply() posts a config and waits until the thread has taken it;
 * the targets API copies status fields under `mu` (the thread writes them under `mu` after each scrape).
 *
 * Target life cycle: built from a discovered address (static or file SD) → scheduled at its offset →
 * [scrape: fetch → parse → append → commit → report] every interval → on removal, staleness markers
 * for everything it last reported, then freed. A target whose identity (labels + URL) and scrape config
 * are unchanged by a reload or an SD refresh keeps its state, schedule and series cache.
 *
 * Series cache (per target): raw series bytes → storage ref, or "dropped by metric relabeling", and the
 * scrape iteration it was last seen in. Only series missing from the cache pay for label building,
 * relabeling and validation; the rest go straight to append_ref. */
#include "scrape.h"

#include "ingest/expfmt.h"
#include "ingest/scrape/relabel.h"
#include "ingest/scrape/targets.h"
#include "selfmon/selfmon.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"

#include "vigil_build.h"

#include <curl/curl.h>
#include <glob.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <xxhash.h>
#include <zlib.h>

#define STALE_NAN_BITS UINT64_C(0x7ff0000000000002)
#define MAX_LABELS_PER_SERIES 256
#define SCRATCH_BYTES (1u << 20)
#define SD_CHECK_NS (1000000000ull) /* how often file SD files are stat()ed */

static double stale_nan(void) {
    uint64_t b = STALE_NAN_BITS;
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* ---- series cache ---- */

typedef struct centry {
    struct centry *next;
    uint64_t hash, ref;
    uint32_t seen, last; /* scrape iteration it was last seen in (0 = never), and the one before */
    bool dropped, explicit_ts;
    size_t key_len;
    char key[];
} centry_t;

typedef struct {
    centry_t **b;
    size_t cap, n;
} cache_t;

static void cache_free(cache_t *c) {
    for (size_t i = 0; i < c->cap; i++)
        for (centry_t *e = c->b[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    free(c->b);
    memset(c, 0, sizeof *c);
}

static centry_t *cache_get(cache_t *c, uint64_t h, const char *key, size_t len) {
    if (!c->cap) return NULL;
    for (centry_t *e = c->b[h & (c->cap - 1)]; e; e = e->next)
        if (e->hash == h && e->key_len == len && !memcmp(e->key, key, len)) return e;
    return NULL;
}

static centry_t *cache_put(cache_t *c, uint64_t h, const char *key, size_t len) {
    if (c->n >= c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        centry_t **nb = calloc(cap, sizeof *nb);
        if (!nb) return NULL;
        for (size_t i = 0; i < c->cap; i++)
            for (centry_t *e = c->b[i], *n; e; e = n) {
                n = e->next;
                e->next = nb[e->hash & (cap - 1)];
                nb[e->hash & (cap - 1)] = e;
            }
        free(c->b);
        c->b = nb;
        c->cap = cap;
    }
    centry_t *e = calloc(1, sizeof *e + len);
    if (!e) return NULL;
    e->hash = h;
    e->key_len = len;
    memcpy(e->key, key, len);
    e->next = c->b[h & (c->cap - 1)];
    c->b[h & (c->cap - 1)] = e;
    c->n++;
    return e;
}

/* Drops entries not seen for more than `keep` iterations. */
static void cache_gc(cache_t *c, uint32_t iter, uint32_t keep) {
    for (size_t i = 0; i < c->cap; i++)
        for (centry_t **pp = &c->b[i]; *pp;) {
            centry_t *e = *pp;
            if (iter - e->seen > keep) {
                *pp = e->next;
                free(e);
                c->n--;
            } else {
                pp = &e->next;
            }
        }
}

/* ---- pools and targets ---- */

enum { REPORT_UP, REPORT_DURATION, REPORT_SCRAPED, REPORT_POST_RELABEL, REPORT_ADDED, N_REPORT };
static const char *const report_names[N_REPORT] = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                                                   "scrape_samples_post_metric_relabeling", "scrape_series_added"};

typedef struct pool pool_t;

/* Metadata of one metric family as the target exposes it (HELP/TYPE/UNIT lines). */
typedef struct meta {
    char *family, *help, *unit; /* owned */
    int type;                   /* ingest_mtype_t */
} meta_t;

typedef struct target {
    struct target *next;
    pool_t *pool;
    vg_arena_t arena; /* def's memory */
    ingest_target_def_t def;
    char *sd_source;  /* "static" or the file SD path (arena) */
    uint64_t next_ns; /* next scheduled start (monotonic) */
    /* in-flight scrape */
    CURL *easy;
    struct curl_slist *headers;
    bool in_flight, too_large, gzipped;
    vg_buf_t body, raw; /* body: the exposition; raw: a gzip response before decompression */
    int64_t start_ms;
    uint64_t start_ns;
    char curl_err[CURL_ERROR_SIZE];
    /* series */
    cache_t cache;
    uint32_t iter;
    uint64_t report_ref[N_REPORT];
    bool reported; /* report series were written at least once */
    /* metadata of the last successful scrape, under scraper->mu */
    meta_t *meta;
    size_t n_meta;
    /* status, under scraper->mu */
    int health; /* 0 unknown, 1 up, 2 down */
    char last_error[512];
    int64_t last_scrape_ms;
    double last_duration;
} target_t;

typedef struct dropped {
    struct dropped *next;
    vg_arena_t arena;
    ingest_target_def_t def;
} dropped_t;

typedef struct sd_file {
    char *path;
    struct timespec mtime;
    off_t size;
    ino_t ino;
} sd_file_t;

struct pool {
    pool_t *next;
    config_scrape_t *sc; /* borrowed from cfg */
    uint64_t fingerprint;
    ingest_relabel_t *relabel, *metric_relabel;
    target_t *targets;
    dropped_t *dropped;
    sd_file_t *sd_files; /* the files matched by file_sd globs at the last check */
    size_t n_sd_files;
    uint64_t next_sd_check_ns;
};

struct ingest_scraper {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    CURLM *multi;
    config_t *cfg; /* current (ref) */
    config_t *pending;
    bool stop, applied;
    pool_t *pools;
    ingest_appender_fn new_appender;
    void *app_ctx;
    uint64_t jitter_seed;
    /* parse buffers, scrape thread only */
    ingest_label_t labels[MAX_LABELS_PER_SERIES];
    char *scratch;
    meta_t *meta_tmp; /* metadata collected during a parse; strings in meta_arena */
    size_t n_meta_tmp, cap_meta_tmp;
    vg_arena_t meta_arena;
    vg_arena_t series_arena; /* per-scrape temporary labels */
    /* stats */
    uint64_t scrapes, failures;
    selfmon_metric_t *m_scrapes, *m_failures, *m_ooo, *m_dup, *m_oob, *m_limit, *m_targets_active, *m_targets_dropped;
};

/* A stable fingerprint of everything in a scrape config that changes how a target is scraped or how
 * its samples are labelled; a reload that changes it restarts the pool's targets' caches. */
static void fp_str(XXH64_state_t *h, const char *s) {
    XXH64_update(h, s ? s : "\x01", s ? strlen(s) + 1 : 1);
}

static void fp_i64(XXH64_state_t *h, int64_t v) { XXH64_update(h, &v, sizeof v); }

static void fp_relabel(XXH64_state_t *h, const config_relabel_list_t *l) {
    fp_i64(h, (int64_t)l->n);
    for (size_t i = 0; i < l->n; i++) {
        const config_relabel_t *r = &l->v[i];
        for (size_t j = 0; j < r->source_labels.n; j++) fp_str(h, r->source_labels.v[j]);
        fp_str(h, r->separator), fp_str(h, r->target_label), fp_str(h, r->regex), fp_str(h, r->replacement);
        fp_i64(h, r->modulus), fp_i64(h, r->action);
    }
}

static uint64_t fingerprint(const config_scrape_t *sc, const config_global_t *g) {
    XXH64_state_t *h = XXH64_createState();
    if (!h) return 0;
    XXH64_reset(h, 0);
    fp_str(h, sc->job_name), fp_i64(h, sc->scrape_interval_ms), fp_i64(h, sc->scrape_timeout_ms);
    fp_str(h, sc->metrics_path), fp_str(h, sc->scheme);
    for (size_t i = 0; i < sc->params.n; i++) fp_str(h, sc->params.keys[i]), fp_str(h, sc->params.values[i]);
    fp_i64(h, sc->honor_labels), fp_i64(h, sc->honor_timestamps);
    fp_str(h, sc->basic_auth.username), fp_str(h, sc->basic_auth.password), fp_str(h, sc->basic_auth.password_file);
    fp_str(h, sc->authorization.type), fp_str(h, sc->authorization.credentials);
    fp_str(h, sc->authorization.credentials_file), fp_str(h, sc->bearer_token), fp_str(h, sc->bearer_token_file);
    fp_str(h, sc->tls_config.ca_file), fp_str(h, sc->tls_config.cert_file), fp_str(h, sc->tls_config.key_file);
    fp_i64(h, sc->tls_config.insecure_skip_verify);
    fp_relabel(h, &sc->relabel_configs), fp_relabel(h, &sc->metric_relabel_configs);
    fp_i64(h, sc->sample_limit), fp_i64(h, sc->label_limit), fp_i64(h, sc->label_name_length_limit);
    fp_i64(h, sc->label_value_length_limit), fp_i64(h, (int64_t)sc->body_size_limit), fp_i64(h, sc->follow_redirects);
    for (size_t i = 0; i < g->external_labels.n; i++) fp_str(h, g->external_labels.keys[i]);
    uint64_t v = XXH64_digest(h);
    XXH64_freeState(h);
    return v;
}

/* ---- writing samples ---- */

static void count_reject(ingest_scraper_t *s, int rc) {
    if (rc == STORAGE_REJECT_OUT_OF_ORDER) selfmon_counter_inc(s->m_ooo);
    else if (rc == STORAGE_REJECT_DUPLICATE) selfmon_counter_inc(s->m_dup);
    else if (rc == STORAGE_REJECT_OUT_OF_BOUNDS) selfmon_counter_inc(s->m_oob);
}

/* Appends a synthetic series (target labels + __name__) by cached ref or labels. */
static int append_report(ingest_scraper_t *s, target_t *t, storage_appender_t *app, int which, int64_t ts, double v,
                         vg_error_t *err) {
    if (t->report_ref[which]) {
        int rc = storage_append_ref(app, t->report_ref[which], ts, v, err);
        if (rc != VG_ENOTFOUND) return rc < 0 ? rc : 0;
    }
    size_t n = t->def.n_labels;
    model_label_t *l = vg_arena_alloc(&s->series_arena, (n + 1) * sizeof *l);
    if (!l) return vg_error_set(err, VG_ENOMEM, "out of memory");
    memcpy(l, t->def.labels, n * sizeof *l);
    l[n] = (model_label_t){MODEL_METRIC_NAME, report_names[which]};
    int rc = storage_append(app, l, n + 1, ts, v, &t->report_ref[which], err);
    if (rc > 0) count_reject(s, rc);
    return rc < 0 ? rc : 0;
}

/* Staleness markers for every cached series last seen in iteration `iter` (and not since). */
static int write_stale(ingest_scraper_t *s, target_t *t, storage_appender_t *app, uint32_t iter, int64_t ts,
                       vg_error_t *err) {
    for (size_t i = 0; i < t->cache.cap; i++)
        for (centry_t *e = t->cache.b[i]; e; e = e->next) {
            if (e->seen != iter || e->dropped || e->explicit_ts || !e->ref) continue;
            int rc = storage_append_ref(app, e->ref, ts, stale_nan(), err);
            if (rc > 0) count_reject(s, rc);
            else if (rc < 0 && rc != VG_ENOTFOUND) return rc;
        }
    (void)s;
    return 0;
}

/* Builds the labels of a new series: exposed labels, target labels merged as Prometheus does
 * (honor_labels, or exported_ prefixes on conflicts), metric relabeling; then validation and limits.
 * Returns 1 when relabeling dropped it, 0 with out and n_out set, or <0 with err (fails the scrape). */
static int series_labels(ingest_scraper_t *s, target_t *t, const ingest_expfmt_entry_t *e, model_label_t **out,
                         size_t *n_out, vg_error_t *err) {
    vg_arena_t *a = &s->series_arena;
    const config_scrape_t *sc = t->pool->sc;
    ingest_lbuilder_t b;
    ingest_lbuilder_init(&b, a);
    char *name = vg_arena_strndup(a, e->name.ptr, e->name.len);
    if (!name) return vg_error_set(err, VG_ENOMEM, "out of memory");
    ingest_lbuilder_set(&b, MODEL_METRIC_NAME, name);
    for (size_t i = 0; i < e->n_labels; i++) {
        char *ln = vg_arena_strndup(a, e->labels[i].name.ptr, e->labels[i].name.len);
        char *lv = vg_arena_strndup(a, e->labels[i].value.ptr, e->labels[i].value.len);
        if (!ln || !lv) return vg_error_set(err, VG_ENOMEM, "out of memory");
        if (ingest_lbuilder_get(&b, ln))
            return vg_error_set(err, VG_EINVAL, "label name \"%s\" is not unique: invalid sample", ln);
        ingest_lbuilder_set(&b, ln, lv);
    }
    size_t n_exposed = b.n;
    model_label_t *exposed = vg_arena_alloc(a, (n_exposed ? n_exposed : 1) * sizeof *exposed);
    if (!exposed) return vg_error_set(err, VG_ENOMEM, "out of memory");
    memcpy(exposed, b.v, n_exposed * sizeof *exposed);
    for (size_t i = 0; i < t->def.n_labels; i++) {
        const model_label_t *tl = &t->def.labels[i];
        const char *have = ingest_lbuilder_get(&b, tl->name);
        if (sc->honor_labels) {
            if (!have) ingest_lbuilder_set(&b, tl->name, tl->value);
            continue;
        }
        if (have) {
            /* keep the exposed value under exported_<name>, prefixing again while that is taken */
            char nn[600];
            snprintf(nn, sizeof nn, "exported_%s", tl->name);
            for (;;) {
                bool taken = model_labels_get(t->def.labels, t->def.n_labels, nn) != NULL;
                for (size_t k = 0; k < n_exposed && !taken; k++) taken = !strcmp(exposed[k].name, nn);
                if (!taken || strlen(nn) > 500) break;
                memmove(nn + 9, nn, strlen(nn) + 1);
                memcpy(nn, "exported_", 9);
            }
            ingest_lbuilder_set(&b, nn, have);
        }
        ingest_lbuilder_set(&b, tl->name, tl->value);
    }
    if (!ingest_relabel_apply(t->pool->metric_relabel, &b)) return b.oom ? vg_error_set(err, VG_ENOMEM, "out of memory") : 1;
    if (b.oom) return vg_error_set(err, VG_ENOMEM, "out of memory");
    if (sc->label_limit && (int64_t)b.n > sc->label_limit)
        return vg_error_set(err, VG_ELIMIT, "label_limit exceeded (metric: %s, number of labels: %zu, limit: %lld)", name,
                            b.n, (long long)sc->label_limit);
    for (size_t i = 0; i < b.n; i++) {
        if (sc->label_name_length_limit && (int64_t)strlen(b.v[i].name) > sc->label_name_length_limit)
            return vg_error_set(err, VG_ELIMIT, "label_name_length_limit exceeded (metric: %s, label name: %s, limit: %lld)",
                                name, b.v[i].name, (long long)sc->label_name_length_limit);
        if (sc->label_value_length_limit && (int64_t)strlen(b.v[i].value) > sc->label_value_length_limit)
            return vg_error_set(err, VG_ELIMIT, "label_value_length_limit exceeded (metric: %s, label name: %s, limit: %lld)",
                                name, b.v[i].name, (long long)sc->label_value_length_limit);
    }
    size_t n = b.n;
    if (model_labels_normalize(b.v, &n, NULL, err)) return err->code;
    if (!model_labels_get(b.v, n, MODEL_METRIC_NAME)) return 1; /* relabeling removed the name: nothing to store */
    *out = b.v;
    *n_out = n;
    return 0;
}

/* Adds a HELP/TYPE/UNIT line to the metadata being collected for this scrape. */
static void collect_meta(ingest_scraper_t *s, const ingest_expfmt_entry_t *e, int kind) {
    meta_t *m = NULL;
    for (size_t i = s->n_meta_tmp; i-- > 0 && !m;) /* the family's lines are usually adjacent */
        if (strlen(s->meta_tmp[i].family) == e->name.len && !memcmp(s->meta_tmp[i].family, e->name.ptr, e->name.len))
            m = &s->meta_tmp[i];
    if (!m) {
        if (s->n_meta_tmp == s->cap_meta_tmp) {
            size_t cap = s->cap_meta_tmp ? s->cap_meta_tmp * 2 : 64;
            meta_t *nm = realloc(s->meta_tmp, cap * sizeof *nm);
            if (!nm) return;
            s->meta_tmp = nm;
            s->cap_meta_tmp = cap;
        }
        m = &s->meta_tmp[s->n_meta_tmp];
        *m = (meta_t){vg_arena_strndup(&s->meta_arena, e->name.ptr, e->name.len), (char *)"", (char *)"", 0};
        if (!m->family) return;
        s->n_meta_tmp++;
    }
    if (kind == INGEST_EXPFMT_TYPE) m->type = (int)e->mtype;
    char *txt = kind == INGEST_EXPFMT_TYPE ? NULL : vg_arena_strndup(&s->meta_arena, e->text.ptr, e->text.len);
    if (kind == INGEST_EXPFMT_HELP && txt) m->help = txt;
    if (kind == INGEST_EXPFMT_UNIT && txt) m->unit = txt;
}

static void meta_free(meta_t *m, size_t n) {
    for (size_t i = 0; i < n; i++) free(m[i].family), free(m[i].help), free(m[i].unit);
    free(m);
}

/* Makes the collected metadata the target's, if it changed (under s->mu). */
static void publish_meta(ingest_scraper_t *s, target_t *t) {
    bool same = s->n_meta_tmp == t->n_meta;
    for (size_t i = 0; same && i < t->n_meta; i++) {
        const meta_t *a = &s->meta_tmp[i], *b = &t->meta[i];
        same = a->type == b->type && !strcmp(a->family, b->family) && !strcmp(a->help, b->help) && !strcmp(a->unit, b->unit);
    }
    if (same) return;
    meta_t *nm = calloc(s->n_meta_tmp ? s->n_meta_tmp : 1, sizeof *nm);
    if (!nm) return;
    for (size_t i = 0; i < s->n_meta_tmp; i++) {
        nm[i] = (meta_t){strdup(s->meta_tmp[i].family), strdup(s->meta_tmp[i].help), strdup(s->meta_tmp[i].unit), s->meta_tmp[i].type};
        if (!nm[i].family || !nm[i].help || !nm[i].unit) {
            meta_free(nm, i + 1);
            return;
        }
    }
    pthread_mutex_lock(&s->mu);
    meta_free(t->meta, t->n_meta);
    t->meta = nm;
    t->n_meta = s->n_meta_tmp;
    pthread_mutex_unlock(&s->mu);
}

static void mark_seen(centry_t *c, uint32_t iter) {
    if (c->seen != iter) c->last = c->seen, c->seen = iter;
}

/* Parses and appends one scrape's body. Returns 0, or <0 with err (the caller rolls back). */
static int append_body(ingest_scraper_t *s, target_t *t, storage_appender_t *app, const char *ct, int64_t ts,
                       size_t *scraped, size_t *post, size_t *added, vg_error_t *err) {
    const config_scrape_t *sc = t->pool->sc;
    ingest_expfmt_parser_t p;
    ingest_expfmt_init(&p, ingest_expfmt_from_content_type(ct), t->body.data ? t->body.data : "", t->body.len, NULL,
                       s->labels, MAX_LABELS_PER_SERIES, s->scratch, SCRATCH_BYTES);
    ingest_expfmt_entry_t e;
    for (;;) {
        int kind = ingest_expfmt_next(&p, &e, err);
        if (kind < 0) return kind;
        if (kind == INGEST_EXPFMT_EOF) break;
        if (kind == INGEST_EXPFMT_HELP || kind == INGEST_EXPFMT_TYPE || kind == INGEST_EXPFMT_UNIT) {
            collect_meta(s, &e, kind);
            continue;
        }
        if (kind != INGEST_EXPFMT_SERIES) continue;
        (*scraped)++;
        int64_t st = sc->honor_timestamps && e.has_ts ? e.ts_ms : ts;
        uint64_t h = XXH64(e.series.ptr, e.series.len, 0);
        centry_t *c = cache_get(&t->cache, h, e.series.ptr, e.series.len);
        if (c && c->dropped) {
            mark_seen(c, t->iter);
            continue;
        }
        if (sc->sample_limit && (int64_t)(*post + 1) > sc->sample_limit) {
            selfmon_counter_inc(s->m_limit);
            return vg_error_set(err, VG_ELIMIT, "sample limit exceeded");
        }
        int rc = VG_ENOTFOUND;
        if (c && c->ref) rc = storage_append_ref(app, c->ref, st, e.value, err);
        if (rc == VG_ENOTFOUND) {
            model_label_t *ls = NULL;
            size_t nl = 0;
            vg_arena_reset(&s->series_arena);
            int lr = series_labels(s, t, &e, &ls, &nl, err);
            if (lr < 0) return lr;
            if (!c && !(c = cache_put(&t->cache, h, e.series.ptr, e.series.len)))
                return vg_error_set(err, VG_ENOMEM, "out of memory");
            if (lr == 1) {
                c->dropped = true;
                mark_seen(c, t->iter);
                continue;
            }
            uint64_t ref = 0;
            rc = storage_append(app, ls, nl, st, e.value, &ref, err);
            if (rc >= 0) {
                if (!c->ref) (*added)++;
                c->ref = ref;
            }
        }
        if (rc < 0) return rc;
        if (rc > 0) count_reject(s, rc);
        mark_seen(c, t->iter);
        c->explicit_ts = e.has_ts && sc->honor_timestamps;
        (*post)++;
    }
    return 0;
}

static void set_status(ingest_scraper_t *s, target_t *t, bool up, const char *msg, int64_t ts, double dur) {
    pthread_mutex_lock(&s->mu);
    t->health = up ? 1 : 2;
    snprintf(t->last_error, sizeof t->last_error, "%s", msg ? msg : "");
    t->last_scrape_ms = ts;
    t->last_duration = dur;
    pthread_mutex_unlock(&s->mu);
}

static int gunzip(target_t *t, vg_error_t *err);

/* Handles a finished transfer: parse, append, staleness, report, commit. */
static void finish_scrape(ingest_scraper_t *s, target_t *t, CURLcode cc) {
    double dur = (double)(vg_mono_ns() - t->start_ns) / 1e9;
    int64_t ts = t->start_ms;
    vg_error_t err;
    vg_error_clear(&err);
    long status = 0;
    char *ct = NULL;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct);
    int rc = 0;
    if (t->too_large) rc = vg_error_set(&err, VG_ELIMIT, "body size limit exceeded");
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        rc = vg_error_set(&err, VG_ETIMEOUT, "Get \"%s\": context deadline exceeded", t->def.url);
    else if (cc != CURLE_OK)
        rc = vg_error_set(&err, VG_EUNAVAIL, "Get \"%s\": %s", t->def.url, t->curl_err[0] ? t->curl_err : curl_easy_strerror(cc));
    else if (status != 200)
        rc = vg_error_set(&err, VG_EUNAVAIL, "server returned HTTP status %ld", status);
    else if (t->gzipped)
        rc = gunzip(t, &err);

    storage_appender_t *app = NULL;
    vg_error_t aerr;
    if (s->new_appender(s->app_ctx, &app, &aerr)) {
        vg_log_error("scrape", "cannot get an appender", VG_LS("err", aerr.msg));
        set_status(s, t, false, aerr.msg, ts, dur);
        return;
    }
    uint32_t prev = t->iter++;
    size_t scraped = 0, post = 0, added = 0;
    s->n_meta_tmp = 0;
    vg_arena_reset(&s->meta_arena);
    if (!rc) rc = append_body(s, t, app, ct, ts, &scraped, &post, &added, &err);
    if (!rc) publish_meta(s, t);
    if (rc) {
        /* nothing of a failed scrape is kept; the previous scrape's series go stale */
        storage_rollback(app);
        scraped = post = added = 0;
        for (size_t i = 0; i < t->cache.cap; i++)
            for (centry_t *e = t->cache.b[i]; e; e = e->next)
                if (e->seen == t->iter) e->seen = e->last; /* undo this scrape's marks */
    }
    vg_error_t werr;
    vg_error_clear(&werr);
    int wrc = write_stale(s, t, app, prev, ts, &werr);
    for (int i = 0; !wrc && i < N_REPORT; i++) {
        double v = i == REPORT_UP ? (rc ? 0 : 1) : i == REPORT_DURATION ? dur : i == REPORT_SCRAPED ? (double)scraped
                   : i == REPORT_POST_RELABEL ? (double)post : (double)added;
        wrc = append_report(s, t, app, i, ts, v, &werr);
    }
    if (wrc < 0) storage_rollback(app);
    else if (storage_commit(app, &werr) < 0) wrc = werr.code;
    storage_appender_free(app);
    if (wrc < 0) vg_log_error("scrape", "append failed", VG_LS("target", t->def.url), VG_LS("err", werr.msg));
    t->reported = true;
    cache_gc(&t->cache, t->iter, 3);
    s->scrapes++;
    selfmon_counter_inc(s->m_scrapes);
    if (rc) {
        s->failures++;
        selfmon_counter_inc(s->m_failures);
        vg_log_debug("scrape", "scrape failed", VG_LS("target", t->def.url), VG_LS("err", err.msg));
    }
    set_status(s, t, rc == 0, rc ? err.msg : "", ts, dur);
}

/* Staleness markers for everything a target reported, at its removal. */
static void retire_target(ingest_scraper_t *s, target_t *t) {
    if (!t->reported) return;
    storage_appender_t *app;
    vg_error_t err;
    if (s->new_appender(s->app_ctx, &app, &err)) return;
    int64_t now = vg_now_ms();
    int rc = write_stale(s, t, app, t->iter, now, &err);
    for (int i = 0; !rc && i < N_REPORT; i++)
        if (t->report_ref[i]) {
            int r = storage_append_ref(app, t->report_ref[i], now, stale_nan(), &err);
            if (r < 0 && r != VG_ENOTFOUND) rc = r;
        }
    if (rc < 0) storage_rollback(app);
    else storage_commit(app, &err);
    storage_appender_free(app);
}

static void target_free(ingest_scraper_t *s, target_t *t) {
    meta_free(t->meta, t->n_meta);
    if (t->in_flight) curl_multi_remove_handle(s->multi, t->easy);
    if (t->easy) curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    vg_buf_deinit(&t->body);
    vg_buf_deinit(&t->raw);
    cache_free(&t->cache);
    vg_arena_deinit(&t->arena);
    free(t);
}

/* ---- HTTP ---- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud) {
    target_t *t = ud;
    size_t n = size * nmemb;
    uint64_t limit = t->pool->sc->body_size_limit;
    vg_buf_t *b = t->gzipped ? &t->raw : &t->body; /* compressed bytes are limited after inflating */
    if (limit && !t->gzipped && b->len + n > limit) {
        t->too_large = true;
        return 0;
    }
    if (vg_buf_append(b, ptr, n)) return 0;
    return n;
}

/* Notes a gzip Content-Encoding: the scraper decompresses itself, so a truncated stream is an error. */
static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud) {
    target_t *t = ud;
    size_t n = size * nitems;
    static const char ce[] = "content-encoding:";
    if (n > sizeof ce - 1 && !strncasecmp(buf, ce, sizeof ce - 1)) {
        const char *v = buf + sizeof ce - 1;
        while (v < buf + n && (*v == ' ' || *v == '\t')) v++;
        t->gzipped = (size_t)(buf + n - v) >= 4 && !strncasecmp(v, "gzip", 4);
    }
    return n;
}

/* Inflates t->raw into t->body; the stream must end properly and fit the body size limit. */
static int gunzip(target_t *t, vg_error_t *err) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return vg_error_set(err, VG_ENOMEM, "gzip: cannot initialise");
    uint64_t limit = t->pool->sc->body_size_limit;
    z.next_in = (Bytef *)t->raw.data;
    z.avail_in = (uInt)t->raw.len;
    int zr = Z_OK, rc = 0;
    while (zr != Z_STREAM_END) {
        if (vg_buf_reserve(&t->body, 65536)) {
            rc = vg_error_set(err, VG_ENOMEM, "out of memory");
            break;
        }
        z.next_out = (Bytef *)t->body.data + t->body.len;
        z.avail_out = (uInt)(t->body.cap - t->body.len - 1);
        size_t before = z.avail_out;
        zr = inflate(&z, Z_NO_FLUSH);
        t->body.len += before - z.avail_out;
        t->body.data[t->body.len] = '\0';
        if (limit && t->body.len > limit) {
            rc = vg_error_set(err, VG_ELIMIT, "body size limit exceeded");
            break;
        }
        if (zr == Z_STREAM_END) break;
        if (zr != Z_OK || (z.avail_in == 0 && z.avail_out != 0)) {
            rc = vg_error_set(err, VG_EINVAL, "gzip: %s", zr == Z_OK || zr == Z_BUF_ERROR ? "unexpected EOF" : (z.msg ? z.msg : "invalid data"));
            break;
        }
    }
    inflateEnd(&z);
    return rc;
}

/* Reads a secret file (trailing newline trimmed) into out. */
static int read_secret(const char *path, char *out, size_t cap) {
    FILE *fp = fopen(path, "r");
    if (!fp) return -1;
    size_t n = fread(out, 1, cap - 1, fp);
    fclose(fp);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r')) n--;
    out[n] = '\0';
    return 0;
}

static int setup_easy(target_t *t, vg_error_t *err) {
    const config_scrape_t *sc = t->pool->sc;
    if (!t->easy && !(t->easy = curl_easy_init())) return vg_error_set(err, VG_ENOMEM, "curl_easy_init failed");
    CURL *e = t->easy;
    curl_easy_reset(e);
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    char h[4200];
    t->headers = curl_slist_append(t->headers, "Accept: " INGEST_EXPFMT_ACCEPT);
    snprintf(h, sizeof h, "X-Prometheus-Scrape-Timeout-Seconds: %g", (double)t->def.timeout_ms / 1000);
    t->headers = curl_slist_append(t->headers, h);
    char secret[4096];
    const char *bearer = NULL;
    if (sc->authorization.credentials) bearer = sc->authorization.credentials;
    else if (sc->authorization.credentials_file && !read_secret(sc->authorization.credentials_file, secret, sizeof secret))
        bearer = secret;
    else if (sc->bearer_token) bearer = sc->bearer_token;
    else if (sc->bearer_token_file && !read_secret(sc->bearer_token_file, secret, sizeof secret)) bearer = secret;
    else if ((sc->authorization.credentials_file || sc->bearer_token_file))
        return vg_error_set(err, VG_EIO, "unable to read authorization credentials file");
    if (bearer) {
        snprintf(h, sizeof h, "Authorization: %s %s", sc->authorization.type ? sc->authorization.type : "Bearer", bearer);
        t->headers = curl_slist_append(t->headers, h);
    }
    if (!t->headers) return vg_error_set(err, VG_ENOMEM, "out of memory");
    curl_easy_setopt(e, CURLOPT_URL, t->def.url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "vigil/" VIGIL_VERSION);
    t->headers = curl_slist_append(t->headers, "Accept-Encoding: gzip");
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t->def.timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)t->def.timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, sc->follow_redirects ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_err);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (sc->basic_auth.username || sc->basic_auth.password || sc->basic_auth.password_file) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, sc->basic_auth.username ? sc->basic_auth.username : "");
        if (sc->basic_auth.password_file) {
            if (read_secret(sc->basic_auth.password_file, secret, sizeof secret))
                return vg_error_set(err, VG_EIO, "unable to read basic auth password file %s", sc->basic_auth.password_file);
            curl_easy_setopt(e, CURLOPT_PASSWORD, secret); /* libcurl copies option strings */
        } else {
            curl_easy_setopt(e, CURLOPT_PASSWORD, sc->basic_auth.password ? sc->basic_auth.password : "");
        }
    }
    if (sc->tls_config.ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, sc->tls_config.ca_file);
    if (sc->tls_config.cert_file) curl_easy_setopt(e, CURLOPT_SSLCERT, sc->tls_config.cert_file);
    if (sc->tls_config.key_file) curl_easy_setopt(e, CURLOPT_SSLKEY, sc->tls_config.key_file);
    if (sc->tls_config.insecure_skip_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    explicit_bzero(secret, sizeof secret);
    explicit_bzero(h, sizeof h);
    return 0;
}

static void start_scrape(ingest_scraper_t *s, target_t *t) {
    vg_error_t err;
    vg_buf_reset(&t->body);
    vg_buf_reset(&t->raw);
    t->too_large = t->gzipped = false;
    t->curl_err[0] = '\0';
    t->start_ms = vg_now_ms();
    t->start_ns = vg_mono_ns();
    if (setup_easy(t, &err) || curl_multi_add_handle(s->multi, t->easy) != CURLM_OK) {
        set_status(s, t, false, err.msg, t->start_ms, 0);
        return;
    }
    t->in_flight = true;
}

/* ---- building target sets (config and file SD) ---- */

/* First start: the next multiple of the interval after now, shifted by the target's offset. */
static uint64_t first_due(ingest_scraper_t *s, const target_t *t) {
    uint64_t iv = (uint64_t)t->def.interval_ms * 1000000u;
    uint64_t now_wall = (uint64_t)vg_now_ms() * 1000000u;
    uint64_t base = iv - now_wall % iv;
    uint64_t next = base + ((t->def.hash ^ s->jitter_seed) % iv);
    if (next > iv) next -= iv;
    return vg_mono_ns() + next;
}

static int add_group(ingest_scraper_t *s, pool_t *p, const config_static_t *g, const char *source, target_t **list,
                     dropped_t **drops) {
    for (size_t i = 0; i < g->targets.n; i++) {
        target_t *t = calloc(1, sizeof *t);
        if (!t) return VG_ENOMEM;
        vg_arena_init(&t->arena, 1024);
        t->pool = p;
        t->iter = 1; /* 0 in a cache entry means "never seen" */
        config_kv_t labels = g->labels;
        /* file SD targets carry __meta_filepath, as Prometheus' file SD does */
        char *keys[65], *vals[65];
        if (strcmp(source, "static") && g->labels.n < 64) {
            if (g->labels.n) {
                memcpy(keys, g->labels.keys, g->labels.n * sizeof *keys);
                memcpy(vals, g->labels.values, g->labels.n * sizeof *vals);
            }
            keys[g->labels.n] = "__meta_filepath";
            vals[g->labels.n] = (char *)source;
            labels = (config_kv_t){keys, vals, g->labels.n + 1};
        }
        vg_error_t err;
        int rc = ingest_target_build(p->sc, p->relabel, g->targets.v[i], &labels, &t->arena, &t->def, &err);
        if (rc == VG_ENOMEM) {
            target_free(s, t);
            return rc;
        }
        if (rc) { /* not scrapeable (no address, bad interval): logged, listed nowhere — as Prometheus */
            vg_log_warn("scrape", "dropping target", VG_LS("job", p->sc->job_name), VG_LS("target", g->targets.v[i]),
                        VG_LS("err", err.msg));
            target_free(s, t);
            continue;
        }
        if (t->def.dropped) {
            dropped_t *d = calloc(1, sizeof *d);
            if (d) {
                d->arena = t->arena; /* hand the labels' memory over */
                d->def = t->def;
                d->next = *drops;
                *drops = d;
                vg_arena_init(&t->arena, 64);
            }
            target_free(s, t);
            continue;
        }
        /* the same target twice in one pool is scraped once */
        bool dup = false;
        for (target_t *o = *list; o && !dup; o = o->next) dup = o->def.hash == t->def.hash;
        if (dup) {
            target_free(s, t);
            continue;
        }
        t->sd_source = vg_arena_strndup(&t->arena, source, strlen(source));
        t->next = *list;
        *list = t;
    }
    return 0;
}

static void free_dropped(dropped_t *d) {
    while (d) {
        dropped_t *n = d->next;
        vg_arena_deinit(&d->arena);
        free(d);
        d = n;
    }
}

/* Reads every file the pool's file_sd globs match; refreshes p->sd_files. Returns true if the set of
 * files or any file's (mtime, size, inode) changed since the last call. */
static bool sd_scan(pool_t *p) {
    sd_file_t *files = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < p->sc->file_sd_configs.n; i++) {
        const config_file_sd_t *sd = &p->sc->file_sd_configs.v[i];
        for (size_t k = 0; k < sd->files.n; k++) {
            glob_t g;
            if (glob(sd->files.v[k], 0, NULL, &g)) continue;
            for (size_t m = 0; m < g.gl_pathc; m++) {
                struct stat st;
                if (stat(g.gl_pathv[m], &st) || !S_ISREG(st.st_mode)) continue;
                if (n == cap) {
                    cap = cap ? cap * 2 : 8;
                    sd_file_t *nf = realloc(files, cap * sizeof *nf);
                    if (!nf) break;
                    files = nf;
                }
                files[n++] = (sd_file_t){strdup(g.gl_pathv[m]), st.st_mtim, st.st_size, st.st_ino};
            }
            globfree(&g);
        }
    }
    bool changed = n != p->n_sd_files;
    for (size_t i = 0; i < n && !changed; i++) {
        const sd_file_t *a = &files[i], *b = &p->sd_files[i];
        changed = !a->path || !b->path || strcmp(a->path, b->path) || a->mtime.tv_sec != b->mtime.tv_sec ||
                  a->mtime.tv_nsec != b->mtime.tv_nsec || a->size != b->size || a->ino != b->ino;
    }
    for (size_t i = 0; i < p->n_sd_files; i++) free(p->sd_files[i].path);
    free(p->sd_files);
    p->sd_files = files;
    p->n_sd_files = n;
    return changed;
}

/* Builds the pool's full target list (static + file SD) into *list and *drops. */
static int build_targets(ingest_scraper_t *s, pool_t *p, target_t **list, dropped_t **drops) {
    *list = NULL;
    *drops = NULL;
    for (size_t i = 0; i < p->sc->static_configs.n; i++) {
        int rc = add_group(s, p, &p->sc->static_configs.v[i], "static", list, drops);
        if (rc) return rc;
    }
    for (size_t i = 0; i < p->n_sd_files; i++) {
        const char *path = p->sd_files[i].path;
        FILE *fp = path ? fopen(path, "rb") : NULL;
        if (!fp) continue;
        vg_buf_t b = VG_BUF_INIT;
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0 && b.len <= CONFIG_MAX_FILE_BYTES) vg_buf_append(&b, chunk, n);
        fclose(fp);
        config_static_t *groups;
        size_t n_groups;
        vg_error_t err;
        if (config_parse_target_groups(b.data ? b.data : "", b.len, &groups, &n_groups, &err)) {
            char msg[VG_ERROR_MSG_MAX + 300];
            config_error_format(&err, path, msg, sizeof msg);
            vg_log_error("scrape", "cannot read file SD targets; keeping none from this file", VG_LS("job", p->sc->job_name),
                         VG_LS("err", msg));
            vg_buf_deinit(&b);
            continue;
        }
        vg_buf_deinit(&b);
        int rc = 0;
        for (size_t g = 0; g < n_groups && !rc; g++) rc = add_group(s, p, &groups[g], path, list, drops);
        config_target_groups_free(groups, n_groups);
        if (rc) return rc;
    }
    return 0;
}

/* Called with s->mu held (the targets API reads these lists). Replaces p's targets with `fresh`, keeping the state of targets whose identity is unchanged (and
 * their caches unless keep_caches is false). Removed targets are retired (staleness) and freed. */
static void swap_targets(ingest_scraper_t *s, pool_t *p, target_t *fresh, dropped_t *drops, bool keep_caches) {
    target_t *result = NULL;
    while (fresh) {
        target_t *f = fresh;
        fresh = f->next;
        target_t **pp = &p->targets, *old = NULL;
        for (; *pp; pp = &(*pp)->next)
            if ((*pp)->def.hash == f->def.hash) {
                old = *pp;
                *pp = old->next;
                break;
            }
        if (old) {
            /* keep the running target (its schedule, cache, status); take the new definition */
            vg_arena_t tmp = old->arena;
            old->arena = f->arena;
            old->def = f->def;
            old->sd_source = f->sd_source;
            f->arena = tmp;
            old->pool = p;
            if (!keep_caches) {
                cache_free(&old->cache);
                memset(old->report_ref, 0, sizeof old->report_ref);
            }
            target_free(s, f);
            f = old;
        } else {
            f->next_ns = first_due(s, f);
        }
        f->next = result;
        result = f;
    }
    for (target_t *t = p->targets, *n; t; t = n) { /* what is left is gone */
        n = t->next;
        retire_target(s, t);
        target_free(s, t);
    }
    p->targets = result;
    free_dropped(p->dropped);
    p->dropped = drops;
}

static void pool_free(ingest_scraper_t *s, pool_t *p) {
    for (target_t *t = p->targets, *n; t; t = n) {
        n = t->next;
        target_free(s, t);
    }
    free_dropped(p->dropped);
    for (size_t i = 0; i < p->n_sd_files; i++) free(p->sd_files[i].path);
    free(p->sd_files);
    ingest_relabel_free(p->relabel);
    ingest_relabel_free(p->metric_relabel);
    free(p);
}

static void update_target_gauges(ingest_scraper_t *s) {
    size_t a = 0, d = 0;
    for (pool_t *p = s->pools; p; p = p->next) {
        for (target_t *t = p->targets; t; t = t->next) a++;
        for (dropped_t *x = p->dropped; x; x = x->next) d++;
    }
    selfmon_gauge_set(s->m_targets_active, (double)a);
    selfmon_gauge_set(s->m_targets_dropped, (double)d);
}

/* Applies cfg on the scrape thread: new pools, kept targets, retired leftovers. */
static void apply_config(ingest_scraper_t *s, config_t *cfg) {
    pool_t *fresh = NULL;
    pthread_mutex_lock(&s->mu); /* the targets API waits while the lists change */
    for (size_t i = 0; i < cfg->scrape_configs.n; i++) {
        config_scrape_t *sc = &cfg->scrape_configs.v[i];
        pool_t *p = calloc(1, sizeof *p);
        vg_error_t err;
        if (!p || ingest_relabel_compile(&sc->relabel_configs, &p->relabel, &err) ||
            ingest_relabel_compile(&sc->metric_relabel_configs, &p->metric_relabel, &err)) {
            vg_log_error("scrape", "cannot set up scrape pool", VG_LS("job", sc->job_name));
            if (p) pool_free(s, p);
            continue;
        }
        p->sc = sc;
        p->fingerprint = fingerprint(sc, &cfg->global);
        /* take over the running pool of the same job, if any */
        pool_t **pp = &s->pools, *old = NULL;
        for (; *pp; pp = &(*pp)->next)
            if (!strcmp((*pp)->sc->job_name, sc->job_name)) {
                old = *pp;
                *pp = old->next;
                break;
            }
        bool keep = old && old->fingerprint == p->fingerprint;
        if (old) {
            p->targets = old->targets;
            old->targets = NULL;
            for (target_t *t = p->targets; t; t = t->next) t->pool = p;
        }
        sd_scan(p);
        p->next_sd_check_ns = vg_mono_ns() + SD_CHECK_NS;
        target_t *list;
        dropped_t *drops;
        if (build_targets(s, p, &list, &drops)) vg_log_error("scrape", "out of memory building targets", VG_LS("job", sc->job_name));
        swap_targets(s, p, list, drops, keep);
        if (old) pool_free(s, old);
        p->next = fresh;
        fresh = p;
    }
    /* jobs no longer configured */
    for (pool_t *p = s->pools, *n; p; p = n) {
        n = p->next;
        swap_targets(s, p, NULL, NULL, false);
        pool_free(s, p);
    }
    s->pools = fresh;
    config_t *old_cfg = s->cfg;
    s->cfg = cfg;
    update_target_gauges(s);
    pthread_mutex_unlock(&s->mu);
    config_unref(old_cfg);
}

static void refresh_sd(ingest_scraper_t *s, uint64_t now) {
    for (pool_t *p = s->pools; p; p = p->next) {
        if (!p->sc->file_sd_configs.n || now < p->next_sd_check_ns) continue;
        p->next_sd_check_ns = now + SD_CHECK_NS;
        if (!sd_scan(p)) continue;
        target_t *list;
        dropped_t *drops;
        if (build_targets(s, p, &list, &drops)) continue;
        pthread_mutex_lock(&s->mu);
        swap_targets(s, p, list, drops, true);
        update_target_gauges(s);
        pthread_mutex_unlock(&s->mu);
        vg_log_info("scrape", "file SD targets changed", VG_LS("job", p->sc->job_name));
    }
}

/* ---- the thread ---- */

static void *scrape_main(void *arg) {
    ingest_scraper_t *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool stop = s->stop;
        config_t *pending = s->pending;
        s->pending = NULL;
        pthread_mutex_unlock(&s->mu);
        if (stop) break;
        if (pending) {
            apply_config(s, pending);
            pthread_mutex_lock(&s->mu);
            s->applied = true;
            pthread_cond_broadcast(&s->cv);
            pthread_mutex_unlock(&s->mu);
        }
        uint64_t now = vg_mono_ns(), next = now + 1000000000ull;
        refresh_sd(s, now);
        for (pool_t *p = s->pools; p; p = p->next)
            for (target_t *t = p->targets; t; t = t->next) {
                if (t->in_flight) continue;
                if (t->next_ns <= now) {
                    start_scrape(s, t);
                    uint64_t iv = (uint64_t)t->def.interval_ms * 1000000u;
                    t->next_ns += iv;
                    if (t->next_ns <= now) t->next_ns = now + iv; /* fell behind: skip, don't burst */
                }
                if (t->next_ns < next) next = t->next_ns;
            }
        int running;
        curl_multi_perform(s->multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(s->multi, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            target_t *t = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            CURLcode cc = msg->data.result;
            curl_multi_remove_handle(s->multi, msg->easy_handle);
            if (!t) continue;
            t->in_flight = false;
            finish_scrape(s, t, cc);
        }
        now = vg_mono_ns();
        int wait_ms = next > now ? (int)((next - now) / 1000000u) : 0;
        if (wait_ms > 1000) wait_ms = 1000;
        curl_multi_poll(s->multi, NULL, 0, wait_ms, NULL);
    }
    return NULL;
}

static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int ingest_scraper_start(config_t *cfg, ingest_appender_fn appender, void *ctx, ingest_scraper_t **out, vg_error_t *err) {
    *out = NULL;
    static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
    pthread_once(&curl_once, curl_init_once);
    ingest_scraper_t *s = calloc(1, sizeof *s);
    if (!s || !(s->scratch = malloc(SCRATCH_BYTES)) || !(s->multi = curl_multi_init())) {
        if (s) free(s->scratch);
        free(s);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    vg_arena_init(&s->series_arena, 16384);
    vg_arena_init(&s->meta_arena, 16384);
    s->new_appender = appender;
    s->app_ctx = ctx;
    s->jitter_seed = XXH64(cfg->hash, strlen(cfg->hash), 0x5eed);
    for (size_t i = 0; i < cfg->global.external_labels.n; i++) {
        s->jitter_seed ^= XXH64(cfg->global.external_labels.values[i], strlen(cfg->global.external_labels.values[i]), i);
    }
    selfmon_registry_t *r = selfmon_default();
    s->m_scrapes = selfmon_metric(selfmon_counter(r, "vigil_scrapes_total", "Scrapes performed.", 0, NULL));
    s->m_failures = selfmon_metric(selfmon_counter(r, "vigil_scrape_failures_total", "Scrapes that failed (target down, bad payload, limit).", 0, NULL));
    s->m_ooo = selfmon_metric(selfmon_counter(r, "vigil_target_scrapes_sample_out_of_order_total", "Scraped samples rejected as out of order.", 0, NULL));
    s->m_dup = selfmon_metric(selfmon_counter(r, "vigil_target_scrapes_sample_duplicate_timestamp_total", "Scraped samples rejected for a duplicate timestamp with another value.", 0, NULL));
    s->m_oob = selfmon_metric(selfmon_counter(r, "vigil_target_scrapes_sample_out_of_bounds_total", "Scraped samples rejected as too old.", 0, NULL));
    s->m_limit = selfmon_metric(selfmon_counter(r, "vigil_target_scrapes_exceeded_sample_limit_total", "Scrapes failed by sample_limit.", 0, NULL));
    s->m_targets_active = selfmon_metric(selfmon_gauge(r, "vigil_scrape_targets_active", "Targets being scraped.", 0, NULL));
    s->m_targets_dropped = selfmon_metric(selfmon_gauge(r, "vigil_scrape_targets_dropped", "Targets dropped by relabeling.", 0, NULL));
    s->pending = config_ref(cfg);
    if (pthread_create(&s->thread, NULL, scrape_main, s)) {
        config_unref(s->pending);
        curl_multi_cleanup(s->multi);
        free(s->scratch);
        free(s);
        return vg_error_set(err, VG_ENOMEM, "cannot start the scrape thread");
    }
    /* wait for the first target set so the targets API is complete once start returns */
    pthread_mutex_lock(&s->mu);
    while (!s->applied) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    *out = s;
    return 0;
}

int ingest_scraper_apply(ingest_scraper_t *s, config_t *cfg, vg_error_t *err) {
    (void)err;
    pthread_mutex_lock(&s->mu);
    if (s->pending) config_unref(s->pending);
    s->pending = config_ref(cfg);
    s->applied = false;
    pthread_mutex_unlock(&s->mu);
    curl_multi_wakeup(s->multi);
    pthread_mutex_lock(&s->mu);
    while (!s->applied && !s->stop) pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void ingest_scraper_stop(ingest_scraper_t *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    curl_multi_wakeup(s->multi);
    pthread_join(s->thread, NULL);
    for (pool_t *p = s->pools, *n; p; p = n) {
        n = p->next;
        pool_free(s, p);
    }
    config_unref(s->pending);
    config_unref(s->cfg);
    curl_multi_cleanup(s->multi);
    vg_arena_deinit(&s->series_arena);
    vg_arena_deinit(&s->meta_arena);
    free(s->meta_tmp);
    free(s->scratch);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

/* ---- targets API ---- */

static void labels_obj(vg_json_t *j, const model_label_t *l, size_t n) {
    vg_json_obj_open(j);
    for (size_t i = 0; i < n; i++) {
        vg_json_key(j, l[i].name);
        vg_json_str(j, l[i].value);
    }
    vg_json_obj_close(j);
}

static bool target_visible(const target_t *t, const ingest_target_filter_t *f) {
    if (!f) return true;
    const char *v = model_labels_get(t->def.labels, t->def.n_labels, f->label);
    for (size_t i = 0; v && i < f->n_values; i++)
        if (!strcmp(v, f->values[i])) return true;
    return false;
}

void ingest_scraper_targets_json(ingest_scraper_t *s, vg_json_t *j, const char *state, const ingest_target_filter_t *filter) {
    bool any = !state || !*state || !strcasecmp(state, "any");
    bool active = any || !strcasecmp(state, "active");
    bool dropped = (any || !strcasecmp(state, "dropped")) && !filter;
    pthread_mutex_lock(&s->mu);
    vg_json_obj_open(j);
    vg_json_key(j, "activeTargets");
    vg_json_arr_open(j);
    for (pool_t *p = s->pools; active && p; p = p->next)
        for (target_t *t = p->targets; t; t = t->next) {
            if (!target_visible(t, filter)) continue;
            char ts[VG_RFC3339_MAX], iv[VG_DURATION_MAX], to[VG_DURATION_MAX];
            vg_json_obj_open(j);
            vg_json_key(j, "discoveredLabels");
            labels_obj(j, t->def.discovered, t->def.n_discovered);
            vg_json_key(j, "labels");
            labels_obj(j, t->def.labels, t->def.n_labels);
            vg_json_key(j, "scrapePool"), vg_json_str(j, p->sc->job_name);
            vg_json_key(j, "scrapeUrl"), vg_json_str(j, t->def.url);
            vg_json_key(j, "globalUrl"), vg_json_str(j, t->def.url);
            vg_json_key(j, "lastError"), vg_json_str(j, t->last_error);
            if (t->last_scrape_ms) vg_rfc3339_format(t->last_scrape_ms, ts);
            else strcpy(ts, "0001-01-01T00:00:00Z");
            vg_json_key(j, "lastScrape"), vg_json_str(j, ts);
            vg_json_key(j, "lastScrapeDuration"), vg_json_f64(j, t->last_duration);
            vg_json_key(j, "health"), vg_json_str(j, t->health == 1 ? "up" : t->health == 2 ? "down" : "unknown");
            vg_duration_format(t->def.interval_ms, iv);
            vg_duration_format(t->def.timeout_ms, to);
            vg_json_key(j, "scrapeInterval"), vg_json_str(j, iv);
            vg_json_key(j, "scrapeTimeout"), vg_json_str(j, to);
            vg_json_obj_close(j);
        }
    vg_json_arr_close(j);
    vg_json_key(j, "droppedTargets");
    vg_json_arr_open(j);
    for (pool_t *p = s->pools; dropped && p; p = p->next)
        for (dropped_t *d = p->dropped; d; d = d->next) {
            vg_json_obj_open(j);
            vg_json_key(j, "discoveredLabels");
            labels_obj(j, d->def.discovered, d->def.n_discovered);
            vg_json_obj_close(j);
        }
    vg_json_arr_close(j);
    vg_json_obj_close(j);
    pthread_mutex_unlock(&s->mu);
}

void ingest_scraper_stats(ingest_scraper_t *s, ingest_scraper_stats_t *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    for (pool_t *p = s->pools; p; p = p->next) {
        for (target_t *t = p->targets; t; t = t->next) {
            out->active++;
            out->up += t->health == 1;
        }
        for (dropped_t *d = p->dropped; d; d = d->next) out->dropped++;
    }
    out->scrapes = s->scrapes;
    out->failures = s->failures;
    pthread_mutex_unlock(&s->mu);
}

/* ---- metadata API ---- */

static void meta_obj(vg_json_t *j, const meta_t *m) {
    vg_json_key(j, "type"), vg_json_str(j, ingest_mtype_name((ingest_mtype_t)m->type));
    vg_json_key(j, "help"), vg_json_str(j, m->help);
    vg_json_key(j, "unit"), vg_json_str(j, m->unit);
}

typedef struct {
    const meta_t *m;
} meta_ref_t;

static int cmp_meta_ref(const void *a, const void *b) {
    const meta_t *x = ((const meta_ref_t *)a)->m, *y = ((const meta_ref_t *)b)->m;
    int c = strcmp(x->family, y->family);
    if (!c) c = x->type - y->type;
    if (!c) c = strcmp(x->help, y->help);
    if (!c) c = strcmp(x->unit, y->unit);
    return c;
}

/* Whether a family has one of the (sorted) series names: the name itself or with a type suffix. */
static bool family_in(const char *family, const char *const *names, size_t n) {
    static const char *const suffixes[] = {"", "_total", "_bucket", "_count", "_sum", "_created", "_info", "_gcount", "_gsum"};
    char buf[512];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(buf, sizeof buf, "%s%s", family, suffixes[i]);
        size_t lo = 0, hi = n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int c = strcmp(names[mid], buf);
            if (!c) return true;
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
    }
    return false;
}

int ingest_scraper_metadata(ingest_scraper_t *s, const char *metric, long limit, const char *const *names,
                            size_t n_names, vg_arena_t *arena, ingest_metric_metadata_t **out, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    for (pool_t *p = s->pools; p; p = p->next)
        for (target_t *t = p->targets; t; t = t->next) n += t->n_meta;
    meta_ref_t *all = malloc((n ? n : 1) * sizeof *all);
    ingest_metric_metadata_t *res = vg_arena_calloc(arena, n ? n : 1, sizeof *res);
    int rc = all && res ? 0 : VG_ENOMEM;
    size_t k = 0, m = 0;
    for (pool_t *p = s->pools; !rc && p; p = p->next)
        for (target_t *t = p->targets; t; t = t->next)
            for (size_t i = 0; i < t->n_meta; i++)
                if ((!metric || !*metric || !strcmp(metric, t->meta[i].family)) &&
                    (!names || family_in(t->meta[i].family, names, n_names)))
                    all[k++].m = &t->meta[i];
    if (!rc) qsort(all, k, sizeof *all, cmp_meta_ref);
    long families = 0;
    for (size_t i = 0; !rc && i < k; i++) {
        if (i && !cmp_meta_ref(&all[i - 1], &all[i])) continue; /* the same metadata from several targets */
        if (!i || strcmp(all[i - 1].m->family, all[i].m->family)) {
            if (limit >= 0 && families >= limit) break;
            families++;
        }
        const meta_t *e = all[i].m;
        ingest_metric_metadata_t *r = &res[m++];
        r->metric = vg_arena_strndup(arena, e->family, strlen(e->family));
        r->type = ingest_mtype_name((ingest_mtype_t)e->type);
        r->help = vg_arena_strndup(arena, e->help, strlen(e->help));
        r->unit = vg_arena_strndup(arena, e->unit, strlen(e->unit));
        if (!r->metric || !r->help || !r->unit) rc = VG_ENOMEM;
    }
    pthread_mutex_unlock(&s->mu);
    free(all);
    if (rc) return rc;
    *out = res;
    *n_out = m;
    return 0;
}

void ingest_scraper_targets_metadata_json(ingest_scraper_t *s, vg_json_t *j, model_matcher_t *const *ms, size_t n_ms,
                                          const char *metric, long limit, const ingest_target_filter_t *filter) {
    pthread_mutex_lock(&s->mu);
    long n = 0;
    vg_json_arr_open(j);
    for (pool_t *p = s->pools; p; p = p->next)
        for (target_t *t = p->targets; t; t = t->next) {
            if (!target_visible(t, filter)) continue;
            bool ok = true;
            for (size_t k = 0; k < n_ms && ok; k++)
                ok = model_matcher_matches(ms[k], model_labels_get(t->def.labels, t->def.n_labels, model_matcher_name(ms[k])));
            for (size_t i = 0; ok && i < t->n_meta && (limit < 0 || n < limit); i++) {
                if (metric && *metric && strcmp(metric, t->meta[i].family)) continue;
                vg_json_obj_open(j);
                vg_json_key(j, "target");
                labels_obj(j, t->def.labels, t->def.n_labels);
                if (!metric || !*metric) vg_json_key(j, "metric"), vg_json_str(j, t->meta[i].family); /* omitted when asked for */
                meta_obj(j, &t->meta[i]);
                vg_json_obj_close(j);
                n++;
            }
        }
    vg_json_arr_close(j);
    pthread_mutex_unlock(&s->mu);
}
