/* The Kubernetes provider: for each resource its role needs (pod: pods; endpoints: endpoints, pods and
 * services; endpointslice: discovery.k8s.io/v1 endpointslices, pods and services; node: nodes; service:
 * services; ingress: networking.k8s.io/v1 ingresses) and each namespace it watches (or all), an
 * *informer* keeps a store of the objects current with the API's list + watch protocol:
 *
 *   LIST   GET <path>?limit=500[&continue=…][&labelSelector=…&fieldSelector=…] page by page into a fresh
 *          store, which replaces the old one whole when the last page is in; the list's
 *          metadata.resourceVersion is where the watch starts.
 *   WATCH  GET <path>?watch=1&allowWatchBookmarks=true&resourceVersion=<rv>&timeoutSeconds=<300..599>:
 *          newline-delimited events ADDED / MODIFIED / DELETED / BOOKMARK update the store and rv;
 *          ERROR with code 410, or a 410 answer, means rv is too old: LIST again. A watch the server ends
 *          is resumed from rv at once.
 *   errors (no answer, 401/403/5xx, a malformed page): logged, counted in vigil_sd_failures_total, and
 *          retried after an exponential back-off (500ms doubling to 30s, reset by a successful list);
 *          the stores — and so the targets — stay as they were.
 *
 * Once every informer has listed, every batch of changes rebuilds the role's groups from the stores
 * (ingest_k8s_build) and publishes them. Bounds: INGEST_K8S_MAX_OBJECTS objects per informer,
 * INGEST_K8S_MAX_EVENT bytes per event (a longer one is skipped and counted; its object keeps its old
 * state), INGEST_SD_MAX_RESPONSE bytes per list page.
 *
 * Without api_server the in-cluster configuration is used: https://$KUBERNETES_SERVICE_HOST:
 * $KUBERNETES_SERVICE_PORT, the service account's token (re-read for every request: it rotates) and CA
 * from /var/run/secrets/kubernetes.io/serviceaccount, whose namespace file own_namespace also reads.
 * VIGIL_K8S_SERVICEACCOUNT_DIR replaces that directory — a test hook, not a setting. */
#include "discovery_int.h"

#include "util/log.h"
#include "util/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

enum { ST_IDLE, ST_LISTING, ST_WATCHING };

typedef struct informer {
    int res;          /* the config role naming the resource: pod, service, endpoints, … */
    const char *ns;   /* NULL: all namespaces */
    const char *label_sel, *field_sel;
    json_t *store, *pending;
    bool synced, in_flight, relist, event_error;
    int state;
    char rv[128];
    char *cont;       /* list continue token (owned) */
    int64_t backoff_ms;
    uint64_t retry_at_ns, started_ns;
    char url[4096];
    ingest__sd_req_t rq;
    ingest__sd_xfer_t x;
    ingest_k8s_lines_t lines;
    struct k8s *k;
} informer_t;

typedef struct k8s {
    ingest__sd_provider_t *p;
    const config_k8s_sd_t *c;
    char base[1024];
    char sa_dir[1024];
    char token[8192]; /* in-cluster: the service account token, re-read for each request */
    char ca[1100];
    bool in_cluster, dirty;
    char *own_ns; /* own_namespace: read from the service account directory (owned) */
    informer_t *inf;
    size_t n_inf;
} k8s_t;

static const char *resource_name(int res) {
    static const char *const names[] = {"endpoints", "endpointslices", "nodes", "pods", "services", "ingresses"};
    return res >= 0 && res < CONFIG_K8S_N_ROLES ? names[res] : "?";
}

static const char *api_group(int res) {
    return res == CONFIG_K8S_ENDPOINTSLICE ? "/apis/discovery.k8s.io/v1"
           : res == CONFIG_K8S_INGRESS     ? "/apis/networking.k8s.io/v1"
                                           : "/api/v1";
}

