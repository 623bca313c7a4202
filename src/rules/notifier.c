/* The Alertmanager notifier: alerts queued by the rule engine, sent by one thread in batches of at most
 * RULES_NOTIFIER_MAX_BATCH to every Alertmanager of every set (Alertmanager's v2 API).
 *
 * Data flow: rules_notifier_send (the caller's thread) adds the external labels an alert lacks, applies
 * `alert_relabel_configs` (an alert they drop is not queued), copies each alert into one allocation and
 * appends it to a ring buffer under `mu`; the sender thread takes up to a batch, encodes it once and
 * POSTs it to all Alertmanagers at once on a libcurl multi handle, each POST bounded by its set's
 * timeout. Nothing on the caller's side touches the network.
 *
 * Invariants:
 *  - The ring holds at most `cap` alerts (alerting.notification_queue_capacity); an append that would
 *    overflow it drops the oldest alerts first, counted in vigil_notifications_dropped_total.
 *  - A generation (`gen_t`: the config reference, the compiled alert relabeling and the resolved
 *    Alertmanager URLs) is immutable once built; rules_notifier_apply swaps it under `mu` and the
 *    sender keeps a reference to the one it is sending with, so a reload never waits for a POST.
 *  - A failed POST is counted per Alertmanager (errors_total, by the alerts it carried) and not
 *    retried; a batch that no Alertmanager of some set accepted is counted as dropped.
 *  - Secret files (password_file, credentials_file, bearer_token_file) are read for every POST, so a
 *    rotated secret is used without a reload; their contents live on the stack and are wiped. */
#include "rules/notifier.h"

#include "ingest/scrape/relabel.h"
#include "selfmon/selfmon.h"
#include "util/fs.h"
#include "util/arena.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"

#include "vigil_build.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOGGER "notifier"

/* ---- one queued alert: a single allocation holding the arrays and the strings ---- */

typedef struct qalert {
    rules_alert_t a; /* every pointer points inside this allocation */
} qalert_t;

static size_t strsize(const char *s) { return s ? strlen(s) + 1 : 0; }

static char *put_str(char **p, const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = memcpy(*p, s, n);
    *p += n;
    return d;
}

static qalert_t *qalert_pack(const model_label_t *labels, size_t n_labels, const rules_alert_t *src) {
    size_t sz = sizeof(qalert_t) + (n_labels + src->n_annotations) * sizeof(model_label_t) + strsize(src->generator_url);
    for (size_t i = 0; i < n_labels; i++) sz += strsize(labels[i].name) + strsize(labels[i].value);
    for (size_t i = 0; i < src->n_annotations; i++)
        sz += strsize(src->annotations[i].name) + strsize(src->annotations[i].value);
    qalert_t *q = malloc(sz);
    if (!q) return NULL;
    model_label_t *lv = (model_label_t *)(q + 1), *av = lv + n_labels;
    char *p = (char *)(av + src->n_annotations);
    for (size_t i = 0; i < n_labels; i++) {
        lv[i].name = put_str(&p, labels[i].name);
        lv[i].value = put_str(&p, labels[i].value);
    }
    for (size_t i = 0; i < src->n_annotations; i++) {
        av[i].name = put_str(&p, src->annotations[i].name);
        av[i].value = put_str(&p, src->annotations[i].value);
    }
    q->a = (rules_alert_t){.labels = lv, .n_labels = n_labels, .annotations = av, .n_annotations = src->n_annotations,
                           .starts_at_ms = src->starts_at_ms, .ends_at_ms = src->ends_at_ms,
                           .generator_url = put_str(&p, src->generator_url)};
    return q;
}

/* ---- a config generation ---- */

typedef struct am {
    char *url;
    selfmon_metric_t *sent, *errors;
} am_t;

typedef struct amset {
    const config_alertmanager_t *cfg; /* borrowed from gen->cfg */
    am_t *ams;
    size_t n_ams;
    char **dropped;
    size_t n_dropped;
} amset_t;

