/* Rule files: YAML (libyaml, with line:column marks) → rules_file_t, validated as Prometheus 2.42's
 * rulefmt and promtool do, every error collected with its position rather than stopping at the first.
 *
 * Structure errors (an unknown key, a value of the wrong kind) are reported at the offending node;
 * semantic errors read as Prometheus' ("group \"g\", rule 2, \"x\": invalid field 'for' in recording
 * rule") and sit where Prometheus puts them (the rule's name, or the expression). A PromQL error is
 * placed at its own position inside the file: the expression's start plus the parser's offset (exact
 * for plain and quoted one-line scalars and for block scalars). */
#include "rules_int.h"

#include "util/fs.h"
#include "util/timeutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

typedef struct {
    yaml_document_t *doc;
    const char *text;
    size_t len;
    rules_errors_t *errs;
    int oom;
} pf_t;

static void add_err(pf_t *p, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void add_err(pf_t *p, int line, int col, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rules_file_error_t *nv = realloc(p->errs->v, (p->errs->n + 1) * sizeof *nv);
    char *m = strdup(msg);
    if (!nv || !m) {
        free(m);
        if (nv) p->errs->v = nv;
        p->oom = 1;
        return;
    }
    p->errs->v = nv;
    nv[p->errs->n++] = (rules_file_error_t){line, col, m};
}

#define LINE(n) ((int)(n)->start_mark.line + 1)
#define COL(n) ((int)(n)->start_mark.column + 1)

static yaml_node_t *node(pf_t *p, int id) { return yaml_document_get_node(p->doc, id); }

static bool is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    size_t l = n->data.scalar.length;
    const char *s = (const char *)n->data.scalar.value;
    return l == 0 || (l == 1 && s[0] == '~') || (l == 4 && !memcmp(s, "null", 4));
}

static const char *kind(const yaml_node_t *n) {
    return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a scalar";
}

/* A heap copy of a string scalar, or NULL (error recorded). */
static char *str_of(pf_t *p, const yaml_node_t *n, const char *what) {
    if (n->type != YAML_SCALAR_NODE) {
        add_err(p, LINE(n), COL(n), "%s: expected a string, got %s", what, kind(n));
        return NULL;
    }
    if (is_null(n)) return strdup("");
    const char *s = (const char *)n->data.scalar.value;
    size_t l = n->data.scalar.length;
    if (memchr(s, '\0', l)) {
        add_err(p, LINE(n), COL(n), "%s: value contains a NUL byte", what);
        return NULL;
    }
    char *r = strndup(s, l);
    if (!r) p->oom = 1;
    return r;
}

static bool scalar_eq(const yaml_node_t *k, const char *s) {
    return k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(s) && !memcmp(k->data.scalar.value, s, k->data.scalar.length);
}

/* The position in the file of byte `off` of a scalar's value. */
static void scalar_pos(pf_t *p, const yaml_node_t *n, size_t off, int *line, int *col) {
    *line = LINE(n);
    *col = COL(n);
    switch (n->data.scalar.style) {
    case YAML_PLAIN_SCALAR_STYLE:
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE: {
        /* exact when the source text between the marks is the value itself (one line, no escapes) */
        size_t start = n->start_mark.index, end = n->end_mark.index;
        int q = n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? 0 : 1;
        if (end <= p->len && end >= start + 2 * (size_t)q && end - start - 2 * (size_t)q == n->data.scalar.length &&
            !memchr(p->text + start, '\n', end - start))
            *col += q + (int)off;
        return;
    }
    case YAML_LITERAL_SCALAR_STYLE:
    case YAML_FOLDED_SCALAR_STYLE: {
        /* the content starts on the line after the indicator; lines keep their text after the indent */
        const char *v = (const char *)n->data.scalar.value;
        int l = 0;
        size_t bol = 0;
        for (size_t i = 0; i < off && i < n->data.scalar.length; i++)
            if (v[i] == '\n') l++, bol = i + 1;
        size_t at = n->start_mark.index;
        while (at < p->len && p->text[at] != '\n') at++; /* end of the indicator line */
        int line_no = LINE(n) + 1;
        for (int k = 0; k < l && at < p->len; k++) {
            at++;
            while (at < p->len && p->text[at] != '\n') at++;
            line_no++;
        }
        /* at is the newline before the target line: its indent */
        size_t s = at + 1;
        int ind = 0;
        while (s + (size_t)ind < p->len && p->text[s + (size_t)ind] == ' ') ind++;
        *line = line_no;
        *col = ind + 1 + (int)(off - bol);
        return;
    }
    default: return;
    }
}

