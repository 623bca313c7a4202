/* Service discovery beyond static and file targets: `http_sd_configs`, `dns_sd_configs` and
 * `kubernetes_sd_configs`. Each SD config of each scrape job is a *provider* running on its own thread;
 * what it finds is a list of target groups in Prometheus' shape (a source, group labels, and per
 * target a label set holding `__address__`), published whole and immutable. The scrape manager reads a
 * job's groups through a view (references, no copy) whenever the job's generation changes, and builds
 * targets from them exactly as from static and file SD groups (targets.c).
 *
 * Threads: ingest_sd_apply, ingest_sd_view and ingest_sd_generation may be called from any thread (the
 * scrape thread in practice); providers publish under the manager's mutex and then call the notify
 * callback (which must not block; the scraper wakes its curl multi handle).
 *
 * Bounds (constants, documented in docs/configuration.md): INGEST_SD_MAX_RESPONSE bytes of one HTTP SD
 * or Kubernetes list response, INGEST_K8S_MAX_EVENT bytes of one watch event, INGEST_K8S_MAX_OBJECTS
 * objects per watched resource, INGEST_SD_MAX_TARGETS targets per provider. */
#ifndef VG_INGEST_DISCOVERY_H
#define VG_INGEST_DISCOVERY_H

#include "config/config.h"
#include "util/arena.h"
#include "util/error.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INGEST_SD_MAX_RESPONSE (64u << 20)
#define INGEST_SD_MAX_TARGETS 1000000u
#define INGEST_K8S_MAX_EVENT (4u << 20)
#define INGEST_K8S_MAX_OBJECTS 500000u

/* A label set under construction: names and values are arena strings of the group list. */
typedef struct ingest_sd_labels {
    char **keys, **values;
    size_t n, cap;
} ingest_sd_labels_t;

typedef struct ingest_sd_group {
    const char *source;         /* e.g. "pod/default/web-1", the URL, the DNS name */
    ingest_sd_labels_t labels;  /* group labels (a target's own labels win over them) */
    ingest_sd_labels_t *targets;
    size_t n_targets, cap_targets;
} ingest_sd_group_t;

/* An immutable (once published) list of groups and the arena that holds everything in it. */
typedef struct ingest_sd_groups {
    _Atomic int refs;
    vg_arena_t arena;
    ingest_sd_group_t *v;
    size_t n, cap;
    size_t n_targets_total;
    bool oom; /* an allocation failed while building: the list is incomplete and must not be published */
} ingest_sd_groups_t;

/* Building (the provider's thread). Every function copies the strings it is given into the arena;
 * on allocation failure it sets g->oom and returns NULL/does nothing. */
ingest_sd_groups_t *ingest_sd_groups_new(void); /* one reference; NULL when out of memory */
ingest_sd_group_t *ingest_sd_group_add(ingest_sd_groups_t *g, const char *source);
/* Sets name=value in l (replacing an existing value of name). */
void ingest_sd_label_set(ingest_sd_groups_t *g, ingest_sd_labels_t *l, const char *name, const char *value);
const char *ingest_sd_label_get(const ingest_sd_labels_t *l, const char *name);
/* A new, empty target label set in grp (NULL when out of memory or past INGEST_SD_MAX_TARGETS). */
ingest_sd_labels_t *ingest_sd_target_add(ingest_sd_groups_t *g, ingest_sd_group_t *grp);
void ingest_sd_groups_ref(ingest_sd_groups_t *g);
void ingest_sd_groups_unref(ingest_sd_groups_t *g);

/* The manager. */
typedef struct ingest_sd ingest_sd_t;
typedef void (*ingest_sd_notify_fn)(void *ctx);

int ingest_sd_new(ingest_sd_notify_fn notify, void *ctx, ingest_sd_t **out, vg_error_t *err);
/* Starts the providers cfg's scrape configs ask for and stops those it no longer has; a provider whose
 * job, kind, index and settings are unchanged keeps running with its groups (cfg is referenced by the
 * providers started from it). */
void ingest_sd_apply(ingest_sd_t *d, config_t *cfg);
/* Stops every provider and frees the manager. */
void ingest_sd_free(ingest_sd_t *d);

/* What a job's providers currently publish: one groups list per provider that has reported (refs). */
typedef struct ingest_sd_view {
    ingest_sd_groups_t **sets;
    size_t n;
} ingest_sd_view_t;

/* Fills *out (release with ingest_sd_view_release) and returns the job's generation, which changes
 * whenever one of the job's providers publishes. Returns 0 with an empty view for a job without
 * providers. */
