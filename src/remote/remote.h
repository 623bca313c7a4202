/* remote: vigil talking to other Prometheus-compatible systems.
 *
 *   - the remote query executor (query.c): a promql/executor.h implementation that forwards every read
 *     to a Prometheus-compatible HTTP API (Prometheus, VictoriaMetrics, Mimir, Thanos…). It receives what
 *     service/ gives every executor — the parsed expression and match[] sets *after* tenant enforcement —
 *     prints them with vigil's canonical printer and parses the JSON answers back into the structs the
 *     local engine returns, so the HTTP layer answers identically whichever backend serves;
 *   - the remote read protocol (read.c): prometheus.ReadRequest decoding and the two response shapes
 *     Prometheus 2.42 serves — SAMPLES (snappy ReadResponse) and STREAMED_XOR_CHUNKS (framed
 *     ChunkedReadResponse messages) — for POST /api/v1/read;
 *   - the remote read client (read_client.c): a storage querier over another store's remote read
 *     endpoint, merged with the local one by service/ (the remote_read section).
 *
 * Threading: an executor is shared by every thread; read.c is pure functions over caller memory. */
#ifndef VG_REMOTE_REMOTE_H
#define VG_REMOTE_REMOTE_H

#include "model/labels.h"
#include "promql/executor.h"
#include "tsdb/storage.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the remote query executor ------------------------------------------------------------------ */

/* Parses a body of the text exposition format (what /federate answers) into its samples: labels
 * sorted by name with __name__ among them, each with its explicit timestamp (arena). Returns 0 or a
 * VG_E* code with err set. service/ plugs in the exposition parser of ingest/. */
typedef int (*remote_text_parse_fn)(const char *body, size_t len, vg_arena_t *arena, promql_latest_t **out, size_t *n_out,
                                    vg_error_t *err);

typedef struct remote_query_opts {
    const char *url;             /* the API root: requests go to <url>/api/v1/…, <url>/federate */
    const char *tenant_header;   /* NULL: none; else sent with the caller's tenant id */
    const char *unscoped_tenant; /* the tenant_header value for unscoped callers (NULL: no header for them) */
    const char *const *header_names, *const *header_values; /* extra headers sent with every request */
    size_t n_headers;
    const char *basic_user, *basic_password;  /* HTTP basic auth (NULL: none) */
    const char *authorization;   /* a whole Authorization header value ("Bearer x"; NULL: none) */
    const char *ca_file, *cert_file, *key_file;
    bool insecure_skip_verify;
    int64_t timeout_ms;          /* per request, connection included */
    uint64_t max_bytes;          /* a response body larger than this fails the call (VG_ELIMIT) */
    remote_text_parse_fn parse_text; /* for latest() (NULL: latest() is VG_EUNSUPPORTED) */
} remote_query_opts_t;

/* A new executor over the API at o->url. Every string of o is copied. *out is owned: free with
 * promql_executor_free. Call through promql_executor_scoped() to name the caller's tenant.
 * Errors of its calls: the engine's own (errorType and error of its JSON answer mapped back with
 * remote_error_code, message kept verbatim), VG_EUNAVAIL when the engine cannot be reached or answers
 * 5xx without a Prometheus error body, VG_ETIMEOUT past timeout_ms, VG_ELIMIT past max_bytes,
 * VG_EUPSTREAM for an answer that is not the Prometheus API's. */
int remote_executor_new(const remote_query_opts_t *o, promql_executor_t **out, vg_error_t *err);

/* The VG_E* code of a Prometheus API error: errorType ("bad_data", "execution", "timeout", "canceled",
 * "internal", "unavailable", "not_found"; NULL or unknown: by HTTP status). vg_error_type() of the
 * result gives errorType back for every type Prometheus uses. */
int remote_error_code(const char *error_type, long http_status);

/* Parses a /api/v1/query or /api/v1/query_range answer (body, len, its HTTP status) into a result in
 * arena: vector (evaluation order kept), matrix, scalar or string; values "NaN", "+Inf", "-Inf"
 * included; warnings kept. An error answer returns its code (remote_error_code) with its message.
 * t_ms: the evaluation time of an instant query (r->t). Exposed for tests. */
