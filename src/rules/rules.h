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
 *   - the manager: a pool of threads that evaluates the groups of the config's rule_files (and groups
 *     added through the API, for tenants or unscoped) concurrently, each on its own schedule, reloads
 *     them keeping the state of unchanged groups, and answers the API;
 *   - the ruler's store (store.c): the API's groups as rule files under a directory, one per owner
 *     and namespace, with escaped names and atomic writes.
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
#include "util/buf.h"
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
/* Parses and validates one rule group (a document whose top level is the group's mapping, as the ruler
 * API takes it), with the same checks and positioned errors as a rule file. file is stored as the
 * group's file. Returns 0 with *out (free with rules_group_spec_deinit), VG_EINVAL with errs, or
 * VG_ENOMEM. */
int rules_group_parse(const char *file, const char *text, size_t len, rules_group_spec_t *out, rules_errors_t *errs);

/* Rule groups back to YAML in the rule-file format (keys in Prometheus' order, labels sorted,
 * durations as Prometheus prints them), appended to out; what rules_file_parse / rules_group_parse
 * read back as the same specs (rules_group_spec_equal). 0 or VG_ENOMEM. */
int rules_group_write_yaml(const rules_group_spec_t *g, vg_buf_t *out);  /* one group's mapping */
int rules_file_write_yaml(const rules_group_spec_t *groups, size_t n, vg_buf_t *out); /* groups: [...] */
/* A map of namespace → list of groups (the ruler API's listing), in the order given. */
typedef struct rules_namespaces {
    const char *const *names;
    const rules_group_spec_t *const *groups; /* groups[i]: the n_groups[i] groups of names[i] */
    const size_t *n_groups;
    size_t n;
} rules_namespaces_t;
int rules_namespaces_write_yaml(const rules_namespaces_t *ns, vg_buf_t *out);
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
    /* A tenant group's label (the tenant's enforced label and its allowed values, n >= 1): every alert
     * of the group carries it — an allowed value the alert already has is kept, anything else (none,
     * another tenant's) becomes forced_values[0] — so the alerts sent, shown and written as ALERTS
     * name their tenant. NULL: alerts keep their labels. */
    const char *forced_label;
    const char *const *forced_values;
    size_t n_forced_values;
    int64_t resend_delay_ms;       /* Prometheus' --rules.alert.resend-delay (1m) */
    int64_t outage_tolerance_ms;   /* --rules.alert.for-outage-tolerance (1h) */
    int64_t grace_period_ms;       /* --rules.alert.for-grace-period (10m) */
    int64_t query_timeout_ms;      /* 0: the executor's */
    int64_t (*clock)(void *ctx);   /* Unix ns "now" (the restore's reference time); NULL: the wall clock */
    void *clock_ctx;
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

/* ---- the ruler's store (store.c): groups uploaded through the ruler API, one rule file per owner and
 * namespace under a root directory, written atomically; layout and escaping in docs/api.md ---- */

/* Longest escaped name (an owner, a namespace) the store takes: a file name must fit NAME_MAX with its
 * ".yml.tmp" suffix. */
#define RULES_STORE_ESCAPED_MAX 240

/* name → its escaped form in out ([A-Za-z0-9_-] kept, every other byte %XX): 0, or VG_EINVAL when name
 * is empty or its escaped form is longer than RULES_STORE_ESCAPED_MAX or than cap - 1. */
int rules_store_escape(const char *name, char *out, size_t cap);
/* The inverse over esc[0..len): 0, or VG_EINVAL for anything rules_store_escape does not produce. */
int rules_store_unescape(const char *esc, size_t len, char *out, size_t cap);
/* Replaces the namespace ns of owner (NULL: the unscoped owner) by groups, atomically (temp file,
 * fsync, rename, fsync of the directory); n 0 removes it. 0, VG_EINVAL (a name too long), VG_EIO or
 * VG_ENOMEM with err set. */
int rules_store_write(const char *root, const char *owner, const char *ns, const rules_group_spec_t *groups, size_t n,
                      vg_error_t *err);
