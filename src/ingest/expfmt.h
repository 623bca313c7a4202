/* Zero-copy parser of the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text, as
 * accepted by Prometheus 2.42's textparse (promparse.go / openmetricsparse.go).
 *
 * Invariants: the parser never allocates and never reads outside [buf, buf+len). Every slice it
 * returns points into the caller's input or into the caller's scratch buffer and stays valid until
 * the next ingest_expfmt_next() call (scratch) or as long as the input lives (input). An error is
 * sticky: once next() has failed it keeps returning the same code. See docs/ingest.md. */
#ifndef VG_INGEST_EXPFMT_H
#define VG_INGEST_EXPFMT_H

#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A borrowed byte string (not NUL-terminated). */
typedef struct ingest_str {
    const char *ptr;
    size_t len;
} ingest_str_t;

/* A borrowed label: name and value (value unescaped). */
typedef struct ingest_label {
    ingest_str_t name, value;
} ingest_label_t;

typedef enum ingest_expfmt_format {
    INGEST_EXPFMT_TEXT = 0,        /* text/plain; version=0.0.4 (and anything unknown, as Prometheus) */
    INGEST_EXPFMT_OPENMETRICS = 1, /* application/openmetrics-text; version=1.0.0 or 0.0.1 */
} ingest_expfmt_format_t;

/* The Accept header Prometheus 2.42 sends with every scrape. */
#define INGEST_EXPFMT_ACCEPT                                                                          \
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75," \
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

/* The format for a response's Content-Type (NULL or "" means text), chosen as Prometheus 2.42 does:
 * media type application/openmetrics-text (case-insensitive, parameters ignored) is OpenMetrics,
 * everything else is the text format. */
ingest_expfmt_format_t ingest_expfmt_from_content_type(const char *content_type);

/* The bits of the NaN Prometheus stores for a NaN sample value (value.NormalNaN); every NaN the
 * parser returns has exactly these bits, so a scrape can never forge a staleness marker. */
#define INGEST_NORMAL_NAN_BITS UINT64_C(0x7ff8000000000001)

typedef enum ingest_expfmt_kind {
    INGEST_EXPFMT_EOF = 0, /* end of input (OpenMetrics: after "# EOF") */
    INGEST_EXPFMT_SERIES = 1,
    INGEST_EXPFMT_HELP = 2,
    INGEST_EXPFMT_TYPE = 3,
    INGEST_EXPFMT_UNIT = 4, /* OpenMetrics only */
    INGEST_EXPFMT_COMMENT = 5, /* text format only */
} ingest_expfmt_kind_t;

typedef enum ingest_mtype {
    INGEST_MTYPE_UNKNOWN = 0, /* "untyped" (text) / "unknown" (OpenMetrics) / no TYPE line */
    INGEST_MTYPE_COUNTER,
    INGEST_MTYPE_GAUGE,
    INGEST_MTYPE_HISTOGRAM,
    INGEST_MTYPE_GAUGEHISTOGRAM, /* OpenMetrics only */
    INGEST_MTYPE_SUMMARY,
    INGEST_MTYPE_INFO,     /* OpenMetrics only */
    INGEST_MTYPE_STATESET, /* OpenMetrics only */
} ingest_mtype_t;

/* The name Prometheus uses for a type ("counter", ..., "unknown"). Static. */
const char *ingest_mtype_name(ingest_mtype_t t);

/* Limits checked while parsing; 0 means unlimited. A breach is a VG_ELIMIT error naming the line. */
typedef struct ingest_expfmt_limits {
    size_t max_line_len;  /* bytes per line (without the newline) */
    size_t max_name_len;  /* bytes per metric name and per label name */
    size_t max_value_len; /* bytes per label value (escaped form) */
} ingest_expfmt_limits_t;

#define INGEST_EXPFMT_LIMITS_DEFAULT \
    ((ingest_expfmt_limits_t){.max_line_len = 1 << 20, .max_name_len = 1024, .max_value_len = 4096})

