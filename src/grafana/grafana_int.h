/* Internals shared by the files of the grafana module: the client object, one HTTP request with
 * retries, JSON helpers over jansson, the template set and the names vigil gives Grafana objects.
 *
 * Invariants: grafana__request() returns 0 only for a 2xx answer; on any other outcome it fills err
 * (code, Grafana's status, message, reason) and still hands back the parsed body, so callers can
 * recognise "already exists" answers. Paths passed to it are built only from validated identifiers
 * (grafana__ident_ok / grafana__uid_ok) or numbers, never from raw user input. */
#ifndef VG_GRAFANA_GRAFANA_INT_H
#define VG_GRAFANA_GRAFANA_INT_H

#include "grafana/grafana.h"

#include <jansson.h>
#include <pthread.h>

#define GRAFANA__DS_UID "vigil"
#define GRAFANA__DS_NAME "vigil"
#define GRAFANA__FOLDER_UID "vigil"
#define GRAFANA__FOLDER_TITLE "vigil"
#define GRAFANA__NAME_MAX 160

/* One dashboard template: a parsed Grafana dashboard model and the file name it came from. */
typedef struct grafana__template {
    char *name; /* file name without ".json" */
    json_t *model;
} grafana__template_t;

typedef struct grafana__org_cache_entry {
    char *tenant;
    int64_t org_id;
} grafana__org_cache_entry_t;

struct grafana_client {
    grafana_config_t cfg; /* strings point into the owned copies below */
    char *url, *external_url, *admin_user, *admin_password, *vigil_url, *dashboards_dir;
    grafana_var_t *vars; /* owned copies */
    grafana__template_t *templates;
    size_t n_templates;
    pthread_mutex_t lock; /* guards org_cache */
    grafana__org_cache_entry_t *org_cache;
    size_t n_org_cache, cap_org_cache;
};

typedef enum { GRAFANA__AUTH_ADMIN, GRAFANA__AUTH_TOKEN, GRAFANA__AUTH_NONE } grafana__auth_t;

typedef struct grafana__req {
    const char *method; /* "GET", "POST", … */
    const char *path;   /* "/api/…", percent-safe */
    json_t *body;       /* borrowed; NULL = no body */
    grafana__auth_t auth;
    int64_t org_id;           /* > 0: X-Grafana-Org-Id (admin auth) */
    const char *token;        /* GRAFANA__AUTH_TOKEN: a service-account token (secret) */
    bool disable_provenance;  /* send X-Disable-Provenance */
    bool no_retry;            /* the caller handles retries itself */
} grafana__req_t;

typedef struct grafana__resp {
    long status;    /* last HTTP status, 0 = no answer */
    json_t *json;   /* owned (json_decref), NULL when the body was empty or not JSON */
    int attempts;
    bool ambiguous;  /* an earlier attempt failed after it may have reached Grafana */
    bool maybe_seen; /* the last attempt failed after it may have reached Grafana (5xx, lost answer) */
} grafana__resp_t;

void grafana__resp_deinit(grafana__resp_t *rs);

int grafana__request(grafana_client_t *c, const grafana__req_t *rq, grafana__resp_t *rs, grafana_err_t *err);

/* Whether a failed request can be retried (no answer, or 5xx). */
bool grafana__retryable(const grafana_err_t *err);
/* Sleeps the backoff before retry number `attempt` (1-based). */
void grafana__backoff(const grafana_client_t *c, int attempt);

void grafana__err_clear(grafana_err_t *err);
int grafana__err_set(grafana_err_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Tenant ids: [A-Za-z0-9._-]{1,64}. Grafana uids: [A-Za-z0-9_-]{1,40}. */
bool grafana__ident_ok(const char *s);
bool grafana__uid_ok(const char *s);
/* Whether s is 1..max bytes of [A-Za-z0-9_-] (and '.' when dot). */
bool grafana__charset_ok(const char *s, size_t max, bool dot);
/* A thread-local pseudo-random number (jitter, uids; not for secrets). */
uint64_t grafana__rand64(void);
int grafana__check_tenant(const char *tenant, grafana_err_t *err);

/* "vigil-<tenant>", "metrics-<tenant>". */
void grafana__org_name(const char *tenant, char out[GRAFANA__NAME_MAX]);
void grafana__sa_name(const char *tenant, char out[GRAFANA__NAME_MAX]);

/* Org-id cache. */
void grafana__org_cache_put(grafana_client_t *c, const char *tenant, int64_t org_id);
bool grafana__org_cache_get(grafana_client_t *c, const char *tenant, int64_t *out);

/* Finds service account metrics-<tenant> in org (exact name); creates it (Viewer) when create. Sets
 * *created. VG_ENOTFOUND when absent and !create. */
int grafana__sa_ensure(grafana_client_t *c, int64_t org, const char *tenant, bool create, int64_t *out_id,
                       bool *created, grafana_err_t *err);

/* Random lowercase hex uid of n chars (n < 40) into out[n + 1]. */
void grafana__random_uid(char *out, size_t n);

/* JSON helpers: integer or 0, string or NULL. */
int64_t grafana__jint(const json_t *obj, const char *key);
const char *grafana__jstr(const json_t *obj, const char *key);
/* Serialises j (compact, sorted keys kept as inserted) into a malloc'd string; VG_ENOMEM. */
int grafana__dump(const json_t *j, char **out);
/* Parses text as JSON with vigil's size bound; VG_EINVAL with jansson's message. */
int grafana__parse(const char *text, size_t len, json_t **out, vg_error_t *err);

/* Templates (template.c). */
int grafana__templates_load(const char *dir, grafana__template_t **out, size_t *n_out, vg_error_t *err);
void grafana__templates_free(grafana__template_t *t, size_t n);
const grafana__template_t *grafana__template_find(const grafana_client_t *c, const char *name);
/* Substitutes and sanitises model in place (see grafana_template_render). */
int grafana__render(json_t *model, const grafana_var_t *vars, size_t n_vars, vg_error_t *err);
/* The effective variables: configured ones, then the request's, then datasource=vigil unless given.
 * *out is malloc'd (free()), strings borrowed. */
int grafana__vars_merge(const grafana_client_t *c, const grafana_var_t *req, size_t n_req, grafana_var_t **out,
                        size_t *n_out);

/* Saves a dashboard model (POST /api/dashboards/db); *out_resp gets Grafana's answer. */
/* The tenant's organisation, created when missing (*created tells). */
int grafana__org_ensure(grafana_client_t *c, const char *tenant, int64_t *out, int *created, grafana_err_t *err);

int grafana__dashboard_save(grafana_client_t *c, int64_t org, json_t *model, const char *folder_uid, bool overwrite,
                            grafana__resp_t *rs, grafana_err_t *err);

#endif
