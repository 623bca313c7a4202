/* Head chunk files: full chunks leave the heap for files under <data>/chunks_head/ that are mapped
 * read-only, so they cost page cache (reclaimable) instead of resident anonymous memory.
 *
 * Each file is created at its full size (sparse) and mapped once; chunks are appended with pwrite(2)
 * and read through the mapping (coherent on Linux). Invariants: a chunk's bytes never change after put;
 * a file is unmapped and deleted only by cstore_gc when every chunk in it ends before the cutoff, which
 * the head calls with its trunc_lock held exclusively (no reader holds pointers then). The files are
 * scratch space: the head is rebuilt from the WAL at start, so they are removed on open. Frame layout in
 * docs/format/chunks.md ("Where chunks live") and docs/storage.md. */
#include "tsdb/tsdb_int.h"

#include "util/crc32c.h"
#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FRAME_HDR 28 /* ref u64, mint i64, maxt i64, len u32 with encoding in its top byte (all
                      * little-endian); data; crc32c u32 */

typedef struct cfile {
    int fd;
    uint8_t *base;
    uint64_t used;
    int64_t maxt;
    uint32_t seq;
    bool live;
} cfile_t;

struct tsdb__cstore {
    pthread_mutex_t mu;
    char *dir; /* NULL: heap only */
    uint64_t file_bytes;
    cfile_t *files;
    size_t n_files, cap_files;
    size_t cur; /* index of the file being appended, or SIZE_MAX */
    uint32_t next_seq;
};

int tsdb__cstore_open(const char *dir, uint64_t file_bytes, tsdb__cstore_t **out, vg_error_t *err) {
    *out = NULL;
    tsdb__cstore_t *cs = calloc(1, sizeof *cs);
    if (!cs) return vg_error_set(err, VG_ENOMEM, "out of memory");
    pthread_mutex_init(&cs->mu, NULL);
    cs->cur = SIZE_MAX;
    cs->file_bytes = file_bytes < (1u << 20) ? (1u << 20) : file_bytes;
    if (cs->file_bytes > UINT32_MAX) cs->file_bytes = UINT32_MAX;
    if (dir) {
        int rc = vg_fs_remove_all(dir, err);
        if (rc == 0) rc = vg_fs_mkdir_p(dir, err);
        if (rc != 0 || !(cs->dir = strdup(dir))) {
            pthread_mutex_destroy(&cs->mu);
            free(cs);
            return rc ? rc : vg_error_set(err, VG_ENOMEM, "out of memory");
        }
    }
    *out = cs;
    return 0;
}

static void close_file(tsdb__cstore_t *cs, cfile_t *f, bool remove) {
    if (!f->live) return;
    munmap(f->base, cs->file_bytes);
    if (!remove && ftruncate(f->fd, (off_t)f->used) != 0) {
        /* best effort: the file is scratch space */
    }
    close(f->fd);
    if (remove) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%08u", cs->dir, f->seq);
        unlink(p);
    }
    f->live = false;
}

void tsdb__cstore_close(tsdb__cstore_t *cs) {
    if (!cs) return;
    for (size_t i = 0; i < cs->n_files; i++) close_file(cs, &cs->files[i], false);
    free(cs->files);
    free(cs->dir);
    pthread_mutex_destroy(&cs->mu);
    free(cs);
}

static int new_file(tsdb__cstore_t *cs) {
    if (cs->n_files == cs->cap_files) {
        size_t nc = cs->cap_files ? cs->cap_files * 2 : 8;
        cfile_t *nf = realloc(cs->files, nc * sizeof *nf);
        if (!nf) return VG_ENOMEM;
        cs->files = nf;
        cs->cap_files = nc;
    }
    char p[4096];
    uint32_t seq = ++cs->next_seq;
    snprintf(p, sizeof p, "%s/%08u", cs->dir, seq);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return VG_EIO;
    if (ftruncate(fd, (off_t)cs->file_bytes) != 0) {
        close(fd);
        unlink(p);
        return VG_EIO;
    }
    void *base = mmap(NULL, cs->file_bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        close(fd);
        unlink(p);
        return VG_ENOMEM;
    }
    cs->files[cs->n_files] = (cfile_t){.fd = fd, .base = base, .used = 0, .maxt = INT64_MIN, .seq = seq, .live = true};
    cs->cur = cs->n_files++;
    return 0;
}

