/* OTLP metrics: decoding of opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest
 * (protobuf, or the OTLP/JSON encoding; optionally gzip-compressed) and its translation into
 * Prometheus series by the rules of Prometheus' OTLP receiver (storage/remote/otlptranslator of
 * Prometheus 2.47–2.53, names with unit and type suffixes). See docs/ingest.md for the wire format
 * and the translation table.
 *
 * Invariants: a decode validates the whole request (wire format, limits) before it returns, so a
 * malformed request is refused before anything is translated, and translation cannot fail on the
 * bytes. Everything decoded lives in the caller's arena: strings are either slices of the input
 * (protobuf; the input must outlive the request) or arena copies (JSON, stringified attribute
 * values); nothing is freed on its own. Attribute values are stringified once, at decode time, as
 * Prometheus does (pdata's Value.AsString). */
#ifndef VG_INGEST_OTLP_H
#define VG_INGEST_OTLP_H

#include "ingest/ingest.h"
#include "model/labels.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits; 0 means unlimited. */
typedef struct ingest_otlp_limits {
    size_t max_decoded;   /* bytes after gzip (a gzip body is inflated up to this and refused past it) */
    size_t max_points;    /* data points per request, all metric types together */
    size_t max_messages;  /* ResourceMetrics + ScopeMetrics + Metric messages per request */
    size_t max_attrs;     /* attributes of one data point, one resource or one scope */
    size_t max_key_len;   /* bytes of one attribute key */
    size_t max_value_len; /* bytes of one attribute value once stringified */
    size_t max_depth;     /* nesting of AnyValue arrays and key-value lists (0: INGEST_OTLP_MAX_DEPTH_HARD) */
} ingest_otlp_limits_t;

#define INGEST_OTLP_MAX_DEPTH 16
#define INGEST_OTLP_MAX_DEPTH_HARD 64 /* the bound when max_depth is 0: decoding recurses per level */
#define INGEST_OTLP_LIMITS_DEFAULT                                                                     \
    ((ingest_otlp_limits_t){.max_decoded = 64u << 20, .max_points = 1000000, .max_messages = 1000000,  \
                            .max_attrs = 64, .max_key_len = 1024, .max_value_len = 4096,              \
                            .max_depth = INGEST_OTLP_MAX_DEPTH})

typedef enum ingest_otlp_type {
    INGEST_OTLP_NONE = 0, /* a Metric without data (nothing to translate) */
    INGEST_OTLP_GAUGE,
    INGEST_OTLP_SUM,
    INGEST_OTLP_HISTOGRAM,
    INGEST_OTLP_EXP_HISTOGRAM,
    INGEST_OTLP_SUMMARY,
} ingest_otlp_type_t;

enum { INGEST_OTLP_TEMPORALITY_UNSPECIFIED = 0, INGEST_OTLP_TEMPORALITY_DELTA = 1, INGEST_OTLP_TEMPORALITY_CUMULATIVE = 2 };
#define INGEST_OTLP_FLAG_NO_RECORDED_VALUE 1u

/* One attribute: key as sent, value stringified (strings as they are; ints in decimal; doubles as
 * JavaScript prints them; booleans "true"/"false"; bytes in standard base64; arrays and key-value
 * lists as JSON, keys sorted; an empty AnyValue as ""). Arena or input slices. */
typedef struct ingest_otlp_attr {
    ingest_str_t key, value;
} ingest_otlp_attr_t;

typedef struct ingest_otlp_quantile {
    double quantile, value;
} ingest_otlp_quantile_t;

/* A data point of any type; the fields a type does not have stay 0. */
typedef struct ingest_otlp_point {
    ingest_otlp_attr_t *attrs;
    size_t n_attrs;
    uint64_t time_unix_nano;
    uint32_t flags;
    double value;          /* gauge and sum: as_double, or as_int converted */
    uint64_t count;        /* histogram, exponential histogram, summary */
    double sum;            /* histogram (when has_sum), summary */
    bool has_sum;
    uint64_t *bucket_counts; /* histogram: n_buckets counts, n_bounds bounds */
    size_t n_buckets;
    double *bounds;
    size_t n_bounds;
    ingest_otlp_quantile_t *quantiles; /* summary */
    size_t n_quantiles;
} ingest_otlp_point_t;

typedef struct ingest_otlp_metric {
    ingest_str_t name, unit;
    ingest_otlp_type_t type;
    int temporality;  /* sums and histograms */
    bool monotonic;   /* sums */
    ingest_otlp_point_t *points;
    size_t n_points;
} ingest_otlp_metric_t;

/* One ResourceMetrics; the metrics of all its ScopeMetrics in order (the scope is not translated,
 * as in Prometheus' receiver). */