typedef struct gen {
    _Atomic int refs;
    config_t *cfg; /* ref */
    ingest_relabel_t *relabel;
    amset_t *sets;
    size_t n_sets;
    size_t n_active;
} gen_t;

static void gen_unref(gen_t *g) {
    if (!g || atomic_fetch_sub(&g->refs, 1) != 1) return;
    for (size_t i = 0; i < g->n_sets; i++) {
        for (size_t k = 0; k < g->sets[i].n_ams; k++) free(g->sets[i].ams[k].url);
        for (size_t k = 0; k < g->sets[i].n_dropped; k++) free(g->sets[i].dropped[k]);
        free(g->sets[i].ams);
        free(g->sets[i].dropped);
    }
    free(g->sets);
    ingest_relabel_free(g->relabel);
    config_unref(g->cfg);
    free(g);
}

static gen_t *gen_ref(gen_t *g) {
    atomic_fetch_add(&g->refs, 1);
    return g;
}

/* ---- the notifier ---- */

struct rules_notifier {
    pthread_mutex_t mu;
    pthread_cond_t more; /* the queue has alerts, or stop was asked */
    pthread_cond_t idle; /* the queue is empty and nothing is in flight */
    gen_t *gen;          /* current generation (guarded by mu) */
    qalert_t **ring;
    size_t cap, head, len;
    bool in_flight, stop;
    int64_t stop_deadline_ns; /* vg_mono_ns() by which the drain on stop ends */
    pthread_t thread;
    bool started;
    CURLM *multi; /* the sender thread's */
    _Atomic uint64_t dropped, sent, errors, posts;
    selfmon_family_t *f_sent, *f_errors;
    selfmon_metric_t *m_len, *m_cap, *m_dropped, *m_discovered;
};

static void set_error(vg_error_t *err, int code, const char *msg) {
    if (err) vg_error_set(err, code, "%s", msg);
}

/* path.Join("/", prefix, "/api/v2/alerts") for the prefixes the config accepts: one leading slash,
 * no empty segments. */
static void alerts_path(const char *prefix, char *out, size_t cap) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "/%s/api/v2/alerts", prefix);
    size_t o = 0;
    for (size_t i = 0; tmp[i] && o + 1 < cap; i++) {
        if (tmp[i] == '/' && o > 0 && out[o - 1] == '/') continue;
        out[o++] = tmp[i];
    }
    out[o] = '\0';
}

static char *url_of(const ingest_lbuilder_t *b) {
    const char *scheme = ingest_lbuilder_get(b, "__scheme__"), *addr = ingest_lbuilder_get(b, "__address__"),
               *path = ingest_lbuilder_get(b, "__alerts_path__");
    size_t n = strlen(scheme ? scheme : "") + strlen(addr ? addr : "") + strlen(path ? path : "") + 4;
    char *u = malloc(n);
    if (u) snprintf(u, n, "%s://%s%s", scheme ? scheme : "", addr ? addr : "", path ? path : "");
    return u;
}

static int push_url(char ***v, size_t *n, char *u) {
    if (!u) return VG_ENOMEM;
    char **nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) {
        free(u);
        return VG_ENOMEM;
    }
    nv[(*n)++] = u;
    *v = nv;
    return 0;
}

/* Resolves one set's static targets into Alertmanager URLs through its relabel_configs, as Prometheus
 * does: __address__ (the target), __scheme__, __alerts_path__, then the group's labels. */