static int cmp_label(const void *a, const void *b) {
    return strcmp(((const rules_label_t *)a)->name, ((const rules_label_t *)b)->name);
}

/* labels / annotations: a mapping of strings. */
static void parse_kv(pf_t *p, const yaml_node_t *v, const char *what, rules_label_t **out, size_t *n_out) {
    if (is_null(v)) return;
    if (v->type != YAML_MAPPING_NODE) {
        add_err(p, LINE(v), COL(v), "%s: expected a mapping, got %s", what, kind(v));
        return;
    }
    size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
    rules_label_t *ls = calloc(n ? n : 1, sizeof *ls);
    if (!ls) {
        p->oom = 1;
        return;
    }
    size_t k = 0;
    for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
        yaml_node_t *key = node(p, pr->key), *val = node(p, pr->value);
        char *name = str_of(p, key, what), *value = name ? str_of(p, val, what) : NULL;
        if (!name || !value) {
            free(name);
            free(value);
            continue;
        }
        bool dup = false;
        for (size_t i = 0; i < k; i++) dup |= !strcmp(ls[i].name, name);
        if (dup) {
            add_err(p, LINE(key), COL(key), "%s: duplicate key \"%s\"", what, name);
            free(name);
            free(value);
            continue;
        }
        ls[k++] = (rules_label_t){name, value, LINE(key), COL(key)};
    }
    qsort(ls, k, sizeof *ls, cmp_label);
    *out = ls;
    *n_out = k;
}

static void parse_duration(pf_t *p, const yaml_node_t *v, const char *what, int64_t *out) {
    if (v->type != YAML_SCALAR_NODE) {
        add_err(p, LINE(v), COL(v), "%s: expected a duration, got %s", what, kind(v));
        return;
    }
    if (vg_duration_parse((const char *)v->data.scalar.value, v->data.scalar.length, out))
        add_err(p, LINE(v), COL(v), "%s: not a valid duration string: \"%.*s\"", what, (int)v->data.scalar.length,
                (const char *)v->data.scalar.value);
}

static const char *const rule_keys = "record, alert, expr, for, keep_firing_for, labels, annotations";

