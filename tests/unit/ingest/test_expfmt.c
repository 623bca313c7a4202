/* ingest expfmt: the text 0.0.4 and OpenMetrics parsers — entries, escapes, special values,
 * timestamps, metadata, OpenMetrics rules, every prefix of valid inputs, a table of malformed inputs
 * with their exact messages, limits. Every input is parsed from an exact-size heap copy so ASan sees
 * any read past its end. */
#include "ingest/ingest.h"
#include "ingest/ingest_int.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>

#define TEXT INGEST_EXPFMT_TEXT
#define OM INGEST_EXPFMT_OPENMETRICS

typedef struct {
    int rc;           /* last return: 0 EOF or < 0 */
    int n;            /* entries */
    char dump[16384]; /* one line per entry */
    vg_error_t err;
} result_t;

static void appendf(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void appendf(char *dst, size_t cap, const char *fmt, ...) {
    size_t n = strlen(dst);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst + n, cap - n, fmt, ap);
    va_end(ap);
}

static void fmt_value(char *out, size_t cap, double v) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    if (isnan(v)) snprintf(out, cap, "NaN(%016llx)", (unsigned long long)bits);
    else if (isinf(v)) snprintf(out, cap, "%sInf", v < 0 ? "-" : "+");
    else snprintf(out, cap, "%.17g", v);
}

static bool inside(ingest_str_t s, const char *a, size_t alen, const char *b, size_t blen) {
    if (s.len == 0) return true;
    return (s.ptr >= a && s.ptr + s.len <= a + alen) || (s.ptr >= b && s.ptr + s.len <= b + blen);
}

/* Parses in (copied to an exact-size heap buffer) and dumps every entry. */
static void parse_all(ingest_expfmt_format_t fmt, const char *in, size_t len, const ingest_expfmt_limits_t *lim,
                      size_t labels_cap, result_t *r) {
    char *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    memcpy(buf, in, len);
    ingest_label_t labels[64];
    char scratch[4096];
    if (labels_cap > 64) labels_cap = 64;
    ingest_expfmt_parser_t p;
    ingest_expfmt_init(&p, fmt, buf, len, lim, labels, labels_cap, scratch, sizeof scratch);
    memset(r, 0, sizeof *r);
    ingest_expfmt_entry_t e;
    for (;;) {
        int rc = ingest_expfmt_next(&p, &e, &r->err);
        if (rc <= 0) {
            r->rc = rc;
            if (rc < 0) {
                assert_int_equal(r->err.code, rc);
                assert_true(r->err.msg[0] != '\0');
                assert_true(r->err.line >= 1 && r->err.col >= 1);
                /* sticky */
                vg_error_t again;
                assert_int_equal(ingest_expfmt_next(&p, &e, &again), rc);
                assert_string_equal(again.msg, r->err.msg);
            } else {
                assert_int_equal(ingest_expfmt_next(&p, &e, NULL), 0);
            }
            break;
        }
        r->n++;
        assert_int_equal((int)e.kind, rc);
        assert_true(inside(e.name, buf, len, scratch, sizeof scratch));
        assert_true(inside(e.text, buf, len, scratch, sizeof scratch));
        assert_true(inside(e.series, buf, len, scratch, sizeof scratch));
        char v[64];
        switch (e.kind) {
        case INGEST_EXPFMT_SERIES:
            appendf(r->dump, sizeof r->dump, "S %.*s{", (int)e.name.len, e.name.ptr);
            for (size_t i = 0; i < e.n_labels; i++) {
                assert_true(inside(e.labels[i].name, buf, len, scratch, sizeof scratch));
                assert_true(inside(e.labels[i].value, buf, len, scratch, sizeof scratch));
                appendf(r->dump, sizeof r->dump, "%s%.*s=%.*s", i ? "," : "", (int)e.labels[i].name.len,
                        e.labels[i].name.ptr, (int)e.labels[i].value.len, e.labels[i].value.ptr);
            }
            fmt_value(v, sizeof v, e.value);
            appendf(r->dump, sizeof r->dump, "} %s", v);
            if (e.has_ts) appendf(r->dump, sizeof r->dump, " @%lld", (long long)e.ts_ms);
            if (e.mtype) appendf(r->dump, sizeof r->dump, " [%s]", ingest_mtype_name(e.mtype));
            if (e.created) appendf(r->dump, sizeof r->dump, " created");
            if (e.has_exemplar) {
                fmt_value(v, sizeof v, e.exemplar_value);
                appendf(r->dump, sizeof r->dump, " # %.*s %s", (int)e.exemplar_labels.len, e.exemplar_labels.ptr, v);
                if (e.exemplar_has_ts) appendf(r->dump, sizeof r->dump, " @%lld", (long long)e.exemplar_ts_ms);
            }
            break;
        case INGEST_EXPFMT_HELP:
            appendf(r->dump, sizeof r->dump, "H %.*s %.*s", (int)e.name.len, e.name.ptr, (int)e.text.len, e.text.ptr);
            break;
        case INGEST_EXPFMT_TYPE:
            appendf(r->dump, sizeof r->dump, "T %.*s %s", (int)e.name.len, e.name.ptr, ingest_mtype_name(e.mtype));
            break;
        case INGEST_EXPFMT_UNIT:
            appendf(r->dump, sizeof r->dump, "U %.*s %.*s", (int)e.name.len, e.name.ptr, (int)e.text.len, e.text.ptr);
            break;
        case INGEST_EXPFMT_COMMENT:
            appendf(r->dump, sizeof r->dump, "C %.*s", (int)e.text.len, e.text.ptr);
            break;
        default: fail_msg("kind %d", e.kind);
        }
        appendf(r->dump, sizeof r->dump, " (l%u)\n", e.line);
    }
    free(buf);
}

