/* Crash safety of block compaction: a child process appends and acknowledges batches (through a pipe,
 * after commit returned) with a one-minute block duration while a second thread of it compacts
 * without pause, so 1m blocks are cut from the head and merged into 3m, 9m, 27m... blocks (new block
 * written and renamed, block list swapped, parents removed) all the time; the parent SIGKILLs it at
 * random moments, 25 rounds. After every kill the parent reopens the directory: every acknowledged
 * sample must be there exactly once, values intact; no *.tmp-for-creation or *.tmp-for-deletion
 * directory may survive the reopen, and the blocks on disk must not overlap (a parent left beside
 * its compacted child would hold every sample twice, which the merge querier would hide).
 * Environment: VIGIL_CRASH_ROUNDS overrides the number of rounds. */
#include "tsdb/block.h"
#include "tsdb/tsdb.h"
#include "util/fs.h"
#include "util/log.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define SERIES 16
#define STEP 100 /* ms between batches: a block every 600 batches */

static tsdb_options_t opts(const char *dir) {
    tsdb_options_t o;
    tsdb_options_default(&o);
    o.path = dir;
    o.register_metrics = false;
    o.retention_ms = 0;
    o.wal_segment_bytes = 64 * 1024;
    o.checkpoint_segments = 2;
    o.fsync = TSDB_FSYNC_NEVER;
    o.chunk_file_bytes = 1 << 20;
    o.block_duration_ms = 60 * 1000;
    o.manual_compaction = true; /* the child's own thread compacts, without the 1 s tick */
    return o;
}

static void *compact_loop(void *arg) {
    tsdb_db_t *db = arg;
    for (;;) {
        vg_error_t err;
        if (tsdb_db_compact(db, &err) < 0) _exit(7);
        usleep(100);
    }
    return NULL;
}

/* Batch b writes t = b * STEP with value b * 10 + s to series s, for every s. */
static void child(const char *dir, int ackfd) {
    tsdb_options_t o = opts(dir);
    tsdb_db_t *db;
    vg_error_t err;
    if (tsdb_db_open(&o, &db, &err) != 0) _exit(3);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    int64_t b = st.head_maxt == INT64_MIN ? 1 : st.head_maxt / STEP + 1;
    pthread_t th;
    if (pthread_create(&th, NULL, compact_loop, db) != 0) _exit(8);
    storage_appender_t *a;
    tsdb_db_appender(db, &a, &err);
    uint64_t refs[SERIES] = {0};
    for (;; b++) {
        for (int s = 0; s < SERIES; s++) {
            char sv[16];
            snprintf(sv, sizeof sv, "%d", s);
            model_label_t l[] = {{"__name__", "crash"}, {"s", sv}};
            int rc = refs[s] ? storage_append_ref(a, refs[s], b * STEP, (double)(b * 10 + s), &err) : VG_ENOTFOUND;
            if (rc == VG_ENOTFOUND) /* first use, or the series left the head with a compaction */
                rc = storage_append(a, l, 2, b * STEP, (double)(b * 10 + s), &refs[s], &err);
            if (rc != 0) _exit(4);
        }
        if (storage_commit(a, &err) != 0) _exit(5);
        if (write(ackfd, &b, sizeof b) != (ssize_t)sizeof b) _exit(6);
    }
}

static int count_suffix(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name), k = strlen(suffix);
        if (l >= k && !strcmp(e->d_name + l - k, suffix)) n++;
    }
    if (d) closedir(d);
    return n;
}

/* Returns the newest batch every series holds; fails on a gap, a duplicate or a wrong value. */
/* The block directories on disk hold disjoint time ranges; *levels gets the highest level seen. */
static void check_disjoint(const char *dir, int *levels) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int64_t lo[256], hi[256];
    size_t n = 0;
    while ((e = readdir(d))) {
        if (strlen(e->d_name) != TSDB_ULID_LEN) continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        tsdb__block_t *b;
        vg_error_t err;
        if (tsdb__block_open(p, &b, &err) != 0) fail_msg("block %s does not open: %s", p, err.msg);
        const tsdb__block_meta_t *m = tsdb__block_meta(b);
        if (n < 256) lo[n] = m->mint, hi[n++] = m->maxt;
        if (m->level > *levels) *levels = m->level;
        tsdb__block_unref(b);
    }
    closedir(d);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (lo[i] < hi[j] && lo[j] < hi[i])
                fail_msg("blocks [%lld, %lld) and [%lld, %lld) overlap", (long long)lo[i], (long long)hi[i],
                         (long long)lo[j], (long long)hi[j]);
}