/* One rule node: fills r and validates it (errors prefixed with group "g", rule i, "name"). */
static void parse_rule(pf_t *p, const rules_group_spec_t *g, size_t idx, const yaml_node_t *rn, rules_rule_spec_t *r) {
    r->line = LINE(rn), r->col = COL(rn);
    if (rn->type != YAML_MAPPING_NODE) {
        add_err(p, LINE(rn), COL(rn), "group \"%s\", rule %zu: expected a mapping, got %s", g->name, idx + 1, kind(rn));
        return;
    }
    const yaml_node_t *rec = NULL, *alert = NULL, *expr = NULL, *forn = NULL, *kff = NULL, *labels = NULL, *ann = NULL;
    for (yaml_node_pair_t *pr = rn->data.mapping.pairs.start; pr < rn->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);
        const yaml_node_t **slot = scalar_eq(k, "record") ? &rec
                                   : scalar_eq(k, "alert") ? &alert
                                   : scalar_eq(k, "expr") ? &expr
                                   : scalar_eq(k, "for") ? &forn
                                   : scalar_eq(k, "keep_firing_for") ? &kff
                                   : scalar_eq(k, "labels") ? &labels
                                   : scalar_eq(k, "annotations") ? &ann
                                                                 : NULL;
        if (!slot) {
            add_err(p, LINE(k), COL(k), "group \"%s\", rule %zu: unknown field \"%.*s\" (valid here: %s)", g->name, idx + 1,
                    k->type == YAML_SCALAR_NODE ? (int)k->data.scalar.length : 1,
                    k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?", rule_keys);
            continue;
        }
        if (*slot) {
            add_err(p, LINE(k), COL(k), "group \"%s\", rule %zu: duplicate key \"%s\"", g->name, idx + 1,
                    (const char *)k->data.scalar.value);
            continue;
        }
        *slot = v;
    }
    char *recs = rec ? str_of(p, rec, "record") : NULL, *alerts = alert ? str_of(p, alert, "alert") : NULL;
    r->alert = alerts && *alerts;
    bool has_rec = recs && *recs;
    r->name = r->alert ? alerts : recs ? recs : strdup("");
    if (r->alert) free(recs);
    else free(alerts);
    if (!r->name) {
        p->oom = 1;
        return;
    }
    const yaml_node_t *name_node = r->alert ? alert : rec;
    if (name_node) r->line = LINE(name_node), r->col = COL(name_node);
    char pre[600];
    snprintf(pre, sizeof pre, "group \"%s\", rule %zu, \"%s\"", g->name, idx + 1, r->name);
    if (rec && alert && has_rec && r->alert) add_err(p, LINE(rec), COL(rec), "%s: only one of 'record' and 'alert' must be set", pre);
    if (!has_rec && !r->alert) add_err(p, LINE(rn), COL(rn), "%s: one of 'record' or 'alert' must be set", pre);
    if (expr) r->expr = str_of(p, expr, "expr"), r->expr_line = LINE(expr), r->expr_col = COL(expr);
    if (!r->expr || !*r->expr) {
        free(r->expr);
        r->expr = strdup("");
        add_err(p, expr ? LINE(expr) : LINE(rn), expr ? COL(expr) : COL(rn), "%s: field 'expr' must be set in rule", pre);
    } else {
        vg_arena_t a;
        vg_arena_init(&a, 4096);
        promql_node_t *root;
        vg_error_t perr;
        if (promql_parse(r->expr, strlen(r->expr), &a, &root, &perr)) {
            int line, col;
            scalar_pos(p, expr, perr.pos > 0 ? (size_t)perr.pos : 0, &line, &col);
            add_err(p, line, col, "%s: could not parse expression: %s", pre, perr.msg);
        }
        vg_arena_deinit(&a);
    }
    if (forn) parse_duration(p, forn, "for", &r->for_ms);
    if (kff) parse_duration(p, kff, "keep_firing_for", &r->keep_firing_for_ms);
    if (labels) parse_kv(p, labels, "labels", &r->labels, &r->n_labels);
    if (ann) parse_kv(p, ann, "annotations", &r->annotations, &r->n_annotations);
    if (has_rec && !r->alert) {
        if (forn) add_err(p, LINE(forn), COL(forn), "%s: invalid field 'for' in recording rule", pre);
        if (kff) add_err(p, LINE(kff), COL(kff), "%s: invalid field 'keep_firing_for' in recording rule", pre);
        if (ann) add_err(p, LINE(ann), COL(ann), "%s: invalid field 'annotations' in recording rule", pre);
        if (!model_metric_name_valid(r->name, strlen(r->name)))
            add_err(p, r->line, r->col, "%s: invalid recording rule name: %s", pre, r->name);
    }
    for (size_t i = 0; i < r->n_labels; i++) {
        const rules_label_t *l = &r->labels[i];
        if (!model_label_name_valid(l->name, strlen(l->name)) || !strcmp(l->name, MODEL_METRIC_NAME))
            add_err(p, l->line, l->col, "%s: invalid label name: %s", pre, l->name);
        else if (!model_utf8_valid(l->value, strlen(l->value)))
            add_err(p, l->line, l->col, "%s: invalid label value: %s", pre, l->value);
        else if (r->alert) rules__check_template(p->errs, l, "label", r->name, pre);
    }
    for (size_t i = 0; i < r->n_annotations; i++) {
        const rules_label_t *l = &r->annotations[i];
        if (!model_label_name_valid(l->name, strlen(l->name)))
            add_err(p, l->line, l->col, "%s: invalid annotation name: %s", pre, l->name);
        else if (r->alert) rules__check_template(p->errs, l, "annotation", r->name, pre);
    }
}

