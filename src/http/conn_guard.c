/* The connection guard: bounds how long a client may take to send a request head, and refuses at once
 * a connection whose first bytes cannot start an HTTP request.
 *
 * Why it exists: libmicrohttpd 0.9.75 (the version vigil builds against) has only an idle timeout
 * (MHD_OPTION_CONNECTION_TIMEOUT), which a client trickling one byte a second never trips, and it
 * waits for a line end before judging a request line, so NUL bytes or a TLS handshake hold a connection
 * until that idle timeout. libmicrohttpd has no per-request deadline and no hook on received bytes, so:
 *
 *   - server.c sets TCP_DEFER_ACCEPT on the listening socket: a connection is accepted only once its
 *     first bytes have arrived. libmicrohttpd then reports it (MHD_OPTION_NOTIFY_CONNECTION, STARTED) on
 *     the worker thread that will serve it, before that worker reads anything, and http_guard_opened
 *     peeks (MSG_PEEK) at those bytes. If they cannot start a request line it drains them, writes a 400
 *     itself, and shuts the socket down: libmicrohttpd's first read sees the end of the stream and
 *     closes the connection. Nothing else writes to the socket at that point, so there is no race.
 *   - every connection is tracked here with a deadline for its request head: accept time +
 *     header_timeout for the first request; for a kept-alive connection, the end of the previous
 *     response + idle (libmicrohttpd's own idle timeout) + header_timeout.
 *   - one sweep thread wakes a few times per header_timeout and shuts down (shutdown(2), never close(2))
 *     every connection past its deadline; libmicrohttpd sees the end of the stream and closes it.
 *
 * Per-connection state machine (atomic, so the sweep and the worker never both act):
 *   WAIT_HEAD --head complete (access handler's first call)--> IN_REQUEST --response done--> WAIT_HEAD
 *   WAIT_HEAD --deadline passed (sweep)--> EXPIRED   (terminal: the access handler refuses to run)
 * Invariant: a tracked connection's fd is open. libmicrohttpd calls the CLOSED notification before it
 * closes the fd, and http_guard_closed unlinks under the same lock the sweep holds while it calls
 * shutdown(2), so the sweep never touches a closed (or reused) descriptor.
 *
 * Limits: only the first request line of a connection is checked early (bytes after the first segment,
 * and later requests on a kept-alive connection, are judged by libmicrohttpd and bounded by the head
 * deadline); a slow request body is bounded by the idle timeout only. */
#include "conn_guard.h"

#include "selfmon/selfmon.h"
#include "util/error.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

enum { WAIT_HEAD, IN_REQUEST, EXPIRED };

struct http_guard_conn {
    http_guard_conn_t *prev, *next;
    int fd;
    _Atomic int state;
    _Atomic uint64_t deadline_ns; /* monotonic; meaningful in WAIT_HEAD */
};

struct http_guard {
    pthread_mutex_t lock; /* the list, and the fds of its members while the sweep uses them */
    pthread_cond_t wake;
    pthread_t thread;
    bool stop;
    http_guard_conn_t *head;
    uint64_t header_ns, idle_ns, sweep_ns;
    selfmon_metric_t *timeouts, *bad_lines;
};

/* ---- request line ---- */

