/* A remote_write queue: the reader thread tails the storage's feed, turns series records into the
 * series it sends (external labels, write_relabel_configs, tenant), hands each sample to the shard of
 * its series, records how far every shard must get for each feed position (markers), and saves the
 * newest position every shard has answered — the queue resumes there after a restart. Every
 * SHARD_UPDATE_MS it recomputes the shard count from the rates in and out, as Prometheus' queue manager
 * does (shard.c sends; write_int.h states the invariants).
 *
 * The position file <state_dir>/<name>.position is text:
 *   vigil-remote-write-position 1\n url <url>\n segment <n>\n offset <n>\n
 * written to a temporary file and renamed over the old one after sends are answered; a file for
 * another url is ignored (the queue then starts at the end of the log, as a new one). */
#include "remote/write_int.h"

#include "util/fs.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SHARD_UPDATE_MS 10000   /* Prometheus' shardUpdateDuration */
#define EWMA_WEIGHT 0.2         /* weight of the newest interval in the rates */
#define SHARD_TOLERANCE 0.3     /* a desired count within ±30% of the current one changes nothing */
#define BACKLOG_CATCHUP 0.05    /* the backlog is worked off in about 1/0.05 = 20 s */
#define FEED_BATCH 10000        /* samples per storage_feed_next call */
#define FEED_WAIT_MS 100
#define TOMB ((remote__series_t *)(uintptr_t)1)

static const char *const metric_labels[] = {"remote_name", "url"};

/* ---- series map (open addressing by ref) ---- */

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

remote__series_t *remote__series_get(struct remote_write *q, uint64_t ref) {
    if (!q->map_cap) return NULL;
    size_t mask = q->map_cap - 1;
    for (size_t i = mix(ref) & mask;; i = (i + 1) & mask) {
        remote__series_t *s = q->map[i];
        if (!s) return NULL;
        if (s != TOMB && s->ref == ref) return s;
    }
}

static int map_put(struct remote_write *q, remote__series_t *s);

static int map_grow(struct remote_write *q) {
    size_t oc = q->map_cap, nc = oc ? oc * 2 : 1024;
    if (oc && q->map_n * 2 < oc) nc = oc; /* mostly tombstones: rehash at the same size */
    remote__series_t **old = q->map, **nm = calloc(nc, sizeof *nm);
    if (!nm) return VG_ENOMEM;
    q->map = nm;
    q->map_cap = nc;
    q->map_n = q->map_used = 0;
    for (size_t i = 0; i < oc; i++)
        if (old[i] && old[i] != TOMB) map_put(q, old[i]);
    free(old);
    return 0;
}

static int map_put(struct remote_write *q, remote__series_t *s) {
    if ((q->map_used + 1) * 4 >= q->map_cap * 3 && map_grow(q)) return VG_ENOMEM;
    size_t mask = q->map_cap - 1;
    size_t i = mix(s->ref) & mask;
    while (q->map[i] && q->map[i] != TOMB) i = (i + 1) & mask;
    if (!q->map[i]) q->map_used++;
    q->map[i] = s;
    q->map_n++;
    return 0;
}

static uint32_t tenant_id(struct remote_write *q, const char *v) {
    for (size_t i = 1; i < q->n_tenants; i++)
        if (!strcmp(q->tenants[i], v)) return (uint32_t)i;
    if (q->n_tenants == q->cap_tenants) {
        size_t nc = q->cap_tenants ? q->cap_tenants * 2 : 16;
        char **nt = realloc(q->tenants, nc * sizeof *nt);
        if (!nt) return 0;
        q->tenants = nt;
        q->cap_tenants = nc;
    }
    if (q->n_tenants == 0) q->tenants[q->n_tenants++] = NULL;
    char *d = strdup(v);
    if (!d) return 0;
    q->tenants[q->n_tenants] = d;
    return (uint32_t)q->n_tenants++;
}

/* ---- feed callbacks (reader thread) ---- */

