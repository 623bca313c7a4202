/* The connection guard's early judgement of a request line, on whole lines, every prefix of a valid
 * line, and a table of malformed starts. */
#include "http/conn_guard.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

static int check(const char *s, size_t n) { return http_request_line_check(s, n); }
#define CHECK_STR(s) check((s), sizeof(s) - 1)

static void valid_lines(void **state) {
    (void)state;
    static const char *const lines[] = {
        "GET /-/healthy HTTP/1.1\r\n", "POST /api/v1/query HTTP/1.0\r\n", "GET / HTTP/1.1\n",
        "\r\nGET /x HTTP/1.1\r\n", "OPTIONS * HTTP/1.1\r\n", "GET http://h/x?q=%00 HTTP/1.1\r\n",
        "GET /caf\xc3\xa9 HTTP/1.1\r\n", "M-SEARCH * HTTP/1.1\r\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        size_t n = strlen(lines[i]);
        if (check(lines[i], n) != HTTP_LINE_OK) fail_msg("whole line refused: %s", lines[i]);
        for (size_t k = 0; k < n; k++)
            if (check(lines[i], k) != HTTP_LINE_PARTIAL) fail_msg("prefix of %zu bytes of %s: got %d", k, lines[i], check(lines[i], k));
    }
    /* what follows the line is not judged here */
    assert_int_equal(CHECK_STR("GET / HTTP/1.1\r\n\x01\x02"), HTTP_LINE_OK);
}

static void malformed(void **state) {
    (void)state;
    static const struct {
        const char *s;
        size_t n;
    } bad[] = {
        {"\0\0\0\0", 4},
        {"\0", 1},
        {"\x16\x03\x01\x02\x00", 5},        /* a TLS ClientHello */
        {"GARBAGE\r\n\r\n", 11},            /* no target */
        {" GET / HTTP/1.1\r\n", 17},        /* no method */
        {"GET  / HTTP/1.1\r\n", 17},        /* two spaces */
        {"GET /a\x01 HTTP/1.1\r\n", 18},    /* control byte in the target */
        {"GET /a\x7f HTTP/1.1\r\n", 18},
        {"GET \"/ HTTP/1.1\r\n", 17},       /* a target cannot start with a quote */
        {"GET / HTTP/x.1\r\n", 16},
        {"GET / HTTPS/1.1\r\n", 17},
        {"GET / HTTP/1.1 \r\n", 17},
        {"GET / HTTP/1.1\rX", 16},
        {"GET /\r\n", 7},                   /* HTTP/0.9 */
        {"GE\x80T / HTTP/1.1\r\n", 17},
        {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 40}, /* a 40-byte "method" */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (check(bad[i].s, bad[i].n) != HTTP_LINE_BAD) fail_msg("case %zu accepted (got %d)", i, check(bad[i].s, bad[i].n));
}

static void guard_lifecycle(void **state) {
    (void)state;
    http_guard_t *g = NULL;
    assert_int_equal(http_guard_new(1000, 1000, &g), 0);
    assert_non_null(g);
    http_guard_conn_t *c = http_guard_opened(g, -1); /* no socket: the peek fails and nothing is refused */
    assert_non_null(c);
    assert_int_equal(http_guard_head_done(c), 0);
    http_guard_request_done(g, c);
    assert_int_equal(http_guard_head_done(c), 0);
    http_guard_closed(g, c);
    http_guard_closed(g, NULL);
    http_guard_free(g);
}

/* A connection past its head deadline is shut down by the sweep and the head can no longer complete;
 * a connection that completed its head in time is left alone. */
static void head_deadline(void **state) {
    (void)state;
    int late[2], prompt[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, late), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, prompt), 0);
    http_guard_t *g = NULL;
    assert_int_equal(http_guard_new(1000, 1000, &g), 0);
    http_guard_conn_t *cl = http_guard_opened(g, late[0]), *cp = http_guard_opened(g, prompt[0]);
    assert_int_equal(http_guard_head_done(cp), 0);
    usleep(1400 * 1000);
    assert_int_equal(http_guard_head_done(cl), -1);
    char b[8];
    assert_int_equal(recv(late[1], b, sizeof b, MSG_DONTWAIT), 0); /* end of stream: shut down */
    assert_int_equal(recv(prompt[1], b, sizeof b, MSG_DONTWAIT), -1); /* still open, nothing sent */
    http_guard_closed(g, cl);
    http_guard_closed(g, cp);
    http_guard_free(g);
    for (int i = 0; i < 2; i++) close(late[i]), close(prompt[i]);
}

/* Garbage first bytes are answered 400 and the socket shut down; a good start is left for the server. */
static void refuse_garbage(void **state) {
    (void)state;
    int bad[2], good[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, bad), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, good), 0);
    assert_int_equal(send(bad[1], "\0\0\0", 3, 0), 3);
    assert_int_equal(send(good[1], "GET / HT", 8, 0), 8);
    http_guard_t *g = NULL;
    assert_int_equal(http_guard_new(10000, 1000, &g), 0);
    http_guard_conn_t *cb = http_guard_opened(g, bad[0]), *cg = http_guard_opened(g, good[0]);
    char out[512] = "";
    ssize_t n = recv(bad[1], out, sizeof out - 1, MSG_DONTWAIT);
    assert_true(n > 0);
    out[n] = '\0';
    assert_non_null(strstr(out, "HTTP/1.1 400 Bad Request\r\n"));
    assert_non_null(strstr(out, "\"errorType\":\"bad_data\""));
    assert_int_equal(recv(bad[1], out, sizeof out, MSG_DONTWAIT), 0);
    assert_int_equal(recv(good[0], out, sizeof out, MSG_DONTWAIT), 8); /* untouched, still readable */
    http_guard_closed(g, cb);
    http_guard_closed(g, cg);
    http_guard_free(g);
    for (int i = 0; i < 2; i++) close(bad[i]), close(good[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(valid_lines), cmocka_unit_test(malformed), cmocka_unit_test(guard_lifecycle),
                                       cmocka_unit_test(head_deadline), cmocka_unit_test(refuse_garbage)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
