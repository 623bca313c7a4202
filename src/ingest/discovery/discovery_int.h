/* What the files of src/ingest/discovery/ share: the provider (one SD config of one job, run on its
 * own thread), publishing, sleeping until stopped, and the libcurl request setup every HTTP-based
 * provider uses (auth, TLS, redirects, bounded bodies).
 *
 * Files: discovery.c (manager, group lists, views), http_client.c (request setup and a blocking GET
 * that a stop interrupts), http_sd.c, dns_sd.c, kubernetes.c (objects → target groups per role),
 * k8s_watch.c (list + watch, the event stream, in-cluster configuration).
 *
 * A provider's thread owns everything in the provider except `groups`, `gen` and `reported`, which the
 * manager's mutex guards. `stop` is set once, by the manager, which then wakes the thread (condition
 * variable and curl_multi_wakeup) and joins it. */
#ifndef VG_INGEST_DISCOVERY_INT_H
#define VG_INGEST_DISCOVERY_INT_H

#include "ingest/discovery/discovery.h"
#include "selfmon/selfmon.h"
#include "util/buf.h"

#include <curl/curl.h>
#include <pthread.h>

typedef enum { INGEST__SD_HTTP, INGEST__SD_DNS, INGEST__SD_K8S } ingest__sd_kind_t;

typedef struct ingest__sd_provider ingest__sd_provider_t;
struct ingest__sd_provider {
    ingest__sd_provider_t *next;
    ingest_sd_t *sd;
    char *job;         /* owned */
    char name[64];     /* "kubernetes_sd_configs[0]": logs and metrics */
    int kind;          /* ingest__sd_kind_t */
    size_t idx;
    uint64_t fingerprint;
    config_t *cfg;     /* ref: conf points into it */
    const void *conf;  /* config_http_sd_t / config_dns_sd_t / config_k8s_sd_t */
    pthread_t thread;
    bool started;
    _Atomic bool stop;
    pthread_mutex_t mu; /* with cv: sleeping between refreshes */
    pthread_cond_t cv;
    CURLM *multi;       /* the thread's transfers; curl_multi_wakeup interrupts a wait */
    selfmon_metric_t *m_failures;
    uint64_t published_hash; /* of the groups last published (the provider's thread only) */
    /* under the manager's mutex */
    ingest_sd_groups_t *groups;
    uint64_t gen;
    bool reported;
};

/* Replaces the provider's published groups with g (takes the reference) and wakes the scraper. */
void ingest__sd_publish(ingest__sd_provider_t *p, ingest_sd_groups_t *g);
/* Sleeps up to ms; returns true when the provider is being stopped. */
bool ingest__sd_sleep(ingest__sd_provider_t *p, int64_t ms);
static inline bool ingest__sd_stopping(ingest__sd_provider_t *p) { return atomic_load(&p->stop); }
/* Counts one failed refresh/request in vigil_sd_failures_total{mechanism,job,config}. */
void ingest__sd_fail(ingest__sd_provider_t *p);

/* The thread bodies (arg: the provider). */
void *ingest__http_sd_run(void *arg);
void *ingest__dns_sd_run(void *arg);
void *ingest__k8s_run(void *arg);

/* ---- http_client.c ---- */

/* One request's settings. Credentials come from http (secret files re-read at each request) unless
 * bearer is set (the in-cluster token); ca_file overrides http->tls_config.ca_file when set. */
typedef struct ingest__sd_req {
    const char *url;
    const config_http_client_t *http;
    const char *bearer, *ca_file;
    const char *accept;
    const char *extra_header; /* one more "Name: value" header, or NULL */
    long timeout_ms;  /* whole transfer; 0: none (a watch) */
    size_t max_body;  /* past it the transfer fails (VG_ETOOLARGE) */
    /* streaming: called with the body's bytes when the status is 200, instead of collecting them;
     * returns 0 to go on, non-zero to abort the transfer */
    int (*on_data)(void *ctx, const char *p, size_t n);
    void *ctx;
} ingest__sd_req_t;

/* A transfer's state on a multi handle. */
typedef struct ingest__sd_xfer {
    CURL *easy;
    struct curl_slist *headers;
    const ingest__sd_req_t *rq;
    vg_buf_t body;        /* non-200 bodies and (without on_data) the response */
    bool too_large, aborted;
    char err[CURL_ERROR_SIZE];
    void *owner;          /* the caller's (CURLINFO_PRIVATE points at the xfer) */
} ingest__sd_xfer_t;

/* Prepares x for rq (rq must outlive the transfer). Returns 0 or <0 with err. */
int ingest__sd_xfer_setup(ingest__sd_xfer_t *x, const ingest__sd_req_t *rq, vg_error_t *err);
/* Judges a finished transfer: 0 with *status (any HTTP status), or <0 with err (no answer, too large). */
int ingest__sd_xfer_result(ingest__sd_xfer_t *x, CURLcode cc, long *status, vg_error_t *err);
void ingest__sd_xfer_cleanup(ingest__sd_xfer_t *x);
/* A blocking GET on p->multi; a stop aborts it (VG_ECANCELED). On 0, *status and x->body are set
 * (call ingest__sd_xfer_cleanup after). */
int ingest__sd_get(ingest__sd_provider_t *p, const ingest__sd_req_t *rq, ingest__sd_xfer_t *x, long *status, vg_error_t *err);

#endif
