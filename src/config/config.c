/* YAML config loading: libyaml builds a document tree (with line/column marks), then a table-driven
 * decoder walks it into config_t. Each section is a table of fields (key, type, offset, bounds), so a
 * new section is a table, not new parsing code. Any key not in a table, a value of the wrong type, a
 * bad duration or size, a value out of bounds, or a duplicate key is an error at its exact position;
 * the first error wins and nothing partial escapes (the caller gets NULL). */
#include "config.h"

#include "util/buf.h"
#include "util/timeutil.h"

#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <yaml.h>

typedef enum { F_STR, F_ADDR, F_DURATION, F_SIZE, F_INT, F_LOGLEVEL, F_LOGFORMAT, F_MAP } ftype_t;

typedef struct field {
    const char *key;
    ftype_t type;
    size_t off;
    const struct field *sub; /* F_MAP: the nested table, NULL-key terminated */
    int64_t min, max;        /* bounds for F_DURATION (ms), F_SIZE (bytes), F_INT */
} field_t;

#define OFF(member) offsetof(config_t, member)

static const field_t server_fields[] = {
    {"listen", F_ADDR, OFF(server.listen), NULL, 0, 0},
    {"read_timeout", F_DURATION, OFF(server.read_timeout_ms), NULL, 1000, 24LL * 3600 * 1000},
    {"max_body", F_SIZE, OFF(server.max_body), NULL, 1024, 4LL << 30},
    {"max_header", F_SIZE, OFF(server.max_header), NULL, 4096, 1 << 20},
    {"threads", F_INT, OFF(server.threads), NULL, 1, 256},
    {"max_connections", F_INT, OFF(server.max_connections), NULL, 1, 1000000},
    {"shutdown_timeout", F_DURATION, OFF(server.shutdown_timeout_ms), NULL, 0, 3600 * 1000},
    {NULL, 0, 0, NULL, 0, 0},
};

static const field_t storage_fields[] = {
    {"path", F_STR, OFF(storage.path), NULL, 0, 0},
    {"retention", F_DURATION, OFF(storage.retention_ms), NULL, 60 * 1000, 100LL * 365 * 24 * 3600 * 1000},
    {NULL, 0, 0, NULL, 0, 0},
};

static const field_t log_fields[] = {
    {"level", F_LOGLEVEL, OFF(log.level), NULL, 0, 0},
    {"format", F_LOGFORMAT, OFF(log.format), NULL, 0, 0},
    {NULL, 0, 0, NULL, 0, 0},
};

static const field_t root_fields[] = {
    {"server", F_MAP, 0, server_fields, 0, 0},
    {"storage", F_MAP, 0, storage_fields, 0, 0},
    {"log", F_MAP, 0, log_fields, 0, 0},
    {NULL, 0, 0, NULL, 0, 0},
};

typedef struct {
    yaml_document_t *doc;
    vg_error_t *err;
    config_t *cfg;
    int depth;
} dec_t;

