/* The write-ahead log: numbered segment files in <data>/wal/, each an 8-byte header then framed
 * records (docs/format/wal.md), plus checkpoint.NNNNNNNN/ directories that replace every segment up to
 * NNNNNNNN.
 *
 * State machine of the directory: segments > last checkpoint are live; a checkpoint is written to
 * checkpoint.N.tmp, fsynced, renamed (the commit point), then segments <= N and older checkpoints are
 * deleted — a crash at any step leaves either the old or the new state readable (stale .tmp dirs and
 * segments <= N are ignored and removed on the next open).
 *
 * Writers hold the commit lock (mu) around write(2); `written` counts bytes ever written and is the
 * position group commit waits on; `synced` <= `written` is the fsynced prefix. Replay is tolerant: a
 * torn tail is cut off with a warning, a corrupt record in the middle is skipped by scanning for the
 * next valid frame (CRC32C), with an error log naming segment, offset, record type and what was
 * expected versus found (the same text is the error when wal_repair is off).
 *
 * This file owns the segment files (header, cutting, replay order, checkpoint directories); what the
 * bytes of a record mean is record.c's. A failed write is truncated away (ftruncate to the segment's
 * size before it), so a failed commit never leaves part of a record in front of the next one. */
#include "tsdb/tsdb_int.h"

#include "util/fault.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Segments are written as version 2 (which may hold compressed samples records); version 1 is read. */
static const uint8_t seg_magic[TSDB__SEG_HDR] = {'V', 'G', 'W', 'L', 2, 0, 0, 0};

/* True if buf[0..n) (n <= TSDB__SEG_HDR) matches a segment header of a readable version. */
static bool header_prefix_ok(const uint8_t *buf, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (i == 4 ? buf[i] != 1 && buf[i] != 2 : buf[i] != seg_magic[i]) return false;
    return true;
}

struct tsdb__wal {
    char *dir;
    pthread_mutex_t mu; /* commit lock */
    int fd;
    uint64_t seg;       /* current segment number */
    uint64_t seg_size;  /* bytes in the current segment */
    uint64_t seg_max;
    tsdb_fsync_t policy;
    uint64_t last_ckpt; /* segment number covered by the newest checkpoint (0: none) */
    uint64_t first_seg; /* oldest live segment */
    _Atomic uint64_t written, bytes_total;
    pthread_mutex_t smu;
    pthread_cond_t scond;
    void (*on_fsync)(void *ctx, double seconds);
    void *on_fsync_ctx;
    uint64_t synced;
    bool syncing;
};

static int seg_path(char *out, size_t cap, const char *dir, uint64_t n) {
    return snprintf(out, cap, "%s/%08llu", dir, (unsigned long long)n) < (int)cap ? 0 : VG_EINVAL;
}