typedef struct ingest_otlp_resource {
    ingest_otlp_attr_t *attrs;
    size_t n_attrs;
    ingest_otlp_metric_t *metrics;
    size_t n_metrics;
} ingest_otlp_resource_t;

typedef struct ingest_otlp_request {
    ingest_otlp_resource_t *resources;
    size_t n_resources;
    size_t n_points; /* data points of every type */
} ingest_otlp_request_t;

/* Inflates a gzip body (one or more members) into out (reset first) up to lim->max_decoded bytes.
 * Returns 0, VG_ETOOLARGE past the limit (inflation stops there: a gzip bomb costs at most the
 * limit), VG_EINVAL for a corrupt or truncated stream (the message names the compressed offset),
 * VG_ENOMEM. */
int ingest_otlp_gunzip(const void *body, size_t len, const ingest_otlp_limits_t *lim, vg_buf_t *out, vg_error_t *err);

/* Decodes a protobuf ExportMetricsServiceRequest. pb is borrowed: string slices point into it.
 * Returns 0 with *out (arena), or VG_EINVAL (`protobuf: <what> at offset N`, N also in err->pos),
 * VG_ELIMIT (a limit, with the offset), VG_ENOMEM. *out is NULL on failure. */
int ingest_otlp_decode_pb(const void *pb, size_t len, const ingest_otlp_limits_t *lim, vg_arena_t *arena,
                          ingest_otlp_request_t **out, vg_error_t *err);

/* Decodes the OTLP/JSON encoding (lowerCamelCase field names; the proto names are accepted too;
 * 64-bit integers as strings or numbers; enums as numbers or names; unknown fields ignored).
 * Errors: VG_EINVAL with the byte offset of a syntax error, or the JSON path of a bad value
 * (`resourceMetrics[0].scopeMetrics[0].metrics[1].sum.dataPoints[0].asInt: …`); VG_ELIMIT;
 * VG_ENOMEM. Copies what it keeps into arena. */
int ingest_otlp_decode_json(const void *json, size_t len, const ingest_otlp_limits_t *lim, vg_arena_t *arena,
                            ingest_otlp_request_t **out, vg_error_t *err);

/* ---- translation ---- */

/* The Prometheus metric name of m: the name's ASCII letters and digits split into words at every
 * other character, the unit's word appended (`s` → seconds, `By` → bytes, …; `{…}` units and `1`
 * add none; `X/Y` → `X_per_Y`) unless already a word of the name, `total` moved to the end of
 * monotonic sums, `ratio` for gauges of unit `1`; a leading digit gets `_`. Into out (cap bytes,
 * NUL-terminated); returns the full length (truncated when >= cap). */
size_t ingest_otlp_metric_name(ingest_str_t name, ingest_str_t unit, ingest_otlp_type_t type, bool monotonic, char *out,
                               size_t cap);

/* The Prometheus label name of an attribute key: every character other than an ASCII letter or
 * digit becomes `_` (one per UTF-8 character), a leading digit gets `key_`, a single leading `_`
 * gets `key`. Into out like above. */
size_t ingest_otlp_label_name(ingest_str_t key, char *out, size_t cap);

/* Called once per translated sample. point is the 1-based number of the data point in the request
 * (0 for target_info, which is not a data point); labels are unsorted and arena-allocated, valid
 * for the call. Returns 0 to go on, <0 to stop translation with that code. */
typedef int (*ingest_otlp_emit_fn)(void *ctx, size_t point, const model_label_t *labels, size_t n, int64_t t_ms,
                                   double v);

/* What translation refused: data points with the reason (delta temporality, exponential histogram,
 * no metric name) and the first one's message. */
typedef struct ingest_otlp_rejects {
    size_t points;      /* data points not translated */
    size_t delta, exp_histogram, no_name;
    char first[256];    /* "" when none */
} ingest_otlp_rejects_t;

/* Translates req, calling emit for every sample, in request order per resource, then target_info of
 * the resource (when it has attributes besides service.name, service.namespace and
 * service.instance.id, and job or instance, timestamped with the newest data point of the resource).
 * Label values are arena copies. Returns 0, or the first <0 of emit, or VG_ENOMEM. */
int ingest_otlp_translate(const ingest_otlp_request_t *req, vg_arena_t *arena, ingest_otlp_emit_fn emit, void *ctx,
                          ingest_otlp_rejects_t *rej);

/* ---- responses ---- */

/* ExportMetricsServiceResponse: protobuf (json false) or OTLP/JSON onto out; partial_success is
 * written only when rejected > 0 or msg is not empty. Returns 0 or VG_ENOMEM. */
int ingest_otlp_response(vg_buf_t *out, bool json, int64_t rejected, const char *msg);

/* google.rpc.Status {code, message}, the body of an OTLP/HTTP error answer, likewise. */
int ingest_otlp_status(vg_buf_t *out, bool json, int grpc_code, const char *msg);

#endif