static bool read_file(const char *path, char *out, size_t cap) {
    FILE *fp = fopen(path, "r");
    if (!fp) return false;
    size_t n = fread(out, 1, cap - 1, fp);
    fclose(fp);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ')) n--;
    out[n] = '\0';
    return true;
}

static void append_query(CURL *esc, char *url, size_t cap, const char *key, const char *value) {
    char *e = curl_easy_escape(esc, value, 0);
    size_t n = strlen(url);
    snprintf(url + n, cap - n, "%s%s=%s", strchr(url, '?') ? "&" : "?", key, e ? e : "");
    curl_free(e);
}

static void fail(informer_t *in, const char *what, const char *msg) {
    ingest__sd_fail(in->k->p);
    vg_log_error("discovery", what, VG_LS("job", in->k->p->job), VG_LS("config", in->k->p->name),
                 VG_LS("resource", resource_name(in->res)),
                 VG_LS("namespace", in->ns ? in->ns : ""), VG_LS("err", msg));
    in->retry_at_ns = vg_mono_ns() + (uint64_t)in->backoff_ms * 1000000u;
    in->backoff_ms = in->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : in->backoff_ms * 2;
}

static int on_line(void *ctx, const char *line, size_t len) {
    informer_t *in = ctx;
    int code;
    vg_error_t err;
    int rc = ingest_k8s_apply_event(in->store, line, len, INGEST_K8S_MAX_OBJECTS, in->rv, sizeof in->rv, &code, &err);
    if (rc == INGEST_K8S_ERROR) {
        if (code == 410) in->relist = true;
        else in->event_error = true;
        return 1; /* end this watch */
    }
    if (rc < 0) {
        ingest__sd_fail(in->k->p);
        vg_log_warn("discovery", "skipping a watch event", VG_LS("job", in->k->p->job), VG_LS("err", err.msg));
        return 0;
    }
    if (rc != INGEST_K8S_BOOKMARK) in->k->dirty = true;
    return 0;
}

static int on_data(void *ctx, const char *p, size_t n) {
    informer_t *in = ctx;
    uint64_t before = in->lines.n_oversized;
    int rc = ingest_k8s_lines_feed(&in->lines, p, n, on_line, in);
    if (in->lines.n_oversized != before) {
        ingest__sd_fail(in->k->p);
        vg_log_warn("discovery", "skipping a watch event larger than the limit", VG_LS("job", in->k->p->job),
                    VG_LI("limit", INGEST_K8S_MAX_EVENT));
    }
    return rc;
}

static void start(informer_t *in) {
    k8s_t *k = in->k;
    char ns_part[600] = "";
    if (in->ns) snprintf(ns_part, sizeof ns_part, "namespaces/%s/", in->ns);
    snprintf(in->url, sizeof in->url, "%s%s/%s%s", k->base, api_group(in->res), ns_part, resource_name(in->res));
    CURL *esc = curl_easy_init();
    bool watch = in->synced && !in->relist && in->rv[0];
    if (watch) {
        char tmo[16];
        snprintf(tmo, sizeof tmo, "%d", 300 + rand() % 300);
        append_query(esc, in->url, sizeof in->url, "watch", "1");
        append_query(esc, in->url, sizeof in->url, "allowWatchBookmarks", "true");
        append_query(esc, in->url, sizeof in->url, "resourceVersion", in->rv);
        append_query(esc, in->url, sizeof in->url, "timeoutSeconds", tmo);
    } else {
        append_query(esc, in->url, sizeof in->url, "limit", "500");
        if (in->cont) append_query(esc, in->url, sizeof in->url, "continue", in->cont);
        if (!in->pending) in->pending = json_object();
    }
    if (in->label_sel && *in->label_sel) append_query(esc, in->url, sizeof in->url, "labelSelector", in->label_sel);
    if (in->field_sel && *in->field_sel) append_query(esc, in->url, sizeof in->url, "fieldSelector", in->field_sel);
    curl_easy_cleanup(esc);
    in->state = watch ? ST_WATCHING : ST_LISTING;
    in->relist = in->event_error = false;
    in->rq = (ingest__sd_req_t){.url = in->url, .http = k->in_cluster ? NULL : &k->c->http, .accept = "application/json",
                                .timeout_ms = watch ? 0 : 60000, .max_body = INGEST_SD_MAX_RESPONSE,
                                .on_data = watch ? on_data : NULL, .ctx = in};
    if (k->in_cluster) {
        char path2[1100];
        snprintf(path2, sizeof path2, "%s/token", k->sa_dir);
        if (!read_file(path2, k->token, sizeof k->token)) k->token[0] = '\0';
        in->rq.bearer = k->token[0] ? k->token : NULL;
        in->rq.ca_file = k->ca;
    }
    ingest_k8s_lines_deinit(&in->lines);
    ingest_k8s_lines_init(&in->lines, INGEST_K8S_MAX_EVENT);
    vg_error_t err;
    if (ingest__sd_xfer_setup(&in->x, &in->rq, &err) || curl_multi_add_handle(k->p->multi, in->x.easy) != CURLM_OK) {
        explicit_bzero(k->token, sizeof k->token);
        ingest__sd_xfer_cleanup(&in->x);
        fail(in, "cannot start a Kubernetes request", err.msg);
        in->state = ST_IDLE;
        return;
    }
    explicit_bzero(k->token, sizeof k->token);
    in->started_ns = vg_mono_ns();
    in->x.owner = in;
    in->in_flight = true;
}