static int build_set(rules_notifier_t *n, const config_alertmanager_t *c, amset_t *s, vg_error_t *err) {
    s->cfg = c;
    ingest_relabel_t *rl;
    int rc = ingest_relabel_compile(&c->relabel_configs, &rl, err);
    if (rc) return rc;
    char path[1100];
    alerts_path(c->path_prefix, path, sizeof path);
    vg_arena_t arena;
    vg_arena_init(&arena, 0);
    for (size_t g = 0; !rc && g < c->static_configs.n; g++) {
        const config_static_t *st = &c->static_configs.v[g];
        for (size_t t = 0; !rc && t < st->targets.n; t++) {
            ingest_lbuilder_t b;
            ingest_lbuilder_init(&b, &arena);
            ingest_lbuilder_set(&b, "__address__", st->targets.v[t]);
            ingest_lbuilder_set(&b, "__scheme__", c->scheme);
            ingest_lbuilder_set(&b, "__alerts_path__", path);
            for (size_t l = 0; l < st->labels.n; l++)
                if (strcmp(st->labels.keys[l], "__address__")) ingest_lbuilder_set(&b, st->labels.keys[l], st->labels.values[l]);
            char *pre = url_of(&b);
            if (!pre) {
                rc = VG_ENOMEM;
                break;
            }
            bool keep = ingest_relabel_apply(rl, &b);
            if ((rc = ingest_relabel_error(&b, err))) {
                free(pre);
                break;
            }
            const char *addr = ingest_lbuilder_get(&b, "__address__");
            if (!keep || !addr || !*addr || strchr(addr, '/')) {
                if (keep) vg_log_warn(LOGGER, "Alertmanager address after relabeling is not host:port, dropped",
                                      VG_LS("address", addr ? addr : ""));
                rc = push_url(&s->dropped, &s->n_dropped, pre);
                continue;
            }
            free(pre);
            char *u = url_of(&b);
            if (!u) {
                rc = VG_ENOMEM;
                break;
            }
            bool dup = false;
            for (size_t k = 0; k < s->n_ams && !dup; k++) dup = !strcmp(s->ams[k].url, u);
            if (dup) {
                free(u);
                continue;
            }
            am_t *na = realloc(s->ams, (s->n_ams + 1) * sizeof *na);
            if (!na) {
                free(u);
                rc = VG_ENOMEM;
                break;
            }
            s->ams = na;
            const char *lv[1] = {u};
            s->ams[s->n_ams++] = (am_t){u, selfmon_with(n->f_sent, lv), selfmon_with(n->f_errors, lv)};
        }
    }
    vg_arena_deinit(&arena);
    ingest_relabel_free(rl);
    if (rc == VG_ENOMEM) set_error(err, rc, "notifier: out of memory");
    return rc;
}

static int gen_build(rules_notifier_t *n, const config_t *cfg, gen_t **out, vg_error_t *err) {
    *out = NULL;
    gen_t *g = calloc(1, sizeof *g);
    if (!g) {
        set_error(err, VG_ENOMEM, "notifier: out of memory");
        return VG_ENOMEM;
    }
    atomic_init(&g->refs, 1);
    g->cfg = config_ref((config_t *)cfg);
    int rc = ingest_relabel_compile(&cfg->alerting.alert_relabel_configs, &g->relabel, err);
    size_t n_sets = cfg->alerting.alertmanagers.n;
    if (!rc && n_sets && !(g->sets = calloc(n_sets, sizeof *g->sets))) {
        set_error(err, VG_ENOMEM, "notifier: out of memory");
        rc = VG_ENOMEM;
    }
    for (size_t i = 0; !rc && i < n_sets; i++) {
        g->n_sets = i + 1;
        rc = build_set(n, &cfg->alerting.alertmanagers.v[i], &g->sets[i], err);
        g->n_active += g->sets[i].n_ams;
    }
    if (rc) {
        gen_unref(g);
        return rc;
    }
    *out = g;
    return 0;
}

/* ---- the queue (callers hold mu) ---- */

static void queue_gauges(rules_notifier_t *n) {
    selfmon_gauge_set(n->m_len, (double)n->len);
    selfmon_gauge_set(n->m_cap, (double)n->cap);
}

static void count_dropped(rules_notifier_t *n, size_t k, const char *why) {
    if (!k) return;
    atomic_fetch_add(&n->dropped, k);
    selfmon_counter_add(n->m_dropped, (double)k);
    vg_log_warn(LOGGER, why, VG_LI("num_dropped", k));
}

static qalert_t *pop_oldest(rules_notifier_t *n) {
    qalert_t *q = n->ring[n->head];
    n->ring[n->head] = NULL;
    n->head = (n->head + 1) % n->cap;
    n->len--;
    return q;
}

