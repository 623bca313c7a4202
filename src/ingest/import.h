/* OpenMetrics file import (`vigil import`; not scraping) for backfill and tests: the text
 * `promtool tsdb create-blocks-from openmetrics` takes (timestamped samples, `# EOF` last), appended
 * through the storage appender interface. */
#ifndef VG_INGEST_IMPORT_H
#define VG_INGEST_IMPORT_H

#include "tsdb/storage.h"
#include "util/error.h"

#include <stdint.h>
#include <stdio.h>

typedef struct ingest_import_stats {
    uint64_t series, samples;
    uint64_t skipped_no_timestamp, skipped_invalid_labels, skipped_out_of_order, skipped_duplicate, skipped_out_of_bounds;
    uint64_t skipped_series_limit; /* samples of new series the storage's series cap (or gate) refused */
} ingest_import_stats_t;

/* Imports the OpenMetrics text in buf[0..len) into app, committing every `batch` samples. A syntax error
 * stops the import with its line and column (what was committed before it stays). progress (may be NULL)
 * gets a line every 1,000,000 samples. */
int ingest_import_openmetrics(const char *buf, size_t len, storage_appender_t *app, size_t batch, FILE *progress,
                              ingest_import_stats_t *st, vg_error_t *err);

#endif
