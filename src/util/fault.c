/* Fault injection countdowns (see fault.h); empty unless VG_FAULT_INJECTION is defined. Invariant: a
 * countdown > 0 counts down on each instrumented call and fires when it reaches zero; a write
 * countdown of -1 means "every write fails" (the disk stayed full after a short write). */
#include "util/fault.h"

#ifdef VG_FAULT_INJECTION
#include <errno.h>

_Atomic long vg_fault__alloc_countdown, vg_fault__write_countdown;
static _Atomic int write_mode;
static atomic_bool fired;

bool vg_fault__alloc_hit(void) {
    if (atomic_fetch_sub(&vg_fault__alloc_countdown, 1) != 1) return false;
    atomic_store(&fired, true);
    return true;
}

ssize_t vg_fault__write(int fd, const void *p, size_t n) {
    long c = atomic_load(&vg_fault__write_countdown);
    if (c < 0) {
        errno = ENOSPC;
        return -1;
    }
    if (c == 0 || atomic_fetch_sub(&vg_fault__write_countdown, 1) != 1) return write(fd, p, n);
    atomic_store(&fired, true);
    if (atomic_load(&write_mode) == VG_FAULT_WRITE_SHORT && n > 1) {
        atomic_store(&vg_fault__write_countdown, -1);
        return write(fd, p, n / 2);
    }
    errno = ENOSPC;
    return -1;
}

void vg_fault_arm_alloc(long n) {
    atomic_store(&fired, false);
    atomic_store(&vg_fault__alloc_countdown, n);
}

void vg_fault_arm_write(long n, vg_fault_write_mode_t mode) {
    atomic_store(&fired, false);
    atomic_store(&write_mode, (int)mode);
    atomic_store(&vg_fault__write_countdown, n);
}

void vg_fault_disarm(void) {
    atomic_store(&vg_fault__alloc_countdown, 0);
    atomic_store(&vg_fault__write_countdown, 0);
    atomic_store(&fired, false);
}

bool vg_fault_fired(void) { return atomic_load(&fired); }
#else
typedef int vg_fault__empty_unit; /* ISO C wants a translation unit to declare something */
#endif