/* Sets the ring's capacity, keeping the newest alerts. */
static int queue_resize(rules_notifier_t *n, size_t cap) {
    if (cap == n->cap) return 0;
    qalert_t **nr = calloc(cap, sizeof *nr);
    if (!nr) return VG_ENOMEM;
    size_t over = n->len > cap ? n->len - cap : 0;
    for (size_t i = 0; i < over; i++) free(pop_oldest(n));
    count_dropped(n, over, "notification queue capacity lowered, dropping the oldest alerts");
    size_t len = n->len;
    for (size_t i = 0; i < len; i++) nr[i] = n->ring[(n->head + i) % n->cap];
    free(n->ring);
    n->ring = nr;
    n->cap = cap;
    n->head = 0;
    n->len = len;
    queue_gauges(n);
    return 0;
}

/* ---- encoding ---- */

static void put_labelset(vg_json_t *j, const model_label_t *v, size_t n) {
    vg_json_obj_open(j);
    for (size_t i = 0; i < n; i++) {
        vg_json_key(j, v[i].name);
        vg_json_str(j, v[i].value);
    }
    vg_json_obj_close(j);
}

static void put_time(vg_json_t *j, const char *key, int64_t ms) {
    if (!ms) return;
    char ts[VG_RFC3339_MAX];
    vg_rfc3339_format(ms, ts);
    vg_json_key(j, key);
    vg_json_str(j, ts);
}

void rules_notifier_encode(const rules_alert_t *alerts, size_t n_alerts, vg_buf_t *out) {
    vg_json_t j;
    vg_json_init(&j, out);
    vg_json_arr_open(&j);
    for (size_t i = 0; i < n_alerts; i++) {
        const rules_alert_t *a = &alerts[i];
        vg_json_obj_open(&j);
        vg_json_key(&j, "annotations");
        put_labelset(&j, a->annotations, a->n_annotations);
        put_time(&j, "endsAt", a->ends_at_ms);
        put_time(&j, "startsAt", a->starts_at_ms);
        if (a->generator_url && *a->generator_url) {
            vg_json_key(&j, "generatorURL");
            vg_json_str(&j, a->generator_url);
        }
        vg_json_key(&j, "labels");
        put_labelset(&j, a->labels, a->n_labels);
        vg_json_obj_close(&j);
    }
    vg_json_arr_close(&j);
}

/* ---- sending ---- */

typedef struct post {
    CURL *h;
    struct curl_slist *hdrs;
    const am_t *am;
    size_t set;
    char err[CURL_ERROR_SIZE];
    char setup_err[160]; /* a failure before the transfer (a secret file) */
} post_t;

static size_t discard(char *p, size_t size, size_t nmemb, void *ud) {
    (void)p, (void)ud;
    return size * nmemb;
}

