/* libFuzzer target: a WAL segment's bytes from disk through framing (CRC32C) and the record decoder;
 * the input as a samples payload through the compressor and back; and a full replay of the input as a
 * segment in a scratch data directory every 64th input. Must never crash, leak or read out of bounds;
 * corruption may only be reported. */
#include "tsdb/tsdb.h"
#include "tsdb/tsdb_int.h"
#include "util/fs.h"
#include "util/log.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_series(void *ctx, uint64_t ref, const model_label_t *l, size_t n) {
    (void)ctx, (void)ref;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += strlen(l[i].name) + strlen(l[i].value);
    return k > (1u << 30) ? VG_EINVAL : 0;
}
static int on_sample(void *ctx, uint64_t ref, int64_t t, uint64_t v) {
    (void)ctx, (void)ref, (void)t, (void)v;
    return 0;
}
static int on_chunk(void *ctx, uint64_t ref, int64_t mint, int64_t maxt, uint8_t enc, uint8_t flags, const uint8_t *d,
                    uint32_t len) {
    (void)ctx, (void)ref, (void)mint, (void)maxt, (void)flags;
    static tsdb_chunk_iter_t it;
    tsdb_chunk_iter_init(&it, enc, d, len);
    while (tsdb_chunk_iter_next(&it)) {
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static unsigned long calls;
    tsdb__rec_handler_t h = {.series = on_series, .sample = on_sample, .chunk = on_chunk};
    /* 1: the bytes as a sequence of framed records (describing what is wrong, as replay does) */
    vg_error_t rerr;
    size_t off = 0;
    while (off < size) {
        long r = tsdb__rec_frame(data + off, size - off, &rerr);
        if (r <= 0) {
            /* also feed the raw payload to the decoder, bypassing the CRC */
            if (size - off > 1) tsdb__rec_decode((uint8_t)(1 + data[off] % 4), data + off + 1, size - off - 1, &h, &rerr);
            break;
        }
        tsdb__rec_decode(data[off], data + off + TSDB__REC_HDR, (size_t)r - TSDB__REC_HDR, &h, &rerr);
        off += (size_t)r;
    }
    /* 1b: the input as a samples payload, compressed as the WAL writer does, decodes exactly as the
     * plain payload does */
    if (size > 0 && size <= (1u << 20)) {
        static ZSTD_CCtx *zc;
        if (!zc) zc = ZSTD_createCCtx();
        tsdb__recbuf_t raw = {0}, z = {0};
        tsdb__rec_raw(&raw, TSDB__REC_SAMPLES, data, size);
        tsdb__rec_compress(&raw, &z, zc);
        if (!raw.failed && !z.failed) {
            int a = tsdb__rec_decode(TSDB__REC_SAMPLES, data, size, &h, NULL);
            int b = tsdb__rec_decode(z.p[0], z.p + TSDB__REC_HDR, z.len - TSDB__REC_HDR, &h, NULL);
            if (a != b || tsdb__rec_frame(z.p, z.len, NULL) != (long)z.len) abort();
        }
        tsdb__recbuf_free(&raw);
        tsdb__recbuf_free(&z);
    }
    /* 2: a real replay (slower: once in a while) */
    if (++calls % 64 == 0) {
        vg_log_set_level(VG_LOG_OFF);
        char dir[] = "/tmp/vigil-fuzz-XXXXXX";
        if (!mkdtemp(dir)) return 0;
        char p[256];
        snprintf(p, sizeof p, "%s/wal", dir);
        vg_error_t err;
        vg_fs_mkdir_p(p, &err);
        snprintf(p, sizeof p, "%s/wal/00000001", dir);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            static const uint8_t hdr[8] = {'V', 'G', 'W', 'L', 1, 0, 0, 0};
            if (write(fd, hdr, 8) == 8 && write(fd, data, size) == (ssize_t)size) {
            }
            close(fd);
        }
        tsdb_options_t o;
        tsdb_options_default(&o);
        o.path = dir;
        o.register_metrics = false;
        o.mmap_chunks = false;
        tsdb_db_t *db = NULL;
        if (tsdb_db_open(&o, &db, &err) == 0) tsdb_db_close(db);
        vg_fs_remove_all(dir, &err);
    }
    return 0;
}
