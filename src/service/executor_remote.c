/* The remote executor as the service builds it (storage.backend: remote): remote/'s client configured
 * from the remote_query section, with credentials read from their files once at start, and the
 * exposition parser of ingest/ plugged in to read the engine's /federate answers back into samples.
 *
 * Invariants: the credentials vigil presents to the engine are the configured ones only; buffers that
 * held them are wiped before they are freed. */
#include "service_int.h"

#include "ingest/expfmt.h"
#include "remote/remote.h"
#include "util/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int service__read_secret(const char *section, const char *what, const char *path, char *out, size_t cap, vg_error_t *err) {
    vg_error_t e;
    return vg_fs_read_secret(path, out, cap, &e) ? vg_error_set(err, VG_ECONFIG, "%s: %s %s", section, what, e.msg) : 0;
}

#define FED_MAX_LABELS 256

/* /federate's text back into samples (remote_text_parse_fn): every series line with its timestamp. */
static int parse_federate(const char *body, size_t len, vg_arena_t *arena, promql_latest_t **out, size_t *n_out,
                          vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    ingest_label_t lbuf[FED_MAX_LABELS];
    ingest_expfmt_limits_t lim = INGEST_EXPFMT_LIMITS_DEFAULT;
    char *scratch = malloc(lim.max_line_len);
    if (!scratch) return vg_error_set(err, VG_ENOMEM, "out of memory");
    ingest_expfmt_parser_t p;
    ingest_expfmt_init(&p, INGEST_EXPFMT_TEXT, body, len, &lim, lbuf, FED_MAX_LABELS, scratch, lim.max_line_len);
    promql_latest_t *all = NULL;
    size_t n = 0, cap = 0;
    int rc;
    ingest_expfmt_entry_t e;
    while ((rc = ingest_expfmt_next(&p, &e, err)) > 0) {
        if (e.kind != INGEST_EXPFMT_SERIES) continue;
        if (!e.has_ts) {
            rc = vg_error_set(err, VG_EUPSTREAM, "remote query engine: a /federate sample without a timestamp (line %u)", e.line);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            promql_latest_t *na = vg_arena_alloc(arena, cap * sizeof *na);
            if (!na) {
                rc = vg_error_set(err, VG_ENOMEM, "out of memory");
                break;
            }
            if (n) memcpy(na, all, n * sizeof *na);
            all = na;
        }
        model_label_t *ls = vg_arena_alloc(arena, (e.n_labels + 1) * sizeof *ls);
        if (!ls) {
            rc = vg_error_set(err, VG_ENOMEM, "out of memory");
            break;
        }
        ls[0] = (model_label_t){MODEL_METRIC_NAME, vg_arena_strndup(arena, e.name.ptr, e.name.len)};
        for (size_t i = 0; i < e.n_labels; i++)
            ls[i + 1] = (model_label_t){vg_arena_strndup(arena, e.labels[i].name.ptr, e.labels[i].name.len),
                                        vg_arena_strndup(arena, e.labels[i].value.ptr, e.labels[i].value.len)};
        bool ok = true;
        for (size_t i = 0; i <= e.n_labels; i++) ok &= ls[i].name && ls[i].value;
        if (!ok) {
            rc = vg_error_set(err, VG_ENOMEM, "out of memory");
            break;
        }
        model_labels_sort(ls, e.n_labels + 1);
        all[n++] = (promql_latest_t){ls, e.n_labels + 1, e.ts_ms, e.value};
    }
    free(scratch);
    if (rc < 0) {
        char msg[VG_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg);
        return vg_error_set(err, rc == VG_ENOMEM ? rc : VG_EUPSTREAM, "remote query engine: /federate: %s", msg);
    }
    *out = all;
    *n_out = n;
    return 0;
}

int service_executor_remote(service_t *s, vg_error_t *err) {
    config_t *c = service_config(s);
    const config_remote_query_t *q = &c->remote_query;
    char password[1024] = "", credentials[4096] = "";
    int rc = 0;
    if (q->basic_auth.password_file)
        rc = service__read_secret("remote_query", "basic_auth.password_file", q->basic_auth.password_file, password,
                                  sizeof password, err);
    if (!rc && q->authorization.credentials_file)
        rc = service__read_secret("remote_query", "authorization.credentials_file", q->authorization.credentials_file,
                                  credentials, sizeof credentials, err);
    char authz[4200] = "";
    const char *cred = q->authorization.credentials ? q->authorization.credentials : credentials;
    if (*cred) snprintf(authz, sizeof authz, "%s %s", q->authorization.type ? q->authorization.type : "Bearer", cred);
    remote_query_opts_t o = {
        .url = q->url,
        .tenant_header = q->tenant_header,
        .unscoped_tenant = q->unscoped_tenant,
        .header_names = (const char *const *)q->headers.keys,
        .header_values = (const char *const *)q->headers.values,
        .n_headers = q->headers.n,
        .basic_user = q->basic_auth.username,
        .basic_password = q->basic_auth.password ? q->basic_auth.password : password,
        .authorization = *authz ? authz : NULL,
        .ca_file = q->tls_config.ca_file,
        .cert_file = q->tls_config.cert_file,
        .key_file = q->tls_config.key_file,
        .insecure_skip_verify = q->tls_config.insecure_skip_verify,
        .timeout_ms = q->timeout_ms,
        .max_bytes = c->query.max_bytes,
        .parse_text = parse_federate,
    };
    promql_executor_t *ex = NULL;
    if (!rc) rc = remote_executor_new(&o, &ex, err);
    memset(password, 0, sizeof password);
    memset(credentials, 0, sizeof credentials);
    memset(authz, 0, sizeof authz);
    config_unref(c);
    if (rc) return rc;
    promql_executor_free(s->exec);
    s->exec = ex;
    return 0;
}
