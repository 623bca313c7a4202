/* The ruler: rule groups uploaded through the ruler API (Mimir's /config/v1/rules), kept per owner and
 * namespace, stored durably (rules/store.c, under <storage.path>/rules) and evaluated by the rule
 * manager as API-owned groups.
 *
 * Owners: a tenant (its groups are tenant groups: enforced with its matcher, written through its
 * tenant appender, their alerts carrying its label), or the unscoped owner (NULL), whose groups are
 * evaluated as the operator's rule files are. Who acts for which owner: a scoped caller for its own
 * tenant only (X-Scope-OrgID, when sent, must name it); an unscoped caller — an admin, or anonymous
 * when that is allowed — for the tenant X-Scope-OrgID names, else for the unscoped owner.
 *
 * Invariants: the in-memory namespaces, the files and the manager's API groups hold the same groups.
 * Every change holds mu from validation to the manager's update, writes the namespace's file first
 * (atomically) and changes memory and the manager only once the file is in place, so a failed write
 * changes nothing. A tenant's upload is checked against its enforced matcher as its queries are: a
 * selector on another tenant's label value is refused (403), and evaluation enforces again. */
#include "service_int.h"

#include "promql/promql.h"
#include "rules/rules.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *owner; /* NULL: the unscoped owner */
    char *name;
    rules_group_spec_t *groups; /* in upload order; each group's file is name */
    size_t n;
} ruler_ns_t;

struct service__ruler {
    pthread_mutex_t mu;
    char *root;
    ruler_ns_t *v;
    size_t n;
};

static bool owner_eq(const char *a, const char *b) { return (a == NULL) == (b == NULL) && (!a || !strcmp(a, b)); }

static ruler_ns_t *find_ns(service__ruler_t *r, const char *owner, const char *name) {
    for (size_t i = 0; i < r->n; i++)
        if (owner_eq(r->v[i].owner, owner) && !strcmp(r->v[i].name, name)) return &r->v[i];
    return NULL;
}

static ssize_t find_group(const ruler_ns_t *ns, const char *name) {
    for (size_t i = 0; ns && i < ns->n; i++)
        if (!strcmp(ns->groups[i].name, name)) return (ssize_t)i;
    return -1;
}

static void ns_free(ruler_ns_t *ns) {
    for (size_t i = 0; i < ns->n; i++) rules_group_spec_deinit(&ns->groups[i]);
    free(ns->groups);
    free(ns->owner);
    free(ns->name);
    *ns = (ruler_ns_t){0};
}

/* A new (empty) namespace entry, or NULL. */
static ruler_ns_t *add_ns(service__ruler_t *r, const char *owner, const char *name) {
    ruler_ns_t *nv = realloc(r->v, (r->n + 1) * sizeof *nv);
    if (!nv) return NULL;
    r->v = nv;
    ruler_ns_t *ns = &r->v[r->n];
    *ns = (ruler_ns_t){.owner = owner ? strdup(owner) : NULL, .name = strdup(name)};
    if ((owner && !ns->owner) || !ns->name) {
        ns_free(ns);
        return NULL;
    }
    r->n++;
    return ns;
}

static void drop_ns(service__ruler_t *r, ruler_ns_t *ns) {
    ns_free(ns);
    *ns = r->v[--r->n];
}

static void loaded(void *p, const char *owner, const char *name, rules_file_t *f) {
    service_t *s = p;
    service__ruler_t *r = ((service__priv_t *)s->priv)->ruler;
    ruler_ns_t *ns = f->n_groups ? add_ns(r, owner, name) : NULL;
    if (ns) {
        ns->groups = f->groups; /* moved */
        ns->n = f->n_groups;
        f->groups = NULL;
        f->n_groups = 0;
        for (size_t i = 0; i < ns->n; i++) {
            vg_error_t err;
            if (rules_manager_set_group(s->rules, owner, &ns->groups[i], true, &err))
                vg_log_error("rules", "cannot evaluate a stored rule group", VG_LS("namespace", name),
                             VG_LS("group", ns->groups[i].name), VG_LS("err", err.msg));
        }
    }
    rules_file_free(f);
}

