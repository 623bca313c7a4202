/* Persistent blocks (internal to src/tsdb): immutable directories in Prometheus' block layout —
 *
 *   <ULID>/meta.json      Prometheus' meta.json (version 1): ulid, minTime, maxTime (exclusive), stats,
 *                         compaction {level, sources, parents}, version
 *   <ULID>/index          index format v2 (symbols, series, label indices, postings, offset tables, TOC)
 *   <ULID>/chunks/000001  chunk segment files (magic 0x85BD40DD, version 1; per chunk: uvarint length,
 *                         encoding byte, data, CRC32C of encoding+data); a chunk reference in the index
 *                         is segment_index << 32 | byte offset
 *   <ULID>/tombstones     tombstones format v1 (deleted time ranges per series ref)
 *
 * Chunks carry their encoding byte: TSDB_ENC_XOR (1, Prometheus' XOR: Prometheus, promtool, Thanos and
 * Mimir read such blocks) or vigil's dense encoding, written in block chunk files with the byte
 * TSDB_BLOCK_ENC_DENSE (a value no Prometheus encoding uses). Byte layouts: docs/format/index.md,
 * docs/format/blocks.md.
 *
 * A block is read through memory maps; everything it hands out borrows the mapping, so a block is
 * reference counted: the db holds one reference, every querier over it another; the files are
 * unmapped (and, after tsdb__block_mark_deleted, removed) when the last one goes. */
#ifndef VG_TSDB_BLOCK_H
#define VG_TSDB_BLOCK_H

#include "model/labels.h"
#include "tsdb/storage.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TSDB_BLOCK_ENC_DENSE 0x7e /* dense chunks inside block chunk files (TSDB_ENC_DENSE in memory) */
#define TSDB_ULID_LEN 26

typedef struct tsdb__block_meta {
    char ulid[TSDB_ULID_LEN + 1];
    int64_t mint, maxt; /* [mint, maxt): maxt is exclusive, as in Prometheus' meta.json */
    uint64_t n_samples, n_series, n_chunks, n_tombstones;
    int level;                            /* compaction level: 1 for a block cut from the head */
    char (*sources)[TSDB_ULID_LEN + 1];   /* ULIDs of the level-1 blocks it holds (malloc'd) */
    size_t n_sources;
    char (*parents)[TSDB_ULID_LEN + 1];   /* blocks it was compacted from (malloc'd; may be 0) */
    size_t n_parents;
    bool dense;                           /* some chunk uses the dense encoding (vigil-only block) */
} tsdb__block_meta_t;

void tsdb__block_meta_free(tsdb__block_meta_t *m);

/* A new ULID for time now_ms (48-bit ms timestamp + 80 random bits, Crockford base32). */
void tsdb__ulid_new(int64_t now_ms, char out[TSDB_ULID_LEN + 1]);

/* ---- reading ---- */

typedef struct tsdb__block tsdb__block_t;

/* Opens the block directory dir: parses meta.json, maps and validates the index (magic, TOC, CRC32C of
 * every section it reads at open) and maps the chunk segments. VG_ECORRUPT names the file, the offset
 * and what is wrong; VG_EIO for a missing file. *out holds one reference. */
int tsdb__block_open(const char *dir, tsdb__block_t **out, vg_error_t *err);
void tsdb__block_ref(tsdb__block_t *b);
void tsdb__block_unref(tsdb__block_t *b);
/* The directory is removed when the last reference goes (retention, compaction). */
void tsdb__block_mark_deleted(tsdb__block_t *b);
/* Corrupt chunks met by the block's queriers are counted into *counter (borrowed; NULL: none), besides
 * being logged and ending the series' iterator with VG_ECORRUPT and a message naming the block. */
void tsdb__block_set_error_counter(tsdb__block_t *b, _Atomic unsigned long long *counter);
const tsdb__block_meta_t *tsdb__block_meta(const tsdb__block_t *b);
const char *tsdb__block_dir(const tsdb__block_t *b);
uint64_t tsdb__block_bytes(const tsdb__block_t *b); /* on disk: index + chunks + meta + tombstones */