static void expect_dump(ingest_expfmt_format_t fmt, const char *in, const char *want) {
    result_t r;
    parse_all(fmt, in, strlen(in), NULL, 64, &r);
    if (r.rc != 0) fail_msg("input %s: unexpected error %s", in, r.err.msg);
    if (strcmp(r.dump, want) != 0) {
        size_t i = 0, line = 0;
        while (r.dump[i] && r.dump[i] == want[i]) line += want[i++] == '\n';
        while (i && want[i - 1] != '\n') i--;
        fail_msg("entry %zu differs:\n got: %.200s\nwant: %.200s", line + 1, r.dump + i, want + i);
    }
}

static const char node_text[] =
    "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n"
    "# TYPE node_cpu_seconds_total counter\n"
    "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12345.67\n"
    "node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 1.5e+03\n"
    "\n"
    "# HELP node_filesystem_avail_bytes Filesystem space available to non-root users in bytes.\n"
    "# TYPE node_filesystem_avail_bytes gauge\n"
    "node_filesystem_avail_bytes{device=\"/dev/sda1\",fstype=\"ext4\",mountpoint=\"/\"} 4.2e+10\n"
    "# TYPE http_request_duration_seconds histogram\n"
    "http_request_duration_seconds_bucket{le=\"0.1\"} 3\n"
    "http_request_duration_seconds_bucket{le=\"+Inf\"} 7\n"
    "http_request_duration_seconds_sum 1.25\n"
    "http_request_duration_seconds_count 7\n"
    "go_goroutines 42 1700000000000\n"
    "# a plain comment\n"
    "up 1";

static void text_node_exporter(void **state) {
    (void)state;
    expect_dump(TEXT, node_text,
                "H node_cpu_seconds_total Seconds the CPUs spent in each mode. (l1)\n"
                "T node_cpu_seconds_total counter (l2)\n"
                "S node_cpu_seconds_total{cpu=0,mode=idle} 12345.67 [counter] (l3)\n"
                "S node_cpu_seconds_total{cpu=0,mode=user} 1500 [counter] (l4)\n"
                "H node_filesystem_avail_bytes Filesystem space available to non-root users in bytes. (l6)\n"
                "T node_filesystem_avail_bytes gauge (l7)\n"
                "S node_filesystem_avail_bytes{device=/dev/sda1,fstype=ext4,mountpoint=/} 42000000000 [gauge] (l8)\n"
                "T http_request_duration_seconds histogram (l9)\n"
                "S http_request_duration_seconds_bucket{le=0.1} 3 [histogram] (l10)\n"
                "S http_request_duration_seconds_bucket{le=+Inf} 7 [histogram] (l11)\n"
                "S http_request_duration_seconds_sum{} 1.25 [histogram] (l12)\n"
                "S http_request_duration_seconds_count{} 7 [histogram] (l13)\n"
                "S go_goroutines{} 42 @1700000000000 (l14)\n"
                "C # a plain comment (l15)\n"
                "S up{} 1 (l16)\n");
}

