/* selfmon: vigil watching itself — the internal metrics registry every module registers into, the
 * /metrics writer (Prometheus text 0.0.4 and OpenMetrics 1.0), process metrics and component health.
 *
 * A family (name, help, type, label names) owns children, one per label-value tuple. Families and
 * children are created once and never freed before selfmon_registry_free(), so the pointers a module
 * keeps stay valid for the life of the process: hot paths hold a selfmon_metric_t * and update it
 * without locks. Counters are sharded per thread (cache-line padded) so concurrent increments do not
 * contend; readers sum the shards. */
#ifndef VG_SELFMON_H
#define VG_SELFMON_H

#include "util/buf.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum { SELFMON_COUNTER, SELFMON_GAUGE, SELFMON_HISTOGRAM } selfmon_type_t;

typedef struct selfmon_registry selfmon_registry_t;
typedef struct selfmon_family selfmon_family_t;
typedef struct selfmon_metric selfmon_metric_t;

#define SELFMON_MAX_LABELS 8
#define SELFMON_MAX_BUCKETS 32

/* Registry life cycle. The process-wide registry is selfmon_default() (created on first use). */
selfmon_registry_t *selfmon_registry_new(void);
void selfmon_registry_free(selfmon_registry_t *r);
selfmon_registry_t *selfmon_default(void);

/* Creates (or returns the existing family of the same name and type) a family. label_names has
 * n_labels entries (copied). Histograms take upper bounds (ascending, +Inf implied; copied).
 * Returns NULL on a name/type clash or bad arguments — a programming error, logged. */
selfmon_family_t *selfmon_counter(selfmon_registry_t *r, const char *name, const char *help,
                                  size_t n_labels, const char *const *label_names);
selfmon_family_t *selfmon_gauge(selfmon_registry_t *r, const char *name, const char *help,
                                size_t n_labels, const char *const *label_names);
selfmon_family_t *selfmon_histogram(selfmon_registry_t *r, const char *name, const char *help,
                                    size_t n_labels, const char *const *label_names,
                                    size_t n_buckets, const double *buckets);

/* The child for these label values (n_labels strings, copied on creation); created on first use.
 * Thread-safe; lookups take the family's lock, so hot paths should keep the returned pointer. */
selfmon_metric_t *selfmon_with(selfmon_family_t *f, const char *const *label_values);
/* The child of a family without labels. */
selfmon_metric_t *selfmon_metric(selfmon_family_t *f);

void selfmon_counter_inc(selfmon_metric_t *m);
void selfmon_counter_add(selfmon_metric_t *m, double v); /* v >= 0; negative values are ignored */
void selfmon_gauge_set(selfmon_metric_t *m, double v);
void selfmon_histogram_observe(selfmon_metric_t *m, double v);
/* Current value (sum of shards for counters; observation count for histograms). */
double selfmon_value(const selfmon_metric_t *m);

/* A family without labels whose value is computed at scrape time by fn(ctx). */
typedef double (*selfmon_value_fn)(void *ctx);
selfmon_family_t *selfmon_func(selfmon_registry_t *r, selfmon_type_t type, const char *name,
                               const char *help, selfmon_value_fn fn, void *ctx);

/* Writes every family, sorted by name, in text format 0.0.4 or OpenMetrics 1.0 (with `# EOF`). */
void selfmon_write(selfmon_registry_t *r, vg_buf_t *out, bool openmetrics);
/* Appends s escaped for the text exposition format: backslash and newline always, '"' when quote (a
 * label value; HELP text leaves it). */
void selfmon_escape(vg_buf_t *b, const char *s, bool quote);

/* Content types of the two formats. */
#define SELFMON_CT_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define SELFMON_CT_OPENMETRICS "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* Registers the process_* metrics (CPU, RSS, virtual memory, open and max fds, start time) read from
 * /proc at scrape time. */
void selfmon_register_process(selfmon_registry_t *r);

/* ---- component health ---- */
typedef enum { SELFMON_STARTING, SELFMON_UP, SELFMON_DEGRADED, SELFMON_DOWN } selfmon_status_t;

/* Sets a component's status and message (copied); creates the component on first use. At most
 * SELFMON_MAX_COMPONENTS components. */
#define SELFMON_MAX_COMPONENTS 32
void selfmon_health_set(const char *component, selfmon_status_t status, const char *message);
/* Copies a component's status/message; returns false for an unknown component. msg may be NULL. */
bool selfmon_health_get(const char *component, selfmon_status_t *status, char *msg, size_t msg_cap);
/* Calls fn for every component in registration order. */
void selfmon_health_each(void (*fn)(void *ctx, const char *component, selfmon_status_t status,
                                    const char *message, double since),
                         void *ctx);
const char *selfmon_status_name(selfmon_status_t s);

#endif
