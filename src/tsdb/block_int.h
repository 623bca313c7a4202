/* Internals of persistent blocks shared by block.c (open, reference counts, querier, writer),
 * block_index.c (index v2 in both directions), block_chunks.c (chunk segment files in both directions)
 * and block_meta.c (meta.json, ULIDs, tombstones). Nothing outside src/tsdb, its tests and fuzz
 * targets includes this. Byte layouts: docs/format/index.md and docs/format/blocks.md.
 *
 * Everything a reader hands out borrows its bytes (a mapping or the caller's buffer) and lives as
 * long as the reader; readers never read outside [b, b+len): bytes from disk may be anything. */
#ifndef VG_TSDB_BLOCK_INT_H
#define VG_TSDB_BLOCK_INT_H

#include "model/labels.h"
#include "tsdb/block.h"
#include "tsdb/tsdb_int.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TSDB__INDEX_MAGIC UINT32_C(0xBAAAD700)
#define TSDB__INDEX_V2 2
#define TSDB__INDEX_HDR 5
#define TSDB__INDEX_TOC 52 /* six 8-byte refs and a CRC32C */
#define TSDB__CHUNKS_MAGIC UINT32_C(0x85BD40DD)
#define TSDB__CHUNKS_HDR 8 /* magic, version 1, 3 zero bytes */
#define TSDB__TOMB_MAGIC UINT32_C(0x0130BA30)
#define TSDB__SEGMENT_BYTES (UINT64_C(512) << 20)

/* Big-endian fixed-width integers of the index. */
static inline uint32_t tsdb__be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t tsdb__be64(const uint8_t *p) { return (uint64_t)tsdb__be32(p) << 32 | tsdb__be32(p + 4); }
static inline void tsdb__put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
static inline void tsdb__put_be64(uint8_t *p, uint64_t v) {
    tsdb__put_be32(p, (uint32_t)(v >> 32));
    tsdb__put_be32(p + 4, (uint32_t)v);
}

/* A read-only mapping of a whole file (len 0: nothing mapped). */
typedef struct tsdb__map {
    const uint8_t *p;
    size_t len;
} tsdb__map_t;
/* VG_ENOTFOUND for a missing file (err names it), VG_EIO otherwise. */
int tsdb__map_open(const char *path, tsdb__map_t *m, vg_error_t *err);
void tsdb__map_close(tsdb__map_t *m);

/* ---- index (block_index.c) ---- */

/* A chunk's entry in a series: [mint, maxt] inclusive, and its reference in the chunk segments. */
typedef struct tsdb__chunk_meta {
    int64_t mint, maxt;
    uint64_t ref;
} tsdb__chunk_meta_t;

/* One label name of the postings offset table: its values are vals[first .. first + n). */
typedef struct tsdb__pname {
    uint32_t name; /* symbol index */
    uint32_t first, n;
} tsdb__pname_t;
typedef struct tsdb__pval {
    uint32_t value; /* symbol index */
    uint64_t off;   /* of the postings list */
} tsdb__pval_t;

/* An index opened over bytes it borrows. Validated at open: header, TOC and its CRC, section bounds and
 * order, the symbol table (CRC, sorted, every string inside it) and the postings offset table (CRC,
 * sorted, names and values known symbols, offsets inside the postings section), the label offset
 * table's CRC. Series entries and postings lists are checked (bounds, CRC) when they are read. */
typedef struct tsdb__index {
    const uint8_t *b;
    size_t len;
    char *file;      /* for error messages (owned) */
    uint64_t toc[6]; /* symbols, series, label indices, label offset table, postings, postings offset table */
    uint32_t n_syms;
    const char **syms; /* NUL-terminated copies, sorted (owned, one allocation behind syms[0]) */
    size_t *sym_len;
    tsdb__pname_t *names; /* sorted by name; the all-postings entry ("", "") is not among them */
    uint32_t n_names;
    tsdb__pval_t *vals;
    uint64_t all_off; /* the all-postings list (0: none, an empty index) */
    uint64_t series_end; /* series entries lie in [toc series, series_end) */
} tsdb__index_t;

#define TSDB__TOC_SYMBOLS 0
#define TSDB__TOC_SERIES 1
#define TSDB__TOC_LABEL_INDICES 2
#define TSDB__TOC_LABEL_OFFSETS 3
#define TSDB__TOC_POSTINGS 4
#define TSDB__TOC_POSTINGS_OFFSETS 5

/* Opens an index over b[0..len) (borrowed for the index's life). file names it in errors. */
int tsdb__index_open(const uint8_t *b, size_t len, const char *file, tsdb__index_t **out, vg_error_t *err);
void tsdb__index_close(tsdb__index_t *ix);
/* Symbol index of s, or -1. */
int64_t tsdb__index_sym(const tsdb__index_t *ix, const char *s);
/* The postings name entry of name, or NULL. */
const tsdb__pname_t *tsdb__index_name(const tsdb__index_t *ix, const char *name);
/* Reads the postings list at off into out (appended; sorted ascending, checked). */
int tsdb__index_postings(const tsdb__index_t *ix, uint64_t off, tsdb__idvec_t *out, vg_error_t *err);
/* Decodes series id (offset / 16): labels into *labels (realloc'd array of *cap_labels entries,
 * strings borrowed from ix), chunk metas likewise. */
