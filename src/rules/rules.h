/* The rule engine: Prometheus rule files (recording and alerting rules in groups), their evaluation on
 * each group's interval at Prometheus' aligned instants, the alert state machine, and the state the
 * API shows. Semantics follow Prometheus 2.42 (rules/manager.go, group.go, alerting.go, recording.go).
 *
 * Three layers, each usable alone:
 *   - rule files: rules_file_parse/load → rules_file_t, every validation error positioned
 *     (FILE:LINE:COL) as `vigil check rules` prints them;
 *   - groups: rules_group_new from a group spec; rules_group_eval evaluates it once at an explicit
 *     timestamp through an explicit environment (executor, appender, notifier callback), which is what
 *     a `test rules` runner with a simulated clock drives;
 *   - the manager: one thread that schedules the groups of the config's rule_files (and groups added
 *     for tenants), reloads them keeping the state of unchanged groups, and answers the API.
 *
 * Tenant groups: a group may carry a tenant. Its expressions go through the environment's enforce hook
 * (the tenant's matcher, promql_enforce) before every execution, and it writes through the appender the
 * manager's hooks give for that tenant. Operator groups (from rule_files) have no tenant.
 *
 * Threading: a group is evaluated by one thread at a time; the read functions (rules_manager_*_json,
 * rules_group_write_json) may run on any thread concurrently with evaluation. */
#ifndef VG_RULES_RULES_H
#define VG_RULES_RULES_H

#include "config/config.h"
#include "model/labels.h"
#include "promql/executor.h"
#include "promql/promql.h"
#include "rules/notifier.h"
#include "tsdb/storage.h"
#include "util/arena.h"
#include "util/error.h"
#include "util/json.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- rule files ---- */

typedef struct rules_label {
    char *name, *value; /* owned */
    int line, col;      /* of the key */
} rules_label_t;

typedef struct rules_rule_spec {
    bool alert;                /* alerting rule (name is `alert`), else recording (name is `record`) */
    char *name;                /* owned */
    char *expr;                /* owned; as written */
    int64_t for_ms;            /* alerts: `for` */
    int64_t keep_firing_for_ms; /* alerts: `keep_firing_for` */
    rules_label_t *labels;     /* owned; sorted by name */
    size_t n_labels;
    rules_label_t *annotations; /* owned; sorted by name; alerts only */
    size_t n_annotations;
    int line, col;              /* of the rule's name value */
    int expr_line, expr_col;    /* of the expression */
} rules_rule_spec_t;

typedef struct rules_group_spec {
    char *name, *file;  /* owned; file as given to the loader */
    int64_t interval_ms; /* 0: the default (global.evaluation_interval) */
    int64_t limit;       /* 0: no limit */
    rules_rule_spec_t *rules;
    size_t n_rules;
    int line, col;
} rules_group_spec_t;

typedef struct rules_file {
    rules_group_spec_t *groups;
    size_t n_groups;
} rules_file_t;

/* One positioned problem of a rule file (line 0: no position). */
typedef struct rules_file_error {
    int line, col;
    char *msg; /* owned */
} rules_file_error_t;

typedef struct rules_errors {
    rules_file_error_t *v;
    size_t n;
} rules_errors_t;

/* Parses and validates a rule file as Prometheus 2.42 (`promtool check rules`) does: every error is
 * collected into errs (free with rules_errors_free), in file order. Returns 0 with *out (free with
 * rules_file_free), VG_EINVAL when errs has errors (*out NULL), VG_EIO, or VG_ENOMEM. name is stored as
 * each group's file. */
int rules_file_parse(const char *name, const char *text, size_t len, rules_file_t **out, rules_errors_t *errs);
int rules_file_load(const char *path, rules_file_t **out, rules_errors_t *errs);
void rules_file_free(rules_file_t *f);
void rules_errors_free(rules_errors_t *e);
/* Rules over all groups. */
size_t rules_file_count(const rules_file_t *f);
/* Deep copy of a group spec into out (free with rules_group_spec_deinit). 0 or VG_ENOMEM. */
int rules_group_spec_copy(const rules_group_spec_t *src, rules_group_spec_t *out);
void rules_group_spec_deinit(rules_group_spec_t *g);
/* Whether two specs define the same group (file, name, interval, limit and every rule). */
bool rules_group_spec_equal(const rules_group_spec_t *a, const rules_group_spec_t *b);

/* `vigil check rules FILE...`: argv[0] is the first file. Prints "Checking FILE" and "  SUCCESS: N
 * rules found" per good file (stdout), "FILE:LINE:COL: message" per error (stderr). Returns the exit
 * code: 0 all good, 1 any error, 2 usage. */
int rules_cmd_check(int argc, char **argv);

