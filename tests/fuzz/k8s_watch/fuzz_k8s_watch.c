/* libFuzzer target for the Kubernetes watch path: the input is a watch stream, split into lines by
 * ingest_k8s_lines (a small line limit, so oversized lines are exercised) whose events update one store;
 * then every role's translation runs over it (the store doubling as the pods and services the endpoint
 * roles join). Invariants: the splitter never hands out more than max_line bytes, every event is applied
 * or refused without changing the store beyond one key, and every built target's labels are non-NULL
 * strings. ASan/UBSan catch the rest (the input is an exact-size copy). */
#include "config/config.h"
#include "ingest/discovery/discovery.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINE 4096

typedef struct {
    json_t *store;
    char rv[128];
} ctx_t;

static int on_line(void *c_, const char *line, size_t len) {
    ctx_t *c = c_;
    if (len > MAX_LINE) abort();
    size_t before = json_object_size(c->store);
    int code;
    vg_error_t err;
    int rc = ingest_k8s_apply_event(c->store, line, len, 64, c->rv, sizeof c->rv, &code, &err);
    size_t after = json_object_size(c->store);
    if (after > before + 1 || before > after + 1 || after > 64) abort();
    if (rc < 0 && after != before) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    ctx_t c = {.store = json_object()};
    ingest_k8s_lines_t l;
    ingest_k8s_lines_init(&l, MAX_LINE);
    /* two writes at a data-dependent split, as a stream arrives */
    size_t cut = size ? data[0] % (size + 1) : 0;
    ingest_k8s_lines_feed(&l, copy, cut, on_line, &c);
    ingest_k8s_lines_feed(&l, copy + cut, size - cut, on_line, &c);
    ingest_k8s_lines_deinit(&l);
    for (int role = 0; role < CONFIG_K8S_N_ROLES; role++) {
        ingest_sd_groups_t *g;
        if (ingest_k8s_build(role, c.store, c.store, c.store, &g)) continue;
        for (size_t i = 0; i < g->n; i++) {
            if (!g->v[i].source) abort();
            for (size_t t = 0; t < g->v[i].n_targets; t++)
                for (size_t k = 0; k < g->v[i].targets[t].n; k++)
                    if (!g->v[i].targets[t].keys[k] || !g->v[i].targets[t].values[k]) abort();
        }
        ingest_sd_groups_unref(g);
    }
    json_decref(c.store);
    free(copy);
    return 0;
}
