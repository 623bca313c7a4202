/* The config decoder: libyaml builds a document tree (with line/column marks), then a walk over a field
 * table (config_int.h) fills the struct the table describes. A key not in the table, a value of the
 * wrong type, a bad duration or size, a value out of bounds, or a duplicate key is an error at its exact
 * position, with "did you mean" for a near key. The first error wins; what was decoded before it stays
 * in the struct for the caller to free with config__free_fields (nothing partial escapes config_parse).
 *
 * Bounds: one document per file, CONFIG_MAX_DEPTH nested mappings, 100000 entries per list or mapping. */
#include "config_int.h"

#include "model/regex.h"
#include "util/timeutil.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct {
    yaml_document_t *doc;
    vg_error_t *err;
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

/* The same for semantic checks after decoding, at a position remembered in the struct. */
int config__fail_pos(vg_error_t *err, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char msg[VG_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vg_error_set(err, VG_ECONFIG, "%s", msg);
    err->line = line;
    err->col = col;
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

bool config__valid_label_name(const char *s, size_t n) {
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i && c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* A heap copy of a scalar that must be a string without NUL bytes. */
static int dup_scalar(dec_t *d, const yaml_node_t *v, const char *path, char **out) {
    if (v->type != YAML_SCALAR_NODE) return fail_at(d, v, "%s: expected a string, got %s", path, kind_name(v));
    size_t len;
    const char *s = scalar(v, &len);
    if (memchr(s, '\0', len)) return fail_at(d, v, "%s: value contains a NUL byte", path);
    *out = strndup(s, len);
    return *out ? 0 : vg_error_set(d->err, VG_ENOMEM, "out of memory");
}

static int push_str(dec_t *d, char ***arr, size_t *n, char *s) {
    char **na = realloc(*arr, (*n + 1) * sizeof *na);
    if (!na) {
        free(s);
        return vg_error_set(d->err, VG_ENOMEM, "out of memory");
    }
    na[(*n)++] = s;
    *arr = na;
    return 0;
}

static int decode_strlist(dec_t *d, const yaml_node_t *v, config_strlist_t *out, const char *path) {
    if (is_null(v)) return 0;
    if (v->type != YAML_SEQUENCE_NODE) return fail_at(d, v, "%s: expected a list of strings, got %s", path, kind_name(v));
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(d->doc, *it);
        char *str;
        int rc = e ? dup_scalar(d, e, path, &str) : fail_at(d, v, "%s: malformed list", path);
        if (rc || (rc = push_str(d, &out->v, &out->n, str))) return rc;
    }
    return 0;
}

/* label-name → string (F_KV, F_LABELS) or name → list of strings flattened into repeated keys (F_PARAMS). */
static int decode_kv(dec_t *d, const yaml_node_t *v, const config__field_t *f, config_kv_t *out, const char *path) {
    if (is_null(v)) return 0;
    if (v->type != YAML_MAPPING_NODE) return fail_at(d, v, "%s: expected a mapping, got %s", path, kind_name(v));
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d->doc, p->key), *val = yaml_document_get_node(d->doc, p->value);
        if (!k || !val) return fail_at(d, v, "%s: malformed mapping", path);
        char *key;
        int rc = dup_scalar(d, k, path, &key);
        if (rc) return rc;
        if (f->type == F_LABELS && !config__valid_label_name(key, strlen(key))) {
            rc = fail_at(d, k, "%s: \"%s\" is not a valid label name", path, key);
            free(key);
            return rc;
        }
        for (size_t i = 0; i < out->n && f->type != F_PARAMS && f->type != F_VALUES; i++)
            if (!strcmp(out->keys[i], key)) {
                free(key);
                return fail_at(d, k, "%s: duplicate key \"%s\"", path, out->keys[i]);
            }
        if (f->type == F_VALUES && val->type == YAML_SCALAR_NODE) {
            char *one;
            if ((rc = dup_scalar(d, val, path, &one))) {
                free(key);
                return rc;
            }
            size_t n0 = out->n;
            if ((rc = push_str(d, &out->keys, &n0, key))) {
                free(one);
                return rc;
            }
            if ((rc = push_str(d, &out->values, &out->n, one))) return rc;
            continue;
        }
        if (f->type == F_PARAMS || f->type == F_VALUES) {
            config_strlist_t vals = {0};
            if ((rc = decode_strlist(d, val, &vals, path))) {
                free(key);
                for (size_t i = 0; i < vals.n; i++) free(vals.v[i]);
                free(vals.v);
                return rc;
            }
            for (size_t i = 0; i < vals.n && !rc; i++) {
                char *kc = strdup(key);
                size_t n0 = out->n;
                rc = kc ? push_str(d, &out->keys, &n0, kc) : vg_error_set(d->err, VG_ENOMEM, "out of memory");
                if (!rc) {
                    rc = push_str(d, &out->values, &out->n, vals.v[i]);
                    vals.v[i] = NULL;
                }
            }
            for (size_t i = 0; i < vals.n; i++) free(vals.v[i]);
            free(vals.v);
            free(key);
            if (rc) return rc;
            continue;
        }
        char *value;
        if ((rc = dup_scalar(d, val, path, &value))) {
            free(key);
            return rc;
        }
        size_t n0 = out->n;
        if ((rc = push_str(d, &out->keys, &n0, key))) {
            free(value);
            return rc;
        }
        if ((rc = push_str(d, &out->values, &out->n, value))) return rc;
    }
    return 0;
}

