/* remote_read: other Prometheus-compatible stores read into vigil's own queries. One reader
 * (remote/read_client.c) per `remote_read:` entry, built per config generation, and the querier the
 * local executor evaluates over: the local TSDB merged (tsdb_merge_queriers) with the readers a query
 * needs, as Prometheus' fanout storage merges its local storage with its remote_read queriers.
 *
 * Which readers a query reads, as Prometheus 2.42 decides it (PreferLocalStorageFilter):
 *  - read_recent: always;
 *  - otherwise only when the query starts before the oldest local data (tsdb_db_start_time), and
 *    then only up to that time;
 *  - a scoped caller (a tenant) only reads entries marked tenant_safe. Its selectors already carry
 *    its enforced matcher (service/read.c enforces before any executor), so what is sent names the
 *    tenant; the flag says the remote store keeps the tenant label as vigil does, so that matcher
 *    means the same there.
 * The local querier comes first in the merge, so a timestamp both hold is read from local storage.
 *
 * Invariants: a set of readers is reference-counted; a querier holds a reference until it closes, so a
 * reload never frees a reader in use. Credentials read from files are wiped after use. */
#include "service_int.h"

#include "remote/remote.h"
#include "tsdb/tsdb.h"
#include "util/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct service__rread {
    _Atomic int refs;
    config_t *cfg; /* the generation the readers were built from (entries' flags are read from it) */
    remote_reader_t **r; /* one per entry; NULL: left out (its credentials could not be read) */
    size_t n;
};

static void set_unref(service__rread_t *set) {
    if (!set || atomic_fetch_sub(&set->refs, 1) != 1) return;
    for (size_t i = 0; i < set->n; i++) remote_reader_free(set->r[i]);
    free(set->r);
    config_unref(set->cfg);
    free(set);
}

static service__rread_t *set_get(service_t *s) {
    service__priv_t *p = s->priv;
    if (!p) return NULL;
    pthread_mutex_lock(&p->cfg_mu);
    service__rread_t *set = p->rread;
    if (set) atomic_fetch_add(&set->refs, 1);
    pthread_mutex_unlock(&p->cfg_mu);
    return set;
}

static void set_swap(service_t *s, service__rread_t *set) {
    service__priv_t *p = s->priv;
    pthread_mutex_lock(&p->cfg_mu);
    service__rread_t *old = p->rread;
    p->rread = set;
    pthread_mutex_unlock(&p->cfg_mu);
    set_unref(old);
}

static int reader_new(const config_t *c, const config_remote_read_entry_t *e, remote_reader_t **out, vg_error_t *err) {
    char password[1024] = "", credentials[4096] = "", authz[4200] = "", where[256];
    snprintf(where, sizeof where, "remote_read[name=%s]", e->name);
    int rc = 0;
    if (e->basic_auth.password_file)
        rc = service__read_secret(where, "basic_auth.password_file", e->basic_auth.password_file, password, sizeof password, err);
    if (!rc && e->authorization.credentials_file)
        rc = service__read_secret(where, "authorization.credentials_file", e->authorization.credentials_file, credentials,
                                  sizeof credentials, err);
    const char *cred = e->authorization.credentials ? e->authorization.credentials : credentials;
    if (*cred) snprintf(authz, sizeof authz, "%s %s", e->authorization.type ? e->authorization.type : "Bearer", cred);
    model_label_t req[64], ext[64];
    size_t n_req = e->required_matchers.n, n_ext = e->filter_external_labels ? c->global.external_labels.n : 0;
    if (!rc && (n_req > 64 || n_ext > 64))
        rc = vg_error_set(err, VG_ECONFIG, "%s: more than 64 required matchers or external labels", where);
    for (size_t i = 0; !rc && i < n_req; i++) req[i] = (model_label_t){e->required_matchers.keys[i], e->required_matchers.values[i]};
    for (size_t i = 0; !rc && i < n_ext; i++)
        ext[i] = (model_label_t){c->global.external_labels.keys[i], c->global.external_labels.values[i]};
    remote_reader_opts_t o = {
        .url = e->url,
        .name = e->name,
        .header_names = (const char *const *)e->headers.keys,
        .header_values = (const char *const *)e->headers.values,
        .n_headers = e->headers.n,
        .basic_user = e->basic_auth.username,
        .basic_password = e->basic_auth.password ? e->basic_auth.password : password,
        .authorization = *authz ? authz : NULL,
        .ca_file = e->tls_config.ca_file,
        .cert_file = e->tls_config.cert_file,
        .key_file = e->tls_config.key_file,
        .insecure_skip_verify = e->tls_config.insecure_skip_verify,
        .timeout_ms = e->remote_timeout_ms,
        .max_bytes = e->max_response_bytes,
        .sample_limit = e->sample_limit,
        .required = req,
        .n_required = n_req,
        .external = ext,
        .n_external = n_ext,
    };
    if (!rc) rc = remote_reader_new(&o, out, err);
    memset(password, 0, sizeof password);
    memset(credentials, 0, sizeof credentials);
    memset(authz, 0, sizeof authz);
    return rc;
}

