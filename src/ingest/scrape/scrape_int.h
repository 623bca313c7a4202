/* What the scraper's files share (not part of the public API): the scraper, its pools and targets,
 * the per-target series cache, and the functions one file of src/ingest/scrape/ offers the others.
 *
 * Files and what each owns:
 *   scrape.c  the manager: the scrape thread's loop, scheduling, reload (apply_config), file SD refresh,
 *             finishing a scrape (appender transaction, report series, staleness);
 *   snapshot.c what other threads read, under `mu`: targets snapshots, stats, /api/v1/metadata;
 *   append.c  one scrape's body → appender: parse, series labels (target labels, honor_labels,
 *             metric relabeling, label limits), sample_limit, HELP/TYPE/UNIT collection;
 *   cache.c   the per-target series cache and its staleness bookkeeping;
 *   fetch.c   one HTTP transfer on libcurl: headers, auth, TLS, redirects, gzip, body size limit;
 *   targets.c target definitions (ingest_target_build) and target sets from static and file SD configs
 *             and from the discovery providers' groups (src/ingest/discovery/).
 *
 * Threads: one scrape thread owns every pool, target, cache and curl handle and is the only writer of
 * everything here. `ingest_scraper.mu` guards what other threads read: the pool list, each pool's
 * target and dropped lists, each target's def, status fields and published metadata. The scrape
 * thread changes those only with `mu` held, and reads them without it (nobody else writes them);
 * other threads read them only with `mu` held (snapshot.c). Parse buffers and the series caches are
 * the scrape thread's alone and need no lock. */
#ifndef VG_INGEST_SCRAPE_INT_H
#define VG_INGEST_SCRAPE_INT_H

#include "ingest/discovery/discovery.h"
#include "ingest/expfmt.h"
#include "ingest/scrape/relabel.h"
#include "ingest/scrape/scrape.h"
#include "ingest/scrape/targets.h"
#include "selfmon/selfmon.h"
#include "util/arena.h"
#include "util/buf.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* The parse buffer's label capacity: the largest limits.max_label_names_per_series the config
 * accepts, so the configured limit (checked on each new series) is the one that applies. */
#define MAX_LABELS_PER_SERIES 1024
#define SCRATCH_BYTES (1u << 20)
#define SD_CHECK_NS (1000000000ull) /* how often file SD files are stat()ed */

/* ---- series cache (cache.c) ---- */

/* One exposed series of a target: its raw bytes as scraped (labels as written, no value) → the
 * storage ref it was appended under, or "dropped by metric relabeling". */
/* One entry per series a target exposes, so its layout is memory per series: 33 bytes before the key
 * (allocated at offsetof(key) + key_len, no padding after the header). Only the hash's low 32 bits are
 * kept: they pick the bucket (the table never has more than 2^32 buckets) and reject most mismatches
 * before the keys are compared. */
typedef struct ingest__centry {
    struct ingest__centry *next;
    uint64_t ref;
    uint32_t hash;
    uint32_t seen, last; /* scrape iteration it was last seen in (0 = never), and the one before */
    uint32_t key_len;
    bool dropped : 1, explicit_ts : 1;
    char key[];
} ingest__centry_t;

typedef struct {
    ingest__centry_t **b; /* power-of-two buckets */
    size_t cap, n;
} ingest__cache_t;

void ingest__cache_free(ingest__cache_t *c);
ingest__centry_t *ingest__cache_get(ingest__cache_t *c, uint64_t h, const char *key, size_t len);
/* A new zeroed entry for key (not already present), or NULL when out of memory. */
ingest__centry_t *ingest__cache_put(ingest__cache_t *c, uint64_t h, const char *key, size_t len);
/* Records that c was seen in scrape iteration iter (keeping the previous iteration in c->last). */
void ingest__cache_mark_seen(ingest__centry_t *c, uint32_t iter);
/* Undoes every mark of iteration iter: a failed scrape leaves the cache as the last good one did. */
void ingest__cache_unmark(ingest__cache_t *c, uint32_t iter);
/* Drops entries not seen for more than `keep` iterations. */
void ingest__cache_gc(ingest__cache_t *c, uint32_t iter, uint32_t keep);
/* Staleness markers at ts for every series last seen in iteration `iter` (and not since). Returns 0 or
 * <0 with err (storage rejects are counted, not errors). */
int ingest__cache_write_stale(ingest_scraper_t *s, ingest__cache_t *c, storage_appender_t *app, uint32_t iter,
                              int64_t ts, vg_error_t *err);
/* The staleness marker value (a NaN with a fixed bit pattern, kept bit-exact by storage). */
double ingest__stale_nan(void);

/* ---- pools and targets ---- */

enum { INGEST__REPORT_UP, INGEST__REPORT_DURATION, INGEST__REPORT_SCRAPED, INGEST__REPORT_POST_RELABEL,
       INGEST__REPORT_ADDED, INGEST__N_REPORT };

typedef struct ingest__pool ingest__pool_t;

/* Metadata of one metric family as the target exposes it (HELP/TYPE/UNIT lines). */
typedef struct ingest__meta {
    char *family, *help, *unit; /* owned (arena strings while being collected) */
    int type;                   /* ingest_mtype_t */
} ingest__meta_t;