static int decode_map(dec_t *d, const yaml_node_t *map, const config__field_t *fields, char *base, const char *path);

static int decode_list(dec_t *d, const yaml_node_t *v, const config__field_t *f, config__anylist_t *out, const char *path) {
    if (is_null(v)) return 0;
    if (v->type != YAML_SEQUENCE_NODE) return fail_at(d, v, "%s: expected a list, got %s", path, kind_name(v));
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (n == 0) return 0;
    if (n > 100000) return fail_at(d, v, "%s: more than 100000 entries", path);
    out->v = calloc(n, f->elem_size);
    if (!out->v) return vg_error_set(d->err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *e = yaml_document_get_node(d->doc, v->data.sequence.items.start[i]);
        char *elem = (char *)out->v + i * f->elem_size;
        out->n = i + 1; /* counted before decoding so a failure frees what this element holds */
        if (f->init) f->init(elem);
        if (!e) return fail_at(d, v, "%s: malformed list", path);
        if (f->pos_off) {
            ((int *)(elem + f->pos_off))[0] = (int)e->start_mark.line + 1;
            ((int *)(elem + f->pos_off))[1] = (int)e->start_mark.column + 1;
        }
        char sub[256];
        snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        if (e->type != YAML_MAPPING_NODE) return fail_at(d, e, "%s: expected a mapping, got %s", sub, kind_name(e));
        int rc = decode_map(d, e, f->sub, elem, sub);
        if (rc) return rc;
    }
    return 0;
}

/* A mapping name → struct, stored like a list whose elements keep their name at key_off. */
static int decode_mapof(dec_t *d, const yaml_node_t *v, const config__field_t *f, config__anylist_t *out, const char *path) {
    if (is_null(v)) return 0;
    if (v->type != YAML_MAPPING_NODE) return fail_at(d, v, "%s: expected a mapping, got %s", path, kind_name(v));
    size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    if (n == 0) return 0;
    if (n > 100000) return fail_at(d, v, "%s: more than 100000 entries", path);
    out->v = calloc(n, f->elem_size);
    if (!out->v) return vg_error_set(d->err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *p = &v->data.mapping.pairs.start[i];
        yaml_node_t *k = yaml_document_get_node(d->doc, p->key), *e = yaml_document_get_node(d->doc, p->value);
        char *elem = (char *)out->v + i * f->elem_size;
        out->n = i + 1;
        if (f->init) f->init(elem);
        if (!k || !e) return fail_at(d, v, "%s: malformed mapping", path);
        char *name;
        int rc = dup_scalar(d, k, path, &name);
        if (rc) return rc;
        *(char **)(elem + f->key_off) = name;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(*(char **)((char *)out->v + j * f->elem_size + f->key_off), name))
                return fail_at(d, k, "%s: duplicate key \"%s\"", path, name);
        if (f->pos_off) {
            ((int *)(elem + f->pos_off))[0] = (int)k->start_mark.line + 1;
            ((int *)(elem + f->pos_off))[1] = (int)k->start_mark.column + 1;
        }
        char sub[256];
        if (snprintf(sub, sizeof sub, "%s.%s", path, name) >= (int)sizeof sub) strcpy(sub + sizeof sub - 4, "...");
        if (is_null(e)) continue;
        if (e->type != YAML_MAPPING_NODE) return fail_at(d, e, "%s: expected a mapping, got %s", sub, kind_name(e));
        if ((rc = decode_map(d, e, f->sub, elem, sub))) return rc;
    }
    return 0;
}

/* The one place a regex in the config is validated: it must compile as the relabeler compiles it. */
static int regex_check(const char *re, vg_error_t *err) { return model_regex_check(re, strlen(re), NULL, err); }

