/* Fuzz target: any bytes given to the exposition parser, in both formats and with tight limits,
 * produce entries or a located error — never a crash, a leak or a read outside the input. Checks:
 * every returned slice lies inside the input or the scratch buffer, kinds match return codes,
 * errors carry "line L, column C" and are sticky, label counts respect the label storage, and
 * NaN values have the canonical bits. */
#include "ingest/ingest.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int in(ingest_str_t s, const char *a, size_t alen, const char *b, size_t blen) {
    if (s.len == 0) return 1;
    return (s.ptr >= a && s.ptr + s.len <= a + alen) || (s.ptr >= b && s.ptr + s.len <= b + blen);
}

static void run(ingest_expfmt_format_t fmt, const char *buf, size_t len, const ingest_expfmt_limits_t *lim,
                size_t labels_cap, size_t scratch_cap) {
    ingest_label_t labels[16];
    char scratch[256];
    ingest_expfmt_parser_t p;
    ingest_expfmt_init(&p, fmt, buf, len, lim, labels, labels_cap, scratch, scratch_cap);
    ingest_expfmt_entry_t e;
    vg_error_t err;
    for (size_t guard = 0;; guard++) {
        if (guard > len + 1) abort(); /* every entry consumes at least one byte */
        int rc = ingest_expfmt_next(&p, &e, &err);
        if (rc < 0) {
            if (err.code != rc || strncmp(err.msg, "line ", 5) != 0 || err.line < 1 || err.col < 1) abort();
            if (err.pos < 0 || (size_t)err.pos > len) abort();
            vg_error_t again;
            if (ingest_expfmt_next(&p, &e, &again) != rc || strcmp(again.msg, err.msg) != 0) abort();
            return;
        }
        if (rc == INGEST_EXPFMT_EOF) {
            if (ingest_expfmt_next(&p, &e, NULL) != INGEST_EXPFMT_EOF) abort();
            return;
        }
        if ((int)e.kind != rc || e.line < 1) abort();
        if (!in(e.name, buf, len, scratch, scratch_cap) || !in(e.text, buf, len, scratch, scratch_cap) ||
            !in(e.series, buf, len, scratch, scratch_cap) || !in(e.exemplar_labels, buf, len, scratch, scratch_cap))
            abort();
        if (rc == INGEST_EXPFMT_SERIES) {
            if (e.n_labels > labels_cap || e.name.len == 0) abort();
            for (size_t i = 0; i < e.n_labels; i++)
                if (e.labels[i].name.len == 0 || !in(e.labels[i].name, buf, len, scratch, scratch_cap) ||
                    !in(e.labels[i].value, buf, len, scratch, scratch_cap))
                    abort();
            if (isnan(e.value)) {
                uint64_t bits;
                memcpy(&bits, &e.value, sizeof bits);
                if (bits != INGEST_NORMAL_NAN_BITS) abort();
            }
            if (fmt == INGEST_EXPFMT_TEXT && e.has_exemplar) abort();
        }
        if (rc == INGEST_EXPFMT_UNIT && fmt != INGEST_EXPFMT_OPENMETRICS) abort();
        if (rc == INGEST_EXPFMT_COMMENT && fmt != INGEST_EXPFMT_TEXT) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* exact-size copy: ASan flags any read past the end */
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    run(INGEST_EXPFMT_TEXT, buf, size, NULL, 16, 256);
    run(INGEST_EXPFMT_OPENMETRICS, buf, size, NULL, 16, 256);
    ingest_expfmt_limits_t tight = {.max_line_len = 40, .max_name_len = 8, .max_value_len = 8};
    run(INGEST_EXPFMT_TEXT, buf, size, &tight, 2, 8);
    run(INGEST_EXPFMT_OPENMETRICS, buf, size, &tight, 2, 8);
    free(buf);
    return 0;
}