static void parse_group(pf_t *p, const char *file, const yaml_node_t *gn, rules_group_spec_t *g, size_t idx) {
    g->line = LINE(gn), g->col = COL(gn);
    if (!(g->file = strdup(file))) p->oom = 1;
    if (gn->type != YAML_MAPPING_NODE) {
        add_err(p, LINE(gn), COL(gn), "groups[%zu]: expected a mapping, got %s", idx, kind(gn));
        g->name = strdup("");
        return;
    }
    const yaml_node_t *name = NULL, *interval = NULL, *limit = NULL, *rules = NULL;
    for (yaml_node_pair_t *pr = gn->data.mapping.pairs.start; pr < gn->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = node(p, pr->key), *v = node(p, pr->value);
        const yaml_node_t **slot = scalar_eq(k, "name") ? &name
                                   : scalar_eq(k, "interval") ? &interval
                                   : scalar_eq(k, "limit") ? &limit
                                   : scalar_eq(k, "rules") ? &rules
                                                           : NULL;
        if (!slot) {
            add_err(p, LINE(k), COL(k), "groups[%zu]: unknown field \"%.*s\" (valid here: name, interval, limit, rules)", idx,
                    k->type == YAML_SCALAR_NODE ? (int)k->data.scalar.length : 1,
                    k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?");
            continue;
        }
        if (*slot) {
            add_err(p, LINE(k), COL(k), "groups[%zu]: duplicate key \"%s\"", idx, (const char *)k->data.scalar.value);
            continue;
        }
        *slot = v;
    }
    g->name = name ? str_of(p, name, "name") : NULL;
    if (!g->name) g->name = strdup("");
    if (!g->name) {
        p->oom = 1;
        return;
    }
    if (!*g->name) add_err(p, name ? LINE(name) : LINE(gn), name ? COL(name) : COL(gn), "Groupname must not be empty");
    if (interval) parse_duration(p, interval, "interval", &g->interval_ms);
    if (limit) {
        char *s = str_of(p, limit, "limit"), *end = NULL;
        long long x = s ? strtoll(s, &end, 10) : 0;
        if (s && (!*s || *end)) add_err(p, LINE(limit), COL(limit), "limit: expected an integer, got \"%s\"", s);
        else g->limit = x;
        free(s);
    }
    if (!rules || is_null(rules)) return;
    if (rules->type != YAML_SEQUENCE_NODE) {
        add_err(p, LINE(rules), COL(rules), "group \"%s\": rules: expected a list, got %s", g->name, kind(rules));
        return;
    }
    size_t n = (size_t)(rules->data.sequence.items.top - rules->data.sequence.items.start);
    if (!n) return;
    if (!(g->rules = calloc(n, sizeof *g->rules))) {
        p->oom = 1;
        return;
    }
    g->n_rules = n;
    for (size_t i = 0; i < n; i++) parse_rule(p, g, i, node(p, rules->data.sequence.items.start[i]), &g->rules[i]);
}

static int cmp_err(const void *a, const void *b) {
    const rules_file_error_t *x = a, *y = b;
    return x->line != y->line ? (x->line < y->line ? -1 : 1) : (x->col > y->col) - (x->col < y->col);
}

int rules_file_parse(const char *name, const char *text, size_t len, rules_file_t **out, rules_errors_t *errs) {
    *out = NULL;
    *errs = (rules_errors_t){0};
    pf_t p = {.text = text, .len = len, .errs = errs};
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return VG_ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        const yaml_mark_t *m = parser.problem ? &parser.problem_mark : &parser.context_mark;
        add_err(&p, (int)m->line + 1, (int)m->column + 1, "YAML syntax error: %s%s%s",
                parser.problem ? parser.problem : "invalid YAML", parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return p.oom ? VG_ENOMEM : VG_EINVAL;
    }
    yaml_parser_delete(&parser);
    p.doc = &doc;
    rules_file_t *f = calloc(1, sizeof *f);
    if (!f) {
        yaml_document_delete(&doc);
        return VG_ENOMEM;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    const yaml_node_t *groups = NULL;
    if (root && !is_null(root)) {
        if (root->type != YAML_MAPPING_NODE) add_err(&p, LINE(root), COL(root), "the top level must be a mapping");
        else
            for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
                yaml_node_t *k = node(&p, pr->key);
                if (scalar_eq(k, "groups") && !groups) groups = node(&p, pr->value);
                else if (scalar_eq(k, "groups")) add_err(&p, LINE(k), COL(k), "duplicate key \"groups\"");
                else
                    add_err(&p, LINE(k), COL(k), "unknown field \"%.*s\" (valid here: groups)",
                            k->type == YAML_SCALAR_NODE ? (int)k->data.scalar.length : 1,
                            k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?");
            }
    }
    if (groups && !is_null(groups) && groups->type != YAML_SEQUENCE_NODE)
        add_err(&p, LINE(groups), COL(groups), "groups: expected a list, got %s", kind(groups));
    else if (groups && !is_null(groups)) {
        size_t n = (size_t)(groups->data.sequence.items.top - groups->data.sequence.items.start);
        if (n && !(f->groups = calloc(n, sizeof *f->groups))) p.oom = 1;
        else f->n_groups = n;
        for (size_t i = 0; i < f->n_groups; i++) {
            parse_group(&p, name, node(&p, groups->data.sequence.items.start[i]), &f->groups[i], i);
            for (size_t j = 0; j < i && f->groups[i].name && *f->groups[i].name; j++)
                if (f->groups[j].name && !strcmp(f->groups[j].name, f->groups[i].name)) {
                    add_err(&p, f->groups[i].line, f->groups[i].col, "groupname: \"%s\" is repeated in the same file",
                            f->groups[i].name);
                    break;
                }
        }
    }
    yaml_document_delete(&doc);
    if (p.oom || errs->n) {
        rules_file_free(f);
        if (errs->n > 1) qsort(errs->v, errs->n, sizeof *errs->v, cmp_err);
        return p.oom ? VG_ENOMEM : VG_EINVAL;
    }
    *out = f;
    return 0;
}

int rules_group_parse(const char *file, const char *text, size_t len, rules_group_spec_t *out, rules_errors_t *errs) {
    *out = (rules_group_spec_t){0};
    *errs = (rules_errors_t){0};
    pf_t p = {.text = text, .len = len, .errs = errs};
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return VG_ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        const yaml_mark_t *m = parser.problem ? &parser.problem_mark : &parser.context_mark;
        add_err(&p, (int)m->line + 1, (int)m->column + 1, "YAML syntax error: %s%s%s",
                parser.problem ? parser.problem : "invalid YAML", parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return p.oom ? VG_ENOMEM : VG_EINVAL;
    }
    yaml_parser_delete(&parser);
    p.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || is_null(root)) add_err(&p, root ? LINE(root) : 1, root ? COL(root) : 1, "expected a rule group, got nothing");
    else parse_group(&p, file, root, out, 0);
    yaml_document_delete(&doc);
    if (p.oom || errs->n) {
        rules_group_spec_deinit(out);
        if (errs->n > 1) qsort(errs->v, errs->n, sizeof *errs->v, cmp_err);
        return p.oom ? VG_ENOMEM : VG_EINVAL;
    }
    return 0;
}

int rules_file_load(const char *path, rules_file_t **out, rules_errors_t *errs) {
    *out = NULL;
    *errs = (rules_errors_t){0};
    uint8_t *buf;
    size_t len;
    vg_error_t err;
    if (vg_fs_read_file(path, &buf, &len, &err)) {
        rules_file_error_t *e = calloc(1, sizeof *e);
        if (e && (e->msg = strdup(err.msg))) *errs = (rules_errors_t){e, 1};
        else free(e);
        return VG_EIO;
    }
    int rc = rules_file_parse(path, (const char *)buf, len, out, errs);
    free(buf);
    return rc;
}

static void free_labels(rules_label_t *l, size_t n) {
    for (size_t i = 0; i < n; i++) free(l[i].name), free(l[i].value);
    free(l);
}

void rules_group_spec_deinit(rules_group_spec_t *g) {
    for (size_t i = 0; i < g->n_rules; i++) {
        rules_rule_spec_t *r = &g->rules[i];
        free(r->name);
        free(r->expr);
        free_labels(r->labels, r->n_labels);
        free_labels(r->annotations, r->n_annotations);
    }
    free(g->rules);
    free(g->name);
    free(g->file);
    *g = (rules_group_spec_t){0};
}

void rules_file_free(rules_file_t *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n_groups; i++) rules_group_spec_deinit(&f->groups[i]);
    free(f->groups);
    free(f);
}