static int create_segment(const char *dir, uint64_t n, int *fd_out, vg_error_t *err) {
    char p[4096];
    if (seg_path(p, sizeof p, dir, n)) return vg_error_set(err, VG_EINVAL, "WAL path too long");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return vg_error_set(err, VG_EIO, "create WAL segment %s: %s", p, strerror(errno));
    int rc = vg_fs_write_all(fd, seg_magic, sizeof seg_magic, err);
    if (rc == 0) rc = vg_fs_fsync_dir(dir, err);
    if (rc) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

/* Describes the first bytes of a segment that do not form a readable header. */
static int bad_header(vg_error_t *err, const char *path, const uint8_t *buf, size_t len) {
    char found[3 * TSDB__SEG_HDR + 1] = "";
    for (size_t i = 0, k = 0; i < len && i < TSDB__SEG_HDR; i++)
        k += (size_t)snprintf(found + k, sizeof found - k, "%s%02x", i ? " " : "", buf[i]);
    return VG_CORRUPT(err, "WAL segment %s offset 0: bad segment header: expected \"VGWL\", version 1 or 2, "
                           "3 zero bytes; found %s (%zu bytes)", path, found[0] ? found : "nothing", len);
}

static void log_corrupt(const char *msg, const char *path, size_t off, const vg_error_t *e) {
    vg_log_error("tsdb", msg, VG_LS("segment", path), VG_LI("offset", off), VG_LS("error", e->msg),
                 VG_LS("check", e->src_file ? e->src_file : ""), VG_LI("line", e->src_line));
}

/* Replays one segment file. last: the newest segment (its torn tail is cut off). Every corruption is
 * described as "WAL segment <path> offset <byte>: <record type>: <expected versus found>": returned in
 * err when repair is off, logged when it is on. */
static int replay_segment(const char *path, bool last, bool repair, const tsdb__rec_handler_t *h,
                          tsdb__replay_stats_t *rs, vg_error_t *err) {
    uint8_t *buf;
    size_t len;
    int rc = vg_fs_read_file(path, &buf, &len, err);
    if (rc) return rc;
    size_t off = TSDB__SEG_HDR;
    vg_error_t e;
    vg_error_clear(&e);
    if (len < TSDB__SEG_HDR || !header_prefix_ok(buf, TSDB__SEG_HDR)) {
        if (len < TSDB__SEG_HDR && header_prefix_ok(buf, len)) {
            vg_log_warn("tsdb", "WAL segment header torn, treating as empty", VG_LS("segment", path),
                        VG_LI("size", len));
            off = len;
            if (last) {
                int fd = open(path, O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                    if (ftruncate(fd, 0) != 0 || write(fd, seg_magic, sizeof seg_magic) != (ssize_t)sizeof seg_magic)
                        vg_log_warn("tsdb", "could not rewrite WAL segment header", VG_LS("segment", path));
                    close(fd);
                }
            }
        } else {
            bad_header(&e, path, buf, len);
            free(buf);
            rs->corrupt++;
            log_corrupt("WAL segment has a bad header", path, 0, &e);
            if (!repair) {
                if (err) *err = e;
                return VG_ECORRUPT;
            }
            return 0;
        }
    }
    while (off < len) {
        long r = tsdb__rec_frame(buf + off, len - off, NULL);
        if (r > 0) {
            rs->records++;
            rc = tsdb__rec_decode(buf[off], buf + off + TSDB__REC_HDR, (size_t)r - TSDB__REC_HDR, h, &e);
            if (rc) vg_error_prefix(&e, "WAL segment %s offset %zu", path, off);
            if (rc == VG_ECORRUPT) {
                /* CRC matched but the content is malformed: a writer bug, not a torn write. */
                rs->corrupt++;
                log_corrupt("skipping malformed WAL record", path, off, &e);
                if (!repair) {
                    free(buf);
                    if (err) *err = e;
                    return VG_ECORRUPT;
                }
            } else if (rc) {
                free(buf);
                if (err) *err = e;
                return rc;
            }
            off += (size_t)r;
            continue;
        }
        tsdb__rec_frame(buf + off, len - off, &e); /* why the frame at off does not check out */
        size_t next = off + 1;
        while (next < len && tsdb__rec_frame(buf + next, len - next, NULL) <= 0) next++;
        if (next < len) {
            rs->corrupt++;
            vg_error_prefix(&e, "WAL segment %s offset %zu", path, off);
            char tail[96];
            snprintf(tail, sizeof tail, "; next valid record at offset %zu (%zu bytes skipped)", next, next - off);
            size_t ml = strlen(e.msg);
            if (ml + strlen(tail) < sizeof e.msg) memcpy(e.msg + ml, tail, strlen(tail) + 1);
            log_corrupt("skipping corrupt WAL bytes", path, off, &e);
            if (!repair) {
                free(buf);
                if (err) *err = e;
                return VG_ECORRUPT;
            }
            off = next;
            continue;
        }
        rs->torn++;
        vg_log_warn("tsdb", "dropping torn WAL record", VG_LS("segment", path), VG_LI("offset", off),
                    VG_LI("bytes", len - off), VG_LS("reason", e.msg));
        if (last) {
            int fd = open(path, O_WRONLY | O_CLOEXEC);
            if (fd < 0 || ftruncate(fd, (off_t)off) != 0 || fsync(fd) != 0)
                vg_log_warn("tsdb", "could not truncate torn WAL tail", VG_LS("segment", path),
                            VG_LS("error", strerror(errno)));
            if (fd >= 0) close(fd);
        }
        break;
    }
    free(buf);
    return 0;
}

static int replay_dir(const char *dir, uint64_t after, bool last_is_live, bool repair, const tsdb__rec_handler_t *h,
                      tsdb__replay_stats_t *rs, uint64_t *max_seg, vg_error_t *err) {
    uint64_t *segs;
    size_t n;
    int rc = vg_fs_list_numbered(dir, "", &segs, &n, err);
    if (rc) return rc;
    uint64_t prev = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (segs[i] <= after) continue;
        if (prev && segs[i] != prev + 1)
            vg_log_warn("tsdb", "gap in WAL segments", VG_LS("dir", dir), VG_LI("after", prev), VG_LI("next", segs[i]));
        prev = segs[i];
        char p[4096];
        if (seg_path(p, sizeof p, dir, segs[i])) {
            rc = vg_error_set(err, VG_EINVAL, "WAL path too long");
            break;
        }
        rc = replay_segment(p, last_is_live && i == n - 1, repair, h, rs, err);
        if (max_seg && segs[i] > *max_seg) *max_seg = segs[i];
    }
    free(segs);
    return rc;
}

