/* Internal to the OTLP decoders (otlp_pb.c, otlp_json.c) and otlp.c: the AnyValue tree both decoders
 * build for an attribute value, and its one stringification. */
#ifndef VG_INGEST_OTLP_INT_H
#define VG_INGEST_OTLP_INT_H

#include "ingest/otlp.h"

enum { OTLP_ANY_EMPTY, OTLP_ANY_STR, OTLP_ANY_BOOL, OTLP_ANY_INT, OTLP_ANY_DOUBLE, OTLP_ANY_ARRAY, OTLP_ANY_KVLIST,
       OTLP_ANY_BYTES };

typedef struct otlp__any {
    int kind;
    ingest_str_t s; /* STR (UTF-8 text), BYTES (raw bytes) */
    int64_t i;
    double d;
    bool b;
    struct otlp__any *items; /* ARRAY, KVLIST: n values */
    ingest_str_t *keys;      /* KVLIST: n keys */
    size_t n;
} otlp__any_t;

/* v as pdata's Value.AsString gives it (see ingest_otlp_attr_t), into the arena. VG_ENOMEM or 0. */
int otlp__any_string(vg_arena_t *a, const otlp__any_t *v, ingest_str_t *out);

/* Base64 (standard alphabet, padded) of src into the arena. */
char *otlp__base64(vg_arena_t *a, const uint8_t *src, size_t len, size_t *out_len);

#endif
