/* Fault injection for the storage fault tests: make the Nth allocation or the Nth write of the
 * instrumented code fail, so tests can walk every failure point of an operation (as SQLite's
 * malloc/io error tests do) and check that each ends in a clean error and an intact WAL.
 *
 * Instrumented: the WAL record buffers and decoding scratch (tsdb/record.c), the WAL writer's and the
 * checkpoint's allocations (tsdb/wal.c, tsdb/db.c's commit and checkpoint paths), and every write
 * through vg_fs_write_all (WAL segments, checkpoints).
 *
 * The hooks exist only when VG_FAULT_INJECTION is defined, which the build does when the test suite is
 * built (-Dtests=true); a release build (-Dtests=false) compiles VG_FAULT_ALLOC_FAILS() to the constant
 * 0 and VG_FAULT_WRITE to write(2), so its hot paths carry no trace of them. In a test build a disarmed
 * hook costs one relaxed atomic load and a predictable branch.
 *
 * Countdowns are process-wide (atomics): arm, run the operation, read vg_fault_fired(), disarm. */
#ifndef VG_UTIL_FAULT_H
#define VG_UTIL_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>

typedef enum vg_fault_write_mode {
    VG_FAULT_WRITE_ENOSPC, /* the write fails with ENOSPC, nothing written */
    VG_FAULT_WRITE_SHORT,  /* writes half of the bytes (at least one fewer than asked), then every
                              following write fails with ENOSPC until disarmed: a disk filling up */
} vg_fault_write_mode_t;

#ifdef VG_FAULT_INJECTION
#include <stdatomic.h>

extern _Atomic long vg_fault__alloc_countdown, vg_fault__write_countdown;
/* Called with an armed countdown: true if this allocation is the one to fail. */
bool vg_fault__alloc_hit(void);
/* write(2) through the write countdown. */
ssize_t vg_fault__write(int fd, const void *p, size_t n);

#define VG_FAULT_ALLOC_FAILS() \
    (atomic_load_explicit(&vg_fault__alloc_countdown, memory_order_relaxed) > 0 && vg_fault__alloc_hit())
#define VG_FAULT_WRITE(fd, p, n)                                                                     \
    (atomic_load_explicit(&vg_fault__write_countdown, memory_order_relaxed) != 0 ? vg_fault__write(fd, p, n) \
                                                                                 : write(fd, p, n))

/* The nth instrumented allocation from now fails (n >= 1); 0 disarms. */
void vg_fault_arm_alloc(long n);
/* The nth write from now fails as mode says (n >= 1); 0 disarms. */
void vg_fault_arm_write(long n, vg_fault_write_mode_t mode);
/* Disarms both and forgets whether one fired. */
void vg_fault_disarm(void);
/* Whether an armed fault fired since the last arm call. */
bool vg_fault_fired(void);

#else
#define VG_FAULT_ALLOC_FAILS() 0
#define VG_FAULT_WRITE(fd, p, n) write(fd, p, n)
#endif

#endif