static int decode_value(dec_t *d, const yaml_node_t *v, const config__field_t *f, char *base, const char *path) {
    char *slot = base + f->off;
    switch (f->type) {
    case F_STRUCT:
        if (is_null(v)) return 0; /* `server:` with nothing under it keeps the defaults */
        if (v->type != YAML_MAPPING_NODE) return fail_at(d, v, "%s: expected a mapping, got %s", path, kind_name(v));
        if (f->pos_off) {
            ((int *)(slot + f->pos_off))[0] = (int)v->start_mark.line + 1;
            ((int *)(slot + f->pos_off))[1] = (int)v->start_mark.column + 1;
        }
        return decode_map(d, v, f->sub, slot, path);
    case F_LIST: return decode_list(d, v, f, (config__anylist_t *)slot, path);
    case F_MAPOF: return decode_mapof(d, v, f, (config__anylist_t *)slot, path);
    case F_STRLIST: return decode_strlist(d, v, (config_strlist_t *)slot, path);
    case F_KV:
    case F_LABELS:
    case F_PARAMS:
    case F_VALUES: return decode_kv(d, v, f, (config_kv_t *)slot, path);
    default: break;
    }
    if (v->type != YAML_SCALAR_NODE) return fail_at(d, v, "%s: expected a scalar value, got %s", path, kind_name(v));
    size_t len;
    const char *s = scalar(v, &len);
    if (memchr(s, '\0', len)) return fail_at(d, v, "%s: value contains a NUL byte", path);
    switch (f->type) {
    case F_STR:
    case F_ADDR:
    case F_REGEX: {
        if (!f->empty_ok && (is_null(v) || len == 0)) return fail_at(d, v, "%s: must not be empty", path);
        char *copy = strndup(s, len);
        if (!copy) return vg_error_set(d->err, VG_ENOMEM, "out of memory");
        if (f->type == F_ADDR) {
            char host[256];
            int port;
            if (len >= sizeof host || config_split_listen(copy, host, sizeof host, &port)) {
                free(copy);
                return fail_at(d, v, "%s: \"%.*s\" is not host:port with a port in 1..65535", path, (int)len, s);
            }
        }
        if (f->type == F_REGEX) {
            vg_error_t rerr;
            if (regex_check(copy, &rerr)) {
                free(copy);
                return fail_at(d, v, "%s: %s", path, rerr.msg);
            }
        }
        char **sp = (char **)slot;
        free(*sp);
        *sp = copy;
        return 0;
    }
    case F_DURATION: {
        int64_t ms;
        if (vg_duration_parse(s, len, &ms))
            return fail_at(d, v, "%s: invalid duration \"%.*s\" (expected e.g. 90s, 2m, 1h30m, 15d)", path, (int)len, s);
        if (ms < f->min || ms > f->max) {
            char lo[VG_DURATION_MAX], hi[VG_DURATION_MAX];
            vg_duration_format(f->min, lo), vg_duration_format(f->max, hi);
            return fail_at(d, v, "%s: %.*s is out of range [%s, %s]", path, (int)len, s, lo, hi);
        }
        *(int64_t *)slot = ms;
        return 0;
    }
    case F_SIZE: {
        uint64_t bytes;
        if (vg_size_parse(s, len, &bytes))
            return fail_at(d, v, "%s: invalid size \"%.*s\" (expected e.g. 512KiB, 64MiB, 1GiB)", path, (int)len, s);
        if (bytes < (uint64_t)f->min || bytes > (uint64_t)f->max)
            return fail_at(d, v, "%s: %.*s is out of range [%" PRId64 ", %" PRId64 "] bytes", path, (int)len, s, f->min,
                           f->max);
        *(uint64_t *)slot = bytes;
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
        *(int64_t *)slot = x;
        return 0;
    }
    case F_FLOAT: {
        char tmp[64];
        char *end;
        if (len == 0 || len >= sizeof tmp) return fail_at(d, v, "%s: expected a number", path);
        memcpy(tmp, s, len);
        tmp[len] = '\0';
        double x = strtod(tmp, &end);
        if (*end || !isfinite(x)) return fail_at(d, v, "%s: expected a number, got \"%s\"", path, tmp);
        if (x < (double)f->min || x > (double)f->max)
            return fail_at(d, v, "%s: %s is out of range [%" PRId64 ", %" PRId64 "]", path, tmp, f->min, f->max);
        *(double *)slot = x;
        return 0;
    }
    case F_BOOL:
        if (len == 4 && !memcmp(s, "true", 4)) *(bool *)slot = true;
        else if (len == 5 && !memcmp(s, "false", 5)) *(bool *)slot = false;
        else return fail_at(d, v, "%s: expected true or false, got \"%.*s\"", path, (int)len, s);
        return 0;
    case F_ENUM: {
        char list[256] = "";
        for (int i = 0; f->names[i]; i++) {
            if (strlen(f->names[i]) == len && !memcmp(f->names[i], s, len)) {
                *(int *)slot = i;
                return 0;
            }
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", f->names[i]);
        }
        return fail_at(d, v, "%s: invalid value \"%.*s\" (expected one of %s)", path, (int)len, s, list);
    }
    default: break;
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

static const char *closest(const config__field_t *fields, const char *key, size_t klen) {
    const char *best = NULL;
    size_t best_d = 3; /* suggest only within two edits */
    for (const config__field_t *f = fields; f->key; f++) {
        size_t dist = edit_distance(key, klen, f->key, strlen(f->key));
        if (dist < best_d) best_d = dist, best = f->key;
    }
    return best;
}

static int decode_map(dec_t *d, const yaml_node_t *map, const config__field_t *fields, char *base, const char *path) {
    if (++d->depth > CONFIG_MAX_DEPTH) return fail_at(d, map, "%s: nested too deeply", path);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(d->doc, p->value);
        if (!k || !v) return fail_at(d, map, "%s: malformed mapping", path);
        if (k->type != YAML_SCALAR_NODE) return fail_at(d, k, "%s: keys must be scalars", *path ? path : "config");
        size_t klen;
        const char *key = scalar(k, &klen);
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k2 = yaml_document_get_node(d->doc, q->key);
            if (k2 && k2->type == YAML_SCALAR_NODE && k2->data.scalar.length == klen &&
                !memcmp(k2->data.scalar.value, key, klen))
                return fail_at(d, k, "%s%sduplicate key \"%.*s\"", path, *path ? ": " : "", (int)klen, key);
        }
        const config__field_t *f = fields;
        while (f->key && (strlen(f->key) != klen || memcmp(f->key, key, klen))) f++;
        char sub[256];
        snprintf(sub, sizeof sub, "%s%s%.*s", path, *path ? "." : "", (int)klen, key);
        if (!f->key) {
            const char *near = closest(fields, key, klen);
            if (near) return fail_at(d, k, "unknown field \"%s\" (did you mean \"%s\"?)", sub, near);
            char known[512] = "";
            for (const config__field_t *g = fields; g->key; g++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", g == fields ? "" : ", ", g->key);
            return fail_at(d, k, "unknown field \"%s\" (valid here: %s)", sub, known);
        }
        int rc = decode_value(d, v, f, base, sub);
        if (rc) return rc;
    }
    d->depth--;
    return 0;
}

void config__free_fields(const config__field_t *fields, char *base) {
    for (const config__field_t *f = fields; f->key; f++) {
        char *slot = base + f->off;
        switch (f->type) {
        case F_STR:
        case F_ADDR:
        case F_REGEX: free(*(char **)slot); break;
        case F_STRLIST: {
            config_strlist_t *l = (config_strlist_t *)slot;
            for (size_t i = 0; i < l->n; i++) free(l->v[i]);
            free(l->v);
            break;
        }
        case F_KV:
        case F_LABELS:
        case F_PARAMS:
        case F_VALUES: {
            config_kv_t *kv = (config_kv_t *)slot;
            for (size_t i = 0; i < kv->n; i++) free(kv->keys[i]), free(kv->values[i]);
            free(kv->keys);
            free(kv->values);
            break;
        }
        case F_STRUCT: config__free_fields(f->sub, slot); break;
        case F_LIST:
        case F_MAPOF: {
            config__anylist_t *l = (config__anylist_t *)slot;
            for (size_t i = 0; i < l->n; i++) {
                char *elem = (char *)l->v + i * f->elem_size;
                if (f->type == F_MAPOF) free(*(char **)(elem + f->key_off));
                config__free_fields(f->sub, elem);
            }
            free(l->v);
            break;
        }
        default: break;
        }
    }
}

/* Loads exactly one YAML document from text (none is an empty document). */
static int load_doc(const char *text, size_t len, yaml_document_t *doc, vg_error_t *err) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return vg_error_set(err, VG_ENOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, doc)) {
        const yaml_mark_t *m = parser.problem ? &parser.problem_mark : &parser.context_mark;
        vg_error_set(err, VG_ECONFIG, "YAML syntax error: %s%s%s", parser.problem ? parser.problem : "invalid YAML",
                     parser.context ? " " : "", parser.context ? parser.context : "");
        err->line = (int)m->line + 1;
        err->col = (int)m->column + 1;
        err->pos = (long)m->index;
        yaml_parser_delete(&parser);
        return VG_ECONFIG;
    }
    /* more than one document in the stream is a mistake, not something to silently ignore */
    int rc = 0;
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
    yaml_parser_delete(&parser);
    if (rc) yaml_document_delete(doc);
    return rc;
}


int config__decode_text(const char *text, size_t len, const config__field_t *f, char *base, vg_error_t *err) {
    yaml_document_t doc;
    int rc = load_doc(text, len, &doc, err);
    if (rc) return rc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    dec_t d = {&doc, err, 0};
    if (root && !is_null(root)) {
        if (f->type == F_STRUCT && root->type != YAML_MAPPING_NODE) rc = fail_at(&d, root, "the top level must be a mapping");
        else rc = decode_value(&d, root, f, base, "");
    }
    yaml_document_delete(&doc);
    return rc;
}
