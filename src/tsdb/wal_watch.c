/* The WAL feed: storage_feed_t (storage.h) over the segments and checkpoints of a live WAL directory,
 * read from outside the writer — the remote_write queue tails it as Prometheus' WAL watcher does.
 *
 * State machine of a feed:
 *   start    on the first next(): series records of the newest checkpoint (epoch = its number), then
 *            every segment after it from its header, delivering only series records (catch-up) up to
 *            the start position — the one given, or, for a new reader, the end of the newest segment
 *            as first reached (a new reader starts from "now" but knows every live series);
 *   tail     records after the start position are delivered in full. At the end of the data of a
 *            segment the feed waits (polling the file's size every TICK_MS) until more arrives or the
 *            next segment exists: the writer creates segment N+1 only after its last write to N, so
 *            once N+1 exists, N is final once re-read;
 *   checkpoint when a checkpoint M newer than the last one read exists and the feed reads a segment
 *            after M, its series are delivered again (epoch M) and forget(M) drops series absent from
 *            it (removed by retention). A segment deleted before the feed reached it (the reader fell
 *            behind a checkpoint) is reported through gap() and skipped.
 *
 * Torn and concurrent data: a frame that is cut short at the end of the live segment is simply not
 * complete yet; in a final segment it is a torn tail (the process died mid-write) and is skipped. A
 * frame that does not check out in a final segment is corrupt: the feed scans for the next valid frame,
 * as replay does, and logs what it skipped. The position only ever names the start of a record.
 *
 * Byte layout: docs/format/wal.md. Record decoding is record.c's. */
#include "tsdb/tsdb_int.h"

#include "util/fs.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 10                 /* polling period of the live segment */
#define CKPT_CHECK_NS 5000000000ull /* how often to look for a new checkpoint while in one segment */
#define READ_CHUNK (1u << 20)

typedef struct feed {
    storage_feed_t base;
    char *dir;
    tsdb__head_t *head;
    bool started;
    bool from_end;              /* a new reader: start at the end of the newest segment at the start */
    storage_feed_pos_t start;   /* records before it: series only */
    bool catchup;               /* still before start */
    uint64_t catchup_seg;       /* from_end: the newest segment when the feed started */
    storage_feed_pos_t pos;     /* next record to read */
    int fd;                     /* pos.segment, or -1 */
    uint8_t *buf;               /* bytes [buf_off, buf_off + len) of the segment */
    size_t len, cap;
    uint64_t buf_off;
    uint64_t ckpt_seen;         /* the checkpoint whose series were delivered (0: none) */
    uint64_t ckpt_check_ns;
    tsdb__rec_scratch_t scratch;
    storage_feed_sample_t *sb;  /* samples of the record being decoded */
    size_t sb_n, sb_cap;
    const storage_feed_handler_t *h;
    uint64_t epoch;             /* of series delivered now */
    bool series_only;
} feed_t;

static int pos_cmp(storage_feed_pos_t a, storage_feed_pos_t b) {
    if (a.segment != b.segment) return a.segment < b.segment ? -1 : 1;
    return a.offset < b.offset ? -1 : a.offset > b.offset;
}

/* ---- record callbacks ---- */

static int cb_series(void *ctx, uint64_t ref, const model_label_t *l, size_t n) {
    feed_t *f = ctx;
    return f->h->series ? f->h->series(f->h->ctx, ref, l, n, f->epoch) : 0;
}

static int cb_sample(void *ctx, uint64_t ref, int64_t t, uint64_t vbits) {
    feed_t *f = ctx;
    if (f->series_only) return 0;
    if (f->sb_n == f->sb_cap) {
        size_t nc = f->sb_cap ? f->sb_cap * 2 : 1024;
        storage_feed_sample_t *nv = realloc(f->sb, nc * sizeof *nv);
        if (!nv) return VG_ENOMEM;
        f->sb = nv;
        f->sb_cap = nc;
    }
    storage_feed_sample_t *s = &f->sb[f->sb_n++];
    s->ref = ref;
    s->t = t;
    memcpy(&s->v, &vbits, sizeof s->v);
    return 0;
}

/* Decodes one framed record and delivers it. Returns 0, or a callback's / the decoder's error. A
 * malformed record behind a valid CRC is logged and skipped (as replay does with repair on). */