static void text_whitespace_and_quirks(void **state) {
    (void)state;
    /* blanks anywhere between tokens, trailing comma, missing comma (promparse accepts both),
     * empty braces, CR-free blank lines, tabs, value glued to the name */
    expect_dump(TEXT,
                "  \t\n"
                "m { a = \"1\" , b=\"2\", } \t 3 \t 4 \t\n"
                "m{a=\"1\" b=\"2\"} 5\n"
                "m{} 6\n"
                "m+7\n"
                "m{a=\"x\"}8\n"
                "  \t# comments and metadata may be indented\n"
                "m 9\n"
                "\t\x00 a NUL starting a line ends the input, as in Prometheus\n"
                "m{ 10\n",
                "S m{a=1,b=2} 3 @4 (l2)\n"
                "S m{a=1,b=2} 5 (l3)\n"
                "S m{} 6 (l4)\n"
                "S m{} 7 (l5)\n"
                "S m{a=x} 8 (l6)\n"
                "C # comments and metadata may be indented (l7)\n"
                "S m{} 9 (l8)\n");
}

static void text_escapes(void **state) {
    (void)state;
    expect_dump(TEXT,
                "m{a=\"q\\\"b\\\\s\\nn\",b=\"plain\",c=\"\\t kept\"} 1\n"
                "# HELP m help with \\\\ and \\n and \\\" kept\n"
                "m{a=\"line1\nline2\"} 2\n"
                "m{a=\"caf\xc3\xa9 \xe2\x82\xac\"} 3\n",
                "S m{a=q\"b\\s\nn,b=plain,c=\\t kept} 1 (l1)\n"
                "H m help with \\ and \n and \\\" kept (l2)\n"
                "S m{a=line1\nline2} 2 (l3)\n"
                "S m{a=caf\xc3\xa9 \xe2\x82\xac} 3 (l5)\n");
}

static void text_special_values(void **state) {
    (void)state;
    expect_dump(TEXT,
                "a NaN\nb nan\nc +Inf\nd -Inf\ne inf\nf Infinity\ng -infinity\nh 1e308\ni -0\n"
                "j 4.9e-324\nk 1e-400\nl .5\nm 5.\nn +1.5E-3\no 00012\np 123456789012345678901234567890\n"
                "q 0.1\nr 9007199254740993\n",
                "S a{} NaN(7ff8000000000001) (l1)\n"
                "S b{} NaN(7ff8000000000001) (l2)\n"
                "S c{} +Inf (l3)\n"
                "S d{} -Inf (l4)\n"
                "S e{} +Inf (l5)\n"
                "S f{} +Inf (l6)\n"
                "S g{} -Inf (l7)\n"
                "S h{} 1e+308 (l8)\n"
                "S i{} -0 (l9)\n"
                "S j{} 4.9406564584124654e-324 (l10)\n"
                "S k{} 0 (l11)\n"
                "S l{} 0.5 (l12)\n"
                "S m{} 5 (l13)\n"
                "S n{} 0.0015 (l14)\n"
                "S o{} 12 (l15)\n"
                "S p{} 1.2345678901234568e+29 (l16)\n"
                "S q{} 0.10000000000000001 (l17)\n"
                "S r{} 9007199254740992 (l18)\n");
}

static void text_timestamps(void **state) {
    (void)state;
    expect_dump(TEXT, "a 1 0\nb 1 9223372036854775807\nc 1 1700000000123   \n",
                "S a{} 1 @0 (l1)\nS b{} 1 @9223372036854775807 (l2)\nS c{} 1 @1700000000123 (l3)\n");
}

static void text_metadata(void **state) {
    (void)state;
    expect_dump(TEXT,
                "# HELP\n"              /* no blank after HELP: a comment */
                "# HELP a\n"            /* no text: empty help */
                "# HELP b \n"           /* only blanks: empty help */
                "# HELP c  two blanks\n" /* one separator byte is dropped, the rest kept */
                "#\tTYPE d untyped\n"
                "# TYPE e summary\n"
                "#HELP f x\n" /* no blank after '#': a comment */
                "# other\n",
                "C # HELP (l1)\n"
                "H a  (l2)\n"
                "H b  (l3)\n"
                "H c  two blanks (l4)\n"
                "T d unknown (l5)\n"
                "T e summary (l6)\n"
                "C #HELP f x (l7)\n"
                "C # other (l8)\n");
}

