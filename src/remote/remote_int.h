/* remote/'s internals shared between its files. Not a public header. */
#ifndef VG_REMOTE_INT_H
#define VG_REMOTE_INT_H

#include "remote/remote.h"

/* Reads a success answer of the query API (vector, matrix, scalar, string) into *out (arena) without a
 * JSON tree (answer.c). Returns 0, or 1 when the body is anything else — the caller then parses it the
 * general way; nothing it leaves in the arena is referenced. */
int remote__answer_read(const char *body, size_t len, int64_t t_ms, vg_arena_t *arena, promql_result_t **out);

#endif