/* One list page: items into in->pending; the last page replaces the store. Returns 0 or <0 with err. */
static int take_page(informer_t *in, vg_error_t *err) {
    json_error_t je;
    json_t *root = json_loadb(in->x.body.data ? in->x.body.data : "", in->x.body.len, 0, &je);
    if (!root) return vg_error_set(err, VG_EINVAL, "list: invalid JSON at line %d: %s", je.line, je.text);
    json_t *items = json_object_get(root, "items");
    if (!json_is_array(items) && !json_is_null(items)) {
        json_decref(root);
        return vg_error_set(err, VG_EINVAL, "list: no items");
    }
    size_t i;
    json_t *obj;
    int rc = 0;
    json_array_foreach(items, i, obj) {
        char key[600];
        if (!ingest_k8s_key(obj, key, sizeof key)) continue;
        if (json_object_size(in->pending) >= INGEST_K8S_MAX_OBJECTS) {
            rc = vg_error_set(err, VG_ELIMIT, "list: more than %u objects", INGEST_K8S_MAX_OBJECTS);
            break;
        }
        json_object_set(in->pending, key, obj);
    }
    const json_t *md = json_object_get(root, "metadata");
    const char *cont = json_string_value(json_object_get(md, "continue"));
    const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
    free(in->cont);
    in->cont = cont && *cont && !rc ? strdup(cont) : NULL;
    if (!rc && !in->cont) {
        snprintf(in->rv, sizeof in->rv, "%s", rv ? rv : "");
        json_decref(in->store);
        in->store = in->pending;
        in->pending = NULL;
        in->synced = true;
        in->k->dirty = true;
        in->backoff_ms = BACKOFF_MIN_MS;
    }
    json_decref(root);
    return rc;
}

