/* Chunk segment files of a block, both directions: chunks/000001, 000002, ... each starting with an
 * 8-byte header (magic 0x85BD40DD, version 1, three zero bytes) followed by chunks laid end to end as
 * uvarint data length | encoding byte | data | CRC32C(encoding byte + data). A chunk reference is the
 * segment's 0-based position << 32 | the chunk's byte offset in it.
 *
 * Invariants: the writer never lets a segment grow past 2^32 bytes (an offset must fit 32 bits) and
 * cuts a new one before a chunk would take it past seg_bytes (a segment always holds at least one
 * chunk). The reader checks every reference against the mapping and the CRC before handing out bytes.
 * Layout: docs/format/blocks.md. */
#include "tsdb/block_int.h"

#include "util/crc32c.h"
#include "util/fs.h"
#include "util/varint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int tsdb__map_open(const char *path, tsdb__map_t *m, vg_error_t *err) {
    m->p = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vg_error_set(err, errno == ENOENT ? VG_ENOTFOUND : VG_EIO, "open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return vg_error_set(err, VG_EIO, "stat %s: %s", path, strerror(e));
    }
    if (st.st_size == 0) {
        close(fd);
        return 0;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return vg_error_set(err, VG_EIO, "mmap %s: %s", path, strerror(e));
    m->p = p;
    m->len = (size_t)st.st_size;
    return 0;
}

void tsdb__map_close(tsdb__map_t *m) {
    if (m->len) munmap((void *)m->p, m->len);
    m->p = NULL;
    m->len = 0;
}

int tsdb__chunks_open(const char *dir, tsdb__chunks_t *c, vg_error_t *err) {
    memset(c, 0, sizeof *c);
    if (!(c->dir = strdup(dir))) return vg_error_set(err, VG_ENOMEM, "%s: out of memory", dir);
    uint64_t *nums;
    size_t n;
    int rc = vg_fs_list_numbered(dir, "", &nums, &n, err);
    if (rc) return tsdb__chunks_close(c), rc;
    for (size_t i = 0; i < n && !rc; i++)
        if (nums[i] != i + 1)
            rc = VG_CORRUPT(err, "%s: segment %06llu is missing (segments are numbered from 000001 without gaps)",
                            dir, (unsigned long long)(i + 1));
    if (!rc && n && !(c->seg = calloc(n, sizeof *c->seg))) rc = vg_error_set(err, VG_ENOMEM, "%s: out of memory", dir);
    for (size_t i = 0; i < n && !rc; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%06llu", dir, (unsigned long long)nums[i]);
        if ((rc = tsdb__map_open(path, &c->seg[i], err))) break;
        c->n_seg = i + 1;
        const tsdb__map_t *m = &c->seg[i];
        if (m->len < TSDB__CHUNKS_HDR) rc = VG_CORRUPT(err, "%s: %zu bytes, shorter than the 8-byte header", path, m->len);
        else if (tsdb__be32(m->p) != TSDB__CHUNKS_MAGIC)
            rc = VG_CORRUPT(err, "%s: offset 0: magic 0x%08x, want 0x%08x", path, tsdb__be32(m->p), TSDB__CHUNKS_MAGIC);
        else if (m->p[4] != 1) rc = VG_CORRUPT(err, "%s: offset 4: version %u, want 1", path, m->p[4]);
    }
    free(nums);
    if (rc) tsdb__chunks_close(c);
    return rc;
}

void tsdb__chunks_close(tsdb__chunks_t *c) {
    for (size_t i = 0; i < c->n_seg; i++) tsdb__map_close(&c->seg[i]);
    free(c->seg);
    free(c->dir);
    memset(c, 0, sizeof *c);
}

uint64_t tsdb__chunks_bytes(const tsdb__chunks_t *c) {
    uint64_t n = 0;
    for (size_t i = 0; i < c->n_seg; i++) n += c->seg[i].len;
    return n;
}

int tsdb__chunks_get(const tsdb__chunks_t *c, uint64_t ref, uint8_t *enc, const uint8_t **data, uint32_t *len,
                     vg_error_t *err) {
    uint64_t seg = ref >> 32, off = ref & UINT32_MAX;
    if (seg >= c->n_seg) return VG_CORRUPT(err, "%s: chunk ref 0x%llx names segment %06llu, the block has %zu", c->dir,
                                           (unsigned long long)ref, (unsigned long long)seg + 1, c->n_seg);
    const tsdb__map_t *m = &c->seg[seg];
    if (off < TSDB__CHUNKS_HDR || off >= m->len)
        return VG_CORRUPT(err, "%s/%06llu: chunk offset %llu outside the segment (%zu bytes)", c->dir,
                          (unsigned long long)seg + 1, (unsigned long long)off, m->len);
    uint64_t n;
    size_t k = vg_uvarint_get(m->p + off, m->p + m->len, &n);
    if (!k || n > m->len || off + k + 1 + n + 4 > m->len)
        return VG_CORRUPT(err, "%s/%06llu: offset %llu: chunk length runs past the end of the segment (%zu bytes)",
                          c->dir, (unsigned long long)seg + 1, (unsigned long long)off, m->len);
    const uint8_t *p = m->p + off + k;
    uint32_t want = tsdb__be32(p + 1 + n), got = vg_crc32c(p, 1 + n);
    if (want != got)
        return VG_CORRUPT(err, "%s/%06llu: offset %llu: chunk checksum 0x%08x, computed 0x%08x", c->dir,
                          (unsigned long long)seg + 1, (unsigned long long)off, want, got);
    *enc = p[0];
    *data = p + 1;
    *len = (uint32_t)n;
    return 0;
}

