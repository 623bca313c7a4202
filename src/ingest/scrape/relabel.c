/* Relabeling engine; semantics in relabel.h. Rules are compiled once per config load and point at
 * strings they own; regexes and `$1`/`${name}` expansion are model_regex's. Applying rules allocates
 * only from the caller's arena (model_regex keeps its match data per thread). */
#include "relabel.h"

#include "model/regex.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    config_relabel_action_t action;
    char **source;
    size_t n_source;
    char *separator, *target, *replacement; /* owned */
    uint64_t modulus;
    model_regex_t *re;
} rule_t;

struct ingest_relabel {
    rule_t *rules;
    size_t n;
};

void ingest_relabel_free(ingest_relabel_t *r) {
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) {
        rule_t *u = &r->rules[i];
        for (size_t j = 0; j < u->n_source; j++) free(u->source[j]);
        free(u->source);
        free(u->separator);
        free(u->target);
        free(u->replacement);
        model_regex_free(u->re);
    }
    free(r->rules);
    free(r);
}

size_t ingest_relabel_count(const ingest_relabel_t *r) { return r ? r->n : 0; }

static char *dup_or_empty(const char *s) { return strdup(s ? s : ""); }

int ingest_relabel_compile(const config_relabel_list_t *rules, ingest_relabel_t **out, vg_error_t *err) {
    *out = NULL;
    ingest_relabel_t *r = calloc(1, sizeof *r);
    if (!r) return vg_error_set(err, VG_ENOMEM, "out of memory");
    size_t n = rules ? rules->n : 0;
    if (n && !(r->rules = calloc(n, sizeof *r->rules))) goto oom;
    for (size_t i = 0; i < n; i++) {
        const config_relabel_t *c = &rules->v[i];
        rule_t *u = &r->rules[i];
        r->n = i + 1;
        u->action = (config_relabel_action_t)c->action;
        u->modulus = (uint64_t)c->modulus;
        if (!(u->separator = dup_or_empty(c->separator)) || !(u->target = dup_or_empty(c->target_label)) ||
            !(u->replacement = dup_or_empty(c->replacement)))
            goto oom;
        if (c->source_labels.n) {
            if (!(u->source = calloc(c->source_labels.n, sizeof *u->source))) goto oom;
            for (size_t j = 0; j < c->source_labels.n; j++) {
                u->n_source = j + 1;
                if (!(u->source[j] = strdup(c->source_labels.v[j]))) goto oom;
            }
        }
        const char *re = c->regex ? c->regex : "(.*)";
        vg_error_t rerr;
        vg_error_clear(&rerr);
        int rc = model_regex_new(re, strlen(re), NULL, &u->re, &rerr);
        if (rc == VG_ENOMEM) goto oom;
        if (rc) {
            vg_error_set_pos(err, VG_ECONFIG, rerr.pos, rerr.end, "relabel rule %zu: invalid regex \"%s\": %s", i, re, rerr.msg);
            ingest_relabel_free(r);
            return VG_ECONFIG;
        }
    }
    *out = r;
    return 0;
oom:
    ingest_relabel_free(r);
    return vg_error_set(err, VG_ENOMEM, "out of memory");
}

/* ---- builder ---- */

void ingest_lbuilder_init(ingest_lbuilder_t *b, vg_arena_t *arena) {
    memset(b, 0, sizeof *b);
    b->arena = arena;
}

static bool grow(ingest_lbuilder_t *b) {
    if (b->n < b->cap) return true;
    size_t cap = b->cap ? b->cap * 2 : 16;
    model_label_t *v = vg_arena_alloc(b->arena, cap * sizeof *v);
    if (!v) {
        b->oom = true;
        return false;
    }
    if (b->n) memcpy(v, b->v, b->n * sizeof *v);
    b->v = v;
    b->cap = cap;
    return true;
}

void ingest_lbuilder_reset(ingest_lbuilder_t *b, const model_label_t *v, size_t n) {
    b->n = 0;
    for (size_t i = 0; i < n; i++) {
        if (!grow(b)) return;
        b->v[b->n++] = v[i];
    }
}

