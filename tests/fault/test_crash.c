/* Crash safety of the storage: a child process appends and acknowledges batches (through a pipe,
 * after commit returned) while the parent SIGKILLs it at random moments, 25 rounds, with WAL segments
 * small enough that checkpoints run during the kills. After every kill the parent reopens the
 * directory: every acknowledged sample must be there, values intact, and each series in order.
 * Environment: VIGIL_CRASH_ROUNDS overrides the number of rounds. */
#include "tsdb/tsdb.h"
#include "util/fs.h"
#include "util/log.h"

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

#define SERIES 64

static tsdb_options_t opts(const char *dir, tsdb_fsync_t policy) {
    tsdb_options_t o;
    tsdb_options_default(&o);
    o.path = dir;
    o.register_metrics = false;
    o.retention_ms = 0;
    o.wal_segment_bytes = 64 * 1024;
    o.checkpoint_segments = 2;
    o.fsync = policy;
    o.fsync_interval_ms = 5;
    o.chunk_file_bytes = 1 << 20;
    return o;
}

/* Batch b writes t = b (ms) with value b * 10 + s to series s, for every s. */
static void child(const char *dir, int ackfd, tsdb_fsync_t policy) {
    tsdb_options_t o = opts(dir, policy);
    tsdb_db_t *db;
    vg_error_t err;
    if (tsdb_db_open(&o, &db, &err) != 0) _exit(3);
    tsdb_stats_t st;
    tsdb_db_stats(db, &st);
    int64_t b = st.head_maxt == INT64_MIN ? 1 : st.head_maxt + 1;
    storage_appender_t *a;
    tsdb_db_appender(db, &a, &err);
    uint64_t refs[SERIES] = {0};
    for (;; b++) {
        for (int s = 0; s < SERIES; s++) {
            char sv[16];
            snprintf(sv, sizeof sv, "%d", s);
            model_label_t l[] = {{"__name__", "crash"}, {"s", sv}, {"pad", "some-longer-label-value-to-fill-segments"}};
            int rc = refs[s] ? storage_append_ref(a, refs[s], b, (double)(b * 10 + s), &err)
                             : storage_append(a, l, 3, b, (double)(b * 10 + s), &refs[s], &err);
            if (rc != 0) _exit(4);
        }
        if (storage_commit(a, &err) != 0) _exit(5);
        if (write(ackfd, &b, sizeof b) != (ssize_t)sizeof b) _exit(6);
    }
}

static int64_t verify(const char *dir, int64_t acked) {
    tsdb_options_t o = opts(dir, TSDB_FSYNC_NEVER);
    o.checkpoint_segments = 0;
    tsdb_db_t *db;
    vg_error_t err;
    if (tsdb_db_open(&o, &db, &err) != 0) fail_msg("reopen after kill: %s", err.msg);
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
            if (t != expect) fail_msg("series %d: sample t=%lld, expected %lld (gap or disorder)", s, (long long)t, (long long)expect);
            if (v != (double)(t * 10 + s)) fail_msg("series %d: t=%lld has value %g", s, (long long)t, v);
            expect++;
        }
        if (it->vt->err(it)) fail_msg("series %d: iterator error %d", s, it->vt->err(it));
        if (expect - 1 < min_last) min_last = expect - 1;
        n_series++;
    }
    if (acked > 0) {
        if (n_series != SERIES) fail_msg("%zu series after kill, want %d", n_series, SERIES);
        if (min_last < acked) fail_msg("acknowledged batch %lld lost (a series ends at %lld)", (long long)acked, (long long)min_last);
    }
    model_matcher_free(m);
    storage_querier_close(q);
    tsdb_db_close(db);
    return min_last == INT64_MAX ? 0 : min_last;
}

static void run(tsdb_fsync_t policy, int rounds) {
    char tmpl[] = "/tmp/vigil-crash-XXXXXX";
    char *dir = mkdtemp(tmpl);
    assert_non_null(dir);
    srand((unsigned)time(NULL));
    int64_t acked = 0;
    for (int r = 0; r < rounds; r++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            vg_log_set_level(VG_LOG_ERROR);
            child(dir, fds[1], policy);
        }
        close(fds[1]);
        int64_t b;
        if (r % 5 == 4) {
            usleep((useconds_t)(rand() % 100000)); /* sometimes during replay or startup */
        } else {
            /* usually mid-append: after the child's first acknowledgement of this round */
            if (read(fds[0], &b, sizeof b) == (ssize_t)sizeof b) acked = b > acked ? b : acked;
            usleep((useconds_t)(rand() % 150000));
        }
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status)) fail_msg("child exited with %d before the kill", WEXITSTATUS(status));
        while (read(fds[0], &b, sizeof b) == (ssize_t)sizeof b) acked = b > acked ? b : acked;
        close(fds[0]);
        int64_t have = verify(dir, acked);
        print_message("# round %d: acked %lld, present %lld\n", r, (long long)acked, (long long)have);
    }
    assert_true(acked > 0);
    vg_error_t err;
    vg_fs_remove_all(dir, &err);
}

static void kill9_fsync_never(void **state) {
    (void)state;
    const char *e = getenv("VIGIL_CRASH_ROUNDS");
    run(TSDB_FSYNC_NEVER, e ? atoi(e) : 25);
}

static void kill9_fsync_always(void **state) {
    (void)state;
    const char *e = getenv("VIGIL_CRASH_ROUNDS");
    run(TSDB_FSYNC_ALWAYS, e ? atoi(e) : 20);
}

int main(void) {
    vg_log_set_level(VG_LOG_ERROR);
    const struct CMUnitTest tests[] = {cmocka_unit_test(kill9_fsync_never), cmocka_unit_test(kill9_fsync_always)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