static int on_series(void *ctx, uint64_t ref, const model_label_t *l, size_t n, uint64_t epoch) {
    struct remote_write *q = ctx;
    remote__series_t *old = remote__series_get(q, ref);
    if (old) {
        old->epoch = epoch;
        return 0;
    }
    const config_kv_t *ext = &q->cfg->global.external_labels;
    model_label_t stackbuf[80], *v = stackbuf;
    size_t nv = n + ext->n;
    if (nv > sizeof stackbuf / sizeof stackbuf[0] && !(v = malloc(nv * sizeof *v))) return VG_ENOMEM;
    memcpy(v, l, n * sizeof *l);
    nv = n;
    for (size_t i = 0; i < ext->n; i++) /* external labels do not override the series' own */
        if (!model_labels_get(l, n, ext->keys[i])) v[nv++] = (model_label_t){ext->keys[i], ext->values[i]};
    const model_label_t *out = v;
    size_t n_out = nv;
    bool dropped = false;
    if (q->deps.relabel) {
        model_labels_sort(v, nv);
        int r = q->deps.relabel(q->deps.relabel_ctx, v, nv, &out, &n_out);
        if (r <= 0) dropped = true;
    }
    remote__series_t *s = calloc(1, sizeof *s);
    int rc = s ? 0 : VG_ENOMEM;
    if (!rc && !dropped) {
        if (!(s->labels = model_labels_dup(out, n_out))) rc = VG_ENOMEM;
        s->n_labels = n_out;
        if (!rc) model_labels_sort(s->labels, s->n_labels);
        if (!rc && n_out == 0) dropped = true;
    }
    if (!rc && !dropped && q->rc->tenant_header) {
        const char *t = model_labels_get(s->labels, s->n_labels, q->tenant_label);
        if (!t) t = q->rc->default_tenant;
        if (!t || !(s->tenant = tenant_id(q, t))) dropped = true;
    }
    if (v != stackbuf) free(v);
    if (rc) {
        free(s);
        return rc;
    }
    s->ref = ref;
    s->epoch = epoch;
    s->dropped = dropped;
    if (dropped) {
        free(s->labels);
        s->labels = NULL;
        s->n_labels = 0;
    }
    pthread_rwlock_wrlock(&q->series_lock);
    rc = map_put(q, s);
    pthread_rwlock_unlock(&q->series_lock);
    if (rc) {
        free(s->labels);
        free(s);
    }
    return rc;
}

static void series_free(remote__series_t *s) {
    free(s->labels);
    free(s);
}

static void on_forget(void *ctx, uint64_t epoch) {
    struct remote_write *q = ctx;
    size_t n = 0;
    pthread_rwlock_wrlock(&q->series_lock);
    for (size_t i = 0; i < q->map_cap; i++) {
        remote__series_t *s = q->map[i];
        if (s && s != TOMB && s->epoch < epoch) {
            series_free(s);
            q->map[i] = TOMB;
            q->map_n--;
            n++;
        }
    }
    pthread_rwlock_unlock(&q->series_lock);
    if (n) vg_log_debug("remote", "remote_write: forgot series removed from storage", VG_LS("remote_name", q->rc->name),
                        VG_LI("series", n));
}

static void on_gap(void *ctx, storage_feed_pos_t from, storage_feed_pos_t to) {
    struct remote_write *q = ctx;
    uint64_t segs = to.segment > from.segment ? to.segment - from.segment : 1;
    atomic_fetch_add(&q->n_lost, segs);
    if (q->m.lost) selfmon_counter_add(q->m.lost, (double)segs);
    vg_log_error("remote", "remote_write: WAL segments were checkpointed away before they were sent; their samples are "
                           "not forwarded",
                 VG_LS("remote_name", q->rc->name), VG_LI("from_segment", from.segment), VG_LI("to_segment", to.segment));
}

static int on_samples(void *ctx, const storage_feed_sample_t *smp, size_t n) {
    struct remote_write *q = ctx;
    size_t dropped = 0, in = 0;
    int64_t newest = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        const remote__series_t *se = remote__series_get(q, smp[i].ref); /* the reader alone writes the map */
        if (!se || se->dropped) {
            dropped++;
            continue;
        }
        if (smp[i].t > newest) newest = smp[i].t;
        remote__shard_t *s = &q->shards[mix(smp[i].ref) % (uint64_t)q->n_shards];
        pthread_mutex_lock(&s->mu);
        while (s->n == s->cap) {
            if (atomic_load(&q->stopping)) {
                pthread_mutex_unlock(&s->mu);
                return VG_ECANCELED;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100000000L;
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&s->cv_space, &s->mu, &ts);
        }
        if (s->n == 0) s->oldest_ns = vg_mono_ns();
        s->ring[(s->head + s->n) % s->cap] = (remote__entry_t){smp[i].ref, smp[i].t, smp[i].v};
        s->n++;
        s->enq++;
        in++;
        if (s->n >= (size_t)q->rc->queue_config.max_samples_per_send) pthread_cond_signal(&s->cv_data);
        pthread_mutex_unlock(&s->mu);
    }
    atomic_fetch_add(&q->in_total, in);
    if (dropped) {
        atomic_fetch_add(&q->n_dropped, dropped);
        if (q->m.dropped) selfmon_counter_add(q->m.dropped, (double)dropped);
    }
    return 0;
}