static void om_full(void **state) {
    (void)state;
    expect_dump(OM,
                "# TYPE http_requests counter\n"
                "# HELP http_requests Requests \\\"served\\\" \\\\ ok\\n.\n"
                "http_requests_total{code=\"200\"} 1027 1395066363.000 # {trace_id=\"KOO5S4vxi0o\"} 0.67 1395066363.5\n"
                "http_requests_total{code=\"400\"} 3 # {} 1\n"
                "http_requests_created{code=\"200\"} 1395066363.5\n"
                "# TYPE request_seconds histogram\n"
                "# UNIT request_seconds seconds\n"
                "request_seconds_bucket{le=\"0.5\"} 1 # {a=\"b\",c=\"d\"} 0.2\n"
                "request_seconds_bucket{le=\"+Inf\"} 2\n"
                "request_seconds_count 2\n"
                "request_seconds_sum 0.7\n"
                "request_seconds_created 1.5e9\n"
                "# TYPE build info\n"
                "build_info{version=\"1.0\"} 1\n"
                "# TYPE temp gauge\n"
                "# UNIT temp \n"
                "temp -1.5 -3.25\n"
                "temp_created 1\n" /* not part of a gauge family */
                "# EOF\n",
                "T http_requests counter (l1)\n"
                "H http_requests Requests \"served\" \\ ok\n. (l2)\n"
                "S http_requests_total{code=200} 1027 @1395066363000 [counter] # {trace_id=\"KOO5S4vxi0o\"} 0.67000000000000004 @1395066363500 (l3)\n"
                "S http_requests_total{code=400} 3 [counter] # {} 1 (l4)\n"
                "S http_requests_created{code=200} 1395066363.5 [counter] created (l5)\n"
                "T request_seconds histogram (l6)\n"
                "U request_seconds seconds (l7)\n"
                "S request_seconds_bucket{le=0.5} 1 [histogram] # {a=\"b\",c=\"d\"} 0.20000000000000001 (l8)\n"
                "S request_seconds_bucket{le=+Inf} 2 [histogram] (l9)\n"
                "S request_seconds_count{} 2 [histogram] (l10)\n"
                "S request_seconds_sum{} 0.69999999999999996 [histogram] (l11)\n"
                "S request_seconds_created{} 1500000000 [histogram] created (l12)\n"
                "T build info (l13)\n"
                "S build_info{version=1.0} 1 [info] (l14)\n"
                "T temp gauge (l15)\n"
                "U temp  (l16)\n"
                "S temp{} -1.5 @-3250 [gauge] (l17)\n"
                "S temp_created{} 1 (l18)\n");
    /* "# EOF" may end the input without a newline */
    expect_dump(OM, "a 1\n# EOF", "S a{} 1 (l1)\n");
    expect_dump(OM, "# EOF", "");
}

/* Parses every prefix of a valid input: none may crash or read past its end; text prefixes give
 * a subset of the entries or a clean error, OpenMetrics prefixes (without the final "# EOF") fail. */
static void check_prefixes(ingest_expfmt_format_t fmt, const char *in) {
    size_t len = strlen(in);
    result_t full, r;
    parse_all(fmt, in, len, NULL, 64, &full);
    assert_int_equal(full.rc, 0);
    for (size_t n = 0; n < len; n++) {
        parse_all(fmt, in, n, NULL, 64, &r);
        assert_true(r.n <= full.n);
        if (r.rc == 0) {
            if (fmt == OM && n < len - 1) fail_msg("OpenMetrics prefix %zu parsed without # EOF", n);
            if (strncmp(full.dump, r.dump, strlen(r.dump)) != 0 && fmt == OM)
                fail_msg("prefix %zu: %s", n, r.dump);
        } else {
            assert_non_null(strstr(r.err.msg, "line "));
            assert_true(r.rc == VG_EINVAL || r.rc == VG_ELIMIT);
        }
    }
}

static void every_prefix(void **state) {
    (void)state;
    check_prefixes(TEXT, node_text);
    check_prefixes(TEXT, "m{a=\"q\\\"b\\\\s\\nn\"} 1 2\n# HELP m x\\\\y\n# TYPE m gauge\nm{a=\"1\nx\"} NaN\n");
    check_prefixes(OM, "# TYPE a counter\n# HELP a h\\\"i\n# UNIT a_seconds seconds\n"
                       "a_total{x=\"y\"} 1 2.5 # {t=\"v\"} 3 4\na_created 5\n# EOF\n");
}

typedef struct {
    ingest_expfmt_format_t fmt;
    const char *in;
    int code;
    const char *msg;
    size_t len; /* 0: strlen(in) */
} bad_t;