/* Prepares one POST of body to am with its set's HTTP client settings. */
static int post_setup(post_t *p, const config_alertmanager_t *c, const vg_buf_t *body, int64_t timeout_ms) {
    char secret[4096], h[4200];
    secret[0] = '\0';
    int rc = 0;
    if (!(p->h = curl_easy_init())) return VG_ENOMEM;
    p->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    const char *cred = NULL, *file = NULL;
    if (c->authorization.credentials) cred = c->authorization.credentials;
    else if (c->authorization.credentials_file) file = c->authorization.credentials_file;
    else if (c->bearer_token) cred = c->bearer_token;
    else if (c->bearer_token_file) file = c->bearer_token_file;
    if (file) {
        if (vg_fs_read_secret(file, secret, sizeof secret, NULL)) {
            snprintf(p->setup_err, sizeof p->setup_err, "unable to read authorization credentials file %s: %s", file,
                     strerror(errno));
            rc = VG_EIO;
        }
        cred = secret;
    }
    if (!rc && cred) {
        snprintf(h, sizeof h, "Authorization: %s %s", c->authorization.type ? c->authorization.type : "Bearer", cred);
        p->hdrs = curl_slist_append(p->hdrs, h);
    }
    CURL *e = p->h;
    if (!rc && (c->basic_auth.username || c->basic_auth.password || c->basic_auth.password_file)) {
        const char *pw = c->basic_auth.password ? c->basic_auth.password : "";
        if (c->basic_auth.password_file) {
            if (vg_fs_read_secret(c->basic_auth.password_file, secret, sizeof secret, NULL)) {
                snprintf(p->setup_err, sizeof p->setup_err, "unable to read basic auth password file %s: %s",
                         c->basic_auth.password_file, strerror(errno));
                rc = VG_EIO;
            }
            pw = secret;
        }
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, c->basic_auth.username ? c->basic_auth.username : "");
        curl_easy_setopt(e, CURLOPT_PASSWORD, pw); /* libcurl copies option strings */
    }
    if (!p->hdrs && !rc) rc = VG_ENOMEM;
    curl_easy_setopt(e, CURLOPT_URL, p->am->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->hdrs);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body->len);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "vigil/" VIGIL_VERSION);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1));
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, c->follow_redirects ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->err);
    curl_easy_setopt(e, CURLOPT_PRIVATE, p);
    if (c->tls_config.ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, c->tls_config.ca_file);
    if (c->tls_config.cert_file) curl_easy_setopt(e, CURLOPT_SSLCERT, c->tls_config.cert_file);
    if (c->tls_config.key_file) curl_easy_setopt(e, CURLOPT_SSLKEY, c->tls_config.key_file);
    if (c->tls_config.insecure_skip_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    explicit_bzero(secret, sizeof secret);
    explicit_bzero(h, sizeof h);
    return rc;
}

static void post_cleanup(post_t *p) {
    if (p->h) curl_easy_cleanup(p->h);
    /* the header list may hold a credential */
    for (struct curl_slist *s = p->hdrs; s; s = s->next) explicit_bzero(s->data, strlen(s->data));
    curl_slist_free_all(p->hdrs);
}

static void record(rules_notifier_t *n, const post_t *p, bool ok, size_t k, const char *why) {
    atomic_fetch_add(&n->posts, 1);
    if (ok) {
        atomic_fetch_add(&n->sent, k);
        selfmon_counter_add(p->am->sent, (double)k);
        return;
    }
    atomic_fetch_add(&n->errors, k);
    selfmon_counter_add(p->am->errors, (double)k);
    vg_log_error(LOGGER, "error sending alerts", VG_LS("alertmanager", p->am->url), VG_LI("count", k), VG_LS("err", why));
}

/* POSTs one batch to every Alertmanager of g concurrently; returns whether every set that has
 * Alertmanagers accepted it at least once. */