static int deliver(feed_t *f, const uint8_t *rec, size_t total, bool series_only, const char *where, uint64_t off) {
    uint8_t type = rec[0];
    if (type == TSDB__REC_CHUNK) return 0; /* checkpoints only: samples before every reader's start */
    if (series_only && type != TSDB__REC_SERIES) return 0;
    tsdb__rec_handler_t rh = {.ctx = f, .scratch = &f->scratch, .series = cb_series, .sample = cb_sample};
    f->series_only = series_only;
    f->sb_n = 0;
    vg_error_t e;
    vg_error_clear(&e);
    int rc = tsdb__rec_decode(type, rec + TSDB__REC_HDR, total - TSDB__REC_HDR, &rh, &e);
    if (rc == VG_ECORRUPT) {
        vg_log_error("tsdb", "WAL feed: skipping malformed record", VG_LS("segment", where), VG_LI("offset", off),
                     VG_LS("error", e.msg));
        return 0;
    }
    if (rc) return rc;
    if (f->sb_n && f->h->samples) return f->h->samples(f->h->ctx, f->sb, f->sb_n);
    return 0;
}

/* ---- files ---- */

static void seg_name(char *out, size_t cap, const char *dir, uint64_t n) {
    snprintf(out, cap, "%s/%08llu", dir, (unsigned long long)n);
}

static bool seg_exists(const char *dir, uint64_t n) {
    char p[4096];
    struct stat st;
    seg_name(p, sizeof p, dir, n);
    return stat(p, &st) == 0;
}

static void close_seg(feed_t *f) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    f->len = 0;
    f->buf_off = 0;
}

/* Reads what the file holds after the buffered bytes. Returns the number of new bytes, or <0. */
static long fill(feed_t *f) {
    /* keep only bytes from pos on */
    if (f->pos.offset > f->buf_off) {
        size_t drop = (size_t)(f->pos.offset - f->buf_off);
        if (drop > f->len) drop = f->len;
        memmove(f->buf, f->buf + drop, f->len - drop);
        f->len -= drop;
        f->buf_off += drop;
    }
    long total = 0;
    for (;;) {
        if (f->cap - f->len < READ_CHUNK) {
            size_t nc = f->cap ? f->cap * 2 : 2 * READ_CHUNK;
            while (nc - f->len < READ_CHUNK) nc *= 2;
            uint8_t *nb = realloc(f->buf, nc);
            if (!nb) return VG_ENOMEM;
            f->buf = nb;
            f->cap = nc;
        }
        ssize_t r = pread(f->fd, f->buf + f->len, f->cap - f->len, (off_t)(f->buf_off + f->len));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return VG_EIO;
        if (r == 0) return total;
        f->len += (size_t)r;
        total += r;
        if (f->len >= 64u << 20) return total; /* enough for the largest record */
    }
}

/* Series records of checkpoint.<n> (every segment in it), delivered with epoch n. */
static int read_checkpoint(feed_t *f, uint64_t n, vg_error_t *err) {
    char d[4096], p[4200];
    snprintf(d, sizeof d, "%s/checkpoint.%08llu", f->dir, (unsigned long long)n);
    uint64_t *segs;
    size_t ns;
    int rc = vg_fs_list_numbered(d, "", &segs, &ns, err);
    if (rc) return rc == VG_ENOTFOUND ? 0 : rc; /* replaced by a newer one meanwhile: read that later */
    f->epoch = n;
    for (size_t i = 0; i < ns && rc == 0; i++) {
        snprintf(p, sizeof p, "%s/%08llu", d, (unsigned long long)segs[i]);
        uint8_t *b;
        size_t len;
        if (vg_fs_read_file(p, &b, &len, err) != 0) {
            rc = 0; /* deleted under us: a newer checkpoint will be read */
            break;
        }
        size_t off = TSDB__SEG_HDR;
        while (off < len && rc == 0) {
            long r = tsdb__rec_frame(b + off, len - off, NULL);
            if (r <= 0) break; /* checkpoints are complete once renamed: nothing valid follows */
            rc = deliver(f, b + off, (size_t)r, true, p, off);
            off += (size_t)r;
        }
        free(b);
    }
    free(segs);
    if (rc && err) vg_error_set(err, rc, "WAL feed: reading checkpoint %s: %s", d, vg_error_str(rc));
    return rc;
}

static uint64_t newest_checkpoint(const char *dir) {
    uint64_t *v;
    size_t n;
    vg_error_t e;
    if (vg_fs_list_numbered(dir, "checkpoint.", &v, &n, &e) != 0) return 0;
    uint64_t m = n ? v[n - 1] : 0;
    free(v);
    return m;
}