int tsdb__wal_open(const char *dir, const tsdb_options_t *o, const tsdb__rec_handler_t *replay,
                   tsdb__replay_stats_t *rs, tsdb__wal_t **out, vg_error_t *err) {
    *out = NULL;
    memset(rs, 0, sizeof *rs);
    int rc = vg_fs_mkdir_p(dir, err);
    if (rc) return rc;
    tsdb__wal_t *w = VG_FAULT_ALLOC_FAILS() ? NULL : calloc(1, sizeof *w);
    if (!w || VG_FAULT_ALLOC_FAILS() || !(w->dir = strdup(dir))) {
        free(w);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    w->fd = -1;
    w->seg_max = o->wal_segment_bytes < 64 * 1024 ? 64 * 1024 : o->wal_segment_bytes;
    w->policy = o->fsync;
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->smu, NULL);
    pthread_cond_init(&w->scond, NULL);

    /* newest complete checkpoint */
    uint64_t *cks;
    size_t n_ck;
    if ((rc = vg_fs_list_numbered(dir, "checkpoint.", &cks, &n_ck, err)) != 0) goto fail;
    w->last_ckpt = n_ck ? cks[n_ck - 1] : 0;
    free(cks);
    if (w->last_ckpt) {
        char p[4096];
        snprintf(p, sizeof p, "%s/checkpoint.%08llu", dir, (unsigned long long)w->last_ckpt);
        if ((rc = replay_dir(p, 0, false, o->wal_repair, replay, rs, NULL, err)) != 0) goto fail;
    }
    uint64_t max_seg = w->last_ckpt;
    if ((rc = replay_dir(dir, w->last_ckpt, true, o->wal_repair, replay, rs, &max_seg, err)) != 0) goto fail;

    w->seg = max_seg + 1;
    w->first_seg = w->last_ckpt + 1;
    if (max_seg >= w->first_seg) rs->first_segment = w->first_seg, rs->last_segment = max_seg;
    if ((rc = create_segment(dir, w->seg, &w->fd, err)) != 0) goto fail;
    w->seg_size = TSDB__SEG_HDR;
    *out = w;
    return 0;
fail:
    tsdb__wal_close(w);
    return rc;
}

void tsdb__wal_close(tsdb__wal_t *w) {
    if (!w) return;
    if (w->fd >= 0) {
        if (w->policy != TSDB_FSYNC_NEVER) fdatasync(w->fd);
        close(w->fd);
    }
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->smu);
    pthread_cond_destroy(&w->scond);
    free(w->dir);
    free(w);
}