int remote_result_parse(const char *body, size_t len, long http_status, int64_t t_ms, vg_arena_t *arena,
                        promql_result_t **out, vg_error_t *err);

/* ---- the remote read protocol (prompb/remote.proto of Prometheus 2.42) -------------------------- */

enum { REMOTE_READ_SAMPLES = 0, REMOTE_READ_STREAMED_XOR_CHUNKS = 1 };
enum { REMOTE_MATCH_EQ = 0, REMOTE_MATCH_NEQ = 1, REMOTE_MATCH_RE = 2, REMOTE_MATCH_NRE = 3 };

typedef struct remote_read_matcher {
    int type;                 /* REMOTE_MATCH_* (others are refused by the decoder) */
    const char *name, *value; /* arena, NUL-terminated */
} remote_read_matcher_t;

typedef struct remote_read_query {
    int64_t start_ms, end_ms;
    remote_read_matcher_t *matchers; /* arena */
    size_t n_matchers;
} remote_read_query_t;

typedef struct remote_read_request {
    remote_read_query_t *queries; /* arena */
    size_t n_queries;
    int *accepted;                /* accepted_response_types in the client's order (arena) */
    size_t n_accepted;
} remote_read_request_t;

typedef struct remote_read_limits {
    size_t max_decoded;  /* bytes of the request after snappy (0: no bound) */
    size_t max_queries;  /* queries in one request (0: no bound) */
    size_t max_matchers; /* matchers in one query (0: no bound) */
} remote_read_limits_t;

/* Decodes a snappy-compressed ReadRequest (body borrowed only during the call; everything in *out is
 * copied into arena). Hints are read past. Errors: VG_EINVAL for bytes that are not snappy + protobuf
 * ("protobuf: … at offset N" of the decoded bytes) or a matcher type outside 0..3, VG_ETOOLARGE past
 * max_decoded, VG_ELIMIT past max_queries / max_matchers. */
int remote_read_request_decode(const void *body, size_t len, const remote_read_limits_t *lim, vg_arena_t *arena,
                               remote_read_request_t *out, vg_error_t *err);
/* Same over protobuf bytes without snappy (for the fuzz target and tests). */
int remote_read_request_decode_pb(const void *pb, size_t len, const remote_read_limits_t *lim, vg_arena_t *arena,
                                  remote_read_request_t *out, vg_error_t *err);
/* Encodes r as protobuf (no snappy) into out (the remote read client, tests). 0 or VG_ENOMEM. */
int remote_read_request_encode(const remote_read_request_t *r, vg_buf_t *out);

/* The response type to answer with, as Prometheus 2.42 negotiates it: the first accepted type it
 * implements, SAMPLES when the list is empty; VG_EINVAL (err set) when none is implemented. */
int remote_read_negotiate(const remote_read_request_t *r, int *type, vg_error_t *err);

/* One series of an answer: labels sorted by name, samples in ascending time (borrowed). */
typedef struct remote_read_series {
    const model_label_t *labels;
    size_t n_labels;
    const int64_t *t;
    const double *v;
    size_t n_samples;
} remote_read_series_t;

/* A ReadResponse being built (SAMPLES): one QueryResult per remote_read_response_query call, in the
 * order of the request's queries. */
typedef struct remote_read_response {
    vg_buf_t pb; /* the protobuf message so far */
} remote_read_response_t;

void remote_read_response_init(remote_read_response_t *r);
void remote_read_response_deinit(remote_read_response_t *r);
/* Appends one QueryResult holding series[0..n). 0 or VG_ENOMEM. */
int remote_read_response_query(remote_read_response_t *r, const remote_read_series_t *series, size_t n);
/* The snappy-compressed message into out (Content-Type application/x-protobuf, Content-Encoding
 * snappy). 0 or VG_ENOMEM. */
int remote_read_response_finish(remote_read_response_t *r, vg_buf_t *out);

/* A decoded ReadResponse (SAMPLES), as the remote read client receives it: one result per query of
 * the request, each a list of series (labels sorted by name, samples as sent). Everything in arena. */
typedef struct remote_read_result {
    remote_read_series_t *series;
    size_t n_series;
} remote_read_result_t;

