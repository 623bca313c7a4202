/* rules-internal: the runtime state of groups, rules and alerts shared by group.c (scheduling helpers,
 * the evaluation loop), recording.c, alerting.c, manager.c and api.c.
 *
 * Invariants: a group's runtime state (alerts, last series, health, timings) is written only by the
 * thread evaluating it, under the group's mutex for each update, and read by the API under the same
 * mutex. All times are Unix nanoseconds (0: never), as Prometheus keeps time.Time; samples are written
 * at ns / 1e6 ms. */
#ifndef VG_RULES_INT_H
#define VG_RULES_INT_H

#include "rules/rules.h"

#include "selfmon/selfmon.h"
#include "util/timeutil.h"

#include <pthread.h>

#define RULES__NS_PER_MS 1000000LL
/* How long a resolved alert is kept so it is sent as resolved (Prometheus' resolvedRetention). */
#define RULES__RESOLVED_RETENTION_NS (15LL * 60 * 1000000000LL)

typedef enum { RULES__HEALTH_UNKNOWN, RULES__HEALTH_OK, RULES__HEALTH_ERR } rules__health_t;

/* A label set owned in one allocation (model_labels_dup) with its hash. */
typedef struct rules__lset {
    model_label_t *v;
    size_t n;
    uint64_t hash;
} rules__lset_t;

typedef struct rules__alert {
    rules__lset_t labels;      /* alertname + the rule's labels over the sample's (no __name__) */
    rules__lset_t annotations; /* expanded */
    rules_alert_state_t state;
    double value;
    int64_t active_at, fired_at, resolved_at, last_sent_at, valid_until, keep_firing_since;
} rules__alert_t;

typedef struct rules__rule {
    const rules_rule_spec_t *spec; /* borrowed from the group's spec */
    char *query;                   /* the expression as Prometheus prints it (API `query`) */
    rules__health_t health;
    char last_error[VG_ERROR_MSG_MAX];
    int64_t last_eval;  /* ns */
    double eval_seconds;
    rules__alert_t *alerts; /* alerting rules: active (pending, firing, recently resolved) */
    size_t n_alerts, cap_alerts;
    bool restored;          /* alerting rules: ALERTS samples are written */
    rules__lset_t *prev;    /* series written by the last successful evaluation */
    size_t n_prev;
} rules__rule_t;

struct rules_group {
    rules_group_spec_t spec; /* owned copy */
    char *tenant;            /* NULL: an operator group */
    bool api;                /* added through rules_manager_set_group, not from rule_files */
    int64_t interval_ms;
    rules__rule_t *rules;
    size_t n_rules;
    bool should_restore;
    int n_evals;
    pthread_mutex_t mu;
    int64_t last_eval; /* ns, wall time the last evaluation started */
    double eval_seconds;
    /* scheduling (manager thread only) */
    int64_t next_ts; /* ns; 0: not scheduled yet */
    bool busy;
    /* self-metrics, labelled rule_group="<file>;<name>" as Prometheus' GroupKey */
    selfmon_metric_t *m_evals, *m_failures, *m_last_duration, *m_missed, *m_last_eval, *m_samples, *m_interval;
};

/* The wall clock in Unix ns. */
int64_t rules__now_ns(void);

/* Copies a label set into one allocation with its hash; 0 or VG_ENOMEM. */
int rules__lset_make(rules__lset_t *out, const model_label_t *v, size_t n);
void rules__lset_free(rules__lset_t *l);

/* One evaluation's output: samples to append (labels borrowed from the arena). */
typedef struct rules__sample {
    const model_label_t *labels; /* sorted */
    size_t n_labels;
    double v;
} rules__sample_t;

typedef struct rules__vec {
    rules__sample_t *v;
    size_t n, cap;
} rules__vec_t;
int rules__vec_push(rules__vec_t *vec, vg_arena_t *a, const model_label_t *labels, size_t n, double v);

/* The rule's expression evaluated at ts as Prometheus' rule query function does: a vector, or a
 * scalar as a one-sample vector without labels; anything else is an error. */
int rules__query(rules_group_t *g, const rules_env_t *env, const char *expr, int64_t ts_ns, vg_arena_t *arena,
                 promql_series_t **out, size_t *n_out, vg_error_t *err);

/* recording.c: the samples of a recording rule at ts (name and labels applied, limit checked). */
int rules__record_eval(rules_group_t *g, rules__rule_t *r, const rules_env_t *env, int64_t ts_ns, vg_arena_t *arena,
                       rules__vec_t *out, vg_error_t *err);

/* alerting.c: runs the alert state machine for one evaluation at ts and fills out with the ALERTS and
 * ALERTS_FOR_STATE samples (when restored); the caller holds no lock (alerting takes g->mu to update). */
int rules__alert_eval(rules_group_t *g, rules__rule_t *r, const rules_env_t *env, int64_t ts_ns, vg_arena_t *arena,
                      rules__vec_t *out, vg_error_t *err);
/* Sends what needs sending (firing alerts every resend delay, resolved ones once) through env->send. */
void rules__alert_send(rules_group_t *g, rules__rule_t *r, const rules_env_t *env, int64_t ts_ns);
/* Restores `for` state from ALERTS_FOR_STATE (Prometheus' RestoreForState) and marks rules restored. */
void rules__restore(rules_group_t *g, const rules_env_t *env, int64_t ts_ns);
/* The highest state of the rule's active alerts. */
rules_alert_state_t rules__rule_state(const rules__rule_t *r);
void rules__rule_free_state(rules__rule_t *r);

/* expand.c: alert templates. Expands text (a label or annotation value) for one alert into arena
 * (on an execution error, Prometheus' "<error expanding template: …>"). */
const char *rules__expand(const rules_group_t *g, const rules_rule_spec_t *rule, const rules_env_t *env, const char *text,
                          const model_label_t *labels, size_t n_labels, double value, int64_t ts_ns, vg_arena_t *arena);
/* Validates a template of a label or annotation while a file is read (what: "label"/"annotation");
 * appends a positioned error to errs. */
void rules__check_template(rules_errors_t *errs, const rules_label_t *l, const char *what, const char *rule_name,
                           const char *prefix);

/* api.c: whether f lets a caller see g, and g's JSON (nothing when a rule filter leaves no rule). */
bool rules__group_visible(const rules_group_t *g, const rules_filter_t *f);
void rules__group_write_json(rules_group_t *g, const rules_filter_t *f, vg_json_t *j);
void rules__group_write_alerts(rules_group_t *g, const rules_filter_t *f, vg_json_t *j);

/* api.c: RFC 3339 with nanoseconds, trailing zeros trimmed, as Go's time.Time marshals to JSON. */
void rules__json_time(vg_json_t *j, int64_t ns);

#endif