/* ---- writer ---- */

int tsdb__chunk_writer_init(tsdb__chunk_writer_t *w, const char *dir, uint64_t seg_bytes, vg_error_t *err) {
    memset(w, 0, sizeof *w);
    w->fd = -1;
    w->seg_bytes = seg_bytes ? seg_bytes : TSDB__SEGMENT_BYTES;
    if (w->seg_bytes > UINT32_MAX) w->seg_bytes = UINT32_MAX;
    w->cap = 1 << 20;
    w->dir = strdup(dir);
    w->buf = malloc(w->cap);
    if (!w->dir || !w->buf) {
        tsdb__chunk_writer_deinit(w);
        return vg_error_set(err, VG_ENOMEM, "%s: out of memory", dir);
    }
    return vg_fs_mkdir_p(dir, err);
}

static int flush(tsdb__chunk_writer_t *w, vg_error_t *err) {
    if (!w->n) return 0;
    int rc = vg_fs_write_all(w->fd, w->buf, w->n, err);
    w->n = 0;
    return rc;
}

static int finish_segment(tsdb__chunk_writer_t *w, vg_error_t *err) {
    if (w->fd < 0) return 0;
    int rc = flush(w, err);
    if (!rc && fsync(w->fd) != 0)
        rc = vg_error_set(err, VG_EIO, "fsync %s/%06u: %s", w->dir, w->seq + 1, strerror(errno));
    close(w->fd);
    w->fd = -1;
    w->seq++;
    return rc;
}

static int put(tsdb__chunk_writer_t *w, const void *p, size_t n, vg_error_t *err) {
    if (w->n + n > w->cap) {
        int rc = flush(w, err);
        if (rc) return rc;
        if (n > w->cap) return vg_fs_write_all(w->fd, p, n, err);
    }
    memcpy(w->buf + w->n, p, n);
    w->n += n;
    return 0;
}

int tsdb__chunk_writer_put(tsdb__chunk_writer_t *w, uint8_t enc, const uint8_t *data, uint32_t len, uint64_t *ref,
                           vg_error_t *err) {
    uint8_t hdr[VG_VARINT_MAX + 1], crc[4];
    size_t k = vg_uvarint_put(hdr, len);
    hdr[k++] = enc;
    uint64_t total = k + (uint64_t)len + 4;
    if (w->fd >= 0 && w->off + total > w->seg_bytes && w->off > TSDB__CHUNKS_HDR) {
        int rc = finish_segment(w, err);
        if (rc) return rc;
    }
    if (w->fd < 0) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%06u", w->dir, w->seq + 1);
        w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (w->fd < 0) return vg_error_set(err, VG_EIO, "create %s: %s", path, strerror(errno));
        uint8_t h[TSDB__CHUNKS_HDR] = {0};
        tsdb__put_be32(h, TSDB__CHUNKS_MAGIC);
        h[4] = 1;
        int rc = put(w, h, sizeof h, err);
        if (rc) return rc;
        w->off = TSDB__CHUNKS_HDR;
    }
    if (w->off + total > (uint64_t)UINT32_MAX + 1)
        return vg_error_set(err, VG_ELIMIT, "%s/%06u: a chunk of %u bytes does not fit a segment", w->dir, w->seq + 1, len);
    *ref = (uint64_t)w->seq << 32 | w->off;
    tsdb__put_be32(crc, vg_crc32c_update(vg_crc32c(&enc, 1), data, len));
    int rc = put(w, hdr, k, err);
    if (!rc) rc = put(w, data, len, err);
    if (!rc) rc = put(w, crc, 4, err);
    w->off += total;
    return rc;
}

int tsdb__chunk_writer_finish(tsdb__chunk_writer_t *w, vg_error_t *err) {
    int rc = finish_segment(w, err);
    if (!rc) rc = vg_fs_fsync_dir(w->dir, err);
    return rc;
}

void tsdb__chunk_writer_deinit(tsdb__chunk_writer_t *w) {
    if (w->fd >= 0) close(w->fd);
    free(w->buf);
    free(w->dir);
    memset(w, 0, sizeof *w);
    w->fd = -1;
}
