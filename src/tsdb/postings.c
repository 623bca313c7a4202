/* Postings: for every label pair, the sorted list of ids of the series carrying it.
 *
 * Two levels of open-addressing maps keyed by interned string addresses: name -> name entry, and per
 * name, value -> id vector. Invariant: every id vector is sorted and duplicate-free; ids mostly arrive
 * in increasing order, so adding is an O(1) push. Not thread-safe (the head's index lock guards it). */
#include "tsdb/tsdb_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct ventry {
    const char *value;
    tsdb__idvec_t ids;
} ventry_t;

typedef struct nentry {
    const char *name;
    ventry_t *vals; /* open addressing, cap power of two */
    size_t cap, n;
} nentry_t;

struct tsdb__postings {
    nentry_t *names; /* open addressing */
    size_t cap, n;
};

static inline size_t ptr_hash(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (size_t)x;
}

int tsdb__idvec_push(tsdb__idvec_t *v, uint32_t id) {
    if (v->n == v->cap) {
        size_t nc = v->cap < 16 ? v->cap + 4 : v->cap + v->cap / 4; /* slack is memory per series */
        uint32_t *nv = realloc(v->v, nc * sizeof *nv);
        if (!nv) return VG_ENOMEM;
        v->v = nv;
        v->cap = nc;
    }
    v->v[v->n++] = id;
    return 0;
}

