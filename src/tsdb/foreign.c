/* Prometheus' own head files in a data directory: vigil reads Prometheus' blocks as they are, but its
 * write-ahead log (wal/) and head chunk files (chunks_head/) are in Prometheus' formats, not vigil's
 * (docs/format/wal.md, docs/format/chunks.md). Opening such a directory must neither replay them as
 * vigil's (they would read as corrupt) nor delete them (vigil's chunks_head/ is scratch space it
 * clears at start), so they are renamed to <name>.prometheus-<unix seconds> and logged. Nothing of
 * the user's is ever deleted here.
 *
 * Recognised: a wal/ segment (8 decimal digits, at the top or in a checkpoint.* directory) that starts
 * with a whole Prometheus WAL record — a fragment header (type full or first, big-endian length,
 * CRC32C of the data) whose checksum matches — which vigil's segments never do (they start with
 * "VGWL"; anything else there is a corrupt vigil segment and reported as such); a chunks_head/ file
 * named other than vigil's 8 digits (Prometheus numbers them with 6) or starting with Prometheus' head
 * chunk magic 0x0130BC91. */
#include "tsdb/tsdb_int.h"

#include "util/crc32c.h"
#include "util/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool digits(const char *s, size_t n) {
    if (strlen(s) != n) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

/* The first 4 bytes of path (false when it has fewer). */
static bool head4(const char *path, uint8_t out[4]) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = read(fd, out, 4) == 4;
    close(fd);
    return ok;
}

/* Does the file start with a Prometheus WAL record fragment whose CRC32C checks out? */
static bool prometheus_segment(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    uint8_t buf[7 + 32768];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 7) return false;
    unsigned type = buf[0] & 0x07; /* the upper bits flag compression */
    size_t len = (size_t)buf[1] << 8 | buf[2];
    uint32_t crc = (uint32_t)buf[3] << 24 | (uint32_t)buf[4] << 16 | (uint32_t)buf[5] << 8 | buf[6];
    if ((type != 1 && type != 2) || !len || 7 + len > (size_t)n) return false;
    return vg_crc32c(buf + 7, len) == crc;
}

static bool foreign_wal_dir(const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) return false;
    bool foreign = false;
    struct dirent *e;
    char p[4608]; /* dir (< 4200) / a name (< 256) */
    while (!foreign && (e = readdir(d))) {
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        uint8_t h[4];
        (void)h;
        if (digits(e->d_name, 8)) foreign = prometheus_segment(p);
        else if (depth == 0 && !strncmp(e->d_name, "checkpoint.", 11)) foreign = foreign_wal_dir(p, 1);
    }
    closedir(d);
    return foreign;
}

static bool foreign_chunks_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    bool foreign = false;
    struct dirent *e;
    char p[4608]; /* dir (< 4200) / a name (< 256) */
    while (!foreign && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        uint8_t h[4];
        foreign = !digits(e->d_name, 8) || (head4(p, h) && h[0] == 0x01 && h[1] == 0x30 && h[2] == 0xBC && h[3] == 0x91);
    }
    closedir(d);
    return foreign;
}

static int move_aside(const char *path, const char *name, const char *what, vg_error_t *err) {
    char from[4200], to[4200];
    snprintf(from, sizeof from, "%s/%s", path, name);
    for (long long n = (long long)time(NULL);; n++) {
        snprintf(to, sizeof to, "%s/%s.prometheus-%lld", path, name, n);
        struct stat st;
        if (stat(to, &st) != 0) break;
    }
    if (rename(from, to) != 0) return vg_error_set(err, VG_EIO, "moving Prometheus' %s aside: rename %s to %s: %s", name, from, to, strerror(errno));
    vg_log_warn("tsdb", what, VG_LS("from", from), VG_LS("moved_to", to));
    return 0;
}

int tsdb__set_aside_foreign(const char *path, int *moved, vg_error_t *err) {
    char p[4200];
    int rc = 0;
    *moved = 0;
    snprintf(p, sizeof p, "%s/wal", path);
    if (foreign_wal_dir(p, 0)) {
        rc = move_aside(path, "wal", "a Prometheus write-ahead log was moved aside: vigil serves the directory's blocks, "
                                     "not the samples only that log holds", err);
        if (!rc) ++*moved;
    }
    snprintf(p, sizeof p, "%s/chunks_head", path);
    if (!rc && foreign_chunks_dir(p)) {
        rc = move_aside(path, "chunks_head", "Prometheus head chunk files were moved aside (vigil's own are scratch space)", err);
        if (!rc) ++*moved;
    }
    return rc;
}
