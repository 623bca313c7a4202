/* remote_write out: one queue per `remote_write:` entry forwards what the storage logs to a
 * Prometheus-compatible receiver (Prometheus, Mimir, Thanos, VictoriaMetrics, another vigil) as
 * snappy-compressed protobuf WriteRequests (remote_write 1.0).
 *
 * A queue reads the storage's feed (storage.h: series and samples in log order, from a position), so
 * what it sends is what the storage accepted, and a receiver outage or a restart loses nothing the log
 * still holds: the queue persists the position up to which every sample has been answered by the
 * receiver (sent, or refused for good) and resumes there. Samples are sharded by series reference;
 * each shard batches up to max_samples_per_send or batch_send_deadline and retries 5xx (and 429 with
 * retry_on_http_429) with exponential backoff; the shard count follows the throughput between
 * min_shards and max_shards. With tenant_header, each batch is split by the tenant label's value and
 * each tenant's series go in their own request carrying that header. docs/remote-write.md has the
 * details; Prometheus' queue manager is the model (names of settings and self-metrics).
 *
 * Threads: a queue runs one reader thread and one thread per shard. remote_write_start and
 * remote_write_stop are called by one thread (the service) at a time. */
#ifndef VG_REMOTE_WRITE_H
#define VG_REMOTE_WRITE_H

#include "config/config.h"
#include "model/labels.h"
#include "tsdb/storage.h"
#include "util/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct remote_write remote_write_t;

/* write_relabel_configs applied to one series (once per series, when the queue first sees it): 1 with
 * the result in *out (sorted or not; valid until the next call with the same ctx), 0 to drop the
 * series, <0 on an error (the series is dropped and counted). Called from the queue's reader thread
 * only. */
typedef int (*remote_relabel_fn)(void *ctx, const model_label_t *in, size_t n, const model_label_t **out,
                                 size_t *n_out);

/* What a queue needs from the server (borrowed; must outlive the queue). */
typedef struct remote_write_deps {
    /* Opens the storage's feed at from (NULL: at the end of the log). */
    int (*open_feed)(void *ctx, const storage_feed_pos_t *from, storage_feed_t **out, vg_error_t *err);
    void *feed_ctx;
    remote_relabel_fn relabel; /* NULL: no write_relabel_configs */
    void *relabel_ctx;
    const char *state_dir;     /* where the queue keeps <name>.position (created when missing) */
} remote_write_deps_t;

/* Starts the queue of cfg->remote_write.v[index] (cfg is referenced for the queue's life). Returns 0,
 * or VG_EIO / VG_ENOMEM / VG_EINVAL with err set. *out is owned: remote_write_stop. */
int remote_write_start(config_t *cfg, size_t index, const remote_write_deps_t *deps, remote_write_t **out,
                       vg_error_t *err);

/* Stops reading, gives the shards up to flush_ms to send what they hold (no new retries after it),
 * saves the position and frees the queue. NULL is a no-op. */
void remote_write_stop(remote_write_t *q, int64_t flush_ms);

/* The queue's name (remote_name) and its config entry (borrowed for the queue's life). */
const char *remote_write_name(const remote_write_t *q);
const config_remote_write_t *remote_write_config(const remote_write_t *q);

typedef struct remote_write_stats {
    uint64_t samples_sent, samples_failed, samples_retried, samples_dropped, samples_lost;
    uint64_t samples_pending;
    uint64_t requests, bytes_sent;
    int shards, shards_desired;
    int64_t highest_sent_ms;      /* INT64_MIN: none */
    storage_feed_pos_t acked;     /* the position saved last */
} remote_write_stats_t;
void remote_write_get_stats(remote_write_t *q, remote_write_stats_t *out);

/* ---- encoding (encode.c): the WriteRequest of remote_write 1.0, protobuf then snappy ---- */

/* One TimeSeries to encode: labels (sorted) and samples in time order. */
typedef struct remote_pb_series {
    const model_label_t *labels;
    size_t n_labels;
    const int64_t *t;
    const double *v;
    size_t n_samples;
} remote_pb_series_t;

/* Encodes a WriteRequest of n series into *pb (replacing its content; grown with realloc, caller frees),
 * then compresses it with snappy into *out (the same). Returns 0 or VG_ENOMEM. */
typedef struct remote_pb_buf {
    uint8_t *p;
    size_t len, cap;
} remote_pb_buf_t;
int remote_pb_encode(const remote_pb_series_t *s, size_t n, remote_pb_buf_t *pb, remote_pb_buf_t *out);
void remote_pb_buf_free(remote_pb_buf_t *b);

#endif
