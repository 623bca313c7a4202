/* Decoder of Prometheus remote_write 1.0 requests: a snappy block holding a protobuf
 * prometheus.WriteRequest, read by a hand-written protobuf decoder.
 *
 * Invariants: load() decompresses and validates the whole request before anything is returned, so
 * a malformed request is rejected before the caller appends a single sample, and the iterators
 * that follow cannot fail. Label slices point into the reader's decompressed buffer (or into the
 * caller's bytes for load_pb) and stay valid until the next load or deinit. Nothing is allocated
 * per series or sample: the decompression buffer and the label array grow to the largest request
 * seen and are reused. See docs/ingest.md for the wire format. */
#ifndef VG_INGEST_REMOTE_WRITE_H
#define VG_INGEST_REMOTE_WRITE_H

#include "ingest/expfmt.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits; 0 means unlimited. */
typedef struct ingest_rw_limits {
    size_t max_decoded;   /* decompressed bytes; checked against snappy's length header first */
    size_t max_series;    /* TimeSeries per request */
    size_t max_labels;    /* labels per series */
    size_t max_name_len;  /* bytes per label name */
    size_t max_value_len; /* bytes per label value */
} ingest_rw_limits_t;

#define INGEST_RW_LIMITS_DEFAULT                                                                       \
    ((ingest_rw_limits_t){.max_decoded = 64u << 20, .max_series = 1000000, .max_labels = 128,         \
                          .max_name_len = 1024, .max_value_len = 4096})

/* Counts of one request, known right after load(). Exemplars and native histograms are validated
 * as protobuf and skipped; they are counted so the caller can report them. */
typedef struct ingest_rw_stats {
    size_t n_series, n_samples, n_exemplars, n_histograms, n_metadata;
    size_t max_labels; /* the most labels any one series has */
} ingest_rw_stats_t;

typedef struct ingest_rw_sample {
    int64_t t_ms;
    double v; /* bit-exact as sent (staleness markers included) */
} ingest_rw_sample_t;

/* One TimeSeries. labels: borrowed (see the header comment), in the order sent (not sorted, not
 * deduplicated, empty values kept: normalise with model_labels_normalize()); the array itself is
 * reused by the next next_series() call. */
typedef struct ingest_rw_series {
    const ingest_label_t *labels;
    size_t n_labels;
    size_t n_samples, n_exemplars, n_histograms;
    /* The series' Label fields exactly as encoded (tags included), borrowed like labels, when they
     * are adjacent in the message (as every known sender writes them); NULL otherwise. Equal bytes
     * always decode to the same labels, so they identify the series without decoding it. */
    const uint8_t *label_bytes;
    size_t label_bytes_len;
    /* private: sample cursor, the whole message */
    const uint8_t *cur, *end, *msg;
} ingest_rw_series_t;

typedef struct ingest_rw_metadata {
    int type; /* prometheus.MetricMetadata.MetricType: 0 unknown, 1 counter, 2 gauge, 3 histogram,
                 4 gaugehistogram, 5 summary, 6 info, 7 stateset (others passed through) */
    ingest_str_t family, help, unit; /* borrowed like labels */
} ingest_rw_metadata_t;

/* The reader; caller memory. Fields are private. */
typedef struct ingest_rw_reader {
    ingest_rw_limits_t lim;
    uint8_t *dbuf; /* owned decompression buffer */
    size_t dcap;
    const uint8_t *data; /* the current request's protobuf bytes */
    size_t len;
    size_t series_pos, meta_pos;
    ingest_label_t *labels; /* owned, labels_cap entries */
    size_t labels_cap;
    ingest_rw_stats_t stats;
    bool loaded;
} ingest_rw_reader_t;

/* Sets up r (allocates nothing yet). lim may be NULL for INGEST_RW_LIMITS_DEFAULT. */
void ingest_rw_reader_init(ingest_rw_reader_t *r, const ingest_rw_limits_t *lim);
/* Frees the reader's buffers. */
void ingest_rw_reader_deinit(ingest_rw_reader_t *r);

/* Decompresses the snappy block body[0..len) into the reader's buffer and validates the request.
 * Returns 0, or VG_ETOOLARGE (decoded size above max_decoded — nothing is allocated for it),
 * VG_ELIMIT (series or label limits), VG_EINVAL (bad snappy or protobuf; the message names the byte
 * offset in the decoded request, also in err->pos), VG_ENOMEM. */
int ingest_rw_reader_load(ingest_rw_reader_t *r, const void *body, size_t len, vg_error_t *err);

/* Same for protobuf bytes that are already decompressed; pb is borrowed and must outlive the
 * iteration. */
int ingest_rw_reader_load_pb(ingest_rw_reader_t *r, const void *pb, size_t len, vg_error_t *err);

/* The counts of the loaded request. */
const ingest_rw_stats_t *ingest_rw_reader_stats(const ingest_rw_reader_t *r);

/* Next TimeSeries of the loaded request: 1 with *out set, 0 at the end. */
int ingest_rw_reader_next_series(ingest_rw_reader_t *r, ingest_rw_series_t *out);
/* The same without decoding the labels of a series that has label_bytes (out->labels is NULL then,
 * n_labels set): for a caller that usually identifies a series by its bytes. */
int ingest_rw_reader_next_series_raw(ingest_rw_reader_t *r, ingest_rw_series_t *out);
/* Decodes the labels of s (from either call, even after later series were read) into the reader's
 * array; returns s->labels, valid as those of next_series. */
const ingest_label_t *ingest_rw_series_labels(ingest_rw_reader_t *r, ingest_rw_series_t *s);

/* Next sample of s (in the order sent): true with *out set, false at the end. */
bool ingest_rw_series_next_sample(ingest_rw_series_t *s, ingest_rw_sample_t *out);

/* Next MetricMetadata of the loaded request: 1 with *out set, 0 at the end. */
int ingest_rw_reader_next_metadata(ingest_rw_reader_t *r, ingest_rw_metadata_t *out);

#endif