static void finish(informer_t *in, CURLcode cc) {
    k8s_t *k = in->k;
    long status;
    vg_error_t err;
    vg_error_clear(&err);
    curl_multi_remove_handle(k->p->multi, in->x.easy);
    in->in_flight = false;
    int rc = ingest__sd_xfer_result(&in->x, cc, &status, &err);
    char msg[VG_ERROR_MSG_MAX + 200];
    if (!rc && status != 200) {
        const char *body = in->x.body.data ? in->x.body.data : "";
        json_t *st = json_loadb(body, in->x.body.len, 0, NULL);
        snprintf(msg, sizeof msg, "%.300s: server returned HTTP status %ld%s%.300s", in->url, status,
                 json_string_value(json_object_get(st, "message")) ? ": " : "",
                 json_string_value(json_object_get(st, "message")) ? json_string_value(json_object_get(st, "message")) : "");
        json_decref(st);
    }
    if (in->state == ST_LISTING) {
        if (!rc && status == 410) { /* the continue token expired: start the list over */
            free(in->cont);
            in->cont = NULL;
            json_decref(in->pending);
            in->pending = NULL;
        } else if (rc || status != 200) {
            free(in->cont);
            in->cont = NULL;
            json_decref(in->pending);
            in->pending = NULL;
            fail(in, "Kubernetes list failed; keeping the last targets", rc ? err.msg : msg);
        } else if ((rc = take_page(in, &err))) {
            json_decref(in->pending);
            in->pending = NULL;
            fail(in, "Kubernetes list failed; keeping the last targets", err.msg);
        }
    } else {
        if (in->relist || (!rc && status == 410)) {
            in->relist = true; /* resourceVersion too old */
            vg_log_info("discovery", "Kubernetes watch expired, listing again", VG_LS("job", k->p->job), VG_LS("url", in->url));
        } else if (in->event_error) {
            fail(in, "Kubernetes watch returned an error event", in->url);
        } else if (rc || status != 200) {
            fail(in, "Kubernetes watch failed; keeping the last targets", rc ? err.msg : msg);
        } else { /* the server ended the watch: resume from rv — at once, unless it ended at once */
            in->backoff_ms = BACKOFF_MIN_MS;
            if (vg_mono_ns() - in->started_ns < 1000000000ull) in->retry_at_ns = vg_mono_ns() + BACKOFF_MIN_MS * 1000000ull;
        }
    }
    ingest__sd_xfer_cleanup(&in->x);
    in->state = ST_IDLE;
}

static void publish(k8s_t *k) {
    int role = k->c->role;
    json_t *stores[CONFIG_K8S_N_ROLES] = {0};
    for (size_t i = 0; i < k->n_inf; i++) {
        informer_t *in = &k->inf[i];
        if (!stores[in->res]) stores[in->res] = json_object();
        json_object_update(stores[in->res], in->store);
    }
    ingest_sd_groups_t *g;
    if (ingest_k8s_build(role, stores[role], stores[CONFIG_K8S_POD], stores[CONFIG_K8S_SERVICE], &g) == 0) ingest__sd_publish(k->p, g);
    else vg_log_error("discovery", "out of memory building Kubernetes targets", VG_LS("job", k->p->job));
    for (int i = 0; i < CONFIG_K8S_N_ROLES; i++) json_decref(stores[i]);
}