static const bad_t bad_inputs[] = {
    /* text format 0.0.4 */
    {TEXT, "-1 2\n", VG_EINVAL, "line 1, column 1: expected a valid start token, got \"-1\""},
    {TEXT, "m{1=\"a\"} 1\n", VG_EINVAL, "line 1, column 3: expected label name, got \"1\""},
    {TEXT, "a 1\nm{a=\"b\",,} 1\n", VG_EINVAL, "line 2, column 9: expected label name, got \",\""},
    {TEXT, "m{a \"b\"} 1\n", VG_EINVAL, "line 1, column 5: expected equal, got \"\\\"\""},
    {TEXT, "m{a=b} 1\n", VG_EINVAL, "line 1, column 5: expected label value, got \"b\""},
    {TEXT, "m{a=\"b} 1\n", VG_EINVAL, "line 1, column 5: unterminated label value"},
    {TEXT, "m{a=\"b\\\n\"} 1\n", VG_EINVAL, "line 1, column 7: invalid escape sequence in label value"},
    {TEXT, "m{a=\"\xff\"} 1\n", VG_EINVAL, "line 1, column 6: invalid UTF-8 label value"},
    {TEXT, "m{a=\"\xed\xa0\x80\"} 1\n", VG_EINVAL, "line 1, column 6: invalid UTF-8 label value"},
    {TEXT, "m\n", VG_EINVAL, "line 1, column 2: expected value after metric, got \"\\n\""},
    {TEXT, "m", VG_EINVAL, "line 1, column 2: expected value after metric, got end of input"},
    {TEXT, "m{a=\"b\"}{} 1\n", VG_EINVAL, "line 1, column 9: expected value after metric, got \"{\""},
    {TEXT, "m abc\n", VG_EINVAL, "line 1, column 3: parsing value \"abc\": invalid syntax"},
    {TEXT, "m 0x1p3\n", VG_EINVAL, "line 1, column 3: parsing value \"0x1p3\": unsupported character in float"},
    {TEXT, "m 1_000\n", VG_EINVAL, "line 1, column 3: parsing value \"1_000\": unsupported character in float"},
    {TEXT, "m 0x10\n", VG_EINVAL, "line 1, column 3: parsing value \"0x10\": invalid syntax"},
    {TEXT, "m 1e400\n", VG_EINVAL, "line 1, column 3: parsing value \"1e400\": value out of range"},
    {TEXT, "m +NaN\n", VG_EINVAL, "line 1, column 3: parsing value \"+NaN\": invalid syntax"},
    {TEXT, "m 1 -5\n", VG_EINVAL, "line 1, column 5: expected timestamp or new record, got \"-5\""},
    {TEXT, "m 1 1.5\n", VG_EINVAL, "line 1, column 6: expected next entry after timestamp, got \".5\""},
    {TEXT, "m 1 2 3\n", VG_EINVAL, "line 1, column 7: expected next entry after timestamp, got \"3\""},
    {TEXT, "m 1 99999999999999999999\n", VG_EINVAL,
     "line 1, column 5: parsing timestamp \"99999999999999999999\": value out of range"},
    {TEXT, "m 1\r\n", VG_EINVAL, "line 1, column 3: parsing value \"1\\x0d\": invalid syntax"},
    {TEXT, "# TYPE m countr\n", VG_EINVAL, "line 1, column 10: invalid metric type \"countr\""},
    {TEXT, "# TYPE m counter \n", VG_EINVAL, "line 1, column 10: invalid metric type \"counter \""},
    {TEXT, "# TYPE m gaugehistogram\n", VG_EINVAL, "line 1, column 10: invalid metric type \"gaugehistogram\""},
    {TEXT, "# HELP 9m x\n", VG_EINVAL, "line 1, column 8: expected metric name after HELP, got \"9m\""},
    {TEXT, "# TYPE \n", VG_EINVAL, "line 1, column 8: expected metric name after TYPE, got \"\\n\""},
    {TEXT, "# HELP m \xc3\x28\n", VG_EINVAL, "line 1, column 10: help text is not valid UTF-8"},
    {TEXT, "m{a=\"1\"}\x00 1\n", VG_EINVAL, "line 1, column 9: parsing value \"\\x00\": invalid syntax", 13},
    {TEXT, "ok 1\nok 2\n\nm{a=\"1\nb\"} 1 x\n", VG_EINVAL,
     "line 5, column 7: expected timestamp or new record, got \"x\""},
    {TEXT, "m{a=\"b\" c} 1\n", VG_EINVAL, "line 1, column 10: expected equal, got \"}\""},
    {TEXT, "a 1\n\t m 1\n", VG_EINVAL, "line 2, column 1: expected the metric name at the start of the line, got \"\\t\""},
    {TEXT, "m 1\x00\n", VG_EINVAL, "line 1, column 3: parsing value \"1\\x00\": invalid syntax", 5},
    /* OpenMetrics 1.0 */
    {OM, "a 1\n", VG_EINVAL, "line 2, column 1: data does not end with # EOF"},
    {OM, "", VG_EINVAL, "line 1, column 1: data does not end with # EOF"},
    {OM, "a 1", VG_EINVAL, "line 1, column 4: data does not end with # EOF"},
    {OM, "# EOF\n\n", VG_EINVAL, "line 1, column 7: unexpected data after # EOF"},
    {OM, "# EOF\na 1\n", VG_EINVAL, "line 1, column 7: unexpected data after # EOF"},
    {OM, "# EOFx\n", VG_EINVAL, "line 1, column 6: unexpected data after # EOF"},
    {OM, "a 1\n\n# EOF\n", VG_EINVAL, "line 2, column 1: expected a valid start token, got \"\\n\""},
    {OM, " a 1\n# EOF\n", VG_EINVAL, "line 1, column 1: expected a valid start token, got \" \""},
    {OM, "# comment\n# EOF\n", VG_EINVAL, "line 1, column 1: expected a valid start token, got \"#\""},
    {OM, "a  1\n# EOF\n", VG_EINVAL, "line 1, column 2: expected value after metric, got \" \""},
    {OM, "a{b=\"c\" } 1\n# EOF\n", VG_EINVAL, "line 1, column 8: expected comma or brace close, got \" \""},
    {OM, "a{ b=\"c\"} 1\n# EOF\n", VG_EINVAL, "line 1, column 3: expected label name, got \" \""},
    {OM, "a{b=\"c\nd\"} 1\n# EOF\n", VG_EINVAL, "line 1, column 5: unterminated label value"},
    {OM, "a 1 2 3\n# EOF\n", VG_EINVAL, "line 1, column 6: expected next entry after timestamp, got \" \""},
    {OM, "a 1 NaN\n# EOF\n", VG_EINVAL, "line 1, column 5: invalid timestamp NaN"},
    {OM, "a 1  2\n# EOF\n", VG_EINVAL, "line 1, column 4: expected timestamp or # symbol, got \" \""},
    {OM, "a_total 1 # {x=\"y\"}\n# EOF\n", VG_EINVAL, "line 1, column 20: expected value after exemplar labels, got \"\\n\""},
    {OM, "a_total 1 # {x=\"y\"} 1 2 3\n# EOF\n", VG_EINVAL,
     "line 1, column 24: expected next entry after exemplar timestamp, got \" \""},
    {OM, "a_total 1 # {x=\"y\"} 1 Inf\n# EOF\n", VG_EINVAL, "line 1, column 23: invalid exemplar timestamp Inf"},
    {OM, "a_bucket 1 # {x} 1\n# EOF\n", VG_EINVAL, "line 1, column 16: expected equal, got \"}\""},
    {OM, "a 1 # {x=\"y\"} 1\n# EOF\n", VG_EINVAL, "line 1, column 5: metric name a does not support exemplars"},
    {OM, "a{b=\"c\",} 1\n# EOF\n", VG_EINVAL, "line 1, column 9: expected label name, got \"}\""},
    {OM, "a_total 1 # {b=\"c\",} 1\n# EOF\n", VG_EINVAL, "line 1, column 20: expected label name, got \"}\""},
    {OM, "# TYPE a untyped\n# EOF\n", VG_EINVAL, "line 1, column 10: invalid metric type \"untyped\""},
    {OM, "# HELP a\n# EOF\n", VG_EINVAL, "line 1, column 9: expected text in HELP, got \"\\n\""},
    {OM, "# UNIT a_bytes seconds\n# EOF\n", VG_EINVAL,
     "line 1, column 16: unit \"seconds\" not a suffix of metric \"a_bytes\""},
    {OM, "# UNIT seconds seconds\n# EOF\n", VG_EINVAL,
     "line 1, column 16: unit \"seconds\" not a suffix of metric \"seconds\""},
    {OM, "# HELP a b", VG_EINVAL, "line 1, column 9: expected text in HELP, got \" \""},
};

