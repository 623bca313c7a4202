/* The Grafana integration: a client for Grafana's HTTP API that gives every vigil tenant its own Grafana
 * organisation (datasource, folder, dashboards, Viewer service account), service-account tokens,
 * dashboards from templates, public dashboards, datasources, alert rules, and provisioning files.
 *
 * Invariants:
 *  - One Grafana organisation per tenant, named "vigil-<tenant>": Grafana OSS lets every member of an
 *    organisation query every datasource of it, so isolation comes from the org's only datasource
 *    carrying a credential of that tenant (docs/grafana.md).
 *  - vigil acts in an org as the server admin (basic auth + X-Grafana-Org-Id); the service-account
 *    tokens it creates are handed to users and never logged. Secrets (admin password, tokens,
 *    datasource credentials) never appear in logs or error messages.
 *  - Every operation is a function of (client, tenant, inputs); a grafana_client_t is immutable after
 *    grafana_client_new() except for an internal, locked org-id cache, so one client serves all HTTP
 *    worker threads.
 *  - Failures come back as a VG_E* code plus a grafana_err_t carrying Grafana's HTTP status and
 *    message: no answer → VG_EUNAVAIL (VG_ETIMEOUT on timeout) with http_status 0; 5xx → VG_EUNAVAIL;
 *    400/422 → VG_EINVAL; 401 → VG_EAUTH; 403 → VG_EFORBIDDEN; 404 → VG_ENOTFOUND; 409 and 412
 *    (version conflict) → VG_EEXIST; 413 → VG_ETOOLARGE; 429 → VG_ERATELIMIT.
 *  - 5xx answers and connection errors are retried with exponential backoff and jitter, a bounded
 *    number of times; 4xx never are.
 *
 * Strings returned through `char **out` are owned by the caller: free with free(). JSON inputs are
 * borrowed for the duration of the call. */
#ifndef VG_GRAFANA_GRAFANA_H
#define VG_GRAFANA_GRAFANA_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A template variable: `${name}` / `$name` in any string of a dashboard becomes value. Borrowed. */
typedef struct grafana_var {
    const char *name;
    const char *value;
} grafana_var_t;

typedef struct grafana_config {
    const char *url;                 /* Grafana as vigil calls it, e.g. "http://grafana:3000" */
    const char *external_url;        /* Grafana as users open it (answers, public links); NULL = url */
    const char *admin_user;          /* a Grafana server admin (creates orgs) */
    const char *admin_password;      /* its password (secret), or NULL and: */
    const char *admin_password_file; /* a file holding it; read once, trailing newline dropped */
    const char *vigil_url;           /* vigil as Grafana's backend reaches it: the datasource URL */
    const char *dashboards_dir;      /* folder of dashboard templates (*.json); NULL = none */
    int64_t token_ttl_s;             /* service-account token lifetime; default 365 days */
    int64_t connect_timeout_ms;      /* default 2000 */
    int64_t timeout_ms;              /* whole request; default 10000 */
    int retries;                     /* extra attempts after a 5xx or connection error; default 3 */
    int64_t backoff_initial_ms;      /* first retry delay (doubles, ±50% jitter); default 200 */
    int64_t backoff_max_ms;          /* cap of one delay; default 5000 */
    size_t max_response_bytes;       /* larger answers fail with VG_ETOOLARGE; default 8 MiB */
    const grafana_var_t *vars;       /* configured template variables (e.g. cluster); borrowed */
    size_t n_vars;
} grafana_config_t;

/* Detail of a failed call. err.code is the return value; err.msg reads
 * "grafana: POST /api/dashboards/db: 412 version-mismatch: The dashboard has been changed by someone else". */
typedef struct grafana_err {
    vg_error_t err;
    int http_status; /* Grafana's HTTP status, 0 when Grafana did not answer */
    char reason[64]; /* errutil messageId or dashboard status ("version-mismatch"), else "" */
} grafana_err_t;

typedef struct grafana_client grafana_client_t;

/* Fills cfg with the defaults above (pointers NULL). */
void grafana_config_defaults(grafana_config_t *cfg);

/* Validates cfg, reads the password file and loads the templates of cfg->dashboards_dir. cfg and its
 * strings are copied. Returns 0 and *out (free with grafana_client_free), or VG_ECONFIG/VG_EIO/VG_EINVAL. */
int grafana_client_new(const grafana_config_t *cfg, grafana_client_t **out, vg_error_t *err);
void grafana_client_free(grafana_client_t *c);

/* Grafana's /api/health (no auth). 0 when the database is "ok"; VG_EUNAVAIL (http_status 503, or 0
 * when unreachable) otherwise. *out (optional) gets {"healthy":bool,"database":…,"version":…,"http_status":N,
 * "error":…} in both cases when non-NULL. */
