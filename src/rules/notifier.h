/* The Alertmanager notifier: a bounded queue of alerts sent in batches to every configured
 * Alertmanager (`alerting: alertmanagers:` static configs) with Alertmanager's v2 API
 * (POST <scheme>://<host><path_prefix>/api/v2/alerts, JSON array), after `alert_relabel_configs` and
 * with the external labels attached, as Prometheus 2.42 does:
 *   - queue capacity `alerting.notification_queue_capacity` (default 10,000); when full the oldest
 *     alerts are dropped and counted;
 *   - batches of at most 64 alerts; each Alertmanager set gets every batch; a failed POST is counted
 *     per Alertmanager and not retried (the rule manager re-sends firing alerts every minute anyway);
 *   - self-metrics `vigil_notifications_queue_length`, `vigil_notifications_queue_capacity`,
 *     `vigil_notifications_dropped_total`, `vigil_notifications_sent_total{alertmanager}`,
 *     `vigil_notifications_errors_total{alertmanager}`, `vigil_notifications_alertmanagers_discovered`.
 * The rule engine builds the alerts (labels already carry the tenant label when tenancy is on). */
#ifndef VG_RULES_NOTIFIER_H
#define VG_RULES_NOTIFIER_H

#include "config/config.h"
#include "model/labels.h"
#include "util/buf.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rules_alert {
    const model_label_t *labels; /* sorted */
    size_t n_labels;
    const model_label_t *annotations; /* sorted by name */
    size_t n_annotations;
    int64_t starts_at_ms;
    int64_t ends_at_ms;  /* 0: unset (firing, no end known) */
    const char *generator_url;
} rules_alert_t;

typedef struct rules_notifier rules_notifier_t;

/* Starts the sender thread. The config is read at start and at every rules_notifier_apply. */
int rules_notifier_new(const config_t *cfg, rules_notifier_t **out, vg_error_t *err);
/* Applies a reloaded config (Alertmanager list, relabeling, external labels); queued alerts are kept. */
int rules_notifier_apply(rules_notifier_t *n, const config_t *cfg, vg_error_t *err);
/* Copies the alerts into the queue (relabeled; an alert the relabeling drops is not queued). Never
 * blocks on the network. */
void rules_notifier_send(rules_notifier_t *n, const rules_alert_t *alerts, size_t n_alerts);
/* Sends what is queued (bounded by timeout_ms) and stops the thread. */
void rules_notifier_free(rules_notifier_t *n, int64_t timeout_ms);

/* For /api/v1/alertmanagers: the active and dropped Alertmanager URLs (strings malloc'd; free each
 * and the arrays). */
int rules_notifier_alertmanagers(rules_notifier_t *n, char ***active, size_t *n_active, char ***dropped,
                                 size_t *n_dropped);

/* The batch size of one POST. */
#define RULES_NOTIFIER_MAX_BATCH 64

/* Waits until the queue is empty and no batch is in flight (or timeout_ms passed); returns whether it
 * drained. For tests and tools that must know the alerts went out. */
bool rules_notifier_flush(rules_notifier_t *n, int64_t timeout_ms);

/* This notifier's counts since it was created (the self-metrics sum every notifier of the process). */
typedef struct rules_notifier_stats {
    uint64_t queue_length, queue_capacity;
    uint64_t dropped; /* queue overflow, and batches no Alertmanager of some set accepted */
    uint64_t sent;    /* alerts accepted (2xx), summed over Alertmanagers */
    uint64_t errors;  /* alerts in failed POSTs, summed over Alertmanagers */
    uint64_t posts;   /* POSTs attempted */
} rules_notifier_stats_t;
void rules_notifier_stats(rules_notifier_t *n, rules_notifier_stats_t *out);

/* Appends the JSON body Alertmanager's v2 API takes (POST /api/v2/alerts) for these alerts, as sent:
 * `annotations` (always), `endsAt` and `startsAt` (RFC 3339 UTC with milliseconds; left out when 0),
 * `generatorURL` (left out when NULL or ""), `labels`. */
void rules_notifier_encode(const rules_alert_t *alerts, size_t n_alerts, vg_buf_t *out);

#endif
