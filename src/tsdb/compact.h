/* Compaction of persistent blocks (internal to src/tsdb): the leveled planner and the merge of
 * several blocks into one (compact.c). db.c runs them on the compaction thread after head compaction
 * and swaps the block list. Layout of what is written: docs/format/blocks.md; the rules:
 * docs/storage.md, "Block compaction". */
#ifndef VG_TSDB_COMPACT_H
#define VG_TSDB_COMPACT_H

#include "tsdb/block.h"
#include "util/error.h"

#include <stddef.h>
#include <stdint.h>

#define TSDB_COMPACT_MAX_RANGES 10
#define TSDB_COMPACT_MAX_BLOCK_MS (INT64_C(31) * 24 * 3600 * 1000) /* Prometheus' cap: 31 days */

/* The compaction ranges for blocks of block_ms: block_ms × 3^i (i < 10), dropping those longer than
 * the maximum block duration, min(retention_ms / 10, 31 d) (retention_ms 0: 31 d); the first range
 * always stays. Fills out[0..n) ascending; returns n. */
size_t tsdb__compact_ranges(int64_t block_ms, int64_t retention_ms, int64_t out[TSDB_COMPACT_MAX_RANGES]);

typedef enum {
    TSDB_PLAN_NONE,
    TSDB_PLAN_VERTICAL,   /* blocks whose time ranges overlap: merged sample by sample */
    TSDB_PLAN_LEVEL,      /* adjacent blocks filling (or preceding the newest within) a larger range */
    TSDB_PLAN_TOMBSTONES, /* one block rewritten without its deleted samples */
} tsdb_plan_kind_t;

/* Decides the next compaction over blocks m[0..n), sorted by mint: the first run of overlapping blocks
 * if any; else, the newest block left out, for each range after the first, the first group of two or
 * more blocks inside one aligned range that spans it fully or ends at or before the min time of the
 * newest block left; else the newest block (newest excluded) of at least the middle range with more than 5% of its
 * series tombstoned (tombstones / (series + 1)), or a smaller one entirely deleted (tombstones >=
 * series > 0). Indices into m, ascending, go to sel[0..*n_sel) (room for n). */
tsdb_plan_kind_t tsdb__compact_plan(const tsdb__block_meta_t *const *m, size_t n, const int64_t *ranges,
                                    size_t n_ranges, size_t *sel, size_t *n_sel);

typedef struct tsdb__compact_stats {
    uint64_t series, samples;
    uint64_t chunks_copied;   /* chunks carried over as they were (or only re-encoded to the block's encoding) */
    uint64_t series_merged;   /* series that went through decoded samples (overlaps, tombstones) */
    uint64_t duplicates;      /* samples dropped as a timestamp another parent already held */
} tsdb__compact_stats_t;

/* Writes one block under dir holding every sample of parents p[0..n) (sorted by mint; each one
 * reference held by the caller) with their tombstones applied: series merged by labels; a series
 * whose chunks do not overlap and have no tombstone is carried chunk by chunk; otherwise its samples
 * are merged by time, one per timestamp (the first parent holding it wins). Range [min mint, max
 * maxt), level max parent level + 1, sources the union, parents the inputs; enc is TSDB_ENC_XOR or
 * TSDB_ENC_DENSE as for the block writer. The writer fsyncs and renames the directory. VG_ENOTFOUND
 * when nothing is left (every sample deleted): no directory is written. A corrupt parent chunk fails
 * with VG_ECORRUPT naming the block. *meta (free with tsdb__block_meta_free) and *st may be NULL. */
int tsdb__compact_blocks(tsdb__block_t *const *p, size_t n, const char *dir, uint8_t enc, tsdb__block_meta_t *meta,
                         tsdb__compact_stats_t *st, vg_error_t *err);

#endif
