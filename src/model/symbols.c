/* Symbol table: open-addressing hash set of string pointers (XXH3), strings packed into 64 KiB slabs.
 * Invariant: the table is at most 3/4 full; slabs are never moved, so returned pointers stay valid. */
#include "model/symbols.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SLAB 65536

typedef struct slab {
    struct slab *next;
    size_t used, cap;
    char data[];
} slab_t;

typedef struct entry {
    const char *s;
    uint32_t len;
    uint32_t hash; /* low 32 bits, to skip most memcmp */
} entry_t;

struct model_symtab {
    pthread_mutex_t mu;
    entry_t *tab;
    size_t cap, n, bytes;
    slab_t *slabs;
};

model_symtab_t *model_symtab_new(void) {
    model_symtab_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->cap = 1024;
    t->tab = calloc(t->cap, sizeof *t->tab);
    if (!t->tab) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void model_symtab_free(model_symtab_t *t) {
    if (!t) return;
    for (slab_t *s = t->slabs, *nx; s; s = nx) {
        nx = s->next;
        free(s);
    }
    free(t->tab);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static const char *store(model_symtab_t *t, const char *s, size_t len) {
    slab_t *sl = t->slabs;
    if (!sl || sl->cap - sl->used < len + 1) {
        size_t cap = len + 1 > SLAB / 4 ? len + 1 : SLAB;
        slab_t *ns = malloc(sizeof *ns + cap);
        if (!ns) return NULL;
        ns->used = 0;
        ns->cap = cap;
        if (cap == SLAB || !sl) {
            ns->next = sl;
            t->slabs = ns;
        } else { /* big string: keep the current slab in front for small ones */
            ns->next = sl->next;
            sl->next = ns;
        }
        t->bytes += sizeof *ns + cap;
        sl = ns;
    }
    char *p = sl->data + sl->used;
    memcpy(p, s, len);
    p[len] = '\0';
    sl->used += len + 1;
    return p;
}

static int grow(model_symtab_t *t) {
    size_t ncap = t->cap * 2;
    entry_t *nt = calloc(ncap, sizeof *nt);
    if (!nt) return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->tab[i].s) continue;
        uint64_t h = XXH3_64bits(t->tab[i].s, t->tab[i].len);
        size_t j = (size_t)h & (ncap - 1);
        while (nt[j].s) j = (j + 1) & (ncap - 1);
        nt[j] = t->tab[i];
    }
    free(t->tab);
    t->tab = nt;
    t->cap = ncap;
    return 0;
}

const char *model_symtab_intern(model_symtab_t *t, const char *s, size_t len) {
    if (len > UINT32_MAX) return NULL;
    uint64_t h = XXH3_64bits(s, len);
    pthread_mutex_lock(&t->mu);
    const char *res = NULL;
    size_t j = (size_t)h & (t->cap - 1);
    for (;;) {
        entry_t *e = &t->tab[j];
        if (!e->s) break;
        if (e->hash == (uint32_t)h && e->len == len && memcmp(e->s, s, len) == 0) {
            res = e->s;
            goto out;
        }
        j = (j + 1) & (t->cap - 1);
    }
    if ((t->n + 1) * 4 > t->cap * 3) {
        if (grow(t) != 0) goto out;
        j = (size_t)h & (t->cap - 1);
        while (t->tab[j].s) j = (j + 1) & (t->cap - 1);
    }
    res = store(t, s, len);
    if (res) {
        t->tab[j] = (entry_t){res, (uint32_t)len, (uint32_t)h};
        t->n++;
    }
out:
    pthread_mutex_unlock(&t->mu);
    return res;
}

const char *model_symtab_find(model_symtab_t *t, const char *s, size_t len) {
    uint64_t h = XXH3_64bits(s, len);
    const char *res = NULL;
    pthread_mutex_lock(&t->mu);
    for (size_t j = (size_t)h & (t->cap - 1); t->tab[j].s; j = (j + 1) & (t->cap - 1)) {
        entry_t *e = &t->tab[j];
        if (e->hash == (uint32_t)h && e->len == len && memcmp(e->s, s, len) == 0) {
            res = e->s;
            break;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return res;
}

size_t model_symtab_count(model_symtab_t *t) {
    pthread_mutex_lock(&t->mu);
    size_t n = t->n;
    pthread_mutex_unlock(&t->mu);
    return n;
}

size_t model_symtab_bytes(model_symtab_t *t) {
    pthread_mutex_lock(&t->mu);
    size_t n = t->bytes + t->cap * sizeof(entry_t);
    pthread_mutex_unlock(&t->mu);
    return n;
}