const char *ingest_lbuilder_get(const ingest_lbuilder_t *b, const char *name) {
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->v[i].name, name)) return b->v[i].value;
    return NULL;
}

void ingest_lbuilder_del(ingest_lbuilder_t *b, const char *name) {
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->v[i].name, name)) {
            b->v[i] = b->v[--b->n];
            return;
        }
}

void ingest_lbuilder_set(ingest_lbuilder_t *b, const char *name, const char *value) {
    if (!value || !*value) {
        ingest_lbuilder_del(b, name);
        return;
    }
    char *vc = vg_arena_strndup(b->arena, value, strlen(value));
    if (!vc) {
        b->oom = true;
        return;
    }
    for (size_t i = 0; i < b->n; i++)
        if (!strcmp(b->v[i].name, name)) {
            b->v[i].value = vc;
            return;
        }
    char *nc = vg_arena_strndup(b->arena, name, strlen(name));
    if (!nc || !grow(b)) {
        b->oom = true;
        return;
    }
    b->v[b->n++] = (model_label_t){nc, vc};
}

void ingest_lbuilder_sort(ingest_lbuilder_t *b) { model_labels_sort(b->v, b->n); }

/* ---- matching and expansion ---- */

/* Records a regex that could not be evaluated: the builder's result is unusable, since keeping,
 * dropping or leaving the labels would each be a guess. */
static void fail(const rule_t *u, ingest_lbuilder_t *b, int rc) {
    if (b->err) return;
    b->err = rc;
    b->err_regex = model_regex_source(u->re);
    b->err_action = config_relabel_action_name(u->action);
}

/* Matches s against the rule's anchored regex: 1, 0, or <0 recorded in b by fail(). */
static int rmatch(const rule_t *u, ingest_lbuilder_t *b, const char *s) {
    int r = model_regex_match(u->re, s, strlen(s));
    if (r < 0) fail(u, b, r);
    return r;
}

/* Like rmatch, keeping the groups for expand(). */
static int rcapture(const rule_t *u, ingest_lbuilder_t *b, const char *s, model_regex_caps_t *caps) {
    int r = model_regex_capture(u->re, s, strlen(s), caps);
    if (r < 0) fail(u, b, r);
    return r;
}

/* Go's regexp.Expand of tmpl against a match; result in the arena (NULL on exhaustion). */
static char *expand(const rule_t *u, vg_arena_t *a, const char *tmpl, const model_regex_caps_t *caps) {
    size_t tl = strlen(tmpl), n = model_regex_expand(u->re, tmpl, tl, caps, NULL, 0);
    char *out = vg_arena_alloc(a, n + 1);
    if (!out) return NULL;
    model_regex_expand(u->re, tmpl, tl, caps, out, n + 1);
    return out;
}

static bool valid_name(const char *s) { return model_label_name_valid(s, strlen(s)); }

/* The source labels' values joined by the separator. */
static char *join_sources(const rule_t *u, ingest_lbuilder_t *b) {
    size_t len = 0, sl = strlen(u->separator);
    for (size_t i = 0; i < u->n_source; i++) {
        const char *v = ingest_lbuilder_get(b, u->source[i]);
        len += (v ? strlen(v) : 0) + (i ? sl : 0);
    }
    char *s = vg_arena_alloc(b->arena, len + 1);
    if (!s) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < u->n_source; i++) {
        if (i) memcpy(s + n, u->separator, sl), n += sl;
        const char *v = ingest_lbuilder_get(b, u->source[i]);
        size_t vl = v ? strlen(v) : 0;
        if (vl) memcpy(s + n, v, vl);
        n += vl;
    }
    s[n] = '\0';
    return s;
}

static uint64_t md5_last8(const char *s) {
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned int hl = 0;
    if (!EVP_Digest(s, strlen(s), h, &hl, EVP_md5(), NULL) || hl != 16) return 0;
    uint64_t v = 0;
    for (int i = 8; i < 16; i++) v = (v << 8) | h[i];
    return v;
}