/* The smallest segment number > after (0: none). */
static uint64_t next_segment(const char *dir, uint64_t after, uint64_t *newest) {
    uint64_t *v;
    size_t n;
    vg_error_t e;
    if (newest) *newest = 0;
    if (vg_fs_list_numbered(dir, "", &v, &n, &e) != 0) return 0;
    uint64_t r = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] > after) {
            r = v[i];
            break;
        }
    if (newest && n) *newest = v[n - 1];
    free(v);
    return r;
}

/* A newer checkpoint than the one read, once the feed reads past it: its series, then forget. */
static int check_checkpoint(feed_t *f, vg_error_t *err) {
    f->ckpt_check_ns = vg_mono_ns();
    uint64_t m = newest_checkpoint(f->dir);
    if (m <= f->ckpt_seen || f->pos.segment <= m) return 0;
    int rc = read_checkpoint(f, m, err);
    if (rc) return rc;
    f->ckpt_seen = m;
    if (f->h->forget) f->h->forget(f->h->ctx, m);
    return 0;
}

static int start(feed_t *f, vg_error_t *err) {
    uint64_t m = newest_checkpoint(f->dir);
    if (m) {
        int rc = read_checkpoint(f, m, err);
        if (rc) return rc;
        f->ckpt_seen = m;
    }
    uint64_t newest;
    uint64_t first = next_segment(f->dir, m, &newest);
    if (f->from_end) {
        f->catchup_seg = newest;
        f->start = (storage_feed_pos_t){newest, UINT64_MAX};
    } else if (f->start.segment && first && f->start.segment < first) {
        /* the position was dropped by a checkpoint while nobody read it */
        storage_feed_pos_t to = {first, TSDB__SEG_HDR};
        vg_log_warn("tsdb", "WAL feed: the saved position is gone (checkpointed); samples in between are lost to "
                            "this reader",
                    VG_LI("from_segment", f->start.segment), VG_LI("to_segment", first));
        if (f->h->gap) f->h->gap(f->h->ctx, f->start, to);
        f->start = to;
    } else if (f->start.segment > newest) {
        vg_log_warn("tsdb", "WAL feed: the saved position is past the end of the WAL; starting at its end",
                    VG_LI("segment", f->start.segment), VG_LI("newest", newest));
        f->from_end = true;
        f->catchup_seg = newest;
        f->start = (storage_feed_pos_t){newest, UINT64_MAX};
    }
    f->pos = (storage_feed_pos_t){first ? first : m + 1, 0};
    f->catchup = true;
    f->started = true;
    return 0;
}

/* Moves to the next segment; a gap when it is not pos.segment + 1. */
static void advance(feed_t *f, uint64_t next) {
    if (next != f->pos.segment + 1 && !f->catchup) {
        storage_feed_pos_t to = {next, TSDB__SEG_HDR};
        vg_log_warn("tsdb", "WAL feed: segments were deleted before they were read", VG_LI("from_segment", f->pos.segment),
                    VG_LI("to_segment", next));
        if (f->h->gap) f->h->gap(f->h->ctx, f->pos, to);
    }
    close_seg(f);
    f->pos = (storage_feed_pos_t){next, 0};
}