static bool send_batch(rules_notifier_t *n, gen_t *g, const rules_alert_t *alerts, size_t k, int64_t deadline_ns) {
    if (!g->n_active) return true;
    vg_buf_t body = VG_BUF_INIT;
    rules_notifier_encode(alerts, k, &body);
    post_t *posts = calloc(g->n_active, sizeof *posts);
    bool *covered = calloc(g->n_sets, sizeof *covered);
    if (body.failed || !posts || !covered) {
        vg_log_error(LOGGER, "out of memory encoding alerts", VG_LI("count", k));
        vg_buf_deinit(&body);
        free(posts);
        free(covered);
        return false;
    }
    size_t np = 0;
    int running = 0;
    for (size_t s = 0; s < g->n_sets; s++) {
        for (size_t a = 0; a < g->sets[s].n_ams; a++) {
            post_t *p = &posts[np++];
            p->am = &g->sets[s].ams[a];
            p->set = s;
            int64_t t = g->sets[s].cfg->timeout_ms;
            if (deadline_ns) {
                int64_t left = (deadline_ns - (int64_t)vg_mono_ns()) / 1000000;
                if (left < t) t = left;
            }
            int rc = post_setup(p, g->sets[s].cfg, &body, t);
            if (rc || curl_multi_add_handle(n->multi, p->h) != CURLM_OK) {
                record(n, p, false, k, p->setup_err[0] ? p->setup_err : "cannot start the request");
                post_cleanup(p);
                p->h = NULL;
                p->hdrs = NULL;
                continue;
            }
            running++;
        }
    }
    while (running > 0) {
        int still = 0;
        if (curl_multi_perform(n->multi, &still) != CURLM_OK) break;
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(n->multi, &left))) {
            if (m->msg != CURLMSG_DONE) continue;
            post_t *p = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&p);
            long status = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            char why[CURL_ERROR_SIZE + 64];
            bool ok = m->data.result == CURLE_OK && status / 100 == 2;
            if (m->data.result != CURLE_OK)
                snprintf(why, sizeof why, "%s", p->err[0] ? p->err : curl_easy_strerror(m->data.result));
            else
                snprintf(why, sizeof why, "bad response status %ld", status);
            record(n, p, ok, k, why);
            if (ok) covered[p->set] = true;
            curl_multi_remove_handle(n->multi, p->h);
            post_cleanup(p);
            p->h = NULL;
            p->hdrs = NULL;
            running--;
        }
        if (running > 0 && still > 0) curl_multi_poll(n->multi, NULL, 0, 100, NULL);
    }
    for (size_t i = 0; i < np; i++)
        if (posts[i].h) {
            curl_multi_remove_handle(n->multi, posts[i].h);
            post_cleanup(&posts[i]);
        }
    bool all = true;
    for (size_t s = 0; s < g->n_sets; s++)
        if (g->sets[s].n_ams && !covered[s]) all = false;
    free(covered);
    free(posts);
    vg_buf_deinit(&body);
    return all;
}

static void *sender(void *arg) {
    rules_notifier_t *n = arg;
    qalert_t *batch[RULES_NOTIFIER_MAX_BATCH];
    rules_alert_t alerts[RULES_NOTIFIER_MAX_BATCH];
    pthread_mutex_lock(&n->mu);
    for (;;) {
        while (!n->stop && n->len == 0) pthread_cond_wait(&n->more, &n->mu);
        if (n->len == 0) break; /* stopping, nothing left */
        int64_t deadline = n->stop ? n->stop_deadline_ns : 0;
        if (n->stop && (int64_t)vg_mono_ns() >= deadline) {
            size_t left = n->len;
            while (n->len) free(pop_oldest(n));
            count_dropped(n, left, "notifier stopped before the queue drained, dropping alerts");
            queue_gauges(n);
            break;
        }
        size_t k = 0;
        while (n->len && k < RULES_NOTIFIER_MAX_BATCH) {
            batch[k] = pop_oldest(n);
            alerts[k] = batch[k]->a;
            k++;
        }
        queue_gauges(n);
        n->in_flight = true;
        gen_t *g = gen_ref(n->gen);
        pthread_mutex_unlock(&n->mu);

        bool ok = send_batch(n, g, alerts, k, deadline);
        gen_unref(g);
        for (size_t i = 0; i < k; i++) free(batch[i]);

        pthread_mutex_lock(&n->mu);
        if (!ok) count_dropped(n, k, "alerts not delivered to every Alertmanager set, dropped");
        n->in_flight = false;
        if (n->len == 0) pthread_cond_broadcast(&n->idle);
    }
    n->in_flight = false;
    pthread_cond_broadcast(&n->idle);
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

/* ---- public ---- */

static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int rules_notifier_new(const config_t *cfg, rules_notifier_t **out, vg_error_t *err) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    *out = NULL;
    pthread_once(&once, curl_init_once);
    rules_notifier_t *n = calloc(1, sizeof *n);
    if (!n) {
        set_error(err, VG_ENOMEM, "notifier: out of memory");
        return VG_ENOMEM;
    }
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->more, NULL);
    pthread_cond_init(&n->idle, NULL);
    selfmon_registry_t *r = selfmon_default();
    const char *am_label[] = {"alertmanager"};
    n->f_sent = selfmon_counter(r, "vigil_notifications_sent_total", "Total number of alerts sent.", 1, am_label);
    n->f_errors = selfmon_counter(r, "vigil_notifications_errors_total", "Total number of sent alerts affected by errors.",
                                  1, am_label);
    n->m_len = selfmon_metric(selfmon_gauge(r, "vigil_notifications_queue_length", "The number of alert notifications in the queue.", 0, NULL));
    n->m_cap = selfmon_metric(selfmon_gauge(r, "vigil_notifications_queue_capacity", "The capacity of the alert notifications queue.", 0, NULL));
    n->m_dropped = selfmon_metric(selfmon_counter(r, "vigil_notifications_dropped_total",
                                                  "Total number of alerts dropped due to errors when sending to Alertmanager.", 0, NULL));
    n->m_discovered = selfmon_metric(selfmon_gauge(r, "vigil_notifications_alertmanagers_discovered",
                                                   "The number of alertmanagers discovered and active.", 0, NULL));
    int rc = gen_build(n, cfg, &n->gen, err);
    if (!rc && queue_resize(n, (size_t)cfg->alerting.notification_queue_capacity)) {
        set_error(err, VG_ENOMEM, "notifier: out of memory");
        rc = VG_ENOMEM;
    }
    if (!rc && !(n->multi = curl_multi_init())) {
        set_error(err, VG_ENOMEM, "notifier: cannot create an HTTP handle");
        rc = VG_ENOMEM;
    }
    if (!rc && pthread_create(&n->thread, NULL, sender, n)) {
        set_error(err, VG_EIO, "notifier: cannot start the sender thread");
        rc = VG_EIO;
    }
    if (rc) {
        rules_notifier_free(n, 0);
        return rc;
    }
    n->started = true;
    selfmon_gauge_set(n->m_discovered, (double)n->gen->n_active);
    *out = n;
    return 0;
}