int grafana_health(grafana_client_t *c, char **out, grafana_err_t *err);

/* ---- per-tenant provisioning ------------------------------------------------------------------- */

typedef struct grafana_provision_opts {
    const char *ds_header_name;  /* header Grafana sends to vigil, e.g. "Authorization" */
    const char *ds_header_value; /* its value, a tenant-scoped credential, e.g. "Bearer <jwt>" (secret);
                                    NULL: ds_credential gives it */
    /* Called at most once, only when the datasource must be written (created, repaired or rotated):
     * sets *value (borrowed until provisioning returns) or returns a VG_E* code that stops the run.
     * Lets a caller mint a credential only when Grafana will store it. */
    int (*ds_credential)(void *arg, const char **value, vg_error_t *err);
    void *ds_credential_arg;
    bool rotate_credential;      /* update the credential of an existing datasource too */
    const grafana_var_t *vars;   /* extra variables for the default dashboards (e.g. cluster) */
    size_t n_vars;
} grafana_provision_opts_t;

/* What a provisioning run did with the datasource credential. */
typedef enum {
    GRAFANA_CRED_KEPT = 0, /* not written: Grafana holds the credential it had before (if any) */
    GRAFANA_CRED_STORED,   /* Grafana now holds the credential of this run */
    GRAFANA_CRED_UNKNOWN,  /* a write failed in a way that may have reached Grafana: either may be live */
} grafana_cred_t;

typedef struct grafana_provision_result {
    int64_t org_id;             /* the tenant's Grafana organisation */
    grafana_cred_t credential;  /* set even when the run fails at a later step */
    int64_t service_account_id; /* metrics-<tenant>, role Viewer */
    int n_created;              /* objects this run created or repaired; 0 on an idempotent re-run */
    int n_dashboards;           /* default dashboards present in the folder */
} grafana_provision_result_t;

/* Brings the tenant's Grafana organisation to the provisioned state, creating only what is missing:
 * org "vigil-<tenant>" (vigil's admin an Admin of it), datasource "vigil" (uid "vigil", type
 * prometheus, URL cfg.vigil_url, the given credential header), folder "vigil", the default dashboards
 * (one per template, never overwritten once present), service account "metrics-<tenant>" (Viewer).
 * Safe to run any number of times; a run that fails midway leaves complete objects only, and the next
 * run finishes the job. tenant: [A-Za-z0-9._-]{1,64}. */
int grafana_tenant_provision(grafana_client_t *c, const char *tenant, const grafana_provision_opts_t *opts,
                             grafana_provision_result_t *out, grafana_err_t *err);

/* The tenant's Grafana org id (cached after the first lookup). VG_ENOTFOUND when not provisioned. */
int grafana_tenant_org(grafana_client_t *c, const char *tenant, int64_t *out, grafana_err_t *err);

/* ---- service-account tokens (POST /api/v1/metrics/grafana-token and friends) -------------------- */

typedef struct grafana_token {
    int64_t id;
    int64_t service_account_id;
    int64_t org_id;        /* Grafana org */
    int64_t seconds_to_live;
    char name[160];        /* metrics-<tenant>-token-<n> */
    char *key;             /* the secret "glsa_…", owned; grafana_token_deinit() wipes and frees it */
} grafana_token_t;

/* Finds or creates service account metrics-<tenant> (Viewer) in the tenant's org (which must be
 * provisioned: VG_ENOTFOUND otherwise) and creates token metrics-<tenant>-token-<n>, n one past the
 * highest in use. seconds_to_live 0 = cfg.token_ttl_s. A token whose answer was lost on the way
 * (Grafana created it, vigil never saw the key) is deleted and created again. */
int grafana_token_create(grafana_client_t *c, const char *tenant, int64_t seconds_to_live, grafana_token_t *out,
                         grafana_err_t *err);
void grafana_token_deinit(grafana_token_t *t);

/* The answer of POST /api/v1/metrics/grafana-token:
 * {"token","name","service_account_id","grafana_url","org_id","grafana_org_id","namespace","message",
 *  "expires_in_days"}. ns is the tenant's namespace (may be NULL). Contains the secret: never log it. */
int grafana_token_response(const grafana_client_t *c, const char *tenant, const char *ns, const grafana_token_t *t,
                           char **out);

/* [{"id","name","created","expires"|null,"last_used"|null,"expired":bool}] of the tenant's tokens. */
int grafana_token_list(grafana_client_t *c, const char *tenant, char **out, grafana_err_t *err);

