/* config internals shared by the files of src/config/: the field-table schema that drives decoding,
 * freeing and YAML output, the section descriptor, and the helpers section files use.
 *
 * How the files divide the work:
 *   config.c         the section registry (the order of top-level keys), defaults, load/parse, ref/unref;
 *   config_decode.c  YAML text → document tree → struct fields by walking a table; errors at file:line:col;
 *   config_write.c   the same tables walked the other way (config_write_yaml);
 *   config_<family>.c one per family of sections: field tables, defaults and cross-field checks.
 *
 * Invariants of a field table: an array of config__field_t ended by FIELD_END; every offset is from the
 * start of the struct the table describes; a string slot holds NULL or a heap string (freeing walks the
 * table, so a slot the table does not describe must not own memory). The short names below (F_*,
 * FIELD_END, OFF, LIST_OF, DAY_MS) are for the tables' readability and exist only inside src/config/. */
#ifndef VG_CONFIG_INT_H
#define VG_CONFIG_INT_H

#include "config.h"

#include "util/buf.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    F_STR, F_ADDR, F_REGEX, F_DURATION, F_SIZE, F_INT, F_BOOL, F_ENUM,
    F_STRLIST, F_KV, F_LABELS, F_PARAMS, F_STRUCT, F_LIST, F_FLOAT, F_MAPOF, F_VALUES,
} config__ftype_t;

typedef struct config__field {
    const char *key;
    config__ftype_t type;
    size_t off;                        /* from the start of the struct the table describes */
    const struct config__field *sub;   /* F_STRUCT / F_LIST / F_MAPOF: the nested table */
    int64_t min, max;                  /* F_DURATION (ms), F_SIZE (bytes), F_INT, F_FLOAT */
    const char *const *names;          /* F_ENUM: value i is names[i]; NULL-terminated */
    size_t elem_size;                  /* F_LIST / F_MAPOF */
    void (*init)(void *elem);          /* F_LIST: element defaults (heap strings only: free walks the table) */
    size_t pos_off;                    /* F_LIST / F_MAPOF: offset of `int line, col` in the element, F_STRUCT:
                                          in the struct (where its mapping was written), or 0 */
    bool empty_ok;                     /* F_STR: "" is a valid value */
    bool secret;                       /* F_STR: shown as <secret> by config_write_yaml */
    size_t key_off;                    /* F_MAPOF: offset of the element's `char *` key (its mapping key) */
} config__field_t;

/* A list of structs as stored: the element array and its count. */
typedef struct {
    void *v;
    size_t n;
} config__anylist_t;

#define FIELD_END {.key = NULL}
#define DAY_MS (24LL * 3600 * 1000)
#define OFF(T, m) offsetof(T, m)
/* A list of `elem` structs with `int line, col` members, at T.member. */
#define LIST_OF(key_, T, member, sub_, elem, init_)                                                          \
    {.key = key_, .type = F_LIST, .off = OFF(T, member), .sub = sub_, .elem_size = sizeof(elem), .init = init_, \
     .pos_off = offsetof(elem, line)}

/* One top-level key of the file. The registry in config.c lists every section once, in the order
 * config_write_yaml prints them and the order their checks run after decoding. */
typedef struct config__section {
    config__field_t field;                      /* F_STRUCT / F_LIST with its offset in config_t */
    int (*defaults)(config_t *c);               /* NULL: all zero; else 0 or VG_ENOMEM */
    int (*check)(config_t *c, vg_error_t *err); /* cross-field rules after decoding; NULL: none */
} config__section_t;

/* config_server.c */
extern const config__section_t config__section_server, config__section_storage, config__section_log;
/* Resolves storage.retention when the file leaves it unset (15d; 6h in gateway mode). */
void config__storage_resolve(config_t *c);
/* config_scrape.c */
extern const config__section_t config__section_global, config__section_scrape_configs;
/* Tables of the Prometheus HTTP-client and relabel types, shared by every section that uses them
 * (scrape_configs, alerting). */
extern const config__field_t config__relabel_fields[], config__static_fields[], config__basic_auth_fields[],
    config__authorization_fields[], config__tls_fields[];
/* Element defaults of a relabel rule (separator ";", regex "(.*)", replacement "$1", action replace). */
void config__relabel_init(void *p);
/* Prometheus' rules for one relabel rule; `where` names it in the message (e.g. "alerting.alert_relabel_configs[0]"). */
int config__check_relabel(const config_relabel_t *r, const char *where, vg_error_t *err);
/* Targets of a static config are host:port without a path or spaces. */
int config__check_targets(const config_static_t *st, vg_error_t *err);
/* At most one credential source (basic_auth, authorization, bearer_token[_file]) and one form of each,
 * located at line:col. */
int config__check_http_client(const config_basic_auth_t *ba, const config_authorization_t *az, const char *bearer_token,
                              const char *bearer_token_file, int line, int col, vg_error_t *err);
/* config_discovery.c: the kubernetes, dns and http service discovery configs of a scrape config. */
extern const config__field_t config__k8s_sd_fields[], config__dns_sd_fields[], config__http_sd_fields[];
void config__k8s_sd_init(void *elem);
void config__dns_sd_init(void *elem);
void config__http_sd_init(void *elem);
/* Their cross-field checks, located at each SD config's position. */
int config__check_sd(config_scrape_t *s, vg_error_t *err);
/* config_remote_write.c */
extern const config__section_t config__section_remote_write;
/* config_remote_read.c */
extern const config__section_t config__section_remote_read;
/* config_tenancy.c */
extern const config__section_t config__section_auth, config__section_tenants, config__section_limits;
/* Resolves limits that are derived from others once the file is read (limits.max_series). */
void config__limits_resolve(config_t *c);
/* config_grafana.c */
extern const config__section_t config__section_grafana;
/* config_query.c */
extern const config__section_t config__section_query, config__section_query_cache;
/* config_clusters.c */
extern const config__section_t config__section_clusters;
/* config_rules.c */
extern const config__section_t config__section_rule_files, config__section_rules;
/* config_alerting.c */
extern const config__section_t config__section_alerting;
/* config_remote.c */
extern const config__section_t config__section_remote_query, config__section_remote_read_limits;

/* ---- config_decode.c ---- */

/* Parses text as one YAML document and decodes its root node as the value of field f inside base (an
 * F_STRUCT root must be a mapping; an empty document decodes nothing). On failure err says where; what
 * was decoded before the error stays in base for the caller to free with config__free_fields. */
int config__decode_text(const char *text, size_t len, const config__field_t *f, char *base, vg_error_t *err);

/* Frees everything a table describes inside base (not base itself). */
void config__free_fields(const config__field_t *fields, char *base);

/* Sets err to a VG_ECONFIG error at line:col (a position remembered while decoding); returns VG_ECONFIG. */
int config__fail_pos(vg_error_t *err, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* [a-zA-Z_][a-zA-Z0-9_]* */
bool config__valid_label_name(const char *s, size_t n);

/* ---- config_write.c ---- */

/* Writes every field of the table at indentation ind (the first key without indentation when
 * first_inline, after a list's "- "). */
void config__write_fields(vg_buf_t *b, const config__field_t *fields, const char *base, int ind, bool first_inline);

#endif