int rules_notifier_apply(rules_notifier_t *n, const config_t *cfg, vg_error_t *err) {
    gen_t *g;
    int rc = gen_build(n, cfg, &g, err);
    if (rc) return rc;
    pthread_mutex_lock(&n->mu);
    rc = queue_resize(n, (size_t)cfg->alerting.notification_queue_capacity);
    gen_t *old = rc ? g : n->gen;
    if (!rc) n->gen = g;
    pthread_mutex_unlock(&n->mu);
    gen_unref(old);
    if (rc) {
        set_error(err, rc, "notifier: out of memory");
        return rc;
    }
    selfmon_gauge_set(n->m_discovered, (double)g->n_active);
    return 0;
}

void rules_notifier_send(rules_notifier_t *n, const rules_alert_t *alerts, size_t n_alerts) {
    if (!n || !n_alerts) return;
    pthread_mutex_lock(&n->mu);
    gen_t *g = gen_ref(n->gen);
    pthread_mutex_unlock(&n->mu);
    const config_kv_t *ext = &g->cfg->global.external_labels;
    qalert_t **packed = calloc(n_alerts, sizeof *packed);
    size_t kept = 0, failed = 0;
    vg_arena_t arena;
    vg_arena_init(&arena, 0);
    for (size_t i = 0; packed && i < n_alerts; i++) {
        const rules_alert_t *a = &alerts[i];
        vg_arena_reset(&arena);
        ingest_lbuilder_t b;
        ingest_lbuilder_init(&b, &arena);
        ingest_lbuilder_reset(&b, a->labels, a->n_labels);
        for (size_t e = 0; e < ext->n; e++) {
            const char *have = ingest_lbuilder_get(&b, ext->keys[e]);
            if (!have || !*have) ingest_lbuilder_set(&b, ext->keys[e], ext->values[e]);
        }
        bool keep = ingest_relabel_apply(g->relabel, &b);
        vg_error_t rerr;
        if (ingest_relabel_error(&b, &rerr)) {
            vg_log_warn(LOGGER, "alert relabeling failed, alert not sent", VG_LS("err", rerr.msg));
            failed++;
            continue;
        }
        if (!keep) continue;
        ingest_lbuilder_sort(&b);
        if (!(packed[kept] = qalert_pack(b.v, b.n, a))) failed++;
        else kept++;
    }
    vg_arena_deinit(&arena);
    gen_unref(g);
    if (!packed) failed = n_alerts;

    pthread_mutex_lock(&n->mu);
    count_dropped(n, failed, "alerts could not be queued (relabeling error or out of memory), dropping them");
    size_t first = 0;
    if (kept > n->cap) {
        first = kept - n->cap;
        for (size_t i = 0; i < first; i++) free(packed[i]);
        count_dropped(n, first, "alert batch larger than queue capacity, dropping alerts");
    }
    size_t over = n->len + (kept - first) > n->cap ? n->len + (kept - first) - n->cap : 0;
    for (size_t i = 0; i < over; i++) free(pop_oldest(n));
    count_dropped(n, over, "alert notification queue full, dropping alerts");
    for (size_t i = first; i < kept; i++) {
        n->ring[(n->head + n->len) % n->cap] = packed[i];
        n->len++;
    }
    queue_gauges(n);
    if (kept > first) pthread_cond_signal(&n->more);
    pthread_mutex_unlock(&n->mu);
    free(packed);
}