/* Called once per stored namespace; f (each group's file is ns) is the callee's: rules_file_free. */
typedef void (*rules_store_fn)(void *ctx, const char *owner, const char *ns, rules_file_t *f);
/* Reads every namespace under root (a missing root is empty). Files that cannot be read or parsed are
 * logged and skipped; leftover temp files are removed. Returns the number of namespaces loaded, or
 * VG_EIO when root cannot be listed. */
int rules_store_load(const char *root, rules_store_fn fn, void *ctx, vg_error_t *err);

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
    /* A tenant group's forced label (rules_env_t.forced_label), filled into arena for one evaluation.
     * NULL: tenant alerts keep their labels. A failure skips the evaluation. */
    int (*tenant_label)(void *ctx, const char *tenant, vg_arena_t *arena, const char **name, const char *const **values,
                        size_t *n_values, vg_error_t *err);
    void *tenant_label_ctx;
    /* Unix ns "now" for what is timestamped outside an evaluation instant (a removed group's stale
     * markers, the restore's reference time); NULL: the wall clock. Tests with no_thread set it. */
    int64_t (*clock)(void *ctx);
    void *clock_ctx;
    /* Optional: operator groups vigil builds itself from a config (e.g. the cluster thresholds), added
     * to those of the rule files on every load. *out NULL: none. Called without the manager's lock. */
    int (*builtin)(void *ctx, const config_t *cfg, rules_file_t **out, vg_error_t *err);
    void *builtin_ctx;
    bool no_thread; /* tests: no evaluation threads (evaluate with rules_manager_eval_due) */
} rules_manager_opts_t;

/* Creates the manager (and its rules.evaluation_concurrency evaluation threads unless opts->no_thread;
 * the count is fixed until the manager is freed) and loads cfg's rule files (their errors are returned
 * in err; the manager then runs without them). Free with rules_manager_free. */
int rules_manager_new(const rules_manager_opts_t *opts, const config_t *cfg, rules_manager_t **out, vg_error_t *err);
/* Reload: re-reads cfg's rule_files (globs relative to the config file's directory). Unchanged groups
 * keep their state; a changed group keeps its remaining rules' state and its next evaluation marks the
 * series of its removed rules stale; a removed group's series get stale markers timestamped now,
 * written two of its intervals later (dropped if the manager is freed first). On a rule-file error
 * nothing changes and err says FILE:LINE:COL: message. */
int rules_manager_apply(rules_manager_t *m, const config_t *cfg, vg_error_t *err);
/* Adds or replaces (same owner, file and name) a group owned by the API rather than by rule_files: a
 * reload of rule_files leaves it alone, and it never matches a rule-file group of the same file and
 * name. tenant: the group's tenant (expressions enforced, the tenant's appender, its forced label);
 * NULL: an unscoped group, evaluated as the operator's are. restore: as rules_group_new's (groups
 * loaded from storage at startup restore their alerts' `for` state). */
int rules_manager_set_group(rules_manager_t *m, const char *tenant, const rules_group_spec_t *spec, bool restore,
                            vg_error_t *err);
/* Removes a group added by rules_manager_set_group; VG_ENOTFOUND if it does not exist. */
int rules_manager_delete_group(rules_manager_t *m, const char *tenant, const char *file, const char *name);
/* The same for a tenant (tenant must not be NULL; no restore). */
int rules_manager_set_tenant_group(rules_manager_t *m, const char *tenant, const rules_group_spec_t *spec,
                                   vg_error_t *err);
int rules_manager_delete_tenant_group(rules_manager_t *m, const char *tenant, const char *file, const char *name);
/* Stops the threads and frees everything. */
void rules_manager_free(rules_manager_t *m);
/* Tests: writes the removed groups' stale markers due at now_ns, then evaluates every group whose next
 * instant is <= now_ns at that instant. Returns how many groups ran. */
int rules_manager_eval_due(rules_manager_t *m, int64_t now_ns);
size_t rules_manager_n_groups(rules_manager_t *m);

/* /api/v1/rules `data` object ({"groups":[…]}) and /api/v1/alerts `data` ({"alerts":[…]}), in
 * Prometheus 2.42's shapes. */
void rules_manager_write_rules_json(rules_manager_t *m, const rules_filter_t *f, vg_json_t *j);
void rules_manager_write_alerts_json(rules_manager_t *m, const rules_filter_t *f, vg_json_t *j);

#endif