/* One entry. Which fields are set depends on kind; the others are zero. */
typedef struct ingest_expfmt_entry {
    ingest_expfmt_kind_t kind;
    uint32_t line; /* 1-based line the entry starts on */
    /* SERIES, HELP, TYPE, UNIT: the metric name (SERIES) or family name; borrowed from the input. */
    ingest_str_t name;
    /* HELP: unescaped help text; UNIT: the unit; COMMENT: the whole line from '#'. Borrowed from the
     * input, or from the scratch buffer when unescaping was needed. */
    ingest_str_t text;
    /* TYPE: the declared type. SERIES: the type of the family (last TYPE line) the series belongs to
     * by Prometheus' suffix rules (ingest_expfmt_in_family), else INGEST_MTYPE_UNKNOWN. */
    ingest_mtype_t mtype;
    /* SERIES: the labels in input order, without the metric name; names borrowed from the input,
     * values from the input or the scratch buffer. Points at the caller's label array. */
    const ingest_label_t *labels;
    size_t n_labels;
    ingest_str_t series; /* SERIES: raw bytes of name and label set, a key for a scrape cache */
    double value;        /* SERIES: NaN is always INGEST_NORMAL_NAN_BITS */
    int64_t ts_ms;       /* SERIES: explicit timestamp in ms (OpenMetrics: seconds * 1000, truncated) */
    bool has_ts;
    /* SERIES, OpenMetrics: an exemplar followed the sample (validated, then skipped): its raw
     * "{...}" label set, value, and timestamp if present. */
    bool has_exemplar, exemplar_has_ts;
    ingest_str_t exemplar_labels;
    double exemplar_value;
    int64_t exemplar_ts_ms;
    /* SERIES, OpenMetrics: a "<family>_created" sample of the current counter/histogram/summary
     * family (its value is the family's creation time in seconds, not a measurement). */
    bool created;
} ingest_expfmt_entry_t;

/* The parser state; caller memory, set up by ingest_expfmt_init(). Fields are private. */
typedef struct ingest_expfmt_parser {
    const char *buf;
    size_t len, pos, line_start;
    uint32_t line;
    ingest_expfmt_format_t format;
    ingest_expfmt_limits_t lim;
    ingest_label_t *labels;
    size_t labels_cap;
    char *scratch;
    size_t scratch_cap, scratch_used;
    int status; /* 0 running, 1 done, <0 the sticky error */
    vg_error_t last_err;
    ingest_str_t family;   /* name of the last TYPE line */
    ingest_mtype_t family_type;
} ingest_expfmt_parser_t;

/* Starts parsing buf[0..len) (borrowed; must outlive the parser's entries).
 * labels/labels_cap: caller storage for one series' labels; labels_cap is the labels-per-series limit
 * (a series with more is a VG_ELIMIT error). scratch/scratch_cap: caller storage for unescaped label
 * values and help texts of one entry; scratch_cap >= max_line_len guarantees it never runs out (when
 * it does, the entry fails with VG_ELIMIT). lim may be NULL for INGEST_EXPFMT_LIMITS_DEFAULT.
 * Allocates nothing; there is no deinit. */
void ingest_expfmt_init(ingest_expfmt_parser_t *p, ingest_expfmt_format_t format, const char *buf,
                        size_t len, const ingest_expfmt_limits_t *lim, ingest_label_t *labels,
                        size_t labels_cap, char *scratch, size_t scratch_cap);

/* Parses the next entry into *out. Returns its kind (> 0), INGEST_EXPFMT_EOF (0) at the end of the
 * input, or a VG_E* code (< 0: VG_EINVAL for a syntax error, VG_ELIMIT for a limit) with err's message
 * starting "line L, column C: " and err->line/col/pos set. err may be NULL. */
int ingest_expfmt_next(ingest_expfmt_parser_t *p, ingest_expfmt_entry_t *out, vg_error_t *err);

/* True when series name `name` belongs to family `family` of type t by Prometheus' naming rules:
 * the name itself, or with a type-specific suffix (counter: _total _created; histogram: _bucket
 * _count _sum _created; gaugehistogram: _bucket _gcount _gsum; summary: _count _sum _created;
 * info: _info). */
bool ingest_expfmt_in_family(ingest_str_t name, ingest_str_t family, ingest_mtype_t t);

#endif