/* ---- positions ---- */

static int save_position(struct remote_write *q, storage_feed_pos_t p) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", q->pos_path);
    FILE *f = fopen(tmp, "w");
    if (!f) return VG_EIO;
    fprintf(f, "vigil-remote-write-position 1\nurl %s\nsegment %llu\noffset %llu\n", q->rc->url,
            (unsigned long long)p.segment, (unsigned long long)p.offset);
    bool ok = fflush(f) == 0 && !ferror(f);
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, q->pos_path) != 0) {
        unlink(tmp);
        return VG_EIO;
    }
    return 0;
}

static bool load_position(struct remote_write *q, storage_feed_pos_t *out) {
    FILE *f = fopen(q->pos_path, "r");
    if (!f) return false;
    char url[4096] = "";
    unsigned long long seg = 0, off = 0;
    int v = 0;
    bool ok = fscanf(f, "vigil-remote-write-position %d url %4095s segment %llu offset %llu", &v, url, &seg, &off) == 4 &&
              v == 1;
    fclose(f);
    if (!ok) {
        vg_log_warn("remote", "remote_write: unreadable position file; starting at the end of the WAL",
                    VG_LS("file", q->pos_path));
        return false;
    }
    if (strcmp(url, q->rc->url)) {
        vg_log_info("remote", "remote_write: the saved position is for another url; starting at the end of the WAL",
                    VG_LS("remote_name", q->rc->name), VG_LS("saved_url", url));
        return false;
    }
    *out = (storage_feed_pos_t){seg, off};
    return true;
}

static void add_marker(struct remote_write *q, storage_feed_pos_t p) {
    if (p.segment == 0) return; /* still catching up from the end: nothing owed yet */
    if (q->n_markers && !memcmp(&q->markers[q->n_markers - 1].pos, &p, sizeof p)) return;
    if (q->n_markers == q->cap_markers) {
        size_t nc = q->cap_markers ? q->cap_markers * 2 : 64;
        remote__marker_t *nm = realloc(q->markers, nc * sizeof *nm);
        if (!nm) return; /* the position is saved a little later */
        q->markers = nm;
        q->cap_markers = nc;
    }
    uint64_t *enq = malloc((size_t)q->n_shards * sizeof *enq);
    if (!enq) return;
    for (int i = 0; i < q->n_shards; i++) enq[i] = q->shards[i].enq; /* only this thread writes enq */
    q->markers[q->n_markers++] = (remote__marker_t){p, enq};
}

static void clear_markers(struct remote_write *q) {
    for (size_t i = 0; i < q->n_markers; i++) free(q->markers[i].enq);
    q->n_markers = 0;
}

/* Saves the newest marker every shard has answered. */
static void ack(struct remote_write *q) {
    size_t k = 0;
    while (k < q->n_markers) {
        bool all = true;
        for (int i = 0; i < q->n_shards && all; i++) all = q->markers[k].enq[i] <= atomic_load(&q->shards[i].done);
        if (!all) break;
        k++;
    }
    if (!k) return;
    storage_feed_pos_t p = q->markers[k - 1].pos;
    for (size_t i = 0; i < k; i++) free(q->markers[i].enq);
    memmove(q->markers, q->markers + k, (q->n_markers - k) * sizeof *q->markers);
    q->n_markers -= k;
    pthread_mutex_lock(&q->acked_mu);
    bool changed = memcmp(&p, &q->acked, sizeof p) != 0;
    if (changed) q->acked = p;
    pthread_mutex_unlock(&q->acked_mu);
    if (changed && save_position(q, p))
        vg_log_error("remote", "remote_write: cannot save the position", VG_LS("file", q->pos_path),
                     VG_LS("error", strerror(errno)));
}

/* ---- shard count ---- */

static uint64_t pending(struct remote_write *q) {
    uint64_t p = 0;
    for (int i = 0; i < q->n_shards; i++) p += q->shards[i].enq - atomic_load(&q->shards[i].done);
    return p;
}