/* Deletes token `token_id` of metrics-<tenant>; VG_ENOTFOUND when that account has no such token. */
int grafana_token_revoke(grafana_client_t *c, const char *tenant, int64_t token_id, grafana_err_t *err);

/* ---- dashboards ------------------------------------------------------------------------------- */

typedef struct grafana_dashboard_opts {
    const char *template_name; /* create from this template ("vigil-overview"), or NULL and: */
    const char *json;          /* a dashboard model, or {"dashboard":{…}} */
    size_t json_len;
    const char *uid;           /* NULL: <template uid>[-<cluster>] for a template, the model's uid for a
                                  given model, else generated */
    const char *folder_uid;    /* NULL = the tenant's "vigil" folder */
    const grafana_var_t *vars; /* request variables (cluster, …), over the configured ones */
    size_t n_vars;
    bool overwrite;            /* replace a dashboard with the same uid */
} grafana_dashboard_opts_t;

/* Renders and saves a new dashboard in the tenant's org; VG_EEXIST (412) when the uid is taken and
 * !overwrite. *out: {"uid","id","title","version","url"} (url absolute, external_url). */
int grafana_dashboard_create(grafana_client_t *c, const char *tenant, const grafana_dashboard_opts_t *o, char **out,
                             grafana_err_t *err);

/* [{"uid","title","url","folder_uid","tags"}] */
int grafana_dashboard_list(grafana_client_t *c, const char *tenant, char **out, grafana_err_t *err);

/* Grafana's {"dashboard":{…},"meta":{…}}. */
int grafana_dashboard_get(grafana_client_t *c, const char *tenant, const char *uid, char **out, grafana_err_t *err);

/* Saves json (a model or {"dashboard":…}) as dashboard uid. The model's "version" must be the stored
 * one unless overwrite: a stale version gives VG_EEXIST with http_status 412, reason "version-mismatch".
 * A missing dashboard gives VG_ENOTFOUND. *out as for create. */
int grafana_dashboard_update(grafana_client_t *c, const char *tenant, const char *uid, const char *json,
                             size_t json_len, bool overwrite, char **out, grafana_err_t *err);

int grafana_dashboard_delete(grafana_client_t *c, const char *tenant, const char *uid, grafana_err_t *err);

/* Makes the dashboard public (creates or enables its public-dashboard config; idempotent) and answers
 * {"uid","dashboard_uid","access_token","enabled":true,"url":"<external_url>/public-dashboards/<token>"}. */
int grafana_dashboard_publish(grafana_client_t *c, const char *tenant, const char *uid, char **out,
                              grafana_err_t *err);

/* Same answer for a dashboard that is public; VG_ENOTFOUND when it has no public config. */
int grafana_dashboard_public_get(grafana_client_t *c, const char *tenant, const char *uid, char **out,
                                 grafana_err_t *err);

/* [{"name","title","uid","variables":[…]}] of the loaded templates. */
int grafana_template_list(const grafana_client_t *c, char **out);

/* Substitutes vars in every string of the dashboard JSON (keys untouched): "${name}", "${name:fmt}"
 * and "$name" (not followed by [A-Za-z0-9_]). Entries of templating.list named like a substituted
 * variable are removed, the others kept; "id" is dropped. Later vars win over earlier ones. Pure;
 * *out is a compact JSON text. VG_EINVAL when json is not an object. */
int grafana_template_render(const char *json, size_t len, const grafana_var_t *vars, size_t n_vars, char **out,
                            vg_error_t *err);

/* ---- datasources and alert rules --------------------------------------------------------------- */

/* Whether a tenant may point a datasource at url: it lies under vigil_url or under one of the allow[]
 * prefixes (same scheme, host and port; path equal or below on a segment boundary). URLs with
 * userinfo, a query or fragment, "%", backslashes, dot segments or anything not plain ASCII are
 * refused; an allow[] entry that does not parse allows nothing. Pure. */
bool grafana_url_allowed(const char *url, const char *vigil_url, const char *const *allow, size_t n_allow);

/* Who creates a datasource: NULL or !restricted (an admin) may send any http(s) URL and type; a
 * restricted caller (a tenant) only type "prometheus" and a URL grafana_url_allowed() accepts for the
 * client's vigil_url and url_allow (VG_EFORBIDDEN otherwise, before anything is sent). Borrowed. */
typedef struct grafana_ds_policy {
    bool restricted;
    const char *const *url_allow; /* URL prefixes (grafana.datasource_url_allow) */
    size_t n_url_allow;
} grafana_ds_policy_t;

/* Creates a datasource in the tenant's org from a JSON body (Grafana's AddDataSourceCommand fields:
 * name and url required, type default "prometheus", access default "proxy"), within policy.
 * VG_EEXIST on a duplicate name. *out: Grafana's datasource (secrets as secureJsonFields booleans). */
