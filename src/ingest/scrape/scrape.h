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
#include "model/matcher.h"
#include "tsdb/storage.h"
#include "util/error.h"
#include "util/json.h"

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

typedef enum ingest_target_health {
    INGEST_TARGET_UNKNOWN = 0, /* not scraped yet */
    INGEST_TARGET_UP,
    INGEST_TARGET_DOWN,
} ingest_target_health_t;

/* Limits the targets API to the targets a tenant owns: those whose labels give `label` one of `values`
 * (dropped targets are never shown to a tenant). NULL means no limit. */
typedef struct ingest_target_filter {
    const char *label;
    const char *const *values;
    size_t n_values;
} ingest_target_filter_t;

/* Writes the data object of /api/v1/targets ({"activeTargets":[…],"droppedTargets":[…]}) in
 * Prometheus' shape. state: NULL/"any", "active" or "dropped". */
void ingest_scraper_targets_json(ingest_scraper_t *s, vg_json_t *j, const char *state, const ingest_target_filter_t *filter);

/* Writes the data object of /api/v1/metadata: {"<family>":[{"type","help","unit"},…],…} over every
 * active target's last successful scrape, families sorted, identical entries merged. metric filters
 * to one family; limit < 0 means no limit on the number of families. names (sorted, may be NULL = no
 * restriction) limits the output to families with at least one of these series names. */
void ingest_scraper_metadata_json(ingest_scraper_t *s, vg_json_t *j, const char *metric, long limit,
                                  const char *const *names, size_t n_names);

/* Writes the data array of /api/v1/targets/metadata: [{"target":{labels},"metric","type","help","unit"}]
 * for targets whose labels satisfy every matcher in ms, limited to one metric family (metric) and to
 * `limit` entries (< 0: no limit). */
void ingest_scraper_targets_metadata_json(ingest_scraper_t *s, vg_json_t *j, model_matcher_t *const *ms, size_t n_ms,
                                          const char *metric, long limit, const ingest_target_filter_t *filter);

/* Counts for status pages and tests. */
typedef struct ingest_scraper_stats {
    size_t active, dropped, up;
    uint64_t scrapes, failures;
} ingest_scraper_stats_t;
void ingest_scraper_stats(ingest_scraper_t *s, ingest_scraper_stats_t *out);

#endif
