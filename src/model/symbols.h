/* The symbol table: interns strings so every label name and value is stored once per process and
 * label sets can compare strings by pointer first. Interned strings live until model_symtab_free().
 * Thread-safe (one mutex; interning happens only when a series is created). */
#ifndef VG_MODEL_SYMBOLS_H
#define VG_MODEL_SYMBOLS_H

#include <stddef.h>

typedef struct model_symtab model_symtab_t;

/* owned; free with model_symtab_free(). NULL on ENOMEM. */
model_symtab_t *model_symtab_new(void);
void model_symtab_free(model_symtab_t *t);

/* The interned copy of s[0..len) (NUL-terminated, valid until model_symtab_free), or NULL on ENOMEM. */
const char *model_symtab_intern(model_symtab_t *t, const char *s, size_t len);

/* The interned copy of s[0..len) if it was interned before, else NULL (never inserts). */
const char *model_symtab_find(model_symtab_t *t, const char *s, size_t len);

/* Number of distinct strings and bytes held (strings + table). */
size_t model_symtab_count(model_symtab_t *t);
size_t model_symtab_bytes(model_symtab_t *t);

#endif
