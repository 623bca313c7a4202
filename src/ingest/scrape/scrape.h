/* The scrape manager: one thread driving a libcurl multi handle scrapes every target of every
 * `scrape_configs` entry on its interval, parses the exposition (text 0.0.4 / OpenMetrics), applies
 * target labels and metric relabeling, and appends through the storage appender interface, with
 * Prometheus 2.42's semantics:
 *   - per-target offsets spread scrapes over the interval (hash of labels+URL, stable across reloads);
 *   - synthetic series up, scrape_duration_seconds, scrape_samples_scraped,
 *     scrape_samples_post_metric_relabeling, scrape_series_added;
 *   - staleness markers for series that disappear, when a scrape fails, and when a target goes away;
 *   - sample_limit, label_limit, label_name/value_length_limit and body_size_limit fail the scrape;
 *   - reload keeps unchanged targets (and their series caches) running.
 * A scrape is one appender transaction: it is committed whole or rolled back whole. */
#ifndef VG_INGEST_SCRAPE_H
#define VG_INGEST_SCRAPE_H

#include "config/config.h"
#include "ingest/expfmt.h"
#include "model/labels.h"
#include "tsdb/storage.h"
#include "util/arena.h"
#include "util/error.h"

typedef struct ingest_scraper ingest_scraper_t;

/* Makes a new appender for one scrape (owned by the scraper, freed with storage_appender_free). */
typedef int (*ingest_appender_fn)(void *ctx, storage_appender_t **out, vg_error_t *err);

/* Starts the scrape thread with cfg's scrape configs. cfg is referenced, not copied. */
int ingest_scraper_start(config_t *cfg, ingest_appender_fn appender, void *ctx, ingest_scraper_t **out,
                         vg_error_t *err);
/* Applies a new config (reload): unchanged targets keep running, removed ones get staleness markers,
 * new ones start at their offset. Returns when the scrape thread has taken the new target set. */
int ingest_scraper_apply(ingest_scraper_t *s, config_t *cfg, vg_error_t *err);
/* Stops the thread (in-flight scrapes are abandoned; nothing half-appended is committed) and frees. */
void ingest_scraper_stop(ingest_scraper_t *s);

/* ---- what the targets API shows: a snapshot ---- */

typedef enum ingest_target_health {
    INGEST_TARGET_UNKNOWN = 0, /* not scraped yet */
    INGEST_TARGET_UP,
    INGEST_TARGET_DOWN,
} ingest_target_health_t;

/* Metadata of one metric family as a target exposed it in its last successful scrape. */
typedef struct ingest_target_meta {
    const char *family, *help, *unit; /* help and unit "" when not exposed */
    ingest_mtype_t type;
} ingest_target_meta_t;

/* One target as of the snapshot. For a dropped target only discovered and scrape_pool are set. */
typedef struct ingest_target_status {
    const model_label_t *discovered; /* sorted: the labels before relabeling */
    size_t n_discovered;
    const model_label_t *labels;     /* sorted: the final target labels */
    size_t n_labels;
    const char *scrape_pool;         /* the job name */
    const char *url;
    ingest_target_health_t health;
    const char *last_error;          /* "" when the last scrape succeeded */
    int64_t last_scrape_ms;          /* start of the last scrape (wall clock); 0: never */
    double last_duration_s;
    int64_t interval_ms, timeout_ms;
    const ingest_target_meta_t *meta; /* with INGEST_SNAPSHOT_METADATA, in the order the target exposed them */
    size_t n_meta;
} ingest_target_status_t;

/* An immutable copy of the targets: everything it points to is its own (free with
 * ingest_targets_snapshot_free()), so it stays valid however the scraper changes afterwards. Targets
 * are in the scraper's list order (pool by pool), which only a change of the target set changes. */
typedef struct ingest_targets_snapshot {
    ingest_target_status_t *active;
    size_t n_active;
    ingest_target_status_t *dropped; /* those relabeling dropped */
    size_t n_dropped;
    vg_arena_t arena;                /* holds everything above */
} ingest_targets_snapshot_t;

enum {
    INGEST_SNAPSHOT_ACTIVE = 1,   /* fill active */
    INGEST_SNAPSHOT_DROPPED = 2,  /* fill dropped */
    INGEST_SNAPSHOT_METADATA = 4, /* with each active target's metadata */
};

/* Copies the targets selected by flags (INGEST_SNAPSHOT_*) under the scraper's lock; the scrape
 * thread waits only for the copy. Returns 0 and *out (owned: ingest_targets_snapshot_free()), or
 * VG_ENOMEM with *out NULL. */
int ingest_scraper_targets_snapshot(ingest_scraper_t *s, unsigned flags, ingest_targets_snapshot_t **out);
void ingest_targets_snapshot_free(ingest_targets_snapshot_t *snap);

/* Metric metadata over every active target's last successful scrape: entries sorted by family (then
 * type, help, unit), identical entries merged. metric filters to one family; limit < 0 means no limit
 * on the number of families. names (sorted, may be NULL = no restriction) limits the output to
 * families with at least one of these series names. *out and its strings live in arena. Returns 0 or
 * VG_ENOMEM. */
typedef struct ingest_metric_metadata {
    const char *metric, *type, *help, *unit;
} ingest_metric_metadata_t;
int ingest_scraper_metadata(ingest_scraper_t *s, const char *metric, long limit, const char *const *names,
                            size_t n_names, vg_arena_t *arena, ingest_metric_metadata_t **out, size_t *n_out);


#endif
