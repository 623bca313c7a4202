/* HTTP service discovery (Prometheus' http_sd_configs): every refresh_interval, GET the URL; a 200
 * answer with a JSON Content-Type holding a list of {"targets": [...], "labels": {...}} replaces the
 * provider's groups (each gets __meta_url and the source "<url>:<index>"). Any failure — no answer, a
 * status other than 200, another content type, a body over INGEST_SD_MAX_RESPONSE, malformed JSON or
 * an invalid label — is logged and counted, and the last good groups stay. */
#include "discovery_int.h"

#include "util/log.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

bool ingest_http_sd_content_type_ok(const char *ct) {
    static const char want[] = "application/json";
    if (!ct || strncmp(ct, want, sizeof want - 1)) return false;
    return ct[sizeof want - 1] == '\0' || ct[sizeof want - 1] == ';';
}

static bool valid_label_name(const char *s) {
    if (!*s) return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i && c >= '0' && c <= '9'))) return false;
    }
    return true;
}

int ingest_http_sd_parse(const char *url, const char *body, size_t len, ingest_sd_groups_t **out, vg_error_t *err) {
    *out = NULL;
    json_error_t je;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) return vg_error_set(err, VG_EINVAL, "invalid JSON at line %d, column %d: %s", je.line, je.column, je.text);
    int rc = 0;
    ingest_sd_groups_t *g = NULL;
    if (!json_is_array(root) && !json_is_null(root)) {
        rc = vg_error_set(err, VG_EINVAL, "expected a JSON list of target groups");
        goto done;
    }
    if (!(g = ingest_sd_groups_new())) {
        rc = vg_error_set(err, VG_ENOMEM, "out of memory");
        goto done;
    }
    size_t i;
    json_t *jg;
    json_array_foreach(root, i, jg) {
        json_t *targets = json_object_get(jg, "targets"), *labels = json_object_get(jg, "labels");
        if (!json_is_object(jg) || (targets && !json_is_array(targets) && !json_is_null(targets)) ||
            (labels && !json_is_object(labels) && !json_is_null(labels))) {
            rc = vg_error_set(err, VG_EINVAL, "target group %zu: expected {\"targets\": [...], \"labels\": {...}}", i);
            goto done;
        }
        char source[4200];
        snprintf(source, sizeof source, "%s:%zu", url, i);
        ingest_sd_group_t *grp = ingest_sd_group_add(g, source);
        if (!grp) break;
        const char *k;
        json_t *v;
        json_object_foreach(labels, k, v) {
            if (!valid_label_name(k)) {
                rc = vg_error_set(err, VG_EINVAL, "target group %zu: \"%s\" is not a valid label name", i, k);
                goto done;
            }
            if (!json_is_string(v)) {
                rc = vg_error_set(err, VG_EINVAL, "target group %zu: label %s: expected a string", i, k);
                goto done;
            }
            ingest_sd_label_set(g, &grp->labels, k, json_string_value(v));
        }
        ingest_sd_label_set(g, &grp->labels, "__meta_url", url);
        size_t t;
        json_t *jt;
        json_array_foreach(targets, t, jt) {
            if (!json_is_string(jt)) {
                rc = vg_error_set(err, VG_EINVAL, "target group %zu: targets[%zu]: expected a string", i, t);
                goto done;
            }
            ingest_sd_labels_t *tl = ingest_sd_target_add(g, grp);
            if (!tl) {
                rc = g->oom ? vg_error_set(err, VG_ENOMEM, "out of memory")
                            : vg_error_set(err, VG_ELIMIT, "more than %u targets", INGEST_SD_MAX_TARGETS);
                goto done;
            }
            ingest_sd_label_set(g, tl, "__address__", json_string_value(jt));
        }
    }
    if (g->oom) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
done:
    json_decref(root);
    if (rc) ingest_sd_groups_unref(g);
    else *out = g;
    return rc;
}

void *ingest__http_sd_run(void *arg) {
    ingest__sd_provider_t *p = arg;
    const config_http_sd_t *c = p->conf;
    char hdr[96];
    snprintf(hdr, sizeof hdr, "X-Prometheus-Refresh-Interval-Seconds: %g", (double)c->refresh_interval_ms / 1000);
    ingest__sd_req_t rq = {.url = c->url, .http = &c->http, .accept = "application/json", .extra_header = hdr,
                           .timeout_ms = c->refresh_interval_ms, .max_body = INGEST_SD_MAX_RESPONSE};
    do {
        ingest__sd_xfer_t x;
        long status;
        vg_error_t err;
        vg_error_clear(&err);
        int rc = ingest__sd_get(p, &rq, &x, &status, &err);
        if (rc == VG_ECANCELED) {
            ingest__sd_xfer_cleanup(&x);
            break;
        }
        if (!rc && status != 200) rc = vg_error_set(&err, VG_EUPSTREAM, "server returned HTTP status %ld", status);
        if (!rc) {
            char *ct = NULL;
            curl_easy_getinfo(x.easy, CURLINFO_CONTENT_TYPE, &ct);
            if (!ingest_http_sd_content_type_ok(ct)) rc = vg_error_set(&err, VG_EUPSTREAM, "unsupported content type \"%s\"", ct ? ct : "");
        }
        ingest_sd_groups_t *g = NULL;
        if (!rc) rc = ingest_http_sd_parse(c->url, x.body.data ? x.body.data : "", x.body.len, &g, &err);
        ingest__sd_xfer_cleanup(&x);
        if (rc) {
            ingest__sd_fail(p);
            vg_log_error("discovery", "HTTP SD refresh failed; keeping the last targets", VG_LS("job", p->job),
                         VG_LS("config", p->name), VG_LS("url", c->url), VG_LS("err", err.msg));
        } else {
            ingest__sd_publish(p, g);
        }
    } while (!ingest__sd_sleep(p, c->refresh_interval_ms));
    return NULL;
}