int tsdb__index_series(const tsdb__index_t *ix, uint32_t id, model_label_t **labels, size_t *n_labels,
                       size_t *cap_labels, tsdb__chunk_meta_t **chunks, size_t *n_chunks, size_t *cap_chunks,
                       vg_error_t *err);
/* Checks every postings list, label index and the label offset table (for verify). */
int tsdb__index_verify(const tsdb__index_t *ix, vg_error_t *err);

/* The writer's view of a series: sorted labels and its chunk metas. */
typedef struct tsdb__wseries {
    model_label_t *labels; /* owned by the block writer */
    size_t n_labels;
    tsdb__chunk_meta_t *chunks;
    size_t n_chunks, cap_chunks;
} tsdb__wseries_t;

/* Writes an index file at path for series s[0..n) sorted by labels (distinct). fsyncs it. */
int tsdb__index_write(const char *path, const tsdb__wseries_t *s, size_t n, vg_error_t *err);

/* ---- chunk segments (block_chunks.c) ---- */

typedef struct tsdb__chunks {
    tsdb__map_t *seg;
    size_t n_seg;
    char *dir; /* for error messages (owned) */
} tsdb__chunks_t;

/* Maps dir/000001... (numbered from 1 without gaps; a missing or empty dir holds no chunks). */
int tsdb__chunks_open(const char *dir, tsdb__chunks_t *c, vg_error_t *err);
void tsdb__chunks_close(tsdb__chunks_t *c);
/* The chunk at ref: its file encoding byte and data (borrowed). Checks bounds and the CRC32C. */
int tsdb__chunks_get(const tsdb__chunks_t *c, uint64_t ref, uint8_t *enc, const uint8_t **data, uint32_t *len,
                     vg_error_t *err);
uint64_t tsdb__chunks_bytes(const tsdb__chunks_t *c);

/* Appends chunks to segment files dir/000001..., cutting a new one past seg_bytes. */
typedef struct tsdb__chunk_writer {
    char *dir;
    uint64_t seg_bytes;
    int fd;       /* -1: no segment open */
    uint32_t seq; /* 0-based index of the open segment */
    uint64_t off; /* its size so far (buffered bytes included) */
    uint8_t *buf;
    size_t n, cap;
} tsdb__chunk_writer_t;

int tsdb__chunk_writer_init(tsdb__chunk_writer_t *w, const char *dir, uint64_t seg_bytes, vg_error_t *err);
/* Writes one chunk (file encoding byte and data); *ref receives its reference. */
int tsdb__chunk_writer_put(tsdb__chunk_writer_t *w, uint8_t enc, const uint8_t *data, uint32_t len, uint64_t *ref,
                           vg_error_t *err);
/* Flushes and fsyncs the open segment and closes it. */
int tsdb__chunk_writer_finish(tsdb__chunk_writer_t *w, vg_error_t *err);
void tsdb__chunk_writer_deinit(tsdb__chunk_writer_t *w);

/* The index of an open block (borrowed while a reference is held). */
const tsdb__index_t *tsdb__block_index(const tsdb__block_t *b);
/* Its chunk segments, and the tombstones of series id (sorted by mint; both borrowed likewise). */
const tsdb__chunks_t *tsdb__block_chunks(const tsdb__block_t *b);
struct tsdb__stone;
const struct tsdb__stone *tsdb__block_stones(const tsdb__block_t *b, uint32_t id, size_t *n);

/* ---- meta.json, ULIDs, tombstones (block_meta.c) ---- */

/* Parses meta.json bytes (file names them in errors). */
int tsdb__meta_parse(const uint8_t *p, size_t len, const char *file, tsdb__block_meta_t *m, vg_error_t *err);
/* Writes dir/meta.json (through meta.json.tmp, fsynced, renamed) as Prometheus lays it out; parents
 * (may be NULL) give the minTime/maxTime of each of m->parents, in the same order. */
int tsdb__meta_write(const char *dir, const tsdb__block_meta_t *m, const tsdb__block_meta_t *const *parents,
                     vg_error_t *err);
bool tsdb__ulid_valid(const char *s, size_t len);

/* A deleted time range [mint, maxt] (inclusive) of one series. */
typedef struct tsdb__stone {
    uint64_t ref;
    int64_t mint, maxt;
} tsdb__stone_t;

/* Reads dir/tombstones (a missing file: none); *out sorted by ref then mint (malloc'd). */
int tsdb__tombstones_read(const char *dir, tsdb__stone_t **out, size_t *n, vg_error_t *err);
/* Writes dir/tombstones (fsynced) from s[0..n) (any order). */
int tsdb__tombstones_write(const char *dir, const tsdb__stone_t *s, size_t n, vg_error_t *err);

#endif