static int64_t verify(const char *dir, int64_t acked, uint64_t *blocks, int *levels) {
    tsdb_options_t o = opts(dir);
    o.checkpoint_segments = 0;
    tsdb_db_t *db;
    vg_error_t err;
    if (tsdb_db_open(&o, &db, &err) != 0) fail_msg("reopen after kill: %s", err.msg);
    if (count_suffix(dir, ".tmp-for-creation")) fail_msg("an unfinished block survived the reopen");
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    *blocks = st.blocks;
    if (st.blocks_corrupt) fail_msg("%llu blocks set aside as unreadable", (unsigned long long)st.blocks_corrupt);
    storage_querier_t *q;
    tsdb_db_querier(db, INT64_MIN, INT64_MAX, &q, &err);
    model_matcher_t *m;
    model_matcher_new(MODEL_MATCH_EQ, "__name__", "crash", &m, &err);
    storage_series_set_t *ss;
    storage_select(q, true, &m, 1, &ss, &err);
    storage_iterator_t *it = NULL;
    size_t n_series = 0;
    int64_t min_last = INT64_MAX;
    while (ss->vt->next(ss)) {
        const model_label_t *l;
        size_t nl;
        ss->vt->labels(ss, &l, &nl);
        int s = atoi(model_labels_get(l, nl, "s"));
        it = ss->vt->iterator(ss, it);
        int64_t expect = 1, t;
        double v;
        while (it->vt->next(it) == STORAGE_VAL_FLOAT) {
            it->vt->at(it, &t, &v);
            if (t != expect * STEP)
                fail_msg("series %d: sample t=%lld, expected %lld (gap, duplicate or disorder; %llu blocks)", s,
                         (long long)t, (long long)(expect * STEP), (unsigned long long)st.blocks);
            if (v != (double)(expect * 10 + s)) fail_msg("series %d: t=%lld has value %g", s, (long long)t, v);
            expect++;
        }
        if (it->vt->err(it)) fail_msg("series %d: iterator error %d", s, it->vt->err(it));
        if (expect - 1 < min_last) min_last = expect - 1;
        n_series++;
    }
    if (ss->vt->err(ss)) fail_msg("series set error %d", ss->vt->err(ss));
    if (acked > 0) {
        if (n_series != SERIES) fail_msg("%zu series after kill, want %d", n_series, SERIES);
        if (min_last < acked) fail_msg("acknowledged batch %lld lost (a series ends at %lld)", (long long)acked, (long long)min_last);
    }
    model_matcher_free(m);
    storage_querier_close(q);
    tsdb_db_close(db);
    if (count_suffix(dir, ".tmp-for-deletion")) fail_msg("a half-removed block survived the reopen");
    check_disjoint(dir, levels);
    return min_last == INT64_MAX ? 0 : min_last;
}

static void kill9_during_block_compaction(void **state) {
    (void)state;
    const char *e = getenv("VIGIL_CRASH_ROUNDS");
    int rounds = e ? atoi(e) : 25;
    char tmpl[] = "/tmp/vigil-levels-crash-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    srand((unsigned)time(NULL));
    int64_t acked = 0;
    uint64_t blocks = 0;
    int levels = 0, interrupted = 0; /* rounds whose kill left a block half written or half removed */
    for (int r = 0; r < rounds; r++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            vg_log_set_level(VG_LOG_ERROR);
            child(dir, fds[1]);
        }
        close(fds[1]);
        int64_t b;
        if (r % 5 == 4) {
            usleep((useconds_t)(rand() % 100000)); /* sometimes during replay or startup */
        } else {
            if (read(fds[0], &b, sizeof b) == (ssize_t)sizeof b) acked = b > acked ? b : acked;
            usleep((useconds_t)(100000 + rand() % 600000)); /* a block write with its fsyncs takes ~100 ms */
        }
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status)) fail_msg("child exited with %d before the kill", WEXITSTATUS(status));
        while (read(fds[0], &b, sizeof b) == (ssize_t)sizeof b) acked = b > acked ? b : acked;
        close(fds[0]);
        interrupted += count_suffix(dir, ".tmp-for-creation") + count_suffix(dir, ".tmp-for-deletion") > 0;
        int64_t have = verify(dir, acked, &blocks, &levels);
        print_message("# round %d: acked %lld, present %lld, blocks %llu, top level %d\n", r, (long long)acked,
                      (long long)have, (unsigned long long)blocks, levels);
    }
    assert_true(acked > 0);
    assert_true(blocks > 0); /* compaction ran */
    assert_true(levels >= 2); /* blocks were compacted */
    print_message("# %d of %d kills interrupted a block write or removal\n", interrupted, rounds);
    vg_error_t err;
    vg_fs_remove_all(dir, &err);
}

int main(void) {
    vg_log_set_level(VG_LOG_ERROR);
    const struct CMUnitTest tests[] = {cmocka_unit_test(kill9_during_block_compaction)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