bool rules_notifier_flush(rules_notifier_t *n, int64_t timeout_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&n->mu);
    int rc = 0;
    while ((n->len || n->in_flight) && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&n->idle, &n->mu, &ts);
    bool drained = !n->len && !n->in_flight;
    pthread_mutex_unlock(&n->mu);
    return drained;
}

void rules_notifier_stats(rules_notifier_t *n, rules_notifier_stats_t *out) {
    pthread_mutex_lock(&n->mu);
    out->queue_length = n->len;
    out->queue_capacity = n->cap;
    pthread_mutex_unlock(&n->mu);
    out->dropped = atomic_load(&n->dropped);
    out->sent = atomic_load(&n->sent);
    out->errors = atomic_load(&n->errors);
    out->posts = atomic_load(&n->posts);
}

void rules_notifier_free(rules_notifier_t *n, int64_t timeout_ms) {
    if (!n) return;
    if (n->started) {
        pthread_mutex_lock(&n->mu);
        n->stop = true;
        n->stop_deadline_ns = (int64_t)vg_mono_ns() + (timeout_ms > 0 ? timeout_ms : 0) * 1000000;
        pthread_cond_signal(&n->more);
        pthread_mutex_unlock(&n->mu);
        pthread_join(n->thread, NULL);
    }
    while (n->len) free(pop_oldest(n));
    if (n->m_len) selfmon_gauge_set(n->m_len, 0);
    free(n->ring);
    gen_unref(n->gen);
    if (n->multi) curl_multi_cleanup(n->multi);
    pthread_cond_destroy(&n->more);
    pthread_cond_destroy(&n->idle);
    pthread_mutex_destroy(&n->mu);
    free(n);
}

static void free_strs(char **v, size_t k) {
    for (size_t i = 0; i < k; i++) free(v[i]);
    free(v);
}

int rules_notifier_alertmanagers(rules_notifier_t *n, char ***active, size_t *n_active, char ***dropped, size_t *n_dropped) {
    *active = *dropped = NULL;
    *n_active = *n_dropped = 0;
    pthread_mutex_lock(&n->mu);
    gen_t *g = gen_ref(n->gen);
    pthread_mutex_unlock(&n->mu);
    char **a = NULL, **d = NULL;
    size_t na = 0, nd = 0;
    int rc = 0;
    for (size_t s = 0; !rc && s < g->n_sets; s++) {
        for (size_t i = 0; !rc && i < g->sets[s].n_ams; i++) rc = push_url(&a, &na, strdup(g->sets[s].ams[i].url));
        for (size_t i = 0; !rc && i < g->sets[s].n_dropped; i++) rc = push_url(&d, &nd, strdup(g->sets[s].dropped[i]));
    }
    gen_unref(g);
    if (rc) {
        free_strs(a, na);
        free_strs(d, nd);
        return rc;
    }
    *active = a, *n_active = na;
    *dropped = d, *n_dropped = nd;
    return 0;
}