static void le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int tsdb__cstore_put(tsdb__cstore_t *cs, uint64_t ref, int64_t mint, int64_t maxt, uint8_t enc,
                     const uint8_t *data, uint32_t len, tsdb__chunk_t *c) {
    if (len > TSDB_CHUNK_MAX_BYTES) return VG_EINVAL;
    c->mint = mint;
    c->maxt = maxt;
    c->len = (uint16_t)len;
    c->enc = enc;
    if (!cs->dir) {
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy) return VG_ENOMEM;
        memcpy(copy, data, len);
        c->data = copy;
        c->file = TSDB__HEAP;
        return 0;
    }
    uint8_t frame[FRAME_HDR + TSDB_CHUNK_MAX_BYTES + 4];
    size_t flen = FRAME_HDR + (size_t)len + 4;
    le64(frame, ref);
    le64(frame + 8, (uint64_t)mint);
    le64(frame + 16, (uint64_t)maxt);
    uint32_t lenc = len | (uint32_t)enc << 24; /* encoding in the top byte */
    for (int i = 0; i < 4; i++) frame[24 + i] = (uint8_t)(lenc >> (8 * i));
    memcpy(frame + FRAME_HDR, data, len);
    uint32_t crc = vg_crc32c(frame, FRAME_HDR + len);
    for (int i = 0; i < 4; i++) frame[FRAME_HDR + len + i] = (uint8_t)(crc >> (8 * i));

    pthread_mutex_lock(&cs->mu);
    int rc = 0;
    if (cs->cur == SIZE_MAX || cs->files[cs->cur].used + flen > cs->file_bytes) rc = new_file(cs);
    if (rc == 0) {
        cfile_t *f = &cs->files[cs->cur];
        size_t done = 0;
        while (done < flen) {
            ssize_t w = pwrite(f->fd, frame + done, flen - done, (off_t)(f->used + done));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                rc = VG_EIO;
                break;
            }
            done += (size_t)w;
        }
        if (rc == 0) {
            c->data = f->base + f->used + FRAME_HDR;
            c->file = (uint32_t)cs->cur;
            f->used += flen;
            if (maxt > f->maxt) f->maxt = maxt;
        }
    }
    pthread_mutex_unlock(&cs->mu);
    if (rc == 0) return 0;
    /* Disk trouble: keep the chunk on the heap rather than losing it. */
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return VG_ENOMEM;
    memcpy(copy, data, len);
    c->data = copy;
    c->file = TSDB__HEAP;
    return 0;
}

void tsdb__cstore_release(tsdb__cstore_t *cs, const tsdb__chunk_t *c) {
    (void)cs;
    if (c->file == TSDB__HEAP) free((void *)c->data);
}

void tsdb__cstore_gc(tsdb__cstore_t *cs, int64_t cutoff) {
    if (!cs->dir) return;
    pthread_mutex_lock(&cs->mu);
    for (size_t i = 0; i < cs->n_files; i++) {
        cfile_t *f = &cs->files[i];
        if (f->live && i != cs->cur && f->maxt < cutoff) close_file(cs, f, true);
    }
    pthread_mutex_unlock(&cs->mu);
}

uint64_t tsdb__cstore_files(tsdb__cstore_t *cs) {
    pthread_mutex_lock(&cs->mu);
    uint64_t n = 0;
    for (size_t i = 0; i < cs->n_files; i++) n += cs->files[i].live;
    pthread_mutex_unlock(&cs->mu);
    return n;
}
