/* File-system helpers (see fs.h). Every failure carries the path and strerror(errno) in err. */
#include "util/fs.h"

#include "util/fault.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int vg_fs_mkdir_p(const char *path, vg_error_t *err) {
    char tmp[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof tmp) return vg_error_set(err, VG_EINVAL, "bad directory path");
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return vg_error_set(err, VG_EIO, "mkdir %s: %s", tmp, strerror(errno));
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return vg_error_set(err, VG_EIO, "mkdir %s: %s", tmp, strerror(errno));
    return 0;
}

int vg_fs_fsync_dir(const char *path, vg_error_t *err) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return vg_error_set(err, VG_EIO, "open %s: %s", path, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0) return vg_error_set(err, VG_EIO, "fsync %s: %s", path, strerror(e));
    return 0;
}

int vg_fs_write_all(int fd, const void *p, size_t n, vg_error_t *err) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = VG_FAULT_WRITE(fd, c, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return vg_error_set(err, VG_EIO, "write: %s", strerror(errno));
        }
        if (w == 0) return vg_error_set(err, VG_EIO, "write: no progress with %zu bytes left", n);
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int vg_fs_read_secret(const char *path, char *out, size_t cap, vg_error_t *err) {
    out[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f) return vg_error_set(err, VG_EIO, "%s: %s", path, strerror(errno));
    size_t n = fread(out, 1, cap - 1, f);
    bool more = false; /* anything past cap - 1 bytes but line ends */
    for (int c; !more && (c = fgetc(f)) != EOF;) more = c != '\n' && c != '\r';
    fclose(f);
    if (more) {
        explicit_bzero(out, cap);
        return vg_error_set(err, VG_ELIMIT, "%s: longer than %zu bytes", path, cap - 1);
    }
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r')) n--;
    out[n] = '\0';
    return 0;
}

int vg_fs_read_file(const char *path, uint8_t **out, size_t *len_out, vg_error_t *err) {
    *out = NULL;
    *len_out = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return vg_error_set(err, errno == ENOENT ? VG_ENOTFOUND : VG_EIO, "open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return vg_error_set(err, VG_EIO, "stat %s: %s", path, strerror(e));
    }
    size_t cap = (size_t)st.st_size, len = 0;
    uint8_t *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return vg_error_set(err, VG_ENOMEM, "reading %s: out of memory", path);
    }
    while (len < cap) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return vg_error_set(err, VG_EIO, "read %s: %s", path, strerror(e));
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    *len_out = len;
    return 0;
}

int vg_fs_remove_all(const char *path, vg_error_t *err) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : vg_error_set(err, VG_EIO, "stat %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return vg_error_set(err, VG_EIO, "opendir %s: %s", path, strerror(errno));
        struct dirent *e;
        int rc = 0;
        while (rc == 0 && (e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[4096];
            if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub) {
                rc = vg_error_set(err, VG_EINVAL, "path too long under %s", path);
                break;
            }
            rc = vg_fs_remove_all(sub, err);
        }
        closedir(d);
        if (rc) return rc;
        if (rmdir(path) != 0) return vg_error_set(err, VG_EIO, "rmdir %s: %s", path, strerror(errno));
        return 0;
    }
    if (unlink(path) != 0 && errno != ENOENT) return vg_error_set(err, VG_EIO, "unlink %s: %s", path, strerror(errno));
    return 0;
}

int vg_fs_lock_dir(const char *dir, int *fd_out, vg_error_t *err) {
    char p[4096];
    *fd_out = -1;
    if (snprintf(p, sizeof p, "%s/lock", dir) >= (int)sizeof p) return vg_error_set(err, VG_EINVAL, "path too long");
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return vg_error_set(err, VG_EIO, "open %s: %s", p, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK) return vg_error_set(err, VG_EUNAVAIL, "%s is locked by another process", dir);
        return vg_error_set(err, VG_EIO, "flock %s: %s", p, strerror(e));
    }
    *fd_out = fd;
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int vg_fs_list_numbered(const char *dir, const char *prefix, uint64_t **out, size_t *n_out, vg_error_t *err) {
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : vg_error_set(err, VG_EIO, "opendir %s: %s", dir, strerror(errno));
    size_t plen = strlen(prefix), n = 0, cap = 0;
    uint64_t *v = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *s = e->d_name;
        if (strncmp(s, prefix, plen) != 0) continue;
        s += plen;
        if (!*s || strlen(s) > 19) continue;
        uint64_t num = 0;
        int ok = 1;
        for (; *s; s++) {
            if (*s < '0' || *s > '9') { ok = 0; break; }
            num = num * 10 + (uint64_t)(*s - '0');
        }
        if (!ok) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                free(v);
                closedir(d);
                return vg_error_set(err, VG_ENOMEM, "listing %s: out of memory", dir);
            }
            v = nv;
        }
        v[n++] = num;
    }
    closedir(d);
    if (n) qsort(v, n, sizeof *v, cmp_u64);
    *out = v;
    *n_out = n;
    return 0;
}
