/* OpenMetrics import; see import.h. Series are counted by the hash of their label set; samples
 * without a timestamp, with invalid labels, or rejected by the storage are skipped and counted by
 * reason, never silently dropped. */
#include "import.h"

#include "ingest/expfmt.h"
#include "model/labels.h"
#include "util/arena.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LABELS 1024 /* the largest limits.max_label_names_per_series; the labels are validated with the defaults */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int ingest_import_openmetrics(const char *buf, size_t len, storage_appender_t *app, size_t batch, FILE *progress,
                              ingest_import_stats_t *st, vg_error_t *err) {
    memset(st, 0, sizeof *st);
    ingest_label_t labels[MAX_LABELS];
    size_t scratch_cap = 1u << 20;
    char *scratch = malloc(scratch_cap);
    uint64_t *hashes = NULL;
    size_t n_hashes = 0, cap_hashes = 0, pending = 0;
    vg_arena_t a;
    vg_arena_init(&a, 16384);
    if (!scratch) return vg_error_set(err, VG_ENOMEM, "out of memory");
    ingest_expfmt_parser_t p;
    ingest_expfmt_init(&p, INGEST_EXPFMT_OPENMETRICS, buf, len, NULL, labels, MAX_LABELS, scratch, scratch_cap);
    ingest_expfmt_entry_t e;
    int rc = 0;
    uint64_t last_ref = 0, last_hash = 0;
    for (;;) {
        int kind = ingest_expfmt_next(&p, &e, err);
        if (kind < 0) {
            rc = kind;
            break;
        }
        if (kind == INGEST_EXPFMT_EOF) break;
        if (kind != INGEST_EXPFMT_SERIES) continue;
        if (!e.has_ts) {
            st->skipped_no_timestamp++;
            continue;
        }
        vg_arena_reset(&a);
        model_label_t *ls = vg_arena_alloc(&a, (e.n_labels + 1) * sizeof *ls);
        if (!ls) {
            rc = vg_error_set(err, VG_ENOMEM, "out of memory");
            break;
        }
        ls[0] = (model_label_t){MODEL_METRIC_NAME, vg_arena_strndup(&a, e.name.ptr, e.name.len)};
        for (size_t i = 0; i < e.n_labels; i++)
            ls[i + 1] = (model_label_t){vg_arena_strndup(&a, e.labels[i].name.ptr, e.labels[i].name.len),
                                        vg_arena_strndup(&a, e.labels[i].value.ptr, e.labels[i].value.len)};
        size_t n = e.n_labels + 1;
        vg_error_t lerr;
        if (model_labels_normalize(ls, &n, NULL, &lerr)) {
            st->skipped_invalid_labels++;
            continue;
        }
        uint64_t h = model_labels_hash(ls, n);
        /* series come one after another: a ref is reused while the series repeats */
        int r = h == last_hash && last_ref ? storage_append_ref(app, last_ref, e.ts_ms, e.value, err) : VG_ENOTFOUND;
        if (r == VG_ENOTFOUND) {
            r = storage_append(app, ls, n, e.ts_ms, e.value, &last_ref, err);
            last_hash = h;
            if (n_hashes == cap_hashes) {
                cap_hashes = cap_hashes ? cap_hashes * 2 : 1024;
                uint64_t *nh = realloc(hashes, cap_hashes * sizeof *nh);
                if (!nh) {
                    rc = vg_error_set(err, VG_ENOMEM, "out of memory");
                    break;
                }
                hashes = nh;
            }
            hashes[n_hashes++] = h;
        }
        if (r < 0) {
            rc = r;
            break;
        }
        if (r == STORAGE_REJECT_OUT_OF_ORDER) st->skipped_out_of_order++;
        else if (r == STORAGE_REJECT_DUPLICATE) st->skipped_duplicate++;
        else if (r == STORAGE_REJECT_OUT_OF_BOUNDS || r == STORAGE_REJECT_TOO_FAR_FUTURE) st->skipped_out_of_bounds++;
        else if (r == STORAGE_REJECT_SERIES_LIMIT_TOTAL || r == STORAGE_REJECT_SERIES_LIMIT) st->skipped_series_limit++;
        else st->samples++;
        if (++pending >= batch) {
            if ((rc = storage_commit(app, err)) < 0) break;
            rc = 0;
            pending = 0;
            last_ref = 0; /* refs stay valid, but a new batch re-resolves them cheaply anyway */
        }
        if (progress && st->samples && st->samples % 1000000 == 0)
            fprintf(progress, "import: %llu samples…\n", (unsigned long long)st->samples);
    }
    if (!rc && pending && (rc = storage_commit(app, err)) > 0) rc = 0;
    if (rc) storage_rollback(app);
    if (hashes) {
        qsort(hashes, n_hashes, sizeof *hashes, cmp_u64);
        for (size_t i = 0; i < n_hashes; i++) st->series += !i || hashes[i] != hashes[i - 1];
    }
    free(hashes);
    free(scratch);
    vg_arena_deinit(&a);
    return rc < 0 ? rc : 0;
}
