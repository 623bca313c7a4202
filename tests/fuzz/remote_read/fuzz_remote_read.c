/* Fuzz target: any bytes given to the ReadRequest decoder — as a snappy body and as raw protobuf, with
 * no limits and with tight ones — decode or fail with a message, never crash, leak or read outside the
 * input. Checks: limits hold, error offsets lie inside the input, a decoded request encodes again and
 * that encoding decodes to the same request, and negotiation answers one of the two types or an error. */
#include "remote/remote.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const remote_read_request_t *a, const remote_read_request_t *b) {
    if (a->n_queries != b->n_queries || a->n_accepted != b->n_accepted) abort();
    for (size_t i = 0; i < a->n_accepted; i++)
        if (a->accepted[i] != b->accepted[i]) abort();
    for (size_t i = 0; i < a->n_queries; i++) {
        const remote_read_query_t *x = &a->queries[i], *y = &b->queries[i];
        if (x->start_ms != y->start_ms || x->end_ms != y->end_ms || x->n_matchers != y->n_matchers) abort();
        for (size_t k = 0; k < x->n_matchers; k++)
            if (x->matchers[k].type != y->matchers[k].type || strcmp(x->matchers[k].name, y->matchers[k].name) ||
                strcmp(x->matchers[k].value, y->matchers[k].value))
                abort();
    }
}

static void check(const remote_read_request_t *r, int rc, const vg_error_t *err, size_t len, int raw,
                  const remote_read_limits_t *lim, vg_arena_t *a) {
    if (rc) {
        if (err->msg[0] == '\0' || err->code != rc) abort();
        if (raw && rc == VG_EINVAL && (err->pos < 0 || (size_t)err->pos > len)) abort();
        return;
    }
    if (lim && lim->max_queries && r->n_queries > lim->max_queries) abort();
    for (size_t i = 0; i < r->n_queries; i++) {
        if (lim && lim->max_matchers && r->queries[i].n_matchers > lim->max_matchers) abort();
        for (size_t k = 0; k < r->queries[i].n_matchers; k++)
            if (r->queries[i].matchers[k].type < 0 || r->queries[i].matchers[k].type > 3) abort();
    }
    int type;
    vg_error_t nerr;
    if (remote_read_negotiate(r, &type, &nerr) == 0 && type != REMOTE_READ_SAMPLES && type != REMOTE_READ_STREAMED_XOR_CHUNKS)
        abort();
    /* names with a NUL byte are cut by the C strings they become: skip the round trip for those */
    vg_buf_t pb = VG_BUF_INIT;
    if (remote_read_request_encode(r, &pb)) abort();
    remote_read_request_t again;
    vg_error_t e2;
    if (remote_read_request_decode_pb(pb.data ? pb.data : "", pb.len, NULL, a, &again, &e2)) abort();
    for (size_t i = 0; i < r->n_accepted; i++)
        if (r->accepted[i] < 0) goto out; /* values past int32 are not kept exactly */
    same(r, &again);
out:
    vg_buf_deinit(&pb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1); /* exact size: ASan flags any over-read */
    if (!buf) return 0;
    memcpy(buf, data, size);
    static const remote_read_limits_t tight = {.max_decoded = 4096, .max_queries = 3, .max_matchers = 4};
    for (int pass = 0; pass < 2; pass++) {
        const remote_read_limits_t *lim = pass ? &tight : NULL;
        vg_arena_t a;
        vg_arena_init(&a, 4096);
        remote_read_request_t r;
        vg_error_t err;
        int rc = remote_read_request_decode(buf, size, lim, &a, &r, &err);
        check(&r, rc, &err, size, 0, lim, &a);
        rc = remote_read_request_decode_pb(buf, size, lim, &a, &r, &err);
        check(&r, rc, &err, size, 1, lim, &a);
        vg_arena_deinit(&a);
    }
    free(buf);
    return 0;
}