uint64_t ingest_sd_view(ingest_sd_t *d, const char *job, ingest_sd_view_t *out);
uint64_t ingest_sd_generation(ingest_sd_t *d, const char *job);
void ingest_sd_view_release(ingest_sd_view_t *v);
/* Whether the scrape config has any provider-backed SD config. */
bool ingest_sd_configured(const config_scrape_t *sc);

/* ---- pure parts, exposed for tests and fuzzing ---- */

/* HTTP SD: parses a response body (a JSON list of {"targets": [...], "labels": {...}}) into groups
 * (sources "<url>:<index>", __meta_url=url on each group). Returns 0 with *out (one reference), or
 * VG_EINVAL with err (nothing returned). */
int ingest_http_sd_parse(const char *url, const char *body, size_t len, ingest_sd_groups_t **out, vg_error_t *err);
/* Prometheus' HTTP SD Content-Type rule: ^application/json(;.*)?$ (case-sensitive). */
bool ingest_http_sd_content_type_ok(const char *ct);

/* DNS: one answer record of the type asked for. */
typedef struct ingest_dns_record {
    char target[256]; /* A/AAAA: the address as text; SRV/MX: the target name as in the answer (rooted, with its dot) */
    int port;         /* SRV: the record's port; else 0 */
} ingest_dns_record_t;

/* Parses a DNS response message and collects the answers of qtype (ns_t_a, ns_t_aaaa, ns_t_srv, ns_t_mx)
 * into out (at most cap). Returns the number found (>= 0), or VG_EINVAL for a malformed message.
 * *rcode gets the response code. */
int ingest_dns_parse_answer(const unsigned char *msg, size_t len, int qtype, ingest_dns_record_t *out, size_t cap,
                            int *rcode, vg_error_t *err);
/* The target group of one DNS name from its records (as Prometheus' DNS SD builds it; port is the
 * config's port for A/AAAA/MX). Added to g. */
void ingest_dns_group(ingest_sd_groups_t *g, const char *name, int qtype, int port, const ingest_dns_record_t *r, size_t n);

/* Kubernetes. A store holds one watched resource's objects: a JSON object mapping "namespace/name"
 * ("name" for nodes) to the object as the API returned it. */
struct json_t;

/* The target groups of role from its objects (main) and, for endpoints and endpointslice, the pods and
 * services they join (NULL: none). Labels and addresses follow Prometheus 2.42 (docs/configuration.md
 * lists them). Returns 0 with *out (one reference) or VG_ENOMEM. */
int ingest_k8s_build(int role, const struct json_t *main, const struct json_t *pods, const struct json_t *services,
                     ingest_sd_groups_t **out);
/* The store key of an object ("ns/name" or "name"), into out (cap bytes); false when it has no name. */
bool ingest_k8s_key(const struct json_t *obj, char *out, size_t cap);

enum { INGEST_K8S_ADDED = 1, INGEST_K8S_MODIFIED, INGEST_K8S_DELETED, INGEST_K8S_BOOKMARK, INGEST_K8S_ERROR };

/* Applies one watch event (a JSON line {"type": ..., "object": ...}) to store: ADDED/MODIFIED put the
 * object (refused past max_objects: VG_ELIMIT), DELETED removes it, BOOKMARK changes nothing; the
 * object's metadata.resourceVersion goes to rv (rv_cap bytes). ERROR carries a Status whose code goes to
 * *code (410: the resourceVersion is too old). Returns the event type, or <0 with err for a malformed
 * event (the store is unchanged). */
int ingest_k8s_apply_event(struct json_t *store, const char *line, size_t len, size_t max_objects, char *rv,
                           size_t rv_cap, int *code, vg_error_t *err);

/* The watch stream's line splitter: bytes in, complete lines out (without the newline), a line longer
 * than max_line skipped whole (counted in n_oversized) without buffering more than max_line bytes. */
typedef struct ingest_k8s_lines {
    char *buf; /* owned */
    size_t len, max_line;
    bool skipping;
    uint64_t n_oversized;
} ingest_k8s_lines_t;

void ingest_k8s_lines_init(ingest_k8s_lines_t *l, size_t max_line);
void ingest_k8s_lines_deinit(ingest_k8s_lines_t *l);
/* Calls fn for every line completed by p[0..n). Returns 0, VG_ENOMEM, or the first non-zero fn result. */
int ingest_k8s_lines_feed(ingest_k8s_lines_t *l, const char *p, size_t n, int (*fn)(void *ctx, const char *line, size_t len),
                          void *ctx);

#endif