static char *case_map(vg_arena_t *a, const char *s, bool upper) {
    size_t n = strlen(s);
    char *o = vg_arena_alloc(a, n + 1);
    if (!o) return NULL;
    for (size_t i = 0; i <= n; i++) {
        char c = s[i];
        o[i] = upper ? (c >= 'a' && c <= 'z' ? (char)(c - 32) : c) : (c >= 'A' && c <= 'Z' ? (char)(c + 32) : c);
    }
    return o;
}

static bool apply_rule(const rule_t *u, ingest_lbuilder_t *b) {
    model_regex_caps_t caps;
    char *val = join_sources(u, b);
    if (!val) return b->oom = true, true;
    int r;
    switch (u->action) {
    case CONFIG_RELABEL_DROP:
        return (r = rmatch(u, b, val)) < 0 || !r; /* on an error b->err says the result is unusable */
    case CONFIG_RELABEL_KEEP:
        return (r = rmatch(u, b, val)) != 0;
    case CONFIG_RELABEL_DROPEQUAL: {
        const char *t = ingest_lbuilder_get(b, u->target);
        return strcmp(val, t ? t : "") != 0;
    }
    case CONFIG_RELABEL_KEEPEQUAL: {
        const char *t = ingest_lbuilder_get(b, u->target);
        return strcmp(val, t ? t : "") == 0;
    }
    case CONFIG_RELABEL_REPLACE: {
        if (rcapture(u, b, val, &caps) != 1) return true;
        char *target = expand(u, b->arena, u->target, &caps);
        if (!target) return b->oom = true, true;
        if (!valid_name(target)) return true;
        char *res = expand(u, b->arena, u->replacement, &caps);
        if (!res) return b->oom = true, true;
        ingest_lbuilder_set(b, target, res); /* "" deletes */
        return true;
    }
    case CONFIG_RELABEL_LOWERCASE:
    case CONFIG_RELABEL_UPPERCASE: {
        char *m = case_map(b->arena, val, u->action == CONFIG_RELABEL_UPPERCASE);
        if (!m) return b->oom = true, true;
        ingest_lbuilder_set(b, u->target, m);
        return true;
    }
    case CONFIG_RELABEL_HASHMOD: {
        char num[24];
        snprintf(num, sizeof num, "%llu", (unsigned long long)(md5_last8(val) % u->modulus));
        ingest_lbuilder_set(b, u->target, num);
        return true;
    }
    case CONFIG_RELABEL_LABELMAP: {
        /* iterate over a snapshot: the rule adds labels while it runs */
        size_t n = b->n;
        model_label_t *snap = vg_arena_alloc(b->arena, (n ? n : 1) * sizeof *snap);
        if (!snap) return b->oom = true, true;
        memcpy(snap, b->v, n * sizeof *snap);
        for (size_t i = 0; i < n; i++) {
            if ((r = rcapture(u, b, snap[i].name, &caps)) < 0) return true;
            if (!r) continue;
            char *res = expand(u, b->arena, u->replacement, &caps);
            if (!res) return b->oom = true, true;
            ingest_lbuilder_set(b, res, snap[i].value);
        }
        return true;
    }
    case CONFIG_RELABEL_LABELDROP:
    case CONFIG_RELABEL_LABELKEEP: {
        bool keep = u->action == CONFIG_RELABEL_LABELKEEP;
        for (size_t i = 0; i < b->n;) {
            if ((r = rmatch(u, b, b->v[i].name)) < 0) return true;
            if ((r == 1) != keep) b->v[i] = b->v[--b->n];
            else i++;
        }
        return true;
    }
    }
    return true;
}

bool ingest_relabel_apply(const ingest_relabel_t *r, ingest_lbuilder_t *b) {
    for (size_t i = 0; r && i < r->n && !b->oom && !b->err; i++)
        if (!apply_rule(&r->rules[i], b)) return false;
    return true;
}

int ingest_relabel_error(const ingest_lbuilder_t *b, vg_error_t *err) {
    if (b->oom) return vg_error_set(err, VG_ENOMEM, "out of memory");
    if (!b->err) return 0;
    return vg_error_set(err, b->err == VG_ENOMEM || b->err == VG_ELIMIT ? b->err : VG_EEXEC,
                        "relabeling (action %s): regex \"%.200s\" could not be evaluated: %s", b->err_action,
                        b->err_regex, vg_error_str(b->err));
}