void rules_errors_free(rules_errors_t *e) {
    for (size_t i = 0; i < e->n; i++) free(e->v[i].msg);
    free(e->v);
    *e = (rules_errors_t){0};
}

size_t rules_file_count(const rules_file_t *f) {
    size_t n = 0;
    for (size_t i = 0; f && i < f->n_groups; i++) n += f->groups[i].n_rules;
    return n;
}

static char *dup0(const char *s, int *oom) {
    char *r = strdup(s ? s : "");
    if (!r) *oom = 1;
    return r;
}

static rules_label_t *copy_labels(const rules_label_t *l, size_t n, int *oom) {
    if (!n) return NULL;
    rules_label_t *r = calloc(n, sizeof *r);
    if (!r) {
        *oom = 1;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) r[i] = (rules_label_t){dup0(l[i].name, oom), dup0(l[i].value, oom), l[i].line, l[i].col};
    return r;
}

int rules_group_spec_copy(const rules_group_spec_t *src, rules_group_spec_t *out) {
    int oom = 0;
    *out = *src;
    out->name = dup0(src->name, &oom);
    out->file = dup0(src->file, &oom);
    out->rules = src->n_rules ? calloc(src->n_rules, sizeof *out->rules) : NULL;
    if (src->n_rules && !out->rules) oom = 1, out->n_rules = 0;
    for (size_t i = 0; i < out->n_rules; i++) {
        const rules_rule_spec_t *s = &src->rules[i];
        rules_rule_spec_t *d = &out->rules[i];
        *d = *s;
        d->name = dup0(s->name, &oom);
        d->expr = dup0(s->expr, &oom);
        d->labels = copy_labels(s->labels, s->n_labels, &oom);
        d->annotations = copy_labels(s->annotations, s->n_annotations, &oom);
        if (!d->labels) d->n_labels = 0;
        if (!d->annotations) d->n_annotations = 0;
    }
    if (oom) {
        rules_group_spec_deinit(out);
        return VG_ENOMEM;
    }
    return 0;
}