int tsdb__idvec_insert(tsdb__idvec_t *v, uint32_t id) {
    if (v->n == 0 || v->v[v->n - 1] < id) return tsdb__idvec_push(v, id);
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v->v[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    if (lo < v->n && v->v[lo] == id) return 0;
    if (tsdb__idvec_push(v, 0) != 0) return VG_ENOMEM;
    memmove(v->v + lo + 1, v->v + lo, (v->n - 1 - lo) * sizeof *v->v);
    v->v[lo] = id;
    return 0;
}

void tsdb__idvec_free(tsdb__idvec_t *v) {
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}

tsdb__postings_t *tsdb__postings_new(void) {
    tsdb__postings_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->cap = 64;
    p->names = calloc(p->cap, sizeof *p->names);
    if (!p->names) {
        free(p);
        return NULL;
    }
    return p;
}

void tsdb__postings_free(tsdb__postings_t *p) {
    if (!p) return;
    for (size_t i = 0; i < p->cap; i++) {
        nentry_t *ne = &p->names[i];
        if (!ne->name) continue;
        for (size_t j = 0; j < ne->cap; j++)
            if (ne->vals[j].value) free(ne->vals[j].ids.v);
        free(ne->vals);
    }
    free(p->names);
    free(p);
}

static nentry_t *find_name(const tsdb__postings_t *p, const char *name) {
    size_t m = p->cap - 1, i = ptr_hash(name) & m;
    while (p->names[i].name) {
        if (p->names[i].name == name) return &p->names[i];
        i = (i + 1) & m;
    }
    return NULL;
}

static ventry_t *find_value(const nentry_t *ne, const char *value) {
    if (!ne->cap) return NULL;
    size_t m = ne->cap - 1, i = ptr_hash(value) & m;
    while (ne->vals[i].value) {
        if (ne->vals[i].value == value) return &ne->vals[i];
        i = (i + 1) & m;
    }
    return NULL;
}

static int grow_names(tsdb__postings_t *p) {
    size_t nc = p->cap * 2;
    nentry_t *nn = calloc(nc, sizeof *nn);
    if (!nn) return VG_ENOMEM;
    for (size_t i = 0; i < p->cap; i++) {
        if (!p->names[i].name) continue;
        size_t j = ptr_hash(p->names[i].name) & (nc - 1);
        while (nn[j].name) j = (j + 1) & (nc - 1);
        nn[j] = p->names[i];
    }
    free(p->names);
    p->names = nn;
    p->cap = nc;
    return 0;
}

static int grow_values(nentry_t *ne) {
    size_t nc = ne->cap ? ne->cap * 2 : 8;
    ventry_t *nv = calloc(nc, sizeof *nv);
    if (!nv) return VG_ENOMEM;
    for (size_t i = 0; i < ne->cap; i++) {
        if (!ne->vals[i].value) continue;
        size_t j = ptr_hash(ne->vals[i].value) & (nc - 1);
        while (nv[j].value) j = (j + 1) & (nc - 1);
        nv[j] = ne->vals[i];
    }
    free(ne->vals);
    ne->vals = nv;
    ne->cap = nc;
    return 0;
}

int tsdb__postings_add(tsdb__postings_t *p, const char *name, const char *value, uint32_t id) {
    nentry_t *ne = find_name(p, name);
    if (!ne) {
        if ((p->n + 1) * 2 > p->cap && grow_names(p) != 0) return VG_ENOMEM;
        size_t m = p->cap - 1, i = ptr_hash(name) & m;
        while (p->names[i].name) i = (i + 1) & m;
        ne = &p->names[i];
        ne->name = name;
        p->n++;
    }
    ventry_t *ve = find_value(ne, value);
    if (!ve) {
        if ((ne->n + 1) * 2 > ne->cap && grow_values(ne) != 0) return VG_ENOMEM;
        size_t m = ne->cap - 1, i = ptr_hash(value) & m;
        while (ne->vals[i].value) i = (i + 1) & m;
        ve = &ne->vals[i];
        ve->value = value;
        ne->n++;
    }
    return tsdb__idvec_insert(&ve->ids, id);
}

const tsdb__idvec_t *tsdb__postings_get(const tsdb__postings_t *p, const char *name, const char *value) {
    nentry_t *ne = find_name(p, name);
    if (!ne) return NULL;
    ventry_t *ve = find_value(ne, value);
    return ve && ve->ids.n ? &ve->ids : NULL;
}

int tsdb__postings_each_value(const tsdb__postings_t *p, const char *name,
                              int (*fn)(void *ctx, const char *value, const tsdb__idvec_t *ids), void *ctx) {
    nentry_t *ne = find_name(p, name);
    if (!ne) return 0;
    for (size_t i = 0; i < ne->cap; i++) {
        if (!ne->vals[i].value || !ne->vals[i].ids.n) continue;
        int rc = fn(ctx, ne->vals[i].value, &ne->vals[i].ids);
        if (rc) return rc;
    }
    return 0;
}

int tsdb__postings_names(const tsdb__postings_t *p, const char ***out, size_t *n) {
    *out = NULL;
    *n = 0;
    const char **v = malloc((p->n ? p->n : 1) * sizeof *v);
    if (!v) return VG_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < p->cap; i++) {
        const nentry_t *ne = &p->names[i];
        if (!ne->name) continue;
        bool any = false;
        for (size_t j = 0; j < ne->cap && !any; j++) any = ne->vals[j].value && ne->vals[j].ids.n;
        if (any) v[k++] = ne->name;
    }
    *out = v;
    *n = k;
    return 0;
}

static bool is_dead(const uint32_t *dead, size_t n, uint32_t id) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (dead[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && dead[lo] == id;
}

void tsdb__postings_remove(tsdb__postings_t *p, const uint32_t *dead, size_t n_dead) {
    if (!n_dead) return;
    for (size_t i = 0; i < p->cap; i++) {
        nentry_t *ne = &p->names[i];
        if (!ne->name) continue;
        for (size_t j = 0; j < ne->cap; j++) {
            tsdb__idvec_t *v = &ne->vals[j].ids;
            if (!ne->vals[j].value) continue;
            size_t k = 0;
            for (size_t x = 0; x < v->n; x++)
                if (!is_dead(dead, n_dead, v->v[x])) v->v[k++] = v->v[x];
            v->n = k;
            /* Empty lists stay as tombstone entries (values are interned and cheap); listing skips them. */
        }
    }
}