/* A querier over the block's samples in [mint, maxt] (inclusive), tombstones applied. Holds a
 * reference on the block until closed. Same contract as storage.h's querier. */
int tsdb__block_querier(tsdb__block_t *b, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err);

/* Checks every chunk's CRC and every index section's checksum (for `vigil tsdb verify` and tests). */
int tsdb__block_verify(tsdb__block_t *b, vg_error_t *err);

/* ---- writing ----
 * Series may be added in any order (the writer sorts them by labels when it writes the index);
 * a series may be added once. Chunks of one series must be in time order and not overlap. */

typedef struct tsdb__block_writer tsdb__block_writer_t;

typedef struct tsdb__block_writer_opts {
    int64_t mint, maxt;    /* the block's range [mint, maxt); samples outside it are an error */
    uint8_t encoding;      /* TSDB_ENC_XOR: every chunk XOR; TSDB_ENC_DENSE: dense where smaller */
    int level;             /* 1 for head compaction and import */
    const tsdb__block_meta_t *const *parents; /* for compaction: sources and parents come from them */
    size_t n_parents;
    uint64_t segment_bytes; /* chunk segment size (default 512 MiB, as Prometheus) */
} tsdb__block_writer_opts_t;

/* Starts a block under parent_dir, written in parent_dir/<ULID>.tmp-for-creation. */
int tsdb__block_writer_new(const char *parent_dir, const tsdb__block_writer_opts_t *o, tsdb__block_writer_t **out,
                           vg_error_t *err);
/* Adds a series with encoded chunks (enc TSDB_ENC_XOR or TSDB_ENC_DENSE; re-encoded to the block's
 * encoding as needed). Labels are copied. */
typedef struct tsdb__chunk_in {
    int64_t mint, maxt;
    uint8_t enc;
    const uint8_t *data;
    uint32_t len;
} tsdb__chunk_in_t;
int tsdb__block_writer_add_chunks(tsdb__block_writer_t *w, const model_label_t *l, size_t n_labels,
                                  const tsdb__chunk_in_t *chunks, size_t n_chunks, vg_error_t *err);
/* Adds a series from samples (strictly increasing timestamps), cut into chunks of
 * TSDB_CHUNK_MAX_SAMPLES. For import and for compaction of overlapping blocks. */
int tsdb__block_writer_add_samples(tsdb__block_writer_t *w, const model_label_t *l, size_t n_labels,
                                   const int64_t *t, const double *v, size_t n, vg_error_t *err);
/* Writes the index and meta.json, fsyncs every file and the directory, renames the directory to
 * parent_dir/<ULID> and fsyncs parent_dir; fills *meta_out (may be NULL; free with
 * tsdb__block_meta_free). A block with no series writes nothing and returns VG_ENOTFOUND. Frees w
 * whatever the result. */
int tsdb__block_writer_commit(tsdb__block_writer_t *w, tsdb__block_meta_t *meta_out, vg_error_t *err);
/* Removes the temporary directory and frees w. */
void tsdb__block_writer_abort(tsdb__block_writer_t *w);

/* ---- deletion and rewriting ---- */

/* Deletes the samples in [mint, maxt] (inclusive) of the series matching ms: adds a tombstone per
 * series with samples left there to the block's tombstones file (replaced atomically) and opens the
 * block again into *out (the tombstones a block holds are read at open; b is unchanged). *out stays
 * NULL when nothing matched; *n_series counts the series given a tombstone. */
int tsdb__block_delete(tsdb__block_t *b, model_matcher_t *const *ms, size_t n, int64_t mint, int64_t maxt,
                       tsdb__block_t **out, uint64_t *n_series, vg_error_t *err);
/* Writes a new block under dst with b's range and level holding b's samples with its tombstones
 * applied (enc TSDB_ENC_XOR or TSDB_ENC_DENSE); VG_ENOTFOUND when nothing is left (nothing written). */
int tsdb__block_rewrite(tsdb__block_t *b, const char *dst, uint8_t enc, tsdb__block_meta_t *out, vg_error_t *err);
size_t tsdb__block_n_stones(const tsdb__block_t *b);

#endif
