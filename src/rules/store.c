/* The ruler's store: rule groups uploaded through the ruler API, kept as Prometheus rule files, one
 * per (owner, namespace), under one root directory (<data>/rules):
 *
 *   <root>/<escaped owner>/<escaped namespace>.yml     groups: [...] in upload order
 *   <root>/@unscoped/<escaped namespace>.yml           the unscoped owner (owner NULL)
 *
 * Names are escaped byte by byte: [A-Za-z0-9_-] stay, every other byte becomes %XX (upper-case hex).
 * An escaped name therefore holds no '/', no '.' and no '@', so it can be neither a path nor "." / "..",
 * cannot end in ".yml" or ".tmp" by accident, and never equals the unscoped owner's "@unscoped".
 * Escaping is a bijection: a name is read back from its file name.
 *
 * Invariant: a namespace file is always whole. It is written to <name>.yml.tmp, fsynced, renamed over
 * <name>.yml and the directory fsynced; a crash leaves the old file or the new one, and a leftover
 * .tmp is removed by the next load. A namespace with no groups has no file. */
#include "rules_int.h"

#include "util/fs.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define UNSCOPED_DIR "@unscoped"

static bool kept(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int rules_store_escape(const char *name, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    if (!*name) return VG_EINVAL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        size_t need = kept(*p) ? 1 : 3;
        if (n + need >= cap || n + need > RULES_STORE_ESCAPED_MAX) return VG_EINVAL;
        if (kept(*p)) out[n++] = (char)*p;
        else out[n++] = '%', out[n++] = hex[*p >> 4], out[n++] = hex[*p & 15];
    }
    out[n] = '\0';
    return 0;
}