/* ---- rule unit tests ---- */

/* `vigil test rules FILE...` (argv[0] is the first file): Prometheus 2.42's rule unit-test format
 * (`promtool test rules`), each test on a fresh storage from `storage` (main.c plugs in the in-memory
 * TSDB). Prints "Unit Testing:  FILE" and "  SUCCESS" (stdout) or "  FAILED:" and the failures
 * (stderr) per file. Returns the exit code: 0 all passed, 1 any failure, 2 usage. */
int rules_cmd_test(int argc, char **argv, const promql_test_storage_t *storage);
/* One file of `test rules`, printing to out and errout. Returns 0 passed, 1 failed. */
int rules_unittest_run(const char *path, const promql_test_storage_t *storage, FILE *out, FILE *errout);
/* Parses a unit-test file's structure only: 0, or VG_EINVAL with errs (FILE-relative positions). */
int rules_unittest_check(const char *text, size_t len, rules_errors_t *errs);

/* ---- groups and their evaluation ---- */

typedef struct rules_group rules_group_t;

typedef enum { RULES_INACTIVE = 0, RULES_PENDING = 1, RULES_FIRING = 2 } rules_alert_state_t;

/* Rewrites a parsed expression for a tenant (the tenant's matcher on every selector). */
typedef int (*rules_enforce_fn)(void *ctx, const char *tenant, promql_node_t *root, vg_arena_t *arena, vg_error_t *err);
/* Receives the alerts to send (copied by the callee; valid for the call only). */
typedef void (*rules_send_fn)(void *ctx, const rules_alert_t *alerts, size_t n_alerts);
/* A querier over the storage, for restoring alerts' `for` state (tenant: the group's, or NULL). */
typedef int (*rules_querier_fn)(void *ctx, const char *tenant, int64_t mint, int64_t maxt, storage_querier_t **out,
                                vg_error_t *err);

/* What one evaluation reads, writes and notifies through (all borrowed for the call). */
typedef struct rules_env {
    promql_executor_t *exec;
    storage_appender_t *app;      /* committed after each rule, so a later rule reads an earlier one's output */
    rules_enforce_fn enforce;      /* required for a tenant group; NULL for operator groups */
    void *enforce_ctx;
    rules_send_fn send;            /* NULL: alerts are not sent */
    void *send_ctx;
    rules_querier_fn querier;      /* NULL: no `for` state restore (alerts start fresh) */
    void *querier_ctx;
    const model_label_t *external_labels; /* sorted, for templates */
    size_t n_external_labels;
    const char *external_url;      /* "" when none; generator URLs and templates */
    int64_t resend_delay_ms;       /* Prometheus' --rules.alert.resend-delay (1m) */
    int64_t outage_tolerance_ms;   /* --rules.alert.for-outage-tolerance (1h) */
    int64_t grace_period_ms;       /* --rules.alert.for-grace-period (10m) */
    int64_t query_timeout_ms;      /* 0: the executor's */
} rules_env_t;

/* A group from a spec (copied). default_interval_ms applies when the spec has none. tenant NULL: an
 * operator group. restore: the group's first evaluation writes no ALERTS samples and then restores
 * `for` state from ALERTS_FOR_STATE (as Prometheus does at startup); false: alerts start fresh and
 * are written from the first evaluation (groups added later). Free with rules_group_free. */
int rules_group_new(const rules_group_spec_t *spec, int64_t default_interval_ms, const char *tenant, bool restore,
                    rules_group_t **out, vg_error_t *err);
void rules_group_free(rules_group_t *g);
const rules_group_spec_t *rules_group_spec(const rules_group_t *g);
const char *rules_group_tenant(const rules_group_t *g);
int64_t rules_group_interval_ms(const rules_group_t *g);
/* Prometheus' group hash: labels {file=<file>, name=<name>} hashed as labels.Hash (XXH64 over
 * name 0xff value 0xff ... in label order). */
uint64_t rules_group_hash(const rules_group_t *g);
/* The aligned evaluation instant at or before now_ns (Prometheus' EvalTimestamp, nanoseconds):
 * offset = hash % interval; base = (now - offset) - ((now - offset) % interval); base + offset. */
int64_t rules_group_eval_timestamp(const rules_group_t *g, int64_t now_ns);
/* Evaluates every rule in order at ts_ns (Unix ns; samples are written at ts_ns / 1e6 ms). Returns the
 * number of rules that failed (their errors are kept per rule and counted in the self-metrics). */
int rules_group_eval(rules_group_t *g, const rules_env_t *env, int64_t ts_ns);
/* Moves the evaluation state (alerts, last series, health, timings) of the rules of `from` into `to`
 * (same spec), as a reload of an unchanged group does. */