static bool drained(struct remote_write *q) {
    for (int i = 0; i < q->n_shards; i++)
        if (atomic_load(&q->shards[i].done) != q->shards[i].enq) return false;
    return true;
}

/* Changes the number of running shards to n once every shard has answered what it holds (waiting up to
 * bound_ms; the change is skipped if they do not). */
static void reshard(struct remote_write *q, int n, int64_t bound_ms) {
    uint64_t until = vg_mono_ns() + (uint64_t)bound_ms * 1000000u;
    while (!drained(q)) {
        if (vg_mono_ns() > until || atomic_load(&q->stopping)) return;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    ack(q);
    clear_markers(q);
    int old = q->n_shards;
    for (int i = n; i < old; i++) remote__shard_join(&q->shards[i]);
    int ok = old < n ? old : n;
    for (int i = old; i < n; i++) {
        vg_error_t err;
        if (remote__shard_start(&q->shards[i], &err)) {
            vg_log_error("remote", "remote_write: cannot start a shard", VG_LS("error", err.msg));
            break;
        }
        ok = i + 1;
    }
    for (int i = 0; i < ok; i++) {
        pthread_mutex_lock(&q->shards[i].mu);
        q->shards[i].enq = 0;
        atomic_store(&q->shards[i].done, 0);
        pthread_mutex_unlock(&q->shards[i].mu);
    }
    q->n_shards = ok;
    if (q->m.shards) selfmon_gauge_set(q->m.shards, ok);
    vg_log_info("remote", "remote_write: shards changed", VG_LS("remote_name", q->rc->name), VG_LI("from", old),
                VG_LI("to", ok));
}

typedef struct rates {
    double in, out, out_secs; /* per second, EWMA */
    uint64_t last_in, last_out, last_ns;
    bool primed;
} rates_t;

static double ewma(double old, double now, bool primed) { return primed ? old + EWMA_WEIGHT * (now - old) : now; }

/* Prometheus' rule: the time one sample takes to send times the rate to keep up with, plus a share of
 * the backlog (how far the newest sent sample lags the newest appended one, in samples). */
static int desired_shards(struct remote_write *q, rates_t *r) {
    uint64_t in = atomic_load(&q->in_total), out = atomic_load(&q->out_total), ns = atomic_load(&q->out_ns_total);
    double secs = SHARD_UPDATE_MS / 1000.0;
    r->in = ewma(r->in, (double)(in - r->last_in) / secs, r->primed);
    r->out = ewma(r->out, (double)(out - r->last_out) / secs, r->primed);
    r->out_secs = ewma(r->out_secs, (double)(ns - r->last_ns) / 1e9 / secs, r->primed);
    r->primed = true;
    r->last_in = in, r->last_out = out, r->last_ns = ns;
    int cur = q->n_shards;
    if (r->out <= 0) return cur;
    double per_sample = r->out_secs / r->out;
    int64_t newest = atomic_load(&q->newest_ms), sent = atomic_load(&q->highest_sent_ms);
    double lag_s = newest > sent && sent != INT64_MIN ? (double)(newest - sent) / 1000.0 : 0;
    double backlog = lag_s * r->in;
    double want = per_sample * (r->in + BACKLOG_CATCHUP * backlog);
    if (want > cur * (1 - SHARD_TOLERANCE) && want < cur * (1 + SHARD_TOLERANCE)) return cur;
    int d = (int)ceil(want);
    const config_rw_queue_t *qc = &q->rc->queue_config;
    if (d < qc->min_shards) d = (int)qc->min_shards;
    if (d > qc->max_shards) d = (int)qc->max_shards;
    return d;
}

/* ---- reader thread ---- */

static void update_gauges(struct remote_write *q, const storage_feed_t *f) {
    int64_t newest = f ? f->vt->newest(f) : INT64_MIN;
    if (newest != INT64_MIN) atomic_store(&q->newest_ms, newest);
    if (q->m.pending) selfmon_gauge_set(q->m.pending, (double)pending(q));
    int64_t hs = atomic_load(&q->highest_sent_ms);
    if (q->m.highest_sent && hs != INT64_MIN) selfmon_gauge_set(q->m.highest_sent, (double)hs / 1000.0);
    if (q->m.highest_in && newest != INT64_MIN) selfmon_gauge_set(q->m.highest_in, (double)newest / 1000.0);
}

static void *reader_main(void *arg) {
    struct remote_write *q = arg;
    storage_feed_handler_t h = {.ctx = q, .series = on_series, .samples = on_samples, .forget = on_forget, .gap = on_gap};
    storage_feed_t *f = NULL;
    rates_t rates = {0};
    uint64_t next_update = vg_mono_ns() + (uint64_t)SHARD_UPDATE_MS * 1000000u;
    const int64_t drain_bound = q->rc->remote_timeout_ms + 2 * q->rc->queue_config.batch_send_deadline_ms;
    while (!atomic_load(&q->stopping)) {
        vg_error_t err;
        if (!f) {
            storage_feed_pos_t from;
            pthread_mutex_lock(&q->acked_mu);
            from = q->acked;
            pthread_mutex_unlock(&q->acked_mu);
            if (q->deps.open_feed(q->deps.feed_ctx, from.segment ? &from : NULL, &f, &err)) {
                vg_log_error("remote", "remote_write: cannot open the WAL feed", VG_LS("remote_name", q->rc->name),
                             VG_LS("error", err.msg));
                f = NULL;
                struct timespec ts = {1, 0};
                nanosleep(&ts, NULL);
                continue;
            }
            storage_feed_pos_t p0;
            storage_feed_position(f, &p0);
            add_marker(q, p0); /* nothing owed before it: saved at once */
            ack(q);
        }
        int rc = storage_feed_next(f, &h, FEED_BATCH, FEED_WAIT_MS, &err);
        if (rc == VG_ECANCELED) break;
        if (rc < 0) {
            /* Start over from what was answered: the shards hold only samples after it. */
            vg_log_error("remote", "remote_write: reading the WAL failed; reopening", VG_LS("remote_name", q->rc->name),
                         VG_LS("error", err.msg));
            storage_feed_free(f);
            f = NULL;
            reshard(q, q->n_shards, INT64_MAX / 2000000);
            struct timespec ts = {1, 0};
            nanosleep(&ts, NULL);
            continue;
        }
        storage_feed_pos_t p;
        storage_feed_position(f, &p);
        add_marker(q, p);
        ack(q);
        update_gauges(q, f);
        if (vg_mono_ns() >= next_update) {
            next_update = vg_mono_ns() + (uint64_t)SHARD_UPDATE_MS * 1000000u;
            int d = desired_shards(q, &rates);
            atomic_store(&q->desired, d);
            if (q->m.desired) selfmon_gauge_set(q->m.desired, d);
            /* Not while the receiver is failing: more shards would not help (as Prometheus). */
            int64_t ok_ns = atomic_load(&q->last_send_ok_ns);
            if (d != q->n_shards && ok_ns && (int64_t)vg_mono_ns() - ok_ns < 2LL * SHARD_UPDATE_MS * 1000000)
                reshard(q, d, drain_bound);
        }
    }
    storage_feed_free(f);
    return NULL;
}

/* ---- life cycle ---- */

static void register_metrics(struct remote_write *q) {
    selfmon_registry_t *r = selfmon_default();
    const char *lv[] = {q->rc->name, q->rc->url};
#define FAM(kind, name, help) ((kind)(r, name, help, 2, metric_labels))
#define WITH(f) ((f) ? selfmon_with((f), lv) : NULL)
    q->m.sent = WITH(FAM(selfmon_counter, "vigil_remote_storage_samples_total", "Samples sent to the remote storage."));
    q->m.failed = WITH(FAM(selfmon_counter, "vigil_remote_storage_samples_failed_total",
                           "Samples the remote storage refused for good (4xx other than a retried 429)."));
    q->m.retried = WITH(FAM(selfmon_counter, "vigil_remote_storage_samples_retried_total",
                            "Samples sent again after a recoverable error (5xx, 429 with retry_on_http_429, transport)."));
    q->m.dropped = WITH(FAM(selfmon_counter, "vigil_remote_storage_samples_dropped_total",
                            "Samples read from the WAL and not sent: dropped by write_relabel_configs, without a tenant "
                            "(tenant_header without default_tenant), or of an unknown series."));
    q->m.lost = WITH(FAM(selfmon_counter, "vigil_remote_storage_wal_segments_lost_total",
                         "WAL segments a checkpoint deleted before the queue read them."));
    q->m.pending = WITH(FAM(selfmon_gauge, "vigil_remote_storage_samples_pending", "Samples in the shards, not answered yet."));
    q->m.shards = WITH(FAM(selfmon_gauge, "vigil_remote_storage_shards", "Shards running."));
    q->m.desired = WITH(FAM(selfmon_gauge, "vigil_remote_storage_shards_desired", "Shards the throughput asks for."));
    q->m.min_shards = WITH(FAM(selfmon_gauge, "vigil_remote_storage_shards_min", "queue_config.min_shards."));
    q->m.max_shards = WITH(FAM(selfmon_gauge, "vigil_remote_storage_shards_max", "queue_config.max_shards."));
    q->m.capacity = WITH(FAM(selfmon_gauge, "vigil_remote_storage_shard_capacity", "queue_config.capacity."));
    q->m.max_per_send = WITH(FAM(selfmon_gauge, "vigil_remote_storage_max_samples_per_send", "queue_config.max_samples_per_send."));
    q->m.highest_sent = WITH(FAM(selfmon_gauge, "vigil_remote_storage_queue_highest_sent_timestamp_seconds",
                                 "Newest sample timestamp the remote storage accepted, Unix seconds."));
    q->m.bytes = WITH(FAM(selfmon_counter, "vigil_remote_storage_bytes_total", "Request bytes sent (compressed)."));
    static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60};
    selfmon_family_t *d = selfmon_histogram(r, "vigil_remote_storage_sent_batch_duration_seconds",
                                            "Duration of remote_write requests.", 2, metric_labels,
                                            sizeof buckets / sizeof buckets[0], buckets);
    q->m.duration = WITH(d);
    selfmon_family_t *hi = selfmon_gauge(r, "vigil_remote_storage_highest_timestamp_in_seconds",
                                         "Newest sample timestamp the storage accepted, Unix seconds.", 0, NULL);
    q->m.highest_in = hi ? selfmon_metric(hi) : NULL;
#undef FAM
#undef WITH
    const config_rw_queue_t *qc = &q->rc->queue_config;
    if (q->m.min_shards) selfmon_gauge_set(q->m.min_shards, (double)qc->min_shards);
    if (q->m.max_shards) selfmon_gauge_set(q->m.max_shards, (double)qc->max_shards);
    if (q->m.capacity) selfmon_gauge_set(q->m.capacity, (double)qc->capacity);
    if (q->m.max_per_send) selfmon_gauge_set(q->m.max_per_send, (double)qc->max_samples_per_send);
}

