/* Dashboard templates: loading Grafana dashboard JSON files from the configured folder, and rendering
 * them by substituting variables inside the strings of the JSON tree.
 *
 * Invariants:
 *  - Substitution never touches object keys or the JSON structure, only string values, so a value can
 *    never break the JSON (no text replacement over the file).
 *  - A variable that is substituted disappears from templating.list (it has nothing left to select);
 *    every other variable, and every built-in ($__rate_interval, $__interval, …), is kept.
 *  - Loaded templates are immutable; rendering works on a deep copy. */
#include "grafana/grafana_int.h"

#include "util/buf.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TEMPLATE_MAX_BYTES (4u << 20)
#define TEMPLATES_MAX 256

static bool ident_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

static const grafana_var_t *var_find(const grafana_var_t *vars, size_t n, const char *name, size_t len) {
    for (size_t i = n; i-- > 0;)
        if (strlen(vars[i].name) == len && !memcmp(vars[i].name, name, len)) return &vars[i];
    return NULL;
}

/* Substitutes one string into b; returns 1 when it changed, 0 when not, <0 on error. */
static int subst(const char *s, size_t n, const grafana_var_t *vars, size_t n_vars, vg_buf_t *b) {
    bool changed = false;
    vg_buf_reset(b);
    for (size_t i = 0; i < n;) {
        if (s[i] != '$') {
            size_t j = i;
            while (j < n && s[j] != '$') j++;
            vg_buf_append(b, s + i, j - i);
            i = j;
            continue;
        }
        const grafana_var_t *v = NULL;
        size_t end = i + 1;
        if (i + 1 < n && s[i + 1] == '{') {
            size_t k = i + 2;
            while (k < n && ident_char(s[k])) k++;
            size_t close = k;
            if (k < n && s[k] == ':')
                while (close < n && s[close] != '}') close++;
            if (close < n && s[close] == '}' && k > i + 2) {
                v = var_find(vars, n_vars, s + i + 2, k - (i + 2));
                end = close + 1;
            }
        } else {
            size_t k = i + 1;
            while (k < n && ident_char(s[k])) k++;
            if (k > i + 1) {
                v = var_find(vars, n_vars, s + i + 1, k - (i + 1));
                end = k;
            }
        }
        if (v) {
            vg_buf_puts(b, v->value);
            changed = true;
            i = end;
        } else {
            vg_buf_putc(b, '$');
            i++;
        }
    }
    if (b->failed) return VG_ENOMEM;
    return changed ? 1 : 0;
}

static int walk(json_t *j, const grafana_var_t *vars, size_t n_vars, vg_buf_t *b) {
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            if (json_is_string(v)) {
                int r = subst(json_string_value(v), json_string_length(v), vars, n_vars, b);
                if (r < 0) return r;
                if (r && json_object_set_new(j, k, json_stringn(b->data ? b->data : "", b->len))) return VG_ENOMEM;
            } else {
                int r = walk(v, vars, n_vars, b);
                if (r) return r;
            }
        }
    } else if (json_is_array(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            if (json_is_string(v)) {
                int r = subst(json_string_value(v), json_string_length(v), vars, n_vars, b);
                if (r < 0) return r;
                if (r && json_array_set_new(j, i, json_stringn(b->data ? b->data : "", b->len))) return VG_ENOMEM;
            } else {
                int r = walk(v, vars, n_vars, b);
                if (r) return r;
            }
        }
    }
    return 0;
}

int grafana__render(json_t *model, const grafana_var_t *vars, size_t n_vars, vg_error_t *err) {
    if (!json_is_object(model)) return vg_error_set(err, VG_EINVAL, "dashboard must be a JSON object");
    vg_buf_t b = VG_BUF_INIT;
    int rc = walk(model, vars, n_vars, &b);
    vg_buf_deinit(&b);
    if (rc) return vg_error_set(err, rc, "out of memory rendering a dashboard");
    json_object_del(model, "id");
    json_t *list = json_object_get(json_object_get(model, "templating"), "list");
    if (json_is_array(list)) {
        for (size_t i = json_array_size(list); i-- > 0;) {
            const char *name = grafana__jstr(json_array_get(list, i), "name");
            if (name && var_find(vars, n_vars, name, strlen(name))) json_array_remove(list, i);
        }
    }
    return 0;
}

int grafana_template_render(const char *json, size_t len, const grafana_var_t *vars, size_t n_vars, char **out,
                            vg_error_t *err) {
    *out = NULL;
    json_t *m;
    int rc = grafana__parse(json, len, &m, err);
    if (rc) return rc;
    for (size_t i = 0; i < n_vars; i++)
        if (!vars[i].name || !vars[i].name[0] || !vars[i].value) {
            json_decref(m);
            return vg_error_set(err, VG_EINVAL, "template variable %zu has no name or value", i);
        }
    rc = grafana__render(m, vars, n_vars, err);
    if (!rc && (rc = grafana__dump(m, out))) vg_error_set(err, rc, "out of memory");
    json_decref(m);
    return rc;
}

