/* The connection guard: per-connection deadlines for the request head and the early refusal of a
 * connection whose first bytes cannot start an HTTP request. Used by server.c only. */
#ifndef VG_HTTP_CONN_GUARD_H
#define VG_HTTP_CONN_GUARD_H

#include <stddef.h>
#include <stdint.h>

typedef struct http_guard http_guard_t;
typedef struct http_guard_conn http_guard_conn_t;

/* Result of http_request_line_check. */
enum { HTTP_LINE_BAD = -1, HTTP_LINE_PARTIAL = 0, HTTP_LINE_OK = 1 };

/* Checks the first bytes a client sent: HTTP_LINE_OK when they hold a whole well-formed request line,
 * HTTP_LINE_PARTIAL when they are a well-formed prefix of one, HTTP_LINE_BAD when no continuation can
 * make them one (NUL or other control bytes, a TLS handshake, a method without a target, ...). */
int http_request_line_check(const char *p, size_t n);

/* Starts the guard and its sweep thread. header_timeout_ms: how long a connection may take to send a
 * request head; idle_ms: how long a kept-alive connection may wait before its next request starts (its
 * next head is due idle_ms + header_timeout_ms after the previous response). Returns 0 or VG_ENOMEM. */
int http_guard_new(int64_t header_timeout_ms, int64_t idle_ms, http_guard_t **out);
/* Stops the sweep thread and frees the guard; every connection must already be closed. */
void http_guard_free(http_guard_t *g);

/* A connection was accepted (fd borrowed until http_guard_closed), nothing read from it yet. Peeks at
 * the bytes already received: if they cannot start a request, answers 400 and shuts the socket down so
 * the server closes it. Either way returns the tracked connection (owned: release with
 * http_guard_closed), or NULL out of memory (the connection is then not guarded). */
http_guard_conn_t *http_guard_opened(http_guard_t *g, int fd);
/* The connection is being closed: untrack and free c (NULL is fine). */
void http_guard_closed(http_guard_t *g, http_guard_conn_t *c);
/* The request head is complete: returns 0, or -1 when the deadline already closed the connection. */
int http_guard_head_done(http_guard_conn_t *c);
/* The response was sent: the next request head on this connection has a new deadline. */
void http_guard_request_done(http_guard_t *g, http_guard_conn_t *c);

#endif
