/* Scrape targets: from a scrape config and one discovered address (+ group labels) to the target's
 * final labels and URL, the way Prometheus 2.42's populateLabels does it:
 *   discovered = group labels + __address__, with job, __metrics_path__, __scheme__,
 *                __scrape_interval__, __scrape_timeout__ and __param_<name> defaulted from the config;
 *   relabel_configs run over them (a drop makes the target "dropped");
 *   a missing port gets the scheme's default (80/443); instance defaults to __address__;
 *   every label starting with "__" is removed from the final set (the URL is built from them first). */
#ifndef VG_INGEST_TARGETS_H
#define VG_INGEST_TARGETS_H

#include "config/config.h"
#include "ingest/scrape/relabel.h"
#include "model/labels.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct ingest_target_def {
    model_label_t *discovered; /* sorted */
    size_t n_discovered;
    model_label_t *labels;     /* sorted; empty when dropped */
    size_t n_labels;
    char *url;                 /* NULL when dropped */
    int64_t interval_ms, timeout_ms;
    bool dropped;
    uint64_t hash;             /* of labels + URL: identity across reloads and the scrape offset */
} ingest_target_def_t;

/* Builds a target. Everything in *out is allocated in `arena`. Returns 0 (out->dropped says whether
 * relabeling dropped it), or VG_EINVAL with a message when the result is not scrapeable (no address,
 * invalid interval/timeout labels, invalid label set) — Prometheus reports those as dropped with an
 * error; so do we — or VG_ELIMIT/VG_EEXEC when a relabel regex could not be evaluated on its labels
 * (ingest_relabel_error): not built rather than kept or dropped on a guess. */
int ingest_target_build(const config_scrape_t *sc, const ingest_relabel_t *relabel, const char *address,
                        const config_kv_t *group_labels, vg_arena_t *arena, ingest_target_def_t *out,
                        vg_error_t *err);

#endif