int grafana__vars_merge(const grafana_client_t *c, const grafana_var_t *req, size_t n_req, grafana_var_t **out,
                        size_t *n_out) {
    size_t n_cfg = c ? c->cfg.n_vars : 0;
    grafana_var_t *v = calloc(n_cfg + n_req + 1, sizeof *v);
    if (!v) return VG_ENOMEM;
    size_t n = 0;
    /* The datasource default comes first so that any configured or requested value wins over it. */
    v[n++] = (grafana_var_t){"datasource", GRAFANA__DS_UID};
    for (size_t i = 0; i < n_cfg; i++) v[n++] = c->cfg.vars[i];
    for (size_t i = 0; i < n_req; i++) v[n++] = req[i];
    *out = v;
    *n_out = n;
    return 0;
}

/* ---- loading ----------------------------------------------------------------------------------- */

static int cmp_tpl(const void *a, const void *b) {
    return strcmp(((const grafana__template_t *)a)->name, ((const grafana__template_t *)b)->name);
}

static int load_one(const char *dir, const char *file, grafana__template_t *t, vg_error_t *err) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
        return vg_error_set(err, VG_ECONFIG, "grafana: template path too long: %s", file);
    FILE *f = fopen(path, "rb");
    if (!f) return vg_error_set(err, VG_EIO, "grafana: template %s: %s", path, strerror(errno));
    json_error_t je;
    /* Bound the size before jansson sees it. */
    struct stat st;
    if (fstat(fileno(f), &st) || (size_t)st.st_size > TEMPLATE_MAX_BYTES) {
        fclose(f);
        return vg_error_set(err, VG_ECONFIG, "grafana: template %s: larger than %u bytes", path, TEMPLATE_MAX_BYTES);
    }
    json_t *m = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
    fclose(f);
    if (!m) return vg_error_set(err, VG_ECONFIG, "grafana: template %s:%d:%d: %s", path, je.line, je.column, je.text);
    const char *title = grafana__jstr(m, "title");
    if (!json_is_object(m) || !title || !title[0]) {
        json_decref(m);
        return vg_error_set(err, VG_ECONFIG, "grafana: template %s: not a dashboard (an object with a title)", path);
    }
    size_t stem = strlen(file) - 5;
    t->name = strndup(file, stem);
    if (!t->name) {
        json_decref(m);
        return VG_ENOMEM;
    }
    const char *uid = grafana__jstr(m, "uid");
    if (uid ? !grafana__uid_ok(uid) : !grafana__uid_ok(t->name)) {
        json_decref(m);
        free(t->name);
        t->name = NULL;
        return vg_error_set(err, VG_ECONFIG, "grafana: template %s: uid (or file name) must be 1-40 of [A-Za-z0-9_-]",
                            path);
    }
    if (!uid) json_object_set_new(m, "uid", json_string(t->name));
    t->model = m;
    return 0;
}

int grafana__templates_load(const char *dir, grafana__template_t **out, size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) return vg_error_set(err, VG_EIO, "grafana: dashboards_dir %s: %s", dir, strerror(errno));
    grafana__template_t *t = calloc(TEMPLATES_MAX, sizeof *t);
    if (!t) {
        closedir(d);
        return VG_ENOMEM;
    }
    size_t n = 0;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len <= 5 || strcmp(e->d_name + len - 5, ".json")) continue;
        if (n == TEMPLATES_MAX) {
            rc = vg_error_set(err, VG_ECONFIG, "grafana: more than %d templates in %s", TEMPLATES_MAX, dir);
            break;
        }
        rc = load_one(dir, e->d_name, &t[n], err);
        if (!rc) n++;
    }
    closedir(d);
    if (rc) {
        grafana__templates_free(t, n);
        return rc;
    }
    qsort(t, n, sizeof *t, cmp_tpl);
    for (size_t i = 0; i + 1 < n; i++)
        if (!strcmp(grafana__jstr(t[i].model, "uid"), grafana__jstr(t[i + 1].model, "uid"))) {
            rc = vg_error_set(err, VG_ECONFIG, "grafana: templates %s and %s share uid %s", t[i].name, t[i + 1].name,
                              grafana__jstr(t[i].model, "uid"));
            grafana__templates_free(t, n);
            return rc;
        }
    *out = t;
    *n_out = n;
    return 0;
}

void grafana__templates_free(grafana__template_t *t, size_t n) {
    if (!t) return;
    for (size_t i = 0; i < n; i++) {
        free(t[i].name);
        json_decref(t[i].model);
    }
    free(t);
}

const grafana__template_t *grafana__template_find(const grafana_client_t *c, const char *name) {
    for (size_t i = 0; name && i < c->n_templates; i++)
        if (!strcmp(c->templates[i].name, name)) return &c->templates[i];
    return NULL;
}

int grafana_template_list(const grafana_client_t *c, char **out) {
    json_t *arr = json_array();
    for (size_t i = 0; i < c->n_templates; i++) {
        const json_t *m = c->templates[i].model;
        json_t *vars = json_array();
        json_t *list = json_object_get(json_object_get(m, "templating"), "list");
        size_t k;
        json_t *v;
        json_array_foreach(list, k, v) {
            const char *name = grafana__jstr(v, "name");
            if (name) json_array_append_new(vars, json_string(name));
        }
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o}", "name", c->templates[i].name, "title",
                                             grafana__jstr(m, "title"), "uid", grafana__jstr(m, "uid"), "variables",
                                             vars));
    }
    int rc = grafana__dump(arr, out);
    json_decref(arr);
    return rc;
}
