/* remote_write out in the running server: builds one queue (remote/write.h) per `remote_write:` entry
 * over the embedded storage's WAL feed, with the entry's write_relabel_configs compiled by ingest/'s
 * relabeler; on reload keeps the queues whose entry is unchanged (config_remote_write_hash), stops
 * those removed or changed (each keeps its saved position, so a changed queue resumes where it was
 * when its name and url stay) and starts new ones; stops them all at shutdown.
 *
 * Serialised by the caller (start and stop from main, apply from service_reload under reload_mu). */
#include "service_int.h"

#include "ingest/scrape/relabel.h"
#include "remote/write.h"
#include "tsdb/tsdb.h"
#include "util/arena.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct relabel {
    ingest_relabel_t *rules;
    vg_arena_t arena;
} relabel_t;

typedef struct fwd {
    remote_write_t *q;
    uint64_t fp;
    relabel_t *rl; /* NULL: no write_relabel_configs */
} fwd_t;

struct service__forward {
    fwd_t *v;
    size_t n;
    char *state_dir;
    remote_write_deps_t deps; /* template: relabel filled per queue */
};

static int open_feed(void *ctx, const storage_feed_pos_t *from, storage_feed_t **out, vg_error_t *err) {
    service_t *app = ctx;
    return tsdb_db_feed(app->db, from, out, err);
}

static int relabel_fn(void *ctx, const model_label_t *in, size_t n, const model_label_t **out, size_t *n_out) {
    relabel_t *r = ctx;
    vg_arena_reset(&r->arena);
    ingest_lbuilder_t b;
    ingest_lbuilder_init(&b, &r->arena);
    ingest_lbuilder_reset(&b, in, n);
    bool keep = ingest_relabel_apply(r->rules, &b);
    vg_error_t err;
    if (ingest_relabel_error(&b, &err)) {
        vg_log_warn("remote", "write_relabel_configs failed on a series; it is not forwarded", VG_LS("error", err.msg));
        return -1;
    }
    if (!keep) return 0;
    ingest_lbuilder_sort(&b);
    *out = b.v;
    *n_out = b.n;
    return 1;
}

static void relabel_free(relabel_t *r) {
    if (!r) return;
    ingest_relabel_free(r->rules);
    vg_arena_deinit(&r->arena);
    free(r);
}

static void fwd_stop(fwd_t *f, int64_t flush_ms) {
    remote_write_stop(f->q, flush_ms);
    relabel_free(f->rl);
    f->q = NULL;
    f->rl = NULL;
}

static int fwd_start(service__forward_t *st, service_t *app, config_t *c, size_t i, fwd_t *out, vg_error_t *err) {
    memset(out, 0, sizeof *out);
    const config_remote_write_t *rc = &c->remote_write.v[i];
    remote_write_deps_t d = st->deps;
    d.feed_ctx = app;
    if (rc->write_relabel_configs.n) {
        relabel_t *r = calloc(1, sizeof *r);
        if (!r) return vg_error_set(err, VG_ENOMEM, "out of memory");
        vg_arena_init(&r->arena, 16384);
        int rc2 = ingest_relabel_compile(&rc->write_relabel_configs, &r->rules, err);
        if (rc2) {
            relabel_free(r);
            return rc2;
        }
        out->rl = r;
        d.relabel = relabel_fn;
        d.relabel_ctx = r;
    }
    int rc2 = remote_write_start(c, i, &d, &out->q, err);
    if (rc2) {
        relabel_free(out->rl);
        out->rl = NULL;
        return rc2;
    }
    out->fp = config_remote_write_hash(c, i);
    return 0;
}

int service_remote_write_start(service_t *app, vg_error_t *err) {
    service__priv_t *p = app->priv;
    if (p->forward || !app->db) return 0;
    service__forward_t *st = calloc(1, sizeof *st);
    if (!st) return vg_error_set(err, VG_ENOMEM, "out of memory");
    config_t *c = service_config(app);
    size_t pl = strlen(c->storage.path) + 32;
    st->state_dir = malloc(pl);
    if (!st->state_dir) {
        config_unref(c);
        free(st);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    snprintf(st->state_dir, pl, "%s/remote_write", c->storage.path);
    st->deps = (remote_write_deps_t){.open_feed = open_feed, .state_dir = st->state_dir};
    p->forward = st;
    config_unref(c);
    service__forward_apply(app);
    return 0;
}

void service__forward_apply(service_t *app) {
    service__priv_t *p = app->priv;
    service__forward_t *st = p->forward;
    if (!st) return;
    config_t *c = service_config(app);
    config_t *cshut = c;
    int64_t flush = c->server.shutdown_timeout_ms;
    fwd_t *nv = c->remote_write.n ? calloc(c->remote_write.n, sizeof *nv) : NULL;
    if (c->remote_write.n && !nv) {
        vg_log_error("remote", "out of memory applying remote_write; the running queues are kept");
        config_unref(c);
        return;
    }
    /* keep unchanged queues (same name and fingerprint), stop the others before starting new ones: a
     * queue's position file is its name's */
    for (size_t k = 0; k < st->n; k++) {
        fwd_t *f = &st->v[k];
        bool kept = false;
        for (size_t i = 0; i < c->remote_write.n && !kept; i++)
            if (!nv[i].q && !strcmp(c->remote_write.v[i].name, remote_write_name(f->q)) &&
                config_remote_write_hash(c, i) == f->fp) {
                nv[i] = *f;
                kept = true;
            }
        if (!kept) {
            vg_log_info("remote", "remote_write queue removed or changed; stopping it", VG_LS("remote_name", remote_write_name(f->q)));
            fwd_stop(f, flush);
        }
    }
    for (size_t i = 0; i < c->remote_write.n; i++) {
        if (nv[i].q) continue;
        vg_error_t err;
        if (fwd_start(st, app, c, i, &nv[i], &err))
            vg_log_error("remote", "cannot start a remote_write queue", VG_LS("remote_name", c->remote_write.v[i].name),
                         VG_LS("error", err.msg));
    }
    /* drop empty slots */
    size_t k = 0;
    for (size_t i = 0; i < c->remote_write.n; i++)
        if (nv[i].q) nv[k++] = nv[i];
    free(st->v);
    st->v = nv;
    st->n = k;
    config_unref(cshut);
}

void service_remote_write_stop(service_t *app, int64_t flush_ms) {
    service__priv_t *p = app->priv;
    service__forward_t *st = p ? p->forward : NULL;
    if (!st) return;
    for (size_t i = 0; i < st->n; i++) fwd_stop(&st->v[i], flush_ms);
    free(st->v);
    free(st->state_dir);
    free(st);
    p->forward = NULL;
}
