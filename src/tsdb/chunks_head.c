/* Head chunk files: full chunks leave the heap for files under <data>/chunks_head/ that are mapped
 * read-only, so they cost page cache (reclaimable) instead of resident anonymous memory.
 *
 * Each file is created at its full size (sparse) and mapped once; chunks are appended with pwrite(2)
 * and read through the mapping (coherent on Linux). Invariants: a chunk's bytes never change after put;
 * a file is unmapped and deleted only by cstore_gc when every chunk in it ends before the cutoff, which
 * the head calls with its trunc_lock held exclusively (no reader holds pointers then). The files are
 * scratch space: the head is rebuilt from the WAL at start, so they are removed on open. Frame layout in
 * docs/format/chunks.md ("Where chunks live") and docs/storage.md; frame_encode and frame_decode below
 * are the only code that knows it. */
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
#define FRAME_MAX (FRAME_HDR + TSDB_CHUNK_MAX_BYTES + 4)

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
static uint64_t get_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Lays out one frame in out (FRAME_MAX bytes); returns its length. */
static size_t frame_encode(uint8_t *out, uint64_t ref, int64_t mint, int64_t maxt, uint8_t enc, const uint8_t *data,
                           uint32_t len) {
    le64(out, ref);
    le64(out + 8, (uint64_t)mint);
    le64(out + 16, (uint64_t)maxt);
    uint32_t lenc = len | (uint32_t)enc << 24; /* encoding in the top byte */
    for (int i = 0; i < 4; i++) out[24 + i] = (uint8_t)(lenc >> (8 * i));
    memcpy(out + FRAME_HDR, data, len);
    uint32_t crc = vg_crc32c(out, FRAME_HDR + len);
    for (int i = 0; i < 4; i++) out[FRAME_HDR + len + i] = (uint8_t)(crc >> (8 * i));
    return FRAME_HDR + (size_t)len + 4;
}

/* Reads the frame at p (avail bytes) of file seq at offset off: its length, or VG_ECORRUPT saying what
 * is wrong where. */
static long frame_decode(const uint8_t *p, size_t avail, uint32_t seq, uint64_t off, tsdb__chunk_t *c,
                         vg_error_t *err) {
    if (avail < FRAME_HDR + 4)
        return VG_CORRUPT(err, "head chunk file %08u offset %llu: frame header truncated: %zu bytes left, need %d",
                          seq, (unsigned long long)off, avail, FRAME_HDR + 4);
    uint32_t lenc = (uint32_t)get_le(p + 24, 4), len = lenc & 0xffffff;
    uint8_t enc = (uint8_t)(lenc >> 24);
    if (len > TSDB_CHUNK_MAX_BYTES || (size_t)len + FRAME_HDR + 4 > avail)
        return VG_CORRUPT(err, "head chunk file %08u offset %llu: chunk length %u (at most %d, %zu bytes left)", seq,
                          (unsigned long long)off, len, TSDB_CHUNK_MAX_BYTES, avail - FRAME_HDR - 4);
    if (enc != TSDB_ENC_XOR && enc != TSDB_ENC_DENSE)
        return VG_CORRUPT(err, "head chunk file %08u offset %llu: encoding %u (expected %d or %d)", seq,
                          (unsigned long long)off, enc, TSDB_ENC_XOR, TSDB_ENC_DENSE);
    uint32_t stored = (uint32_t)get_le(p + FRAME_HDR + len, 4), crc = vg_crc32c(p, FRAME_HDR + len);
    if (stored != crc)
        return VG_CORRUPT(err, "head chunk file %08u offset %llu: bad CRC32C: stored %08x, computed %08x", seq,
                          (unsigned long long)off, stored, crc);
    c->mint = (int64_t)get_le(p + 8, 8);
    c->maxt = (int64_t)get_le(p + 16, 8);
    c->enc = enc;
    c->len = (uint16_t)len;
    c->data = p + FRAME_HDR;
    return (long)(FRAME_HDR + len + 4);
}

int tsdb__cstore_verify(tsdb__cstore_t *cs, uint64_t *n_frames, vg_error_t *err) {
    *n_frames = 0;
    int rc = 0;
    pthread_mutex_lock(&cs->mu);
    for (size_t i = 0; i < cs->n_files && rc == 0; i++) {
        const cfile_t *f = &cs->files[i];
        for (uint64_t off = 0; f->live && off < f->used && rc == 0;) {
            tsdb__chunk_t c;
            long n = frame_decode(f->base + off, (size_t)(f->used - off), f->seq, off, &c, err);
            if (n < 0) {
                rc = (int)n;
                break;
            }
            off += (uint64_t)n;
            ++*n_frames;
        }
    }
    pthread_mutex_unlock(&cs->mu);
    return rc;
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
    uint8_t frame[FRAME_MAX];
    size_t flen = frame_encode(frame, ref, mint, maxt, enc, data, len);

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
