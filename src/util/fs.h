/* File-system helpers for the storage: directory creation and fsync, whole writes that retry on
 * EINTR and short writes, an advisory lock file, and listing of numbered files. Functions return 0 or a
 * VG_E* code and describe failures (with errno text) in err. */
#ifndef VG_UTIL_FS_H
#define VG_UTIL_FS_H

#include "util/error.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* mkdir -p with mode 0755. */
int vg_fs_mkdir_p(const char *path, vg_error_t *err);
/* fsyncs a directory so entries created/renamed/removed in it are durable. */
int vg_fs_fsync_dir(const char *path, vg_error_t *err);
/* Writes all n bytes (at the current offset), retrying EINTR and short writes. */
int vg_fs_write_all(int fd, const void *p, size_t n, vg_error_t *err);
/* Reads a whole file into a malloc'd buffer (caller frees with free()), NUL-terminated after len_out bytes
 * so a text file can be used as a string. */
int vg_fs_read_file(const char *path, uint8_t **out, size_t *len_out, vg_error_t *err);
/* Reads a secret file (a password, token or credentials file of a config) into out (cap bytes) with
 * trailing CR/LF trimmed. Returns 0, VG_EIO (unreadable; err, which may be NULL, names the file) or
 * VG_ELIMIT (longer than cap - 1 bytes: a secret is never silently cut). */
int vg_fs_read_secret(const char *path, char *out, size_t cap, vg_error_t *err);
/* Removes a directory tree (like rm -rf); a missing path is not an error. */
int vg_fs_remove_all(const char *path, vg_error_t *err);
/* Takes an exclusive flock on <dir>/lock (created if needed). *fd_out is the lock fd (close to release).
 * Returns VG_EUNAVAIL when another process holds it. */
int vg_fs_lock_dir(const char *dir, int *fd_out, vg_error_t *err);

/* Lists entries of dir whose names are `prefix` followed only by decimal digits, returning their numbers
 * sorted ascending in a malloc'd array (caller frees with free()). A missing dir yields 0 entries. */
int vg_fs_list_numbered(const char *dir, const char *prefix, uint64_t **out, size_t *n_out, vg_error_t *err);

#endif