void tsdb__wal_lock(tsdb__wal_t *w) { pthread_mutex_lock(&w->mu); }
void tsdb__wal_unlock(tsdb__wal_t *w) { pthread_mutex_unlock(&w->mu); }

static void mark_synced(tsdb__wal_t *w, uint64_t pos) {
    pthread_mutex_lock(&w->smu);
    if (pos > w->synced) w->synced = pos;
    pthread_cond_broadcast(&w->scond);
    pthread_mutex_unlock(&w->smu);
}

int tsdb__wal_cut(tsdb__wal_t *w, uint64_t *closed, vg_error_t *err) {
    /* Segments are always fsynced when closed, whatever the policy: checkpoints rely on it. */
    if (fdatasync(w->fd) != 0) return vg_error_set(err, VG_EIO, "fsync WAL segment: %s", strerror(errno));
    mark_synced(w, atomic_load(&w->written));
    int fd;
    int rc = create_segment(w->dir, w->seg + 1, &fd, err);
    if (rc) return rc;
    close(w->fd);
    w->fd = fd;
    *closed = w->seg;
    w->seg++;
    w->seg_size = TSDB__SEG_HDR;
    return 0;
}

int tsdb__wal_write(tsdb__wal_t *w, const uint8_t *p, size_t n, uint64_t *end_pos, vg_error_t *err) {
    if (w->seg_size + n > w->seg_max && w->seg_size > TSDB__SEG_HDR) {
        uint64_t closed;
        int rc = tsdb__wal_cut(w, &closed, err);
        if (rc) return rc;
    }
    int rc = vg_fs_write_all(w->fd, p, n, err);
    if (rc) {
        /* Do not leave half a record for the next one to follow. */
        if (ftruncate(w->fd, (off_t)w->seg_size) != 0) {
            vg_log_error("tsdb", "could not remove partial WAL write", VG_LS("error", strerror(errno)));
        }
        return rc;
    }
    w->seg_size += n;
    uint64_t pos = atomic_fetch_add(&w->written, n) + n;
    atomic_fetch_add(&w->bytes_total, n);
    if (end_pos) *end_pos = pos;
    return 0;
}

int tsdb__wal_wait_synced(tsdb__wal_t *w, uint64_t pos, vg_error_t *err) {
    pthread_mutex_lock(&w->smu);
    while (w->synced < pos) {
        if (w->syncing) {
            pthread_cond_wait(&w->scond, &w->smu);
            continue;
        }
        w->syncing = true;
        pthread_mutex_unlock(&w->smu);
        pthread_mutex_lock(&w->mu);
        uint64_t target = atomic_load(&w->written);
        int fd = dup(w->fd);
        pthread_mutex_unlock(&w->mu);
        uint64_t t0 = vg_mono_ns();
        int rc = fd < 0 ? -1 : fdatasync(fd);
        int e = errno;
        if (rc == 0 && w->on_fsync) w->on_fsync(w->on_fsync_ctx, (double)(vg_mono_ns() - t0) / 1e9);
        if (fd >= 0) close(fd);
        pthread_mutex_lock(&w->smu);
        w->syncing = false;
        if (rc != 0) {
            pthread_cond_broadcast(&w->scond);
            pthread_mutex_unlock(&w->smu);
            return vg_error_set(err, VG_EIO, "fsync WAL: %s", strerror(e));
        }
        if (target > w->synced) w->synced = target;
        pthread_cond_broadcast(&w->scond);
    }
    pthread_mutex_unlock(&w->smu);
    return 0;
}

int tsdb__wal_sync(tsdb__wal_t *w, vg_error_t *err) {
    return tsdb__wal_wait_synced(w, atomic_load(&w->written), err);
}