typedef struct ingest__target {
    struct ingest__target *next;
    ingest__pool_t *pool;
    vg_arena_t arena; /* def's memory */
    ingest_target_def_t def;
    char *sd_source;  /* "static" or the file SD path (arena) */
    uint64_t next_ns; /* next scheduled start (monotonic) */
    /* in-flight scrape (fetch.c) */
    CURL *easy;
    struct curl_slist *headers;
    bool in_flight, too_large, gzipped;
    vg_buf_t body, raw; /* body: the exposition; raw: a gzip response before decompression */
    int64_t start_ms;
    uint64_t start_ns;
    char curl_err[CURL_ERROR_SIZE];
    /* series */
    ingest__cache_t cache;
    uint32_t iter;
    uint64_t report_ref[INGEST__N_REPORT];
    bool reported; /* report series were written at least once */
    /* metadata of the last successful scrape, under scraper->mu */
    ingest__meta_t *meta;
    size_t n_meta;
    /* status, under scraper->mu */
    ingest_target_health_t health;
    char last_error[512];
    int64_t last_scrape_ms;
    double last_duration;
} ingest__target_t;

/* A target relabeling dropped: only its discovered labels are kept, for the targets API. */
typedef struct ingest__dropped {
    struct ingest__dropped *next;
    vg_arena_t arena;
    ingest_target_def_t def;
} ingest__dropped_t;

typedef struct ingest__sd_file {
    char *path;
    struct timespec mtime;
    off_t size;
    ino_t ino;
} ingest__sd_file_t;

/* One scrape_configs entry (a job) and its current targets. */
struct ingest__pool {
    ingest__pool_t *next;
    config_scrape_t *sc; /* borrowed from the scraper's cfg */
    uint64_t fingerprint;
    ingest_relabel_t *relabel, *metric_relabel;
    ingest__target_t *targets;
    ingest__dropped_t *dropped;
    ingest__sd_file_t *sd_files; /* the files matched by file_sd globs at the last check */
    size_t n_sd_files;
    uint64_t next_sd_check_ns;
    uint64_t sd_gen; /* the discovery generation the targets were built from */
};

struct ingest_scraper {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    CURLM *multi;
    config_t *cfg; /* current (ref) */
    config_t *pending;
    bool stop, applied;
    ingest__pool_t *pools;
    ingest_sd_t *sd; /* HTTP, DNS and Kubernetes discovery (their own threads) */
    ingest_appender_fn new_appender;
    void *app_ctx;
    uint64_t jitter_seed;
    /* parse buffers, scrape thread only */
    ingest_label_t labels[MAX_LABELS_PER_SERIES];
    char *scratch;
    ingest__meta_t *meta_tmp; /* metadata collected during a parse; strings in meta_arena */
    size_t n_meta_tmp, cap_meta_tmp;
    vg_arena_t meta_arena;
    vg_arena_t series_arena; /* per-scrape temporary labels */
    /* stats */
    uint64_t scrapes, failures;
    selfmon_metric_t *m_scrapes, *m_failures, *m_ooo, *m_dup, *m_oob, *m_series_refused, *m_limit, *m_targets_active, *m_targets_dropped;
};

/* ---- targets.c ---- */

/* Frees a target and everything it holds (an in-flight transfer is abandoned). */
void ingest__target_free(ingest_scraper_t *s, ingest__target_t *t);
void ingest__dropped_free(ingest__dropped_t *d);
/* Re-reads the files the pool's file_sd globs match into p->sd_files. Returns true if the set of
 * files or any file's (mtime, size, inode) changed since the last call. */
bool ingest__sd_scan(ingest__pool_t *p);
/* Builds the pool's full target list (static + the file SD files of the last scan + the discovery
 * providers' groups, recording their generation in p->sd_gen) into *list and
 * *drops (both owned by the caller). Returns 0 or VG_ENOMEM (nothing is returned then). */
int ingest__targets_build(ingest_scraper_t *s, ingest__pool_t *p, ingest__target_t **list, ingest__dropped_t **drops);

/* ---- fetch.c ---- */

void ingest__fetch_global_init(void);
/* Starts the HTTP transfer of a scrape on s->multi (t->start_ms/start_ns set). Returns 0, or <0 with
 * err (nothing started). */
int ingest__fetch_start(ingest_scraper_t *s, ingest__target_t *t, vg_error_t *err);
/* Judges a finished transfer: status, body size limit, timeout, gzip (inflated into t->body). Returns
 * 0 with *content_type (borrowed from the easy handle, may be NULL), or <0 with err. */
int ingest__fetch_finish(ingest__target_t *t, CURLcode cc, const char **content_type, vg_error_t *err);
/* Releases t's transfer state (easy handle, headers, buffers). */
void ingest__fetch_release(ingest_scraper_t *s, ingest__target_t *t);

/* ---- append.c ---- */

/* Counts a storage reject code in the scraper's self-monitoring counters. */
void ingest__count_reject(ingest_scraper_t *s, int rc);
/* Parses t->body (content type ct) and appends it at ts in iteration t->iter, collecting metadata
 * into s->meta_tmp. Returns 0, or <0 with err (the caller rolls back). */
int ingest__append_body(ingest_scraper_t *s, ingest__target_t *t, storage_appender_t *app, const char *ct, int64_t ts,
                        size_t *scraped, size_t *post, size_t *added, vg_error_t *err);
void ingest__meta_free(ingest__meta_t *m, size_t n);
/* Makes the metadata collected by the last ingest__append_body() the target's, if it changed
 * (takes s->mu for the swap). */
void ingest__meta_publish(ingest_scraper_t *s, ingest__target_t *t);

#endif
