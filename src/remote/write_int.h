/* Internals of remote_write out shared by write.c (the queue: reader thread, series, acknowledged
 * position, shard count) and shard.c (a shard: its buffer, batching, HTTP sending with retries).
 *
 * Invariants:
 *   - only the reader thread enqueues, and it alone changes the series map (under series_lock held
 *     exclusively); shards read the map under series_lock shared while they build a request;
 *   - a shard's queue is FIFO: shard->done (samples answered: sent, refused for good or dropped) only
 *     grows and never passes shard->enq, so a marker (a feed position with each shard's enq count when
 *     it was reached) is acknowledged once every shard's done has reached its count — the position the
 *     queue persists is the newest acknowledged marker's;
 *   - the shard count changes only with every shard drained (done == enq), so counts and markers can
 *     be reset then. */
#ifndef VG_REMOTE_WRITE_INT_H
#define VG_REMOTE_WRITE_INT_H

#include "remote/write.h"
#include "selfmon/selfmon.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct remote__entry {
    uint64_t ref;
    int64_t t;
    double v;
} remote__entry_t;

/* A series as the queue sends it: labels after external labels and write_relabel_configs. */
typedef struct remote__series {
    uint64_t ref;
    uint64_t epoch;   /* storage_feed epoch of its last series record */
    uint32_t tenant;  /* index in q->tenants (with tenant_header) */
    bool dropped;     /* relabeled away, or no tenant: its samples are dropped and counted */
    size_t n_labels;
    model_label_t *labels; /* one allocation (model_labels_dup) */
} remote__series_t;

typedef struct remote__metrics {
    selfmon_metric_t *sent, *failed, *retried, *dropped, *pending, *shards, *desired, *min_shards, *max_shards,
        *capacity, *max_per_send, *highest_sent, *bytes, *duration, *lost, *highest_in;
} remote__metrics_t;

typedef struct remote__shard {
    struct remote_write *q;
    int idx;
    pthread_t th;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cv_data, cv_space;
    remote__entry_t *ring;
    size_t cap, head, n;
    uint64_t enq;          /* entries ever enqueued (since the last reshard) */
    _Atomic uint64_t done; /* entries answered */
    uint64_t oldest_ns;    /* when the oldest queued entry came in */
    bool stop;             /* send what is queued, then exit */
    void *priv;            /* shard.c: HTTP handle and buffers */
} remote__shard_t;

typedef struct remote__marker {
    storage_feed_pos_t pos;
    uint64_t *enq; /* one per shard */
} remote__marker_t;

struct remote_write {
    config_t *cfg; /* ref */
    const config_remote_write_t *rc;
    remote_write_deps_t deps;
    char *pos_path;
    const char *tenant_label;
    /* series */
    pthread_rwlock_t series_lock;
    remote__series_t **map; /* open addressing by ref; NULL empty, TOMB deleted */
    size_t map_cap, map_n, map_used;
    char **tenants;         /* interned tenant values, [0] unused */
    size_t n_tenants, cap_tenants;
    /* shards */
    remote__shard_t *shards; /* max_shards of them; the first n_shards run */
    int n_shards;
    _Atomic int desired;
    /* reader */
    pthread_t reader;
    bool reader_running;
    _Atomic bool stopping;  /* reader: stop reading */
    _Atomic bool abort;     /* shards: give up retrying (flush deadline passed) */
    uint64_t flush_deadline_ns;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv; /* wakes shards sleeping in a backoff */
    remote__marker_t *markers;
    size_t n_markers, cap_markers;
    storage_feed_pos_t acked; /* last saved */
    pthread_mutex_t acked_mu;
    /* rates for the shard count (reader thread) */
    _Atomic uint64_t in_total, out_total, out_ns_total;
    _Atomic int64_t highest_sent_ms, last_send_ok_ns;
    _Atomic int64_t newest_ms;
    /* stats */
    _Atomic uint64_t n_sent, n_failed, n_retried, n_dropped, n_lost, n_requests, n_bytes;
    remote__metrics_t m;
};

/* shard.c */
int remote__shard_start(remote__shard_t *s, vg_error_t *err);
/* Sets stop, wakes the shard and joins it; frees its buffer and HTTP handle. */
void remote__shard_join(remote__shard_t *s);

/* write.c: the series of ref (NULL: unknown); call with series_lock held (shared is enough). */
remote__series_t *remote__series_get(struct remote_write *q, uint64_t ref);

#endif