static int hexval(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int rules_store_unescape(const char *esc, size_t len, char *out, size_t cap) {
    size_t n = 0;
    if (!len) return VG_EINVAL;
    for (size_t i = 0; i < len; i++) {
        if (n + 1 >= cap) return VG_EINVAL;
        unsigned char c = (unsigned char)esc[i];
        if (kept(c)) {
            out[n++] = (char)c;
            continue;
        }
        if (c != '%' || i + 2 >= len) return VG_EINVAL;
        int hi = hexval(esc[i + 1]), lo = hexval(esc[i + 2]);
        if (hi < 0 || lo < 0) return VG_EINVAL;
        unsigned char b = (unsigned char)(hi << 4 | lo);
        if (!b || kept(b)) return VG_EINVAL; /* not the one escaped form of a name */
        out[n++] = (char)b;
        i += 2;
    }
    out[n] = '\0';
    return 0;
}

/* <root>/<owner dir> into out. */
static int owner_dir(const char *root, const char *owner, char *out, size_t cap, vg_error_t *err) {
    char esc[RULES_STORE_ESCAPED_MAX + 1];
    if (owner && rules_store_escape(owner, esc, sizeof esc)) return vg_error_set(err, VG_EINVAL, "owner name too long or empty");
    if ((size_t)snprintf(out, cap, "%s/%s", root, owner ? esc : UNSCOPED_DIR) >= cap)
        return vg_error_set(err, VG_EINVAL, "path too long");
    return 0;
}

int rules_store_write(const char *root, const char *owner, const char *ns, const rules_group_spec_t *groups, size_t n,
                      vg_error_t *err) {
    char dir[4096], esc[RULES_STORE_ESCAPED_MAX + 1], path[4400], tmp[4400];
    int rc = owner_dir(root, owner, dir, sizeof dir, err);
    if (rc) return rc;
    if (rules_store_escape(ns, esc, sizeof esc)) return vg_error_set(err, VG_EINVAL, "namespace name too long or empty");
    snprintf(path, sizeof path, "%s/%s.yml", dir, esc);
    snprintf(tmp, sizeof tmp, "%s/%s.yml.tmp", dir, esc);
    if (!n) {
        if (unlink(path) && errno != ENOENT) return vg_error_set(err, VG_EIO, "%s: cannot remove: %s", path, strerror(errno));
        return errno == ENOENT ? 0 : vg_fs_fsync_dir(dir, err);
    }
    struct stat st;
    bool fresh_dir = stat(dir, &st) != 0;
    if ((rc = vg_fs_mkdir_p(dir, err))) return rc;
    if (fresh_dir && (rc = vg_fs_fsync_dir(root, err))) return rc; /* the owner directory's entry */
    vg_buf_t b = VG_BUF_INIT;
    if (rules_file_write_yaml(groups, n, &b)) {
        vg_buf_deinit(&b);
        return vg_error_set(err, VG_ENOMEM, "out of memory");
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        vg_buf_deinit(&b);
        return vg_error_set(err, VG_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    rc = vg_fs_write_all(fd, b.data, b.len, err);
    vg_buf_deinit(&b);
    if (!rc && fsync(fd)) rc = vg_error_set(err, VG_EIO, "%s: fsync: %s", tmp, strerror(errno));
    if (close(fd) && !rc) rc = vg_error_set(err, VG_EIO, "%s: close: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path)) rc = vg_error_set(err, VG_EIO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (rc) {
        unlink(tmp);
        return rc;
    }
    return vg_fs_fsync_dir(dir, err);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

/* Every namespace file of one owner's directory. */
static int load_owner(const char *dir, const char *owner, rules_store_fn fn, void *ctx) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int loaded = 0;
    while ((e = readdir(d))) {
        char path[4400], ns[RULES_STORE_ESCAPED_MAX + 1];
        if (e->d_name[0] == '.') continue;
        int k = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (k < 0 || (size_t)k >= sizeof path) continue;
        if (ends_with(e->d_name, ".yml.tmp")) { /* a write that did not finish: the .yml beside it is whole */
            unlink(path);
            continue;
        }
        size_t len = strlen(e->d_name);
        if (!ends_with(e->d_name, ".yml") || rules_store_unescape(e->d_name, len - 4, ns, sizeof ns)) {
            vg_log_warn("rules", "ignoring a file that is not a ruler namespace", VG_LS("path", path));
            continue;
        }
        uint8_t *buf;
        size_t n;
        vg_error_t err;
        if (vg_fs_read_file(path, &buf, &n, &err)) {
            vg_log_error("rules", "cannot read a ruler namespace", VG_LS("path", path), VG_LS("err", err.msg));
            continue;
        }
        rules_file_t *f;
        rules_errors_t errs;
        int rc = rules_file_parse(ns, (const char *)buf, n, &f, &errs);
        free(buf);
        if (rc) {
            vg_log_error("rules", "ignoring an invalid ruler namespace", VG_LS("path", path),
                         VG_LS("err", errs.n ? errs.v[0].msg : "out of memory"));
            rules_errors_free(&errs);
            continue;
        }
        fn(ctx, owner, ns, f);
        loaded++;
    }
    closedir(d);
    return loaded;
}

int rules_store_load(const char *root, rules_store_fn fn, void *ctx, vg_error_t *err) {
    DIR *d = opendir(root);
    if (!d) {
        if (errno == ENOENT) return 0;
        return vg_error_set(err, VG_EIO, "%s: cannot open: %s", root, strerror(errno));
    }
    struct dirent *e;
    int loaded = 0;
    while ((e = readdir(d))) {
        char dir[4400], owner[RULES_STORE_ESCAPED_MAX + 1];
        if (e->d_name[0] == '.') continue;
        snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
        bool unscoped = !strcmp(e->d_name, UNSCOPED_DIR);
        if (!unscoped && rules_store_unescape(e->d_name, strlen(e->d_name), owner, sizeof owner)) {
            vg_log_warn("rules", "ignoring a directory that is not a ruler owner", VG_LS("path", dir));
            continue;
        }
        loaded += load_owner(dir, unscoped ? NULL : owner, fn, ctx);
    }
    closedir(d);
    return loaded;
}