/* Decodes a snappy-compressed ReadResponse (body borrowed for the call). Bounds: max_decoded bytes
 * after snappy (0: none; VG_ETOOLARGE past it) and max_samples over every series of every result (< 0:
 * none; VG_ELIMIT past it). Label names and values are copied into arena and labels are sorted.
 * Errors: VG_EINVAL for bytes that are not snappy + protobuf ("protobuf: … at offset N"). */
int remote_read_response_decode(const void *body, size_t len, size_t max_decoded, int64_t max_samples,
                                vg_arena_t *arena, remote_read_result_t **out, size_t *n_out, vg_error_t *err);
/* Same over protobuf bytes without snappy. */
int remote_read_response_decode_pb(const void *pb, size_t len, int64_t max_samples, vg_arena_t *arena,
                                   remote_read_result_t **out, size_t *n_out, vg_error_t *err);

/* STREAMED_XOR_CHUNKS: the Content-Type of the body. */
#define REMOTE_READ_CHUNKED_CT "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"

/* One chunk of a series: XOR-encoded bytes (Prometheus' chunkenc.XORChunk layout) and its time range. */
typedef struct remote_read_chunk {
    int64_t min_t, max_t;
    const uint8_t *data;
    size_t len;
} remote_read_chunk_t;

/* Appends one frame to out: uvarint(size of the message), the CRC32 (Castagnoli) of the message in
 * big-endian, then a ChunkedReadResponse message {chunked_series: series[i] with chunks[i][0..n_chunks[i]),
 * query_index}. 0 or VG_ENOMEM. */
int remote_read_frame(vg_buf_t *out, int64_t query_index, const remote_read_series_t *series,
                      const remote_read_chunk_t *const *chunks, const size_t *n_chunks, size_t n_series);

/* ---- the remote read client (read_client.c) ----------------------------------------------------- */

/* A remote_read endpoint vigil reads from (Prometheus' remote_read client, 2.42): every select of a
 * querier is one POST <url> of a snappy ReadRequest with one query — the selector's matchers, plus an
 * equality matcher for each external label the selector does not name — accepting the SAMPLES answer.
 * Added external labels are removed from the series that come back; a selector that lacks one of the
 * required matchers (name="value", as written) is not sent and selects nothing. label_names and
 * label_values of its queriers answer empty lists (remote read has no such call). */
typedef struct remote_reader remote_reader_t;

typedef struct remote_reader_opts {
    const char *url;  /* the full endpoint: http://prometheus:9090/api/v1/read */
    const char *name; /* in error messages */
    const char *const *header_names, *const *header_values; /* extra headers sent with every request */
    size_t n_headers;
    const char *basic_user, *basic_password; /* HTTP basic auth (NULL: none) */
    const char *authorization;               /* a whole Authorization header value (NULL: none) */
    const char *ca_file, *cert_file, *key_file;
    bool insecure_skip_verify;
    int64_t timeout_ms;       /* per request, connection included */
    uint64_t max_bytes;       /* an answer larger than this, compressed or not, fails the select (VG_ELIMIT) */
    int64_t sample_limit;     /* samples one querier may receive over all its selects (< 0: none; VG_ELIMIT) */
    const model_label_t *required; /* required_matchers as name=value pairs (copied) */
    size_t n_required;
    const model_label_t *external; /* external labels added to selectors and removed from answers (copied) */
    size_t n_external;
} remote_reader_opts_t;

/* Every string of o is copied. *out is owned: free with remote_reader_free once its queriers are
 * closed. Thread-safe: queriers of one reader may be used on several threads at once (one each). */
int remote_reader_new(const remote_reader_opts_t *o, remote_reader_t **out, vg_error_t *err);
void remote_reader_free(remote_reader_t *r);

/* A querier (storage.h) over [mint, maxt] of the remote store; owned: storage_querier_close. Its
 * selects fail with VG_EUNAVAIL (store unreachable, or an answer that is not 2xx, with the store's
 * first line), VG_ETIMEOUT past timeout_ms, VG_ELIMIT past max_bytes or sample_limit, VG_EUPSTREAM
 * for an answer that is not a ReadResponse; messages name the reader. Series come sorted. */
int remote_reader_querier(remote_reader_t *r, int64_t mint, int64_t maxt, storage_querier_t **out, vg_error_t *err);

#endif