void rules_group_take_state(rules_group_t *to, rules_group_t *from);
/* Writes stale markers at ts_ns for every series the group's last evaluation wrote (a group that goes
 * away on reload). Commits app. */
void rules_group_mark_stale(rules_group_t *g, storage_appender_t *app, int64_t ts_ns);

/* A snapshot of one rule's state, for tests and tools. */
typedef struct rules_alert_view {
    const model_label_t *labels; /* sorted */
    size_t n_labels;
    const model_label_t *annotations;
    size_t n_annotations;
    rules_alert_state_t state;
    double value;
    int64_t active_at_ns, fired_at_ns, resolved_at_ns;
} rules_alert_view_t;

/* Calls fn for every alert of rule i of g that is pending or firing (under the group's lock). */
void rules_group_each_alert(rules_group_t *g, size_t rule, void (*fn)(void *ctx, const rules_alert_view_t *a), void *ctx);
/* Rule i's health ("ok", "err", "unknown") and last error ("" when none). */
const char *rules_group_rule_health(rules_group_t *g, size_t rule, char *last_error, size_t cap);

/* ---- the API view ---- */

typedef struct rules_filter {
    int type;                      /* 0 all, 1 alerting only, 2 recording only */
    const char *const *rule_names; size_t n_rule_names;   /* empty: any */
    const char *const *groups;     size_t n_groups;
    const char *const *files;      size_t n_files;
    /* visibility: see_operator false hides groups without tenant; tenant non-NULL shows only that
     * tenant's groups */
    bool see_operator;
    const char *tenant;
    /* /api/v1/alerts: when label_name is set, an alert of any group is shown if it has label_name set
     * to one of label_values, and every alert of the groups `tenant` owns */
    const char *label_name;
    const char *const *label_values;
    size_t n_label_values;
} rules_filter_t;

/* ---- the manager ---- */

typedef struct rules_manager rules_manager_t;

typedef struct rules_manager_opts {
    promql_executor_t *exec; /* borrowed; outlives the manager */
    /* The appender for a group (tenant NULL: operator groups). Owned by the caller of the hook. */
    int (*appender)(void *ctx, const char *tenant, storage_appender_t **out, vg_error_t *err);
    void *appender_ctx;
    rules_enforce_fn enforce;
    void *enforce_ctx;
    rules_querier_fn querier;
    void *querier_ctx;
    rules_send_fn send;
    void *send_ctx;
    /* Optional: operator groups vigil builds itself from a config (e.g. the cluster thresholds), added
     * to those of the rule files on every load. *out NULL: none. Called without the manager's lock. */
    int (*builtin)(void *ctx, const config_t *cfg, rules_file_t **out, vg_error_t *err);
    void *builtin_ctx;
    bool no_thread; /* tests: no scheduling thread (evaluate with rules_manager_eval_due) */
} rules_manager_opts_t;

/* Creates the manager (and its thread unless opts->no_thread) and loads cfg's rule files (their
 * errors are returned in err; the manager then runs without them). Free with rules_manager_free. */
int rules_manager_new(const rules_manager_opts_t *opts, const config_t *cfg, rules_manager_t **out, vg_error_t *err);
/* Reload: re-reads cfg's rule_files (globs relative to the config file's directory). Unchanged groups
 * keep their state; removed groups get stale markers. On a rule-file error nothing changes and err
 * says FILE:LINE:COL: message. */
int rules_manager_apply(rules_manager_t *m, const config_t *cfg, vg_error_t *err);
/* Adds or replaces (same tenant, file and name) a tenant group; tenant must not be NULL. */
int rules_manager_set_tenant_group(rules_manager_t *m, const char *tenant, const rules_group_spec_t *spec,
                                   vg_error_t *err);
/* Removes a tenant group; VG_ENOTFOUND if it does not exist. */
int rules_manager_delete_tenant_group(rules_manager_t *m, const char *tenant, const char *file, const char *name);
/* Stops the thread and frees everything. */
void rules_manager_free(rules_manager_t *m);
/* Tests: evaluates every group whose next instant is <= now_ns at that instant. Returns how many ran. */
int rules_manager_eval_due(rules_manager_t *m, int64_t now_ns);
size_t rules_manager_n_groups(rules_manager_t *m);

/* /api/v1/rules `data` object ({"groups":[…]}) and /api/v1/alerts `data` ({"alerts":[…]}), in
 * Prometheus 2.42's shapes. */
void rules_manager_write_rules_json(rules_manager_t *m, const rules_filter_t *f, vg_json_t *j);
void rules_manager_write_alerts_json(rules_manager_t *m, const rules_filter_t *f, vg_json_t *j);

#endif