static int setup(k8s_t *k, vg_error_t *err) {
    const config_k8s_sd_t *c = k->c;
    const char *dir = getenv("VIGIL_K8S_SERVICEACCOUNT_DIR");
    snprintf(k->sa_dir, sizeof k->sa_dir, "%s", dir && *dir ? dir : SA_DIR);
    if (c->api_server) {
        snprintf(k->base, sizeof k->base, "%s", c->api_server);
    } else {
        const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
        if (!host || !*host || !port || !*port)
            return vg_error_set(err, VG_ECONFIG, "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined");
        snprintf(k->base, sizeof k->base, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
        snprintf(k->ca, sizeof k->ca, "%s/ca.crt", k->sa_dir);
        k->in_cluster = true;
    }
    size_t bl = strlen(k->base);
    while (bl && k->base[bl - 1] == '/') k->base[--bl] = '\0';
    /* namespaces */
    size_t n_ns = c->namespaces.names.n + (c->namespaces.own_namespace ? 1 : 0);
    const char **ns = calloc(n_ns ? n_ns : 1, sizeof *ns);
    if (!ns) return vg_error_set(err, VG_ENOMEM, "out of memory");
    size_t m = 0;
    for (size_t i = 0; i < c->namespaces.names.n; i++) ns[m++] = c->namespaces.names.v[i];
    if (c->namespaces.own_namespace) {
        char path[1100];
        snprintf(path, sizeof path, "%s/namespace", k->sa_dir);
        char buf[256];
        if (!read_file(path, buf, sizeof buf) || !*buf) {
            free(ns);
            return vg_error_set(err, VG_EIO, "cannot read the pod's namespace from %s", path);
        }
        if (!(k->own_ns = strdup(buf))) {
            free(ns);
            return vg_error_set(err, VG_ENOMEM, "out of memory");
        }
        ns[m++] = k->own_ns;
    }
    int res[3], n_res = 0;
    res[n_res++] = c->role;
    if (c->role == CONFIG_K8S_ENDPOINTS || c->role == CONFIG_K8S_ENDPOINTSLICE) res[n_res++] = CONFIG_K8S_POD, res[n_res++] = CONFIG_K8S_SERVICE;
    bool cluster = c->role == CONFIG_K8S_NODE || m == 0;
    size_t per = cluster ? 1 : m;
    k->inf = calloc((size_t)n_res * per, sizeof *k->inf);
    if (!k->inf) {
        free(ns);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    for (int r = 0; r < n_res; r++)
        for (size_t i = 0; i < per; i++) {
            informer_t *in = &k->inf[k->n_inf++];
            in->k = k;
            in->res = res[r];
            in->ns = cluster ? NULL : ns[i];
            in->store = json_object();
            in->backoff_ms = BACKOFF_MIN_MS;
            for (size_t s = 0; s < c->selectors.n; s++)
                if (c->selectors.v[s].role == res[r]) in->label_sel = c->selectors.v[s].label, in->field_sel = c->selectors.v[s].field;
        }
    free(ns);
    return 0;
}

void *ingest__k8s_run(void *arg) {
    ingest__sd_provider_t *p = arg;
    k8s_t k = {.p = p, .c = p->conf};
    vg_error_t err;
    if (setup(&k, &err)) {
        ingest__sd_fail(p);
        vg_log_error("discovery", "cannot start Kubernetes SD", VG_LS("job", p->job), VG_LS("config", p->name), VG_LS("err", err.msg));
        free(k.inf);
        free(k.own_ns);
        return NULL;
    }
    while (!ingest__sd_stopping(p)) {
        uint64_t now = vg_mono_ns(), next = now + 1000000000ull;
        for (size_t i = 0; i < k.n_inf; i++) {
            informer_t *in = &k.inf[i];
            if (!in->in_flight && now >= in->retry_at_ns) start(in);
            if (!in->in_flight && in->retry_at_ns < next) next = in->retry_at_ns;
        }
        int running;
        curl_multi_perform(p->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(p->multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            ingest__sd_xfer_t *x = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            if (x && x->owner) finish(x->owner, m->data.result);
        }
        bool synced = true;
        for (size_t i = 0; i < k.n_inf; i++) synced &= k.inf[i].synced;
        if (k.dirty && synced) {
            k.dirty = false;
            publish(&k);
        }
        bool startable = false;
        now = vg_mono_ns();
        for (size_t i = 0; i < k.n_inf; i++) startable |= !k.inf[i].in_flight && now >= k.inf[i].retry_at_ns;
        if (startable) continue;
        int wait_ms = next > now ? (int)((next - now) / 1000000u) : 0;
        curl_multi_poll(p->multi, NULL, 0, wait_ms > 1000 ? 1000 : wait_ms, NULL);
    }
    for (size_t i = 0; i < k.n_inf; i++) {
        informer_t *in = &k.inf[i];
        if (in->in_flight) curl_multi_remove_handle(p->multi, in->x.easy);
        ingest__sd_xfer_cleanup(&in->x);
        ingest_k8s_lines_deinit(&in->lines);
        json_decref(in->store);
        json_decref(in->pending);
        free(in->cont);
    }
    free(k.own_ns);
    free(k.inf);
    return NULL;
}