static void sleep_ms(int64_t ms) {
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int feed_next(storage_feed_t *base, const storage_feed_handler_t *h, size_t max_samples, int64_t wait_ms,
                     vg_error_t *err) {
    feed_t *f = (feed_t *)base;
    f->h = h;
    if (!f->started) {
        int rc = start(f, err);
        if (rc) return rc;
    }
    size_t delivered = 0;
    uint64_t deadline = vg_mono_ns() + (uint64_t)(wait_ms > 0 ? wait_ms : 0) * 1000000u;
    char path[4096];
    for (;;) {
        if (vg_mono_ns() - f->ckpt_check_ns > CKPT_CHECK_NS) {
            int rc = check_checkpoint(f, err);
            if (rc) return rc;
        }
        seg_name(path, sizeof path, f->dir, f->pos.segment);
        if (f->fd < 0) {
            f->fd = open(path, O_RDONLY | O_CLOEXEC);
            if (f->fd < 0) {
                if (errno != ENOENT) return vg_error_set(err, VG_EIO, "WAL feed: open %s: %s", path, strerror(errno));
                uint64_t nx = next_segment(f->dir, f->pos.segment, NULL);
                if (nx) {
                    advance(f, nx);
                    continue;
                }
                goto idle; /* not created yet */
            }
            f->len = 0;
            f->buf_off = 0;
        }
        /* Whether the segment is final must be known before its bytes are read (see the file head). */
        bool sealed = seg_exists(f->dir, f->pos.segment + 1);
        long got = fill(f);
        if (got < 0) return vg_error_set(err, (int)got, "WAL feed: read %s: %s", path, vg_error_str((int)got));
        if (f->pos.offset == 0) {
            if (f->len < TSDB__SEG_HDR) {
                if (sealed) { /* a torn header: nothing in it */
                    advance(f, f->pos.segment + 1);
                    continue;
                }
                goto idle;
            }
            f->pos.offset = TSDB__SEG_HDR;
        }
        bool progressed = false;
        for (;;) {
            if (f->catchup && pos_cmp(f->pos, f->start) >= 0) f->catchup = false;
            size_t at = (size_t)(f->pos.offset - f->buf_off);
            if (at >= f->len) break;
            long r = tsdb__rec_frame(f->buf + at, f->len - at, NULL);
            if (r > 0) {
                int rc = deliver(f, f->buf + at, (size_t)r, f->catchup, path, f->pos.offset);
                if (rc) {
                    if (rc < 0) vg_error_set(err, rc, "WAL feed: %s offset %llu: %s", path,
                                             (unsigned long long)f->pos.offset, vg_error_str(rc));
                    return rc;
                }
                f->pos.offset += (uint64_t)r;
                progressed = true;
                if (!f->catchup) delivered += f->sb_n;
                if (delivered >= max_samples) return (int)(delivered > INT32_MAX ? INT32_MAX : delivered);
                continue;
            }
            if (!sealed) break; /* incomplete or being written: wait */
            if (r < 0) {       /* corrupt in a final segment: resync on the next valid frame */
                size_t nx = at + 1;
                while (nx < f->len && tsdb__rec_frame(f->buf + nx, f->len - nx, NULL) <= 0) nx++;
                if (nx < f->len) {
                    vg_log_error("tsdb", "WAL feed: skipping corrupt bytes", VG_LS("segment", path),
                                 VG_LI("offset", f->pos.offset), VG_LI("bytes", nx - at));
                    f->pos.offset += nx - at;
                    continue;
                }
            }
            break; /* torn tail of a final segment */
        }
        if (progressed) continue; /* the buffer may hold a partial record: read on */
        if (sealed) {
            if (f->catchup && f->from_end && f->pos.segment >= f->catchup_seg) f->catchup_seg = f->pos.segment + 1;
            if (f->catchup && !f->from_end && f->start.segment == f->pos.segment)
                f->start = (storage_feed_pos_t){f->pos.segment + 1, 0}; /* the saved offset was past the data */
            advance(f, f->pos.segment + 1);
            int rc = check_checkpoint(f, err);
            if (rc) return rc;
            continue;
        }
        if (f->catchup && f->from_end && f->pos.segment >= f->catchup_seg) {
            /* the end of the data as first reached: "now" for a new reader */
            f->start = f->pos;
            f->catchup = false;
            f->from_end = false;
            return (int)delivered; /* let the reader note the start before anything is owed */
        }
    idle:
        if (delivered || vg_mono_ns() >= deadline) return (int)delivered;
        sleep_ms(TICK_MS);
    }
}

static void feed_position(const storage_feed_t *base, storage_feed_pos_t *out) {
    const feed_t *f = (const feed_t *)base;
    if (!f->started || f->catchup) {
        *out = f->from_end ? (storage_feed_pos_t){0, 0} : f->start;
        return;
    }
    *out = f->pos;
    if (out->offset == 0) out->offset = TSDB__SEG_HDR;
}

static int64_t feed_newest(const storage_feed_t *base) {
    const feed_t *f = (const feed_t *)base;
    return f->head ? atomic_load(&f->head->maxt) : INT64_MIN;
}

static void feed_free(storage_feed_t *base) {
    feed_t *f = (feed_t *)base;
    if (!f) return;
    close_seg(f);
    free(f->buf);
    free(f->sb);
    tsdb__rec_scratch_free(&f->scratch);
    free(f->dir);
    free(f);
}

static const storage_feed_vt feed_vt = {
    .next = feed_next, .position = feed_position, .newest = feed_newest, .free = feed_free};

int tsdb__feed_new(const char *wal_dir, tsdb__head_t *head, const storage_feed_pos_t *from, storage_feed_t **out,
                   vg_error_t *err) {
    *out = NULL;
    feed_t *f = calloc(1, sizeof *f);
    if (!f || !(f->dir = strdup(wal_dir))) {
        free(f);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    f->base.vt = &feed_vt;
    f->head = head;
    f->fd = -1;
    f->ckpt_check_ns = vg_mono_ns();
    if (from && from->segment) f->start = *from;
    else f->from_end = true;
    *out = &f->base;
    return 0;
}