static void malformed_table(void **state) {
    (void)state;
    size_t n = sizeof bad_inputs / sizeof bad_inputs[0];
    assert_true(n >= 30);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        const bad_t *c = &bad_inputs[i];
        result_t r;
        size_t len = c->len ? c->len : strlen(c->in);
        parse_all(c->fmt, c->in, len, NULL, 64, &r);
        if (r.rc != c->code || strcmp(r.err.msg, c->msg) != 0) {
            print_error("case %zu (%s): rc=%d msg=[%s]\n want rc=%d msg=[%s]\n", i, c->in, r.rc, r.err.msg, c->code, c->msg);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void limits(void **state) {
    (void)state;
    result_t r;
    ingest_expfmt_limits_t lim = {.max_line_len = 16, .max_name_len = 4, .max_value_len = 3};
    parse_all(TEXT, "ok 1\nthis_line_is_long 1\n", 22, &lim, 8, &r);
    assert_int_equal(r.rc, VG_ELIMIT);
    assert_string_equal(r.err.msg, "line 2, column 1: line too long: 17 bytes, limit 16");
    assert_int_equal(r.n, 1);
    parse_all(TEXT, "abcde 1\n", 8, &lim, 8, &r);
    assert_string_equal(r.err.msg, "line 1, column 1: metric name too long: 5 bytes, limit 4");
    parse_all(TEXT, "m{abcde=\"\"} 1\n", 14, &lim, 8, &r);
    assert_string_equal(r.err.msg, "line 1, column 3: label name too long: 5 bytes, limit 4");
    parse_all(TEXT, "m{a=\"abcd\"} 1\n", 14, &lim, 8, &r);
    assert_string_equal(r.err.msg, "line 1, column 6: label value too long: 4 bytes, limit 3");
    parse_all(TEXT, "m{a=\"\",b=\"\"} 1\n", 16, &lim, 1, &r);
    assert_int_equal(r.rc, VG_ELIMIT);
    assert_string_equal(r.err.msg, "line 1, column 8: too many labels: limit 1");
    /* exactly at the limits is fine */
    parse_all(TEXT, "abcd{abcd=\"xyz\"} 1\n", 19, &(ingest_expfmt_limits_t){.max_line_len = 18, .max_name_len = 4, .max_value_len = 3}, 1, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.n, 1);
    /* a scratch buffer too small for the unescaped values */
    const char *in = "m{a=\"\\\\\\\\\\\\\"} 1\n";
    ingest_label_t labels[4];
    char scratch[2];
    ingest_expfmt_parser_t p;
    ingest_expfmt_entry_t e;
    vg_error_t err;
    ingest_expfmt_init(&p, TEXT, in, strlen(in), NULL, labels, 4, scratch, sizeof scratch);
    assert_int_equal(ingest_expfmt_next(&p, &e, &err), VG_ELIMIT);
    assert_string_equal(err.msg, "line 1, column 6: unescaped strings exceed the scratch buffer (2 bytes)");
    /* no label storage at all: a series with labels is a limit error, one without parses */
    ingest_expfmt_init(&p, TEXT, "a 1\nb{c=\"d\"} 2\n", 15, NULL, NULL, 0, NULL, 0);
    assert_int_equal(ingest_expfmt_next(&p, &e, &err), INGEST_EXPFMT_SERIES);
    assert_int_equal(ingest_expfmt_next(&p, &e, &err), VG_ELIMIT);
}

static void content_type(void **state) {
    (void)state;
    assert_int_equal(ingest_expfmt_from_content_type(NULL), TEXT);
    assert_int_equal(ingest_expfmt_from_content_type(""), TEXT);
    assert_int_equal(ingest_expfmt_from_content_type("text/plain; version=0.0.4; charset=utf-8"), TEXT);
    assert_int_equal(ingest_expfmt_from_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8"), OM);
    assert_int_equal(ingest_expfmt_from_content_type("Application/OpenMetrics-Text"), OM);
    assert_int_equal(ingest_expfmt_from_content_type(" application/openmetrics-text ;version=0.0.1"), OM);
    assert_int_equal(ingest_expfmt_from_content_type("application/openmetrics-textx"), TEXT);
    assert_int_equal(ingest_expfmt_from_content_type("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily"), TEXT);
    assert_string_equal(INGEST_EXPFMT_ACCEPT,
                        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                        "text/plain;version=0.0.4;q=0.5,*/*;q=0.1");
}

static void family_rules(void **state) {
    (void)state;
#define S(x) ((ingest_str_t){x, sizeof x - 1})
    assert_true(ingest_expfmt_in_family(S("a_total"), S("a"), INGEST_MTYPE_COUNTER));
    assert_true(ingest_expfmt_in_family(S("a"), S("a"), INGEST_MTYPE_GAUGE));
    assert_false(ingest_expfmt_in_family(S("a_total"), S("a"), INGEST_MTYPE_GAUGE));
    assert_true(ingest_expfmt_in_family(S("a_bucket"), S("a"), INGEST_MTYPE_HISTOGRAM));
    assert_true(ingest_expfmt_in_family(S("a_gsum"), S("a"), INGEST_MTYPE_GAUGEHISTOGRAM));
    assert_false(ingest_expfmt_in_family(S("a_sum"), S("a"), INGEST_MTYPE_GAUGEHISTOGRAM));
    assert_true(ingest_expfmt_in_family(S("a_info"), S("a"), INGEST_MTYPE_INFO));
    assert_false(ingest_expfmt_in_family(S("ab_total"), S("a"), INGEST_MTYPE_COUNTER));
    assert_false(ingest_expfmt_in_family(S("b_total"), S("a"), INGEST_MTYPE_COUNTER));
#undef S
}

/* The exact fast path and the strtod fallback agree bit for bit with strtod on random decimals. */
static void float_matches_strtod(void **state) {
    (void)state;
    unsigned seed = 42;
    char s[64];
    for (int iter = 0; iter < 200000; iter++) {
        size_t n = 0;
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 4;
        if (r & 1) s[n++] = r & 2 ? '-' : '+';
        size_t nd = 1 + (r >> 2) % 24, dot = (r >> 7) % (nd + 1);
        for (size_t i = 0; i < nd; i++) {
            if (i == dot && (r & 4)) s[n++] = '.';
            seed = seed * 1103515245u + 12345u;
            s[n++] = (char)('0' + (seed >> 8) % 10);
        }
        if (r & 8) n += (size_t)snprintf(s + n, sizeof s - n, "e%d", (int)((r >> 12) % 700) - 350);
        s[n] = '\0';
        double got, want = strtod(s, NULL);
        int rc = ingest__parse_float(s, n, &got);
        if (isinf(want)) {
            assert_int_equal(rc, INGEST__FLOAT_RANGE);
            continue;
        }
        if (rc != 0 || memcmp(&got, &want, sizeof got) != 0) fail_msg("%s: rc=%d got %.17g want %.17g", s, rc, got, want);
    }
    const char *syntax[] = {"", "+", "-", ".", "e5", "1e", "1e+", "1.2.3", "0x10", "0x1.8", "1f", "--1", "+nan",
                            "nann", "in", "infinit", "infinityy", "1 ", " 1", "1,5", "\xd9\xa1"};
    for (size_t i = 0; i < sizeof syntax / sizeof syntax[0]; i++) {
        double v;
        if (ingest__parse_float(syntax[i], strlen(syntax[i]), &v) != INGEST__FLOAT_SYNTAX) fail_msg("[%s]", syntax[i]);
    }
    const char *unsupported[] = {"0x1p-2", "1_000", "1P5", "_1", "infp"};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        double v;
        assert_int_equal(ingest__parse_float(unsupported[i], strlen(unsupported[i]), &v), INGEST__FLOAT_UNSUPPORTED);
    }
}

#include "compat_cases.h"

/* The parser accepts exactly the inputs a real Prometheus 2.42 scraped successfully. */
static void prometheus_compat(void **state) {
    (void)state;
    int bad = 0;
    size_t n = sizeof compat_cases / sizeof compat_cases[0];
    assert_true(n >= 100);
    for (size_t i = 0; i < n; i++) {
        result_t r;
        parse_all(compat_cases[i].fmt, compat_cases[i].in, compat_cases[i].len, NULL, 64, &r);
        if ((r.rc == 0) != compat_cases[i].prom_up) {
            print_error("compat case %zu (%s): Prometheus %s, parser %s\n", i, compat_cases[i].in,
                        compat_cases[i].prom_up ? "up" : "down", r.rc == 0 ? "ok" : r.err.msg);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* The fuzz seeds are valid inputs of their format (.prom text, .om OpenMetrics). */
static void fuzz_seeds_parse(void **state) {
    (void)state;
    const char *root = getenv("VIGIL_SOURCE_ROOT");
    char dir[1024], path[2048];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/expfmt/seeds", root ? root : ".");
    DIR *d = opendir(dir);
    if (!d) skip();
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        bool om = l > 3 && !strcmp(de->d_name + l - 3, ".om");
        if (!om && !(l > 5 && !strcmp(de->d_name + l - 5, ".prom"))) continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char buf[65536];
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        result_t r;
        parse_all(om ? OM : TEXT, buf, len, NULL, 64, &r);
        if (r.rc != 0 || r.n == 0) fail_msg("%s: %s", de->d_name, r.err.msg);
        n++;
    }
    closedir(d);
    assert_true(n >= 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_node_exporter), cmocka_unit_test(text_whitespace_and_quirks),
        cmocka_unit_test(text_escapes),       cmocka_unit_test(text_special_values),
        cmocka_unit_test(text_timestamps),    cmocka_unit_test(text_metadata),
        cmocka_unit_test(om_full),            cmocka_unit_test(every_prefix),
        cmocka_unit_test(malformed_table),    cmocka_unit_test(limits),
        cmocka_unit_test(content_type),       cmocka_unit_test(family_rules),
        cmocka_unit_test(fuzz_seeds_parse),   cmocka_unit_test(float_matches_strtod),
        cmocka_unit_test(prometheus_compat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