int tsdb__wal_checkpoint(tsdb__wal_t *w, uint64_t upto, int (*emit)(void *ctx, tsdb__recbuf_t *b), void *ctx,
                         vg_error_t *err) {
    char tmp[4096], fin[4096], p[4096];
    snprintf(tmp, sizeof tmp, "%s/checkpoint.%08llu.tmp", w->dir, (unsigned long long)upto);
    snprintf(fin, sizeof fin, "%s/checkpoint.%08llu", w->dir, (unsigned long long)upto);
    int rc = vg_fs_remove_all(tmp, err);
    if (rc == 0) rc = vg_fs_mkdir_p(tmp, err);
    if (rc) return rc;
    uint64_t seg = 1, size = TSDB__SEG_HDR;
    int fd;
    if ((rc = create_segment(tmp, seg, &fd, err)) != 0) return rc;
    tsdb__recbuf_t b = {0};
    for (;;) {
        tsdb__recbuf_reset(&b);
        int done = emit(ctx, &b);
        if (done < 0 || b.failed) {
            rc = done < 0 ? done : VG_ENOMEM;
            vg_error_set(err, rc, "building checkpoint: %s", vg_error_str(rc));
            break;
        }
        if (b.len) {
            if (size + b.len > w->seg_max && size > TSDB__SEG_HDR) {
                if (fdatasync(fd) != 0) {
                    rc = vg_error_set(err, VG_EIO, "fsync checkpoint: %s", strerror(errno));
                    break;
                }
                close(fd);
                fd = -1;
                if ((rc = create_segment(tmp, ++seg, &fd, err)) != 0) break;
                size = TSDB__SEG_HDR;
            }
            if ((rc = vg_fs_write_all(fd, b.p, b.len, err)) != 0) break;
            size += b.len;
        }
        if (done == 1) break;
    }
    tsdb__recbuf_free(&b);
    if (fd >= 0) {
        if (rc == 0 && fdatasync(fd) != 0) rc = vg_error_set(err, VG_EIO, "fsync checkpoint: %s", strerror(errno));
        close(fd);
    }
    if (rc == 0) rc = vg_fs_fsync_dir(tmp, err);
    if (rc == 0 && rename(tmp, fin) != 0) rc = vg_error_set(err, VG_EIO, "rename %s: %s", tmp, strerror(errno));
    if (rc == 0) rc = vg_fs_fsync_dir(w->dir, err);
    if (rc) {
        vg_error_t e2;
        vg_fs_remove_all(tmp, &e2);
        return rc;
    }
    /* Committed: drop what the checkpoint replaces. */
    uint64_t *v;
    size_t n;
    vg_error_t e2;
    if (vg_fs_list_numbered(w->dir, "", &v, &n, &e2) == 0) {
        for (size_t i = 0; i < n; i++)
            if (v[i] <= upto && seg_path(p, sizeof p, w->dir, v[i]) == 0) unlink(p);
        free(v);
    }
    if (vg_fs_list_numbered(w->dir, "checkpoint.", &v, &n, &e2) == 0) {
        for (size_t i = 0; i < n; i++)
            if (v[i] < upto) {
                snprintf(p, sizeof p, "%s/checkpoint.%08llu", w->dir, (unsigned long long)v[i]);
                vg_fs_remove_all(p, &e2);
            }
        free(v);
    }
    vg_fs_fsync_dir(w->dir, &e2);
    pthread_mutex_lock(&w->mu);
    w->last_ckpt = upto;
    w->first_seg = upto + 1;
    pthread_mutex_unlock(&w->mu);
    return 0;
}

uint64_t tsdb__wal_closed_since_checkpoint(tsdb__wal_t *w) {
    pthread_mutex_lock(&w->mu);
    uint64_t n = w->seg - 1 - w->last_ckpt;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void tsdb__wal_set_fsync_observer(tsdb__wal_t *w, void (*fn)(void *ctx, double seconds), void *ctx) {
    w->on_fsync = fn;
    w->on_fsync_ctx = ctx;
}

uint64_t tsdb__wal_bytes(tsdb__wal_t *w) { return atomic_load(&w->bytes_total); }

uint64_t tsdb__wal_segments(tsdb__wal_t *w) {
    pthread_mutex_lock(&w->mu);
    uint64_t n = w->seg - w->first_seg + 1;
    pthread_mutex_unlock(&w->mu);
    return n;
}