static bool labels_equal(const rules_label_t *a, size_t na, const rules_label_t *b, size_t nb) {
    if (na != nb) return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i].name, b[i].name) || strcmp(a[i].value, b[i].value)) return false;
    return true;
}

bool rules_group_spec_equal(const rules_group_spec_t *a, const rules_group_spec_t *b) {
    if (strcmp(a->name, b->name) || strcmp(a->file, b->file) || a->interval_ms != b->interval_ms || a->limit != b->limit ||
        a->n_rules != b->n_rules)
        return false;
    for (size_t i = 0; i < a->n_rules; i++) {
        const rules_rule_spec_t *x = &a->rules[i], *y = &b->rules[i];
        if (x->alert != y->alert || strcmp(x->name, y->name) || strcmp(x->expr, y->expr) || x->for_ms != y->for_ms ||
            x->keep_firing_for_ms != y->keep_firing_for_ms || !labels_equal(x->labels, x->n_labels, y->labels, y->n_labels) ||
            !labels_equal(x->annotations, x->n_annotations, y->annotations, y->n_annotations))
            return false;
    }
    return true;
}

/* ---- writing: rule groups back to YAML (the ruler's namespace files and API answers) ---- */

static int emit_out(void *data, unsigned char *buffer, size_t size) {
    return vg_buf_append(data, buffer, size) == 0;
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev) { return yaml_emitter_emit(e, ev) ? 0 : VG_ENOMEM; }

