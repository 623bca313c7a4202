/* OpenMetrics file import (`vigil import openmetrics`; not scraping) for backfill and tests: the text
 * `promtool tsdb create-blocks-from openmetrics` takes (timestamped samples, `# EOF` last), grouped
 * into aligned time ranges (a block's duration) and handed to a sink pass by pass — the sink main.c
 * wires writes one block per range.
 *
 * Passes: a first pass checks the whole input (syntax, labels) and measures how many input bytes
 * fall in each range; nothing reaches the sink when it fails. Consecutive ranges are then grouped so
 * that a pass covers at most max_pass_bytes of input lines (always at least one range), and each
 * pass re-reads the input and appends only the samples of its ranges. What a sink holds at a time is
 * therefore bounded by one pass's share of the input, not by the file; one pass suffices when the
 * whole file fits. */
#ifndef VG_INGEST_IMPORT_H
#define VG_INGEST_IMPORT_H

#include "tsdb/storage.h"
#include "util/error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ingest_import_stats {
    uint64_t series, samples;
    uint64_t skipped_no_timestamp, skipped_invalid_labels, skipped_out_of_order, skipped_duplicate, skipped_out_of_bounds;
    uint64_t skipped_series_limit; /* samples of new series the storage's series cap (or gate) refused */
    int64_t mint, maxt;            /* of the samples with a timestamp (INT64_MAX, INT64_MIN: none) */
    uint64_t ranges;               /* aligned ranges holding samples */
    unsigned passes;               /* passes that appended (the checking pass not counted) */
} ingest_import_stats_t;

typedef struct ingest_import_sink {
    void *ctx;
    /* An appender for one pass; only samples with mint <= t < maxt reach it. The import frees it
     * (storage_appender_free) before calling end. */
    int (*begin)(void *ctx, int64_t mint, int64_t maxt, storage_appender_t **app, vg_error_t *err);
    /* The pass is over and committed: write what it collected. */
    int (*end)(void *ctx, vg_error_t *err);
} ingest_import_sink_t;

typedef struct ingest_import_progress {
    unsigned pass, passes; /* pass 0 is the check */
    size_t pos, len;       /* bytes of the input read in this pass */
    uint64_t samples;      /* appended so far, all passes */
} ingest_import_progress_t;

typedef struct ingest_import_opts {
    int64_t range_ms;        /* aligned ranges [k * range_ms, (k + 1) * range_ms) */
    uint64_t max_pass_bytes; /* input bytes a pass may cover (0: everything in one pass) */
    /* Called every 2^18 entries and at the end of each pass (may be NULL). */
    void (*progress)(void *ctx, const ingest_import_progress_t *p);
    void *progress_ctx;
} ingest_import_opts_t;

/* Imports the OpenMetrics text in buf[0..len) through sink. A syntax error stops the import in the
 * checking pass with its line and column ("line 12, column 7: ..."), before anything is appended.
 * Samples without a timestamp, with invalid labels or refused by the storage are skipped and counted. */
int ingest_import_openmetrics(const char *buf, size_t len, const ingest_import_opts_t *o, const ingest_import_sink_t *sink,
                              ingest_import_stats_t *st, vg_error_t *err);

#endif