static int fail_at(dec_t *d, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail_at(dec_t *d, const yaml_node_t *n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char msg[VG_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vg_error_set(d->err, VG_ECONFIG, "%s", msg);
    if (n) {
        d->err->line = (int)n->start_mark.line + 1;
        d->err->col = (int)n->start_mark.column + 1;
        d->err->pos = (long)n->start_mark.index;
    }
    return VG_ECONFIG;
}

static const char *scalar(const yaml_node_t *n, size_t *len) {
    *len = n->data.scalar.length;
    return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    size_t len;
    const char *s = scalar(n, &len);
    return len == 0 || (len == 1 && s[0] == '~') || (len == 4 && !memcmp(s, "null", 4));
}

static const char *kind_name(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default: return "a scalar";
    }
}

static int decode_map(dec_t *d, const yaml_node_t *map, const field_t *fields, const char *path);

static int decode_value(dec_t *d, const yaml_node_t *v, const field_t *f, const char *path) {
    char *base = (char *)d->cfg;
    if (f->type == F_MAP) {
        if (is_null(v)) return 0; /* `server:` with nothing under it keeps the defaults */
        if (v->type != YAML_MAPPING_NODE) return fail_at(d, v, "%s: expected a mapping, got %s", path, kind_name(v));
        return decode_map(d, v, f->sub, path);
    }
    if (v->type != YAML_SCALAR_NODE) return fail_at(d, v, "%s: expected a scalar value, got %s", path, kind_name(v));
    size_t len;
    const char *s = scalar(v, &len);
    if (memchr(s, '\0', len)) return fail_at(d, v, "%s: value contains a NUL byte", path);
    switch (f->type) {
    case F_STR:
    case F_ADDR: {
        if (is_null(v) || len == 0) return fail_at(d, v, "%s: must not be empty", path);
        char host[256];
        int port;
        if (f->type == F_ADDR && (len >= sizeof host || config_split_listen(strndupa(s, len), host, sizeof host, &port)))
            return fail_at(d, v, "%s: \"%.*s\" is not host:port with a port in 1..65535", path, (int)len, s);
        char *copy = strndup(s, len);
        if (!copy) return vg_error_set(d->err, VG_ENOMEM, "out of memory");
        char **slot = (char **)(base + f->off);
        free(*slot);
        *slot = copy;
        return 0;
    }
    case F_DURATION: {
        int64_t ms;
        if (vg_duration_parse(s, len, &ms))
            return fail_at(d, v, "%s: invalid duration \"%.*s\" (expected e.g. 90s, 2m, 1h30m, 15d)", path,
                           (int)len, s);
        if (ms < f->min || ms > f->max) {
            char lo[VG_DURATION_MAX], hi[VG_DURATION_MAX];
            vg_duration_format(f->min, lo), vg_duration_format(f->max, hi);
            return fail_at(d, v, "%s: %.*s is out of range [%s, %s]", path, (int)len, s, lo, hi);
        }
        *(int64_t *)(base + f->off) = ms;
        return 0;
    }
    case F_SIZE: {
        uint64_t bytes;
        if (vg_size_parse(s, len, &bytes))
            return fail_at(d, v, "%s: invalid size \"%.*s\" (expected e.g. 512KiB, 64MiB, 1GiB)", path, (int)len, s);
        if (bytes < (uint64_t)f->min || bytes > (uint64_t)f->max)
            return fail_at(d, v, "%s: %.*s is out of range [%" PRId64 ", %" PRId64 "] bytes", path, (int)len, s,
                           f->min, f->max);
        *(uint64_t *)(base + f->off) = bytes;
        return 0;
    }
    case F_INT: {
        char tmp[32];
        char *end;
        if (len == 0 || len >= sizeof tmp) return fail_at(d, v, "%s: expected an integer", path);
        memcpy(tmp, s, len);
        tmp[len] = '\0';
        errno = 0;
        long long x = strtoll(tmp, &end, 10);
        if (*end || errno) return fail_at(d, v, "%s: expected an integer, got \"%s\"", path, tmp);
        if (x < f->min || x > f->max)
            return fail_at(d, v, "%s: %lld is out of range [%" PRId64 ", %" PRId64 "]", path, x, f->min, f->max);
        *(int64_t *)(base + f->off) = x;
        return 0;
    }
    case F_LOGLEVEL:
    case F_LOGFORMAT: {
        char tmp[16];
        int rc = VG_EINVAL;
        if (len < sizeof tmp) {
            memcpy(tmp, s, len);
            tmp[len] = '\0';
            rc = f->type == F_LOGLEVEL ? vg_log_level_parse(tmp, (vg_log_level_t *)(base + f->off))
                                       : vg_log_format_parse(tmp, (vg_log_format_t *)(base + f->off));
        }
        if (rc)
            return fail_at(d, v, "%s: invalid value \"%.*s\" (expected one of %s)", path, (int)len, s,
                           f->type == F_LOGLEVEL ? "debug, info, warn, error" : "json, logfmt");
        return 0;
    }
    case F_MAP: break;
    }
    return 0;
}

/* Levenshtein distance of two short keys, capped: enough for "did you mean" on typos. */
static size_t edit_distance(const char *a, size_t al, const char *b, size_t bl) {
    size_t row[64];
    if (al >= 64 || bl >= 64) return 99;
    for (size_t j = 0; j <= bl; j++) row[j] = j;
    for (size_t i = 1; i <= al; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= bl; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[bl];
}

static const char *closest(const field_t *fields, const char *key, size_t klen) {
    const char *best = NULL;
    size_t best_d = 3; /* suggest only within two edits */
    for (const field_t *f = fields; f->key; f++) {
        size_t dist = edit_distance(key, klen, f->key, strlen(f->key));
        if (dist < best_d) best_d = dist, best = f->key;
    }
    return best;
}

static int decode_map(dec_t *d, const yaml_node_t *map, const field_t *fields, const char *path) {
    if (++d->depth > CONFIG_MAX_DEPTH) return fail_at(d, map, "%s: nested too deeply", path);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(d->doc, p->value);
        if (!k || !v) return fail_at(d, map, "%s: malformed mapping", path);
        if (k->type != YAML_SCALAR_NODE) return fail_at(d, k, "%s: keys must be scalars", path);
        size_t klen;
        const char *key = scalar(k, &klen);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = yaml_document_get_node(d->doc, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE && k2->data.scalar.length == klen &&
                !memcmp(k2->data.scalar.value, key, klen))
                return fail_at(d, k, "%s: duplicate key \"%.*s\"", path, (int)klen, key);
        }
        const field_t *f = fields;
        while (f->key && (strlen(f->key) != klen || memcmp(f->key, key, klen))) f++;
        char sub[256];
        snprintf(sub, sizeof sub, "%s%s%.*s", path, *path ? "." : "", (int)klen, key);
        if (!f->key) {
            const char *near = closest(fields, key, klen);
            if (near) return fail_at(d, k, "unknown field \"%s\" (did you mean \"%s\"?)", sub, near);
            char known[256] = "";
            for (const field_t *g = fields; g->key; g++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", g == fields ? "" : ", ", g->key);
            return fail_at(d, k, "unknown field \"%s\" (valid here: %s)", sub, known);
        }
        int rc = decode_value(d, v, f, sub);
        if (rc) return rc;
    }
    d->depth--;
    return 0;
}

static void config_free(config_t *c) {
    if (!c) return;
    free(c->file);
    free(c->server.listen);
    free(c->storage.path);
    free(c);
}

config_t *config_default(void) {
    config_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    atomic_init(&c->refs, 1);
    c->file = strdup("");
    c->server.listen = strdup("127.0.0.1:9290");
    c->server.read_timeout_ms = 2 * 60 * 1000;
    c->server.max_body = 64u << 20;
    c->server.max_header = 64u << 10;
    c->server.threads = 4;
    c->server.max_connections = 1024;
    c->server.shutdown_timeout_ms = 5000;
    c->storage.path = strdup("./data");
    c->storage.retention_ms = 15LL * 24 * 3600 * 1000;
    c->log.level = VG_LOG_INFO;
    c->log.format = VG_LOG_JSON;
    if (!c->file || !c->server.listen || !c->storage.path) {
        config_free(c);
        return NULL;
    }
    return c;
}

config_t *config_ref(config_t *c) {
    if (c) atomic_fetch_add(&c->refs, 1);
    return c;
}

void config_unref(config_t *c) {
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) config_free(c);
}