int service__ruler_start(service_t *s, vg_error_t *err) {
    service__priv_t *p = s->priv;
    service__ruler_t *r = calloc(1, sizeof *r);
    if (!r) return vg_error_set(err, VG_ENOMEM, "out of memory");
    config_t *c = service_config(s);
    size_t len = strlen(c->storage.path) + sizeof "/rules";
    if ((r->root = malloc(len))) snprintf(r->root, len, "%s/rules", c->storage.path);
    config_unref(c);
    if (!r->root) {
        free(r);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&r->mu, NULL);
    p->ruler = r;
    int n = rules_store_load(r->root, loaded, s, err);
    if (n < 0) return n;
    size_t groups = 0;
    for (size_t i = 0; i < r->n; i++) groups += r->v[i].n;
    if (n) vg_log_info("rules", "ruler groups loaded", VG_LI("namespaces", n), VG_LI("groups", (int64_t)groups));
    return 0;
}

void service__ruler_stop(service_t *s) {
    service__priv_t *p = s->priv;
    service__ruler_t *r = p ? p->ruler : NULL;
    if (!r) return;
    p->ruler = NULL;
    for (size_t i = 0; i < r->n; i++) ns_free(&r->v[i]);
    free(r->v);
    free(r->root);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* The owner ctx acts for: *owner NULL for the unscoped owner, else buf. */
static int owner_of(const service_ctx_t *ctx, const char *org_id, char *buf, size_t cap, const char **owner, vg_error_t *err) {
    if (org_id && !*org_id) org_id = NULL;
    if (ctx->scoped) {
        if (org_id && strcmp(org_id, ctx->tenant))
            return vg_error_set(err, VG_EFORBIDDEN, "X-Scope-OrgID names another tenant: a tenant manages only its own rules");
        snprintf(buf, cap, "%s", ctx->tenant);
        *owner = buf;
        return 0;
    }
    if (!org_id) {
        *owner = NULL;
        return 0;
    }
    if (!(ctx->admin || ctx->anonymous))
        return vg_error_set(err, VG_EFORBIDDEN, "X-Scope-OrgID is for admins acting for a tenant");
    if (!tenancy_tenant_id_valid(org_id, strlen(org_id)) || strlen(org_id) >= cap)
        return vg_error_set(err, VG_EINVAL, "X-Scope-OrgID is not a valid tenant id");
    snprintf(buf, cap, "%s", org_id);
    *owner = buf;
    return 0;
}

static service__ruler_t *ruler_of(service_ctx_t *ctx, vg_error_t *err) {
    service__priv_t *p = ctx->svc ? ctx->svc->priv : NULL;
    if (!p || !p->ruler) {
        vg_error_set(err, VG_EUNAVAIL, "the ruler is not running");
        return NULL;
    }
    return p->ruler;
}

static int cmp_ns(const void *a, const void *b) {
    return strcmp((*(const ruler_ns_t *const *)a)->name, (*(const ruler_ns_t *const *)b)->name);
}

int service_ruler_get(service_ctx_t *ctx, const char *org_id, const char *ns_name, const char *group, vg_buf_t *out,
                      vg_error_t *err) {
    char buf[TENANCY_TENANT_MAX + 1];
    const char *owner;
    int rc = owner_of(ctx, org_id, buf, sizeof buf, &owner, err);
    if (rc) return rc;
    service__ruler_t *r = ruler_of(ctx, err);
    if (!r) return err->code;
    pthread_mutex_lock(&r->mu);
    if (group) {
        ruler_ns_t *ns = find_ns(r, owner, ns_name);
        ssize_t gi = find_group(ns, group);
        if (gi < 0) rc = vg_error_set(err, VG_ENOTFOUND, "rule group \"%s\" does not exist in namespace \"%s\"", group, ns_name);
        else if (rules_group_write_yaml(&ns->groups[gi], out)) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
        pthread_mutex_unlock(&r->mu);
        return rc;
    }
    ruler_ns_t **sel = calloc(r->n ? r->n : 1, sizeof *sel);
    const char **names = calloc(r->n ? r->n : 1, sizeof *names);
    const rules_group_spec_t **groups = calloc(r->n ? r->n : 1, sizeof *groups);
    size_t *counts = calloc(r->n ? r->n : 1, sizeof *counts), n = 0;
    if (!sel || !names || !groups || !counts) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < r->n; i++)
        if (owner_eq(r->v[i].owner, owner) && (!ns_name || !strcmp(r->v[i].name, ns_name))) sel[n++] = &r->v[i];
    if (!rc && !n)
        rc = ns_name ? vg_error_set(err, VG_ENOTFOUND, "namespace \"%s\" does not exist", ns_name)
                     : vg_error_set(err, VG_ENOTFOUND, "no rule groups found");
    if (!rc) {
        qsort(sel, n, sizeof *sel, cmp_ns);
        for (size_t i = 0; i < n; i++) names[i] = sel[i]->name, groups[i] = sel[i]->groups, counts[i] = sel[i]->n;
        rules_namespaces_t v = {names, groups, counts, n};
        if (rules_namespaces_write_yaml(&v, out)) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    pthread_mutex_unlock(&r->mu);
    free(sel);
    free(names);
    free(groups);
    free(counts);
    return rc;
}

/* Every rule's expression enforced with the tenant's matcher, as its queries are. */
static int check_enforced(service_ctx_t *ctx, const char *owner, const rules_group_spec_t *g, vg_error_t *err) {
    service_ctx_t tctx;
    const service_ctx_t *t = ctx;
    bool own = ctx->scoped && !strcmp(ctx->tenant, owner);
    int rc = own ? 0 : service__ctx_tenant(ctx->svc, owner, &tctx, err);
    if (rc) return rc;
    if (!own) t = &tctx;
    promql_enforced_label_t e = {t->matcher.label, (const char *const *)t->matcher.values, t->matcher.n_values};
    vg_arena_t a;
    vg_arena_init(&a, 4096);
    for (size_t i = 0; !rc && i < g->n_rules; i++) {
        const rules_rule_spec_t *rs = &g->rules[i];
        promql_node_t *root;
        vg_error_t e2;
        int r2 = promql_parse(rs->expr, strlen(rs->expr), &a, &root, &e2);
        if (!r2) r2 = promql_enforce(root, &e, 1, PROMQL_ENFORCE_REJECT, &a, &e2);
        if (r2 < 0)
            rc = vg_error_set(err, r2, "group \"%s\", rule %zu, \"%s\": %s", g->name, i + 1, rs->name, e2.msg);
    }
    vg_arena_deinit(&a);
    if (!own) service_ctx_deinit(&tctx);
    return rc;
}

/* The positioned errors of a body as one message: "LINE:COL: msg; …". */
static int body_errors(const rules_errors_t *errs, vg_error_t *err) {
    char msg[VG_ERROR_MSG_MAX];
    size_t n = 0;
    msg[0] = '\0';
    for (size_t i = 0; i < errs->n && n < sizeof msg - 1; i++) {
        int w = errs->v[i].line ? snprintf(msg + n, sizeof msg - n, "%s%d:%d: %s", i ? "; " : "", errs->v[i].line, errs->v[i].col,
                                           errs->v[i].msg)
                                : snprintf(msg + n, sizeof msg - n, "%s%s", i ? "; " : "", errs->v[i].msg);
        if (w < 0) break;
        n += (size_t)w < sizeof msg - n ? (size_t)w : sizeof msg - n - 1;
    }
    return vg_error_set(err, VG_EINVAL, "invalid rule group: %s", errs->n ? msg : "out of memory");
}

int service_ruler_set(service_ctx_t *ctx, const char *org_id, const char *ns_name, const char *body, size_t len,
                      vg_error_t *err) {
    char buf[TENANCY_TENANT_MAX + 1], esc[RULES_STORE_ESCAPED_MAX + 1];
    const char *owner;
    int rc = owner_of(ctx, org_id, buf, sizeof buf, &owner, err);
    if (rc) return rc;
    service__ruler_t *r = ruler_of(ctx, err);
    if (!r) return err->code;
    uint64_t max = ctx->cfg->rules.ruler_max_group_size;
    if (len > max)
        return vg_error_set(err, VG_ETOOLARGE,
                            "rule group of %zu bytes exceeds the limit of %llu bytes (rules.ruler_max_group_size)", len,
                            (unsigned long long)max);
    if (rules_store_escape(ns_name, esc, sizeof esc))
        return vg_error_set(err, VG_EINVAL, "namespace name is empty or too long (at most %d bytes once escaped)",
                            RULES_STORE_ESCAPED_MAX);
    rules_group_spec_t g;
    rules_errors_t errs;
    if ((rc = rules_group_parse(ns_name, body, len, &g, &errs))) {
        rc = rc == VG_ENOMEM ? vg_error_set(err, VG_ENOMEM, "out of memory") : body_errors(&errs, err);
        rules_errors_free(&errs);
        return rc;
    }
    config_limits_t lim;
    config_tenant_limits(ctx->cfg, owner, &lim);
    if (lim.ruler_max_rules_per_rule_group > 0 && g.n_rules > (size_t)lim.ruler_max_rules_per_rule_group)
        rc = vg_error_set(err, VG_EINVAL,
                          "per-tenant limit of %lld rules per rule group exceeded (limits.ruler_max_rules_per_rule_group): "
                          "group \"%s\" has %zu rules",
                          (long long)lim.ruler_max_rules_per_rule_group, g.name, g.n_rules);
    if (!rc && owner) rc = check_enforced(ctx, owner, &g, err);
    if (rc) {
        rules_group_spec_deinit(&g);
        return rc;
    }
    pthread_mutex_lock(&r->mu);
    ruler_ns_t *ns = find_ns(r, owner, ns_name);
    ssize_t gi = find_group(ns, g.name);
    size_t total = 0;
    for (size_t i = 0; i < r->n; i++)
        if (owner_eq(r->v[i].owner, owner)) total += r->v[i].n;
    if (gi < 0 && lim.ruler_max_rule_groups > 0 && total + 1 > (size_t)lim.ruler_max_rule_groups)
        rc = vg_error_set(err, VG_EINVAL,
                          "per-tenant limit of %lld rule groups exceeded (limits.ruler_max_rule_groups): delete a group first",
                          (long long)lim.ruler_max_rule_groups);
    /* the namespace as it will be: its groups with g replacing its namesake or appended */
    size_t n = ns ? ns->n : 0, n_new = gi < 0 ? n + 1 : n;
    rules_group_spec_t *next = rc ? NULL : calloc(n_new, sizeof *next);
    if (!rc && !next) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    if (!rc && !ns && !(ns = add_ns(r, owner, ns_name))) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
    if (!rc) {
        for (size_t i = 0; i < n; i++) next[i] = ns->groups[i]; /* shallow: for writing */
        next[gi < 0 ? n : (size_t)gi] = g;
        rc = rules_store_write(r->root, owner, ns_name, next, n_new, err);
    }
    if (rc) {
        if (ns && !ns->n) drop_ns(r, ns); /* added above for nothing */
        pthread_mutex_unlock(&r->mu);
        free(next);
        rules_group_spec_deinit(&g);
        return rc;
    }
    if (gi >= 0) rules_group_spec_deinit(&ns->groups[gi]);
    free(ns->groups);
    ns->groups = next; /* takes g and the groups kept */
    ns->n = n_new;
    const rules_group_spec_t *added = &ns->groups[gi < 0 ? n : (size_t)gi];
    if (ctx->svc->rules) rc = rules_manager_set_group(ctx->svc->rules, owner, added, false, err);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int service_ruler_delete(service_ctx_t *ctx, const char *org_id, const char *ns_name, const char *group, vg_error_t *err) {
    char buf[TENANCY_TENANT_MAX + 1];
    const char *owner;
    int rc = owner_of(ctx, org_id, buf, sizeof buf, &owner, err);
    if (rc) return rc;
    service__ruler_t *r = ruler_of(ctx, err);
    if (!r) return err->code;
    pthread_mutex_lock(&r->mu);
    ruler_ns_t *ns = find_ns(r, owner, ns_name);
    ssize_t gi = group ? find_group(ns, group) : -1;
    if (!ns) rc = vg_error_set(err, VG_ENOTFOUND, "namespace \"%s\" does not exist", ns_name);
    else if (group && gi < 0)
        rc = vg_error_set(err, VG_ENOTFOUND, "rule group \"%s\" does not exist in namespace \"%s\"", group, ns_name);
    rules_group_spec_t *rest = NULL;
    size_t n_rest = 0;
    if (!rc && group && ns->n > 1) {
        if (!(rest = calloc(ns->n - 1, sizeof *rest))) rc = vg_error_set(err, VG_ENOMEM, "out of memory");
        for (size_t i = 0; rest && i < ns->n; i++)
            if (i != (size_t)gi) rest[n_rest++] = ns->groups[i];
    }
    if (!rc) rc = rules_store_write(r->root, owner, ns_name, rest, n_rest, err);
    if (rc) {
        pthread_mutex_unlock(&r->mu);
        free(rest);
        return rc;
    }
    for (size_t i = 0; i < ns->n; i++) {
        if (group && i != (size_t)gi) continue;
        if (ctx->svc->rules) rules_manager_delete_group(ctx->svc->rules, owner, ns_name, ns->groups[i].name);
        rules_group_spec_deinit(&ns->groups[i]);
    }
    free(ns->groups);
    ns->groups = rest;
    ns->n = n_rest;
    if (!n_rest) drop_ns(r, ns);
    pthread_mutex_unlock(&r->mu);
    return 0;
}