static bool tchar(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

int http_request_line_check(const char *p, size_t n) {
    static const char version[] = "HTTP/d.d";
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, m;
    while (i < n && (s[i] == '\r' || s[i] == '\n')) i++; /* empty lines before a request are allowed */
    for (m = 0; i < n && tchar(s[i]); i++, m++)
        if (m == 32) return HTTP_LINE_BAD;
    if (i == n) return HTTP_LINE_PARTIAL;
    if (m == 0 || s[i++] != ' ') return HTTP_LINE_BAD;
    if (i == n) return HTTP_LINE_PARTIAL;
    unsigned char c0 = s[i];
    if (!(c0 == '/' || c0 == '*' || (c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || (c0 >= '0' && c0 <= '9')))
        return HTTP_LINE_BAD;
    for (; i < n && s[i] != ' '; i++)
        if (s[i] < 0x20 || s[i] == 0x7f) return HTTP_LINE_BAD;
    if (i == n) return HTTP_LINE_PARTIAL;
    i++;
    for (m = 0; m < sizeof version - 1; m++, i++) {
        if (i == n) return HTTP_LINE_PARTIAL;
        bool ok = version[m] == 'd' ? (s[i] >= '0' && s[i] <= '9') : s[i] == (unsigned char)version[m];
        if (!ok) return HTTP_LINE_BAD;
    }
    if (i == n) return HTTP_LINE_PARTIAL;
    if (s[i] == '\n') return HTTP_LINE_OK;
    if (s[i] != '\r') return HTTP_LINE_BAD;
    if (++i == n) return HTTP_LINE_PARTIAL;
    return s[i] == '\n' ? HTTP_LINE_OK : HTTP_LINE_BAD;
}

/* ---- tracking ---- */

static void refuse(http_guard_t *g, int fd) {
    static const char body[] = "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"malformed request line\"}";
    char resp[256];
    int len = snprintf(resp, sizeof resp,
                       "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       sizeof body - 1, body);
    /* drain what arrived so closing does not reset the connection before the client reads the answer */
    char junk[4096];
    for (int i = 0; i < 16 && recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0; i++) {}
    (void)!send(fd, resp, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(fd, SHUT_RDWR);
    selfmon_counter_inc(g->bad_lines);
    vg_log__emit(VG_LOG_DEBUG, "http", "connection refused: malformed request line", VG_LEND);
}

http_guard_conn_t *http_guard_opened(http_guard_t *g, int fd) {
    char first[512];
    ssize_t n = recv(fd, first, sizeof first, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 && http_request_line_check(first, (size_t)n) == HTTP_LINE_BAD) refuse(g, fd);
    http_guard_conn_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->fd = fd;
    atomic_init(&c->deadline_ns, vg_mono_ns() + g->header_ns);
    atomic_init(&c->state, WAIT_HEAD);
    pthread_mutex_lock(&g->lock);
    c->next = g->head;
    if (g->head) g->head->prev = c;
    g->head = c;
    pthread_mutex_unlock(&g->lock);
    return c;
}

void http_guard_closed(http_guard_t *g, http_guard_conn_t *c) {
    if (!c) return;
    pthread_mutex_lock(&g->lock);
    if (c->prev) c->prev->next = c->next;
    else g->head = c->next;
    if (c->next) c->next->prev = c->prev;
    pthread_mutex_unlock(&g->lock);
    free(c);
}

int http_guard_head_done(http_guard_conn_t *c) {
    if (!c) return 0;
    int want = WAIT_HEAD;
    if (atomic_compare_exchange_strong(&c->state, &want, IN_REQUEST)) return 0;
    return want == EXPIRED ? -1 : 0;
}

void http_guard_request_done(http_guard_t *g, http_guard_conn_t *c) {
    if (!c) return;
    atomic_store(&c->deadline_ns, vg_mono_ns() + g->idle_ns + g->header_ns);
    int want = IN_REQUEST;
    atomic_compare_exchange_strong(&c->state, &want, WAIT_HEAD);
}

/* ---- sweep ---- */

static void *sweep_main(void *arg) {
    http_guard_t *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t at = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + g->sweep_ns;
        ts.tv_sec = (time_t)(at / 1000000000u), ts.tv_nsec = (long)(at % 1000000000u);
        while (!g->stop && pthread_cond_timedwait(&g->wake, &g->lock, &ts) != ETIMEDOUT) {}
        if (g->stop) break;
        uint64_t now = vg_mono_ns();
        size_t expired = 0;
        for (http_guard_conn_t *c = g->head; c; c = c->next) {
            if (atomic_load(&c->state) != WAIT_HEAD || atomic_load(&c->deadline_ns) > now) continue;
            int want = WAIT_HEAD;
            if (!atomic_compare_exchange_strong(&c->state, &want, EXPIRED)) continue;
            shutdown(c->fd, SHUT_RDWR);
            expired++;
        }
        if (expired) {
            selfmon_counter_add(g->timeouts, (double)expired);
            vg_log__emit(VG_LOG_DEBUG, "http", "connections closed: request head not complete in time",
                         VG_LI("connections", (int64_t)expired), VG_LEND);
        }
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

int http_guard_new(int64_t header_timeout_ms, int64_t idle_ms, http_guard_t **out) {
    *out = NULL;
    http_guard_t *g = calloc(1, sizeof *g);
    if (!g) return VG_ENOMEM;
    g->header_ns = (uint64_t)header_timeout_ms * 1000000u;
    g->idle_ns = (uint64_t)idle_ms * 1000000u;
    /* a deadline is enforced within a tenth of the timeout, at most one second late */
    g->sweep_ns = g->header_ns / 10;
    if (g->sweep_ns < 50000000u) g->sweep_ns = 50000000u;
    if (g->sweep_ns > 1000000000u) g->sweep_ns = 1000000000u;
    selfmon_registry_t *r = selfmon_default();
    static const char *const labels[] = {"reason"};
    selfmon_family_t *f = selfmon_counter(r, "vigil_http_connections_refused_total",
                                          "Connections closed before a request was served, by reason.", 1, labels);
    static const char *const timeout_l[] = {"header_timeout"}, *const bad_l[] = {"bad_request_line"};
    g->timeouts = selfmon_with(f, timeout_l);
    g->bad_lines = selfmon_with(f, bad_l);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&g->thread, NULL, sweep_main, g)) {
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return VG_ENOMEM;
    }
    *out = g;
    return 0;
}

void http_guard_free(http_guard_t *g) {
    if (!g) return;
    pthread_mutex_lock(&g->lock);
    g->stop = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    /* libmicrohttpd has closed every connection (and notified) before we get here; free any leftovers */
    while (g->head) {
        http_guard_conn_t *c = g->head;
        g->head = c->next;
        free(c);
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}