int config_parse(const char *name, const char *text, size_t len, config_t **out, vg_error_t *err) {
    *out = NULL;
    vg_error_clear(err);
    if (len > CONFIG_MAX_FILE_BYTES)
        return vg_error_set(err, VG_ECONFIG, "file is larger than %u bytes", CONFIG_MAX_FILE_BYTES);
    config_t *c = config_default();
    if (!c) return vg_error_set(err, VG_ENOMEM, "out of memory");
    free(c->file);
    c->file = strdup(name);
    snprintf(c->hash, sizeof c->hash, "%016llx", (unsigned long long)XXH64(text, len, 0));

    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = 0;
    if (!c->file || !yaml_parser_initialize(&parser)) {
        config_free(c);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        const yaml_mark_t *m = parser.problem ? &parser.problem_mark : &parser.context_mark;
        vg_error_set(err, VG_ECONFIG, "YAML syntax error: %s%s%s", parser.problem ? parser.problem : "invalid YAML",
                     parser.context ? " " : "", parser.context ? parser.context : "");
        err->line = (int)m->line + 1;
        err->col = (int)m->column + 1;
        err->pos = (long)m->index;
        yaml_parser_delete(&parser);
        config_free(c);
        return VG_ECONFIG;
    }
    /* more than one document in the stream is a mistake, not something to silently ignore */
    yaml_document_t extra;
    if (yaml_parser_load(&parser, &extra)) {
        yaml_node_t *r2 = yaml_document_get_root_node(&extra);
        if (r2) {
            vg_error_set(err, VG_ECONFIG, "more than one YAML document in the file");
            err->line = (int)r2->start_mark.line + 1;
            err->col = (int)r2->start_mark.column + 1;
            rc = VG_ECONFIG;
        }
        yaml_document_delete(&extra);
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    dec_t d = {&doc, err, c, 0};
    if (!rc && root && !is_null(root)) {
        if (root->type != YAML_MAPPING_NODE) rc = fail_at(&d, root, "the top level must be a mapping");
        else rc = decode_map(&d, root, root_fields, "");
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc) {
        config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int config_load_file(const char *path, config_t **out, vg_error_t *err) {
    *out = NULL;
    vg_error_clear(err);
    FILE *fp = fopen(path, "rb");
    if (!fp) return vg_error_set(err, VG_EIO, "cannot open: %s", strerror(errno));
    vg_buf_t b = VG_BUF_INIT;
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (b.len + n > CONFIG_MAX_FILE_BYTES) {
            rc = vg_error_set(err, VG_ECONFIG, "file is larger than %u bytes", CONFIG_MAX_FILE_BYTES);
            break;
        }
        if (vg_buf_append(&b, chunk, n)) {
            rc = vg_error_set(err, VG_ENOMEM, "out of memory");
            break;
        }
    }
    if (!rc && ferror(fp)) rc = vg_error_set(err, VG_EIO, "read error: %s", strerror(errno));
    fclose(fp);
    if (!rc) rc = config_parse(path, b.data ? b.data : "", b.len, out, err);
    vg_buf_deinit(&b);
    return rc;
}

void config_error_format(const vg_error_t *err, const char *file, char *out, size_t cap) {
    if (err->line > 0) snprintf(out, cap, "%s:%d:%d: %s", file, err->line, err->col, err->msg);
    else snprintf(out, cap, "%s: %s", file, err->msg);
}

int config_split_listen(const char *listen, char *host, size_t cap, int *port) {
    const char *colon;
    size_t hlen;
    if (!listen || !*listen) return VG_EINVAL;
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':') return VG_EINVAL;
        colon = rb + 1;
        listen++;
        hlen = (size_t)(rb - listen);
    } else {
        colon = strrchr(listen, ':');
        if (!colon || memchr(listen, ':', (size_t)(colon - listen))) return VG_EINVAL;
        hlen = (size_t)(colon - listen);
    }
    if (hlen >= cap) return VG_EINVAL;
    const char *p = colon + 1;
    if (!*p || strlen(p) > 5) return VG_EINVAL;
    int v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9') return VG_EINVAL;
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > 65535) return VG_EINVAL;
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    *port = v;
    return 0;
}