static void queue_free(struct remote_write *q) {
    if (!q) return;
    if (q->shards)
        for (int i = 0; i < (int)q->rc->queue_config.max_shards; i++) remote__shard_join(&q->shards[i]);
    free(q->shards);
    clear_markers(q);
    free(q->markers);
    for (size_t i = 0; i < q->map_cap; i++)
        if (q->map[i] && q->map[i] != TOMB) series_free(q->map[i]);
    free(q->map);
    for (size_t i = 1; i < q->n_tenants; i++) free(q->tenants[i]);
    free(q->tenants);
    free(q->pos_path);
    pthread_rwlock_destroy(&q->series_lock);
    pthread_mutex_destroy(&q->stop_mu);
    pthread_cond_destroy(&q->stop_cv);
    pthread_mutex_destroy(&q->acked_mu);
    config_unref(q->cfg);
    free(q);
}

int remote_write_start(config_t *cfg, size_t index, const remote_write_deps_t *deps, remote_write_t **out,
                       vg_error_t *err) {
    *out = NULL;
    if (index >= cfg->remote_write.n) return vg_error_set(err, VG_EINVAL, "no remote_write entry %zu", index);
    struct remote_write *q = calloc(1, sizeof *q);
    if (!q) return vg_error_set(err, VG_ENOMEM, "out of memory");
    q->cfg = config_ref(cfg);
    q->rc = &cfg->remote_write.v[index];
    q->deps = *deps;
    q->tenant_label = cfg->tenants.enforce.n ? cfg->tenants.enforce.keys[0] : "namespace";
    pthread_rwlock_init(&q->series_lock, NULL);
    pthread_mutex_init(&q->stop_mu, NULL);
    pthread_cond_init(&q->stop_cv, NULL);
    pthread_mutex_init(&q->acked_mu, NULL);
    atomic_init(&q->highest_sent_ms, INT64_MIN);
    atomic_init(&q->newest_ms, INT64_MIN);
    int rc = vg_fs_mkdir_p(deps->state_dir, err);
    if (rc) goto fail;
    size_t pl = strlen(deps->state_dir) + strlen(q->rc->name) + 16;
    if (!(q->pos_path = malloc(pl))) goto oom;
    snprintf(q->pos_path, pl, "%s/%s.position", deps->state_dir, q->rc->name);
    storage_feed_pos_t saved;
    if (load_position(q, &saved)) {
        q->acked = saved;
        vg_log_info("remote", "remote_write: resuming from the saved position", VG_LS("remote_name", q->rc->name),
                    VG_LI("segment", saved.segment), VG_LI("offset", saved.offset));
    }
    int max = (int)q->rc->queue_config.max_shards;
    if (!(q->shards = calloc((size_t)max, sizeof *q->shards))) goto oom;
    for (int i = 0; i < max; i++) q->shards[i].q = q, q->shards[i].idx = i;
    register_metrics(q);
    int n = (int)q->rc->queue_config.min_shards;
    for (int i = 0; i < n; i++)
        if ((rc = remote__shard_start(&q->shards[i], err))) goto fail;
    q->n_shards = n;
    atomic_store(&q->desired, n);
    if (q->m.shards) selfmon_gauge_set(q->m.shards, n);
    if (q->m.desired) selfmon_gauge_set(q->m.desired, n);
    if (pthread_create(&q->reader, NULL, reader_main, q) != 0) {
        rc = vg_error_set(err, VG_ENOMEM, "cannot start the remote_write reader thread");
        goto fail;
    }
    q->reader_running = true;
    vg_log_info("remote", "remote_write queue started", VG_LS("remote_name", q->rc->name), VG_LS("url", q->rc->url),
                VG_LI("shards", n));
    *out = q;
    return 0;
oom:
    rc = vg_error_set(err, VG_ENOMEM, "out of memory");
fail:
    queue_free(q);
    return rc;
}

