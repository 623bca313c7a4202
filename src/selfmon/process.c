/* process_* metrics read from /proc/self at scrape time, named and typed as the Prometheus Go client
 * names them so dashboards built for any Prometheus exporter work unchanged. */
#include "selfmon.h"

#include <dirent.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Fields 14 (utime), 15 (stime), 22 (starttime), 23 (vsize), 24 (rss) of /proc/self/stat. */
static int read_stat(double *cpu_s, double *start_s, double *vsize, double *rss) {
    char buf[1024];
    FILE *fp = fopen("/proc/self/stat", "r");
    if (!fp) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may hold spaces */
    if (!p) return -1;
    unsigned long long utime, stime, start, vs;
    long long rs;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
               &utime, &stime, &start, &vs, &rs) != 5)
        return -1;
    double hz = (double)sysconf(_SC_CLK_TCK);
    *cpu_s = (double)(utime + stime) / hz;
    *vsize = (double)vs;
    *rss = (double)rs * (double)sysconf(_SC_PAGESIZE);
    /* start time: boot time + start ticks */
    double btime = 0;
    fp = fopen("/proc/stat", "r");
    if (fp) {
        char line[256];
        while (fgets(line, sizeof line, fp))
            if (!strncmp(line, "btime ", 6)) {
                btime = (double)strtoull(line + 6, NULL, 10);
                break;
            }
        fclose(fp);
    }
    *start_s = btime + (double)start / hz;
    return 0;
}

static double cpu_seconds(void *ctx) {
    (void)ctx;
    double c = 0, s, v, r;
    read_stat(&c, &s, &v, &r);
    return c;
}

static double start_time(void *ctx) {
    (void)ctx;
    double c, s = 0, v, r;
    read_stat(&c, &s, &v, &r);
    return s;
}

static double virtual_memory(void *ctx) {
    (void)ctx;
    double c, s, v = 0, r;
    read_stat(&c, &s, &v, &r);
    return v;
}

static double resident_memory(void *ctx) {
    (void)ctx;
    double c, s, v, r = 0;
    read_stat(&c, &s, &v, &r);
    return r;
}

static double open_fds(void *ctx) {
    (void)ctx;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 0;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static double max_fds(void *ctx) {
    (void)ctx;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return 0;
    return rl.rlim_cur == RLIM_INFINITY ? 0 : (double)rl.rlim_cur;
}

void selfmon_register_process(selfmon_registry_t *r) {
    selfmon_func(r, SELFMON_COUNTER, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                 cpu_seconds, NULL);
    selfmon_func(r, SELFMON_GAUGE, "process_start_time_seconds",
                 "Start time of the process since unix epoch in seconds.", start_time, NULL);
    selfmon_func(r, SELFMON_GAUGE, "process_virtual_memory_bytes", "Virtual memory size in bytes.", virtual_memory,
                 NULL);
    selfmon_func(r, SELFMON_GAUGE, "process_resident_memory_bytes", "Resident memory size in bytes.",
                 resident_memory, NULL);
    selfmon_func(r, SELFMON_GAUGE, "process_open_fds", "Number of open file descriptors.", open_fds, NULL);
    selfmon_func(r, SELFMON_GAUGE, "process_max_fds", "Maximum number of open file descriptors.", max_fds, NULL);
}
