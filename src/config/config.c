/* config core: the registry of top-level sections, defaults, load/parse, reference counting and the
 * entry to YAML output. Decoding and writing are table walks (config_decode.c, config_write.c) over the
 * field tables the section files (config_<family>.c) define; config_int.h says how they fit.
 *
 * Adding a section: a file with its field table, defaults and check (a config__section_t), its struct
 * in config.h, and one line in `sections` below. The registry's order is the order of the output of
 * config_write_yaml and of the checks after decoding (the first failing check is the error reported).
 *
 * A config_t leaves config_parse whole or not at all: any decoding or check error frees it. */
#include "config_int.h"

#include "util/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static const config__section_t *const sections[] = {
    &config__section_server, &config__section_storage,        &config__section_log,
    &config__section_global, &config__section_scrape_configs, &config__section_auth,
    &config__section_tenants, &config__section_limits,        &config__section_grafana,
    &config__section_query,  &config__section_query_cache, &config__section_clusters, &config__section_rule_files,    &config__section_rules,
    &config__section_alerting,
    &config__section_remote_query, &config__section_remote_read_limits,
    &config__section_remote_write, &config__section_remote_read,
};

#define N_SECTIONS (sizeof sections / sizeof sections[0])

/* The top-level table: one field per section, in registry order. */
static void root_fields(config__field_t out[N_SECTIONS + 1]) {
    for (size_t i = 0; i < N_SECTIONS; i++) out[i] = sections[i]->field;
    out[N_SECTIONS] = (config__field_t)FIELD_END;
}

static void config_free(config_t *c) {
    if (!c) return;
    config__field_t root[N_SECTIONS + 1];
    root_fields(root);
    free(c->file);
    config__free_fields(root, (char *)c);
    free(c);
}

static int check_config(config_t *c, vg_error_t *err) {
    for (size_t i = 0; i < N_SECTIONS; i++) {
        int rc = sections[i]->check ? sections[i]->check(c, err) : 0;
        if (rc) return rc;
    }
    return 0;
}

/* A config with every section's defaults, before anything derived from them is resolved. */
static config_t *new_defaults(void) {
    config_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    atomic_init(&c->refs, 1);
    c->file = strdup("");
    int rc = c->file ? 0 : VG_ENOMEM;
    for (size_t i = 0; !rc && i < N_SECTIONS; i++) rc = sections[i]->defaults ? sections[i]->defaults(c) : 0;
    if (rc) {
        config_free(c);
        return NULL;
    }
    return c;
}

config_t *config_default(void) {
    config_t *c = new_defaults();
    if (c) config__limits_resolve(c);
    if (c) config__storage_resolve(c);
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
    config_t *c = new_defaults();
    if (!c) return vg_error_set(err, VG_ENOMEM, "out of memory");
    free(c->file);
    c->file = strdup(name);
    snprintf(c->hash, sizeof c->hash, "%016llx", (unsigned long long)XXH64(text, len, 0));

    if (!c->file) {
        config_free(c);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    config__field_t root[N_SECTIONS + 1];
    root_fields(root);
    const config__field_t top = {.key = "", .type = F_STRUCT, .off = 0, .sub = root};
    int rc = config__decode_text(text, len, &top, (char *)c, err);
    if (!rc) rc = check_config(c, err);
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

void config_write_yaml(const config_t *c, vg_buf_t *out) {
    config__field_t root[N_SECTIONS + 1];
    root_fields(root);
    config__write_fields(out, root, (const char *)c, 0, false);
}