void remote_write_stop(remote_write_t *q, int64_t flush_ms) {
    if (!q) return;
    atomic_store(&q->stopping, true);
    if (q->reader_running) pthread_join(q->reader, NULL);
    /* Give the shards until the deadline to send what they hold, then make them give up. */
    uint64_t until = vg_mono_ns() + (uint64_t)(flush_ms > 0 ? flush_ms : 0) * 1000000u;
    while (!drained(q) && vg_mono_ns() < until) {
        for (int i = 0; i < q->n_shards; i++) {
            pthread_mutex_lock(&q->shards[i].mu);
            q->shards[i].oldest_ns = 0; /* everything is due now */
            pthread_cond_broadcast(&q->shards[i].cv_data);
            pthread_mutex_unlock(&q->shards[i].mu);
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&q->stop_mu);
    atomic_store(&q->abort, true);
    pthread_cond_broadcast(&q->stop_cv);
    pthread_mutex_unlock(&q->stop_mu);
    for (int i = 0; i < q->n_shards; i++) remote__shard_join(&q->shards[i]);
    ack(q);
    uint64_t left = pending(q);
    vg_log_info("remote", "remote_write queue stopped", VG_LS("remote_name", q->rc->name),
                VG_LI("unsent_samples", left), VG_LI("segment", q->acked.segment), VG_LI("offset", q->acked.offset));
    queue_free(q);
}

const char *remote_write_name(const remote_write_t *q) { return q->rc->name; }
const config_remote_write_t *remote_write_config(const remote_write_t *q) { return q->rc; }

void remote_write_get_stats(remote_write_t *q, remote_write_stats_t *o) {
    memset(o, 0, sizeof *o);
    o->samples_sent = atomic_load(&q->n_sent);
    o->samples_failed = atomic_load(&q->n_failed);
    o->samples_retried = atomic_load(&q->n_retried);
    o->samples_dropped = atomic_load(&q->n_dropped);
    o->samples_lost = atomic_load(&q->n_lost);
    o->requests = atomic_load(&q->n_requests);
    o->bytes_sent = atomic_load(&q->n_bytes);
    o->shards = q->n_shards;
    o->shards_desired = atomic_load(&q->desired);
    o->highest_sent_ms = atomic_load(&q->highest_sent_ms);
    pthread_mutex_lock(&q->acked_mu);
    o->acked = q->acked;
    pthread_mutex_unlock(&q->acked_mu);
}