/* Whether a YAML 1.1 reader would resolve s, written plain, to something other than a string (null, a
 * boolean, a number): such values are quoted so every client reads strings back. */
static bool plain_typed(const char *s) {
    static const char *const words[] = {"~",  "null", "true", "false", "yes",   "no",    "on",
                                        "off", "y",    "n",    ".inf",  "-.inf", "+.inf", ".nan"};
    if (!*s) return true;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (!strcasecmp(s, words[i])) return true;
    char *end;
    errno = 0;
    (void)strtod(s, &end);
    if (!*end) return true;
    (void)strtoll(s, &end, 0);
    return !*end;
}

static int emit_scalar(yaml_emitter_t *e, const char *s, yaml_scalar_style_t style) {
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1, style)) return VG_ENOMEM;
    return emit(e, &ev);
}

static int emit_str(yaml_emitter_t *e, const char *s) {
    return emit_scalar(e, s, plain_typed(s) ? YAML_SINGLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
}

static int emit_kv(yaml_emitter_t *e, const char *k, const char *v) {
    int rc = emit_str(e, k);
    return rc ? rc : emit_str(e, v);
}

static int emit_map_start(yaml_emitter_t *e) {
    yaml_event_t ev;
    if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE)) return VG_ENOMEM;
    return emit(e, &ev);
}

static int emit_map_end(yaml_emitter_t *e) {
    yaml_event_t ev;
    if (!yaml_mapping_end_event_initialize(&ev)) return VG_ENOMEM;
    return emit(e, &ev);
}

static int emit_seq_start(yaml_emitter_t *e) {
    yaml_event_t ev;
    if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE)) return VG_ENOMEM;
    return emit(e, &ev);
}

static int emit_seq_end(yaml_emitter_t *e) {
    yaml_event_t ev;
    if (!yaml_sequence_end_event_initialize(&ev)) return VG_ENOMEM;
    return emit(e, &ev);
}

static int emit_duration(yaml_emitter_t *e, const char *k, int64_t ms) {
    char d[VG_DURATION_MAX];
    vg_duration_format(ms, d);
    return emit_kv(e, k, d);
}

static int emit_labels(yaml_emitter_t *e, const char *k, const rules_label_t *l, size_t n) {
    if (!n) return 0;
    int rc = emit_str(e, k);
    if (!rc) rc = emit_map_start(e);
    for (size_t i = 0; !rc && i < n; i++) rc = emit_kv(e, l[i].name, l[i].value);
    return rc ? rc : emit_map_end(e);
}

static int emit_group(yaml_emitter_t *e, const rules_group_spec_t *g) {
    int rc = emit_map_start(e);
    if (!rc) rc = emit_kv(e, "name", g->name);
    if (!rc && g->interval_ms) rc = emit_duration(e, "interval", g->interval_ms);
    if (!rc && g->limit) {
        char n[32];
        snprintf(n, sizeof n, "%lld", (long long)g->limit);
        rc = emit_str(e, "limit");
        if (!rc) rc = emit_scalar(e, n, YAML_PLAIN_SCALAR_STYLE); /* a number */
    }
    if (!rc) rc = emit_str(e, "rules");
    if (!rc) rc = emit_seq_start(e);
    for (size_t i = 0; !rc && i < g->n_rules; i++) {
        const rules_rule_spec_t *r = &g->rules[i];
        rc = emit_map_start(e);
        if (!rc) rc = emit_kv(e, r->alert ? "alert" : "record", r->name);
        if (!rc) rc = emit_kv(e, "expr", r->expr);
        if (!rc && r->alert && r->for_ms) rc = emit_duration(e, "for", r->for_ms);
        if (!rc && r->alert && r->keep_firing_for_ms) rc = emit_duration(e, "keep_firing_for", r->keep_firing_for_ms);
        if (!rc) rc = emit_labels(e, "labels", r->labels, r->n_labels);
        if (!rc) rc = emit_labels(e, "annotations", r->annotations, r->n_annotations);
        if (!rc) rc = emit_map_end(e);
    }
    if (!rc) rc = emit_seq_end(e);
    return rc ? rc : emit_map_end(e);
}