int grafana_datasource_create(grafana_client_t *c, const char *tenant, const char *json, size_t len,
                              const grafana_ds_policy_t *policy, char **out, grafana_err_t *err);

/* The tenant's datasources (Grafana's list items), one of them (Grafana's DataSource: secrets only as
 * secureJsonFields booleans), and deletion. A restricted policy cannot delete vigil's own datasource
 * (uid "vigil": VG_EFORBIDDEN). uid: [A-Za-z0-9_-]{1,40} (VG_EINVAL); VG_ENOTFOUND when absent. */
int grafana_datasource_list(grafana_client_t *c, const char *tenant, char **out, grafana_err_t *err);
int grafana_datasource_get(grafana_client_t *c, const char *tenant, const char *uid, char **out, grafana_err_t *err);
int grafana_datasource_delete(grafana_client_t *c, const char *tenant, const char *uid,
                              const grafana_ds_policy_t *policy, grafana_err_t *err);

/* The tenant's Grafana-managed alert rules (provisioning API): list, one by uid, delete. */
int grafana_alert_rule_list(grafana_client_t *c, const char *tenant, char **out, grafana_err_t *err);
int grafana_alert_rule_get(grafana_client_t *c, const char *tenant, const char *uid, char **out, grafana_err_t *err);
int grafana_alert_rule_delete(grafana_client_t *c, const char *tenant, const char *uid, grafana_err_t *err);

/* Rule group of an alert rule whose body names none. */
#define GRAFANA_ALERT_DEFAULT_GROUP "vigil"

/* Alert-rule bodies: Grafana's provisioning fields (uid, title, ruleGroup, folderUID, condition, data,
 * for, noDataState, execErrState, labels, annotations, isPaused, notification_settings; orgID accepted
 * and ignored) or the seed API's snake_case aliases rule_group, folder_uid, for_duration, no_data_state,
 * exec_err_state, is_paused, mapped onto them. Both spellings of one field, or any other field, are
 * VG_EINVAL (the message names both spellings / every unknown field). A missing rule group is
 * GRAFANA_ALERT_DEFAULT_GROUP.
 *
 * grafana_alert_rule_normalize() maps and validates (as below) a body and sets *out (malloc'd) to the
 * rule under Grafana's names, without orgID.
 *
 * Checks an alert rule before anything is sent: title and ruleGroup 1–190 chars; uid (optional) ≤ 40
 * of [A-Za-z0-9_-]; "for" a duration string ("5m"); data[] non-empty with unique refIds, each
 * relativeTimeRange {from,to} numbers of seconds, from ≥ to ≥ 0, model an object; condition one of
 * the refIds; noDataState NoData|Alerting|OK|KeepLast, execErrState Error|Alerting|OK|KeepLast.
 * Returns 0 or VG_EINVAL with the first problem in err. */
int grafana_alert_rule_normalize(const char *json, size_t len, char **out, vg_error_t *err);
int grafana_alert_rule_validate(const char *json, size_t len, vg_error_t *err);

/* Validates and creates a Grafana-managed alert rule in the tenant's org through the provisioning
 * API. Defaults: folderUID the tenant's "vigil" folder, datasourceUid "vigil" for queries without one,
 * noDataState "NoData", execErrState "Error", uid generated (so retries cannot duplicate it); stored
 * editable in the UI (X-Disable-Provenance). *out: Grafana's rule. */
int grafana_alert_rule_create(grafana_client_t *c, const char *tenant, const char *json, size_t len, char **out,
                              grafana_err_t *err);

/* ---- provisioning files (vigil grafana provisioning-files DIR) ---------------------------------- */

typedef struct grafana_files_opts {
    int64_t org_id;              /* Grafana org the files provision; default 1 */
    const char *ds_header_name;  /* default "Authorization" */
    const char *ds_header_value; /* default "Bearer ${VIGIL_DATASOURCE_TOKEN}" (Grafana expands env) */
    const char *dashboards_path; /* where Grafana sees DIR/dashboards/vigil; default
                                    "/etc/grafana/provisioning/dashboards/vigil" */
} grafana_files_opts_t;

/* Writes DIR/datasources/vigil.yaml, DIR/dashboards/vigil.yaml (a file provider) and
 * DIR/dashboards/vigil/<template>.json (rendered with datasource "vigil" and cfg->vars). Creates the
 * folders; files are replaced atomically. o may be NULL. */
int grafana_provisioning_files_write(const grafana_config_t *cfg, const char *dir, const grafana_files_opts_t *o,
                                     vg_error_t *err);

#endif