void service__rread_apply(service_t *s) {
    if (!s->priv) return;
    config_t *c = service_config(s);
    if (!c) return;
    if (!c->remote_read.n || c->storage.backend == CONFIG_BACKEND_REMOTE) {
        if (c->remote_read.n)
            vg_log_warn("remote_read", "storage.backend is remote: the remote query engine answers every read, remote_read is not used");
        config_unref(c);
        set_swap(s, NULL);
        return;
    }
    service__rread_t *set = calloc(1, sizeof *set);
    remote_reader_t **r = set ? calloc(c->remote_read.n, sizeof *r) : NULL;
    if (!r) {
        free(set);
        config_unref(c);
        vg_log_error("remote_read", "out of memory: the previous remote_read readers are kept");
        return;
    }
    atomic_init(&set->refs, 1);
    set->cfg = c; /* the reference service_config took */
    set->r = r;
    set->n = c->remote_read.n;
    for (size_t i = 0; i < set->n; i++) {
        const config_remote_read_entry_t *e = &c->remote_read.v[i];
        vg_error_t err = {0};
        if (reader_new(c, e, &set->r[i], &err))
            vg_log_error("remote_read", "remote_read entry left out", VG_LS("name", e->name), VG_LS("err", err.msg));
        else
            vg_log_info("remote_read", "reading", VG_LS("name", e->name), VG_LS("url", e->url),
                        VG_LS("read_recent", e->read_recent ? "true" : "false"), VG_LS("tenant_safe", e->tenant_safe ? "true" : "false"));
    }
    set_swap(s, set);
}

void service__rread_free(service_t *s) {
    if (s->priv) set_swap(s, NULL);
}

/* ---- the querier: a merge that keeps the set alive ---- */

typedef struct holder {
    storage_querier_t base;
    storage_querier_t *q; /* the merge */
    service__rread_t *set;
} holder_t;

static int h_select(storage_querier_t *b, bool sorted, model_matcher_t *const *ms, size_t n, storage_series_set_t **out,
                    vg_error_t *err) {
    holder_t *h = (holder_t *)b;
    return h->q->vt->select(h->q, sorted, ms, n, out, err);
}

static int h_names(storage_querier_t *b, model_matcher_t *const *ms, size_t n, const char *const **out, size_t *n_out,
                   vg_error_t *err) {
    holder_t *h = (holder_t *)b;
    return h->q->vt->label_names(h->q, ms, n, out, n_out, err);
}

static int h_values(storage_querier_t *b, const char *name, model_matcher_t *const *ms, size_t n, const char *const **out,
                    size_t *n_out, vg_error_t *err) {
    holder_t *h = (holder_t *)b;
    return h->q->vt->label_values(h->q, name, ms, n, out, n_out, err);
}

static void h_close(storage_querier_t *b) {
    holder_t *h = (holder_t *)b;
    storage_querier_close(h->q);
    set_unref(h->set);
    free(h);
}

static const storage_querier_vt holder_vt = {.select = h_select, .label_names = h_names, .label_values = h_values, .close = h_close};

int service__open_querier(service_t *s, bool scoped, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err) {
    *out = NULL;
    if (!s->db) return vg_error_set(err, VG_EUNAVAIL, "storage is not open");
    service__rread_t *set = set_get(s);
    if (!set) return tsdb_db_querier(s->db, mint, maxt, out, err);
    int64_t start = tsdb_db_start_time(s->db);
    storage_querier_t *stack[9], **qs = set->n + 1 <= 9 ? stack : malloc((set->n + 1) * sizeof *qs);
    holder_t *h = calloc(1, sizeof *h);
    int rc = qs && h ? 0 : vg_error_set(err, VG_ENOMEM, "out of memory");
    size_t n = 0;
    if (!rc && !(rc = tsdb_db_querier(s->db, mint, maxt, &qs[0], err))) n = 1;
    for (size_t i = 0; !rc && i < set->n; i++) {
        const config_remote_read_entry_t *e = &set->cfg->remote_read.v[i];
        int64_t rmaxt = maxt;
        if (!set->r[i] || (scoped && !e->tenant_safe)) continue;
        if (!e->read_recent) {
            if (mint > start) continue; /* the local storage holds the whole range */
            if (rmaxt > start) rmaxt = start;
        }
        if (!(rc = remote_reader_querier(set->r[i], mint, rmaxt, &qs[n], err))) n++;
    }
    storage_querier_t *merged = NULL;
    if (!rc && n == 1) {
        merged = qs[0];
    } else if (!rc) {
        rc = tsdb_merge_queriers(qs, n, &merged, err); /* owns qs[0..n) from here on */
        n = 0;
    }
    for (size_t i = 0; rc && i < n; i++) storage_querier_close(qs[i]);
    if (qs != stack) free(qs);
    if (rc || n == 1) { /* nothing remote: no need to hold the set */
        free(h);
        set_unref(set);
        if (!rc) *out = merged;
        return rc;
    }
    *h = (holder_t){{&holder_vt}, merged, set};
    *out = &h->base;
    return 0;
}