/* One YAML document around body(e, ctx). */
static int emit_doc(vg_buf_t *out, int (*body)(yaml_emitter_t *e, const void *ctx), const void *ctx) {
    yaml_emitter_t e;
    if (!yaml_emitter_initialize(&e)) return VG_ENOMEM;
    yaml_emitter_set_output(&e, emit_out, out);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1);
    yaml_event_t ev;
    int rc = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) ? emit(&e, &ev) : VG_ENOMEM;
    if (!rc) rc = yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) ? emit(&e, &ev) : VG_ENOMEM;
    if (!rc) rc = body(&e, ctx);
    if (!rc) rc = yaml_document_end_event_initialize(&ev, 1) ? emit(&e, &ev) : VG_ENOMEM;
    if (!rc) rc = yaml_stream_end_event_initialize(&ev) ? emit(&e, &ev) : VG_ENOMEM;
    if (!rc && !yaml_emitter_flush(&e)) rc = VG_ENOMEM;
    yaml_emitter_delete(&e);
    return rc;
}

static int body_group(yaml_emitter_t *e, const void *ctx) { return emit_group(e, ctx); }

int rules_group_write_yaml(const rules_group_spec_t *g, vg_buf_t *out) { return emit_doc(out, body_group, g); }

static int body_file(yaml_emitter_t *e, const void *ctx) {
    const rules_file_t *f = ctx;
    int rc = emit_map_start(e);
    if (!rc) rc = emit_str(e, "groups");
    if (!rc) rc = emit_seq_start(e);
    for (size_t i = 0; !rc && i < f->n_groups; i++) rc = emit_group(e, &f->groups[i]);
    if (!rc) rc = emit_seq_end(e);
    return rc ? rc : emit_map_end(e);
}

int rules_file_write_yaml(const rules_group_spec_t *groups, size_t n, vg_buf_t *out) {
    rules_file_t f = {(rules_group_spec_t *)groups, n};
    return emit_doc(out, body_file, &f);
}

static int body_namespaces(yaml_emitter_t *e, const void *ctx) {
    const rules_namespaces_t *ns = ctx;
    int rc = emit_map_start(e);
    for (size_t i = 0; !rc && i < ns->n; i++) {
        rc = emit_str(e, ns->names[i]);
        if (!rc) rc = emit_seq_start(e);
        for (size_t k = 0; !rc && k < ns->n_groups[i]; k++) rc = emit_group(e, &ns->groups[i][k]);
        if (!rc) rc = emit_seq_end(e);
    }
    return rc ? rc : emit_map_end(e);
}

int rules_namespaces_write_yaml(const rules_namespaces_t *ns, vg_buf_t *out) { return emit_doc(out, body_namespaces, ns); }

int rules_cmd_check(int argc, char **argv) {
    if (argc < 1) {
        fputs("usage: vigil check rules FILE...\n", stderr);
        return 2;
    }
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        printf("Checking %s\n", argv[i]);
        fflush(stdout);
        rules_file_t *f;
        rules_errors_t errs;
        if (rules_file_load(argv[i], &f, &errs)) {
            printf("  FAILED:\n");
            fflush(stdout);
            for (size_t k = 0; k < errs.n; k++) {
                if (errs.v[k].line > 0) fprintf(stderr, "%s:%d:%d: %s\n", argv[i], errs.v[k].line, errs.v[k].col, errs.v[k].msg);
                else fprintf(stderr, "%s: %s\n", argv[i], errs.v[k].msg);
            }
            if (!errs.n) fprintf(stderr, "%s: out of memory\n", argv[i]);
            rules_errors_free(&errs);
            rc = 1;
            continue;
        }
        printf("  SUCCESS: %zu rules found\n\n", rules_file_count(f));
        rules_file_free(f);
    }
    return rc;
}
