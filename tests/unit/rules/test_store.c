/* The ruler's store: name escaping (a bijection whose output is never a path, "." or ".."), one group
 * parsed from an API body, groups written back to YAML and read back equal, atomic namespace files
 * (written whole, replaced, removed; a leftover temp file ignored and cleaned up), and loading every
 * owner's namespaces back, the unscoped owner apart from tenants. */
#include "rules/rules.h"
#include "util/fs.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static void escape_table(void **state) {
    (void)state;
    static const struct {
        const char *name, *esc;
    } cases[] = {
        {"ns1", "ns1"},
        {"team_a-prod", "team_a-prod"},
        {".", "%2E"},
        {"..", "%2E%2E"},
        {"../../etc/passwd", "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd"},
        {"a/b", "a%2Fb"},
        {"x.yml", "x%2Eyml"},
        {"100%", "100%25"},
        {"a b", "a%20b"},
        {"@unscoped", "%40unscoped"},
        {"alice@example.com:1", "alice%40example%2Ecom%3A1"},
        {"\xc3\xa9t\xc3\xa9", "%C3%A9t%C3%A9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char esc[RULES_STORE_ESCAPED_MAX + 1], back[RULES_STORE_ESCAPED_MAX + 1];
        assert_int_equal(rules_store_escape(cases[i].name, esc, sizeof esc), 0);
        assert_string_equal(esc, cases[i].esc);
        assert_null(strchr(esc, '/'));
        assert_null(strchr(esc, '.'));
        assert_int_equal(rules_store_unescape(esc, strlen(esc), back, sizeof back), 0);
        assert_string_equal(back, cases[i].name);
    }
}

static void escape_limits(void **state) {
    (void)state;
    char esc[RULES_STORE_ESCAPED_MAX + 1], back[64];
    assert_int_equal(rules_store_escape("", esc, sizeof esc), VG_EINVAL);
    char name[RULES_STORE_ESCAPED_MAX + 2];
    memset(name, 'a', RULES_STORE_ESCAPED_MAX);
    name[RULES_STORE_ESCAPED_MAX] = '\0';
    assert_int_equal(rules_store_escape(name, esc, sizeof esc), 0); /* exactly the longest */
    name[RULES_STORE_ESCAPED_MAX] = 'a', name[RULES_STORE_ESCAPED_MAX + 1] = '\0';
    assert_int_equal(rules_store_escape(name, esc, sizeof esc), VG_EINVAL);
    memset(name, '.', 81);
    name[81] = '\0'; /* 243 escaped bytes */
    assert_int_equal(rules_store_escape(name, esc, sizeof esc), VG_EINVAL);
    /* only the one escaped form of a name is accepted back */
    static const char *const bad[] = {"", "a.b", "a/b", "%2", "%zz", "%2e", "%61", "%00", "%"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(rules_store_unescape(bad[i], strlen(bad[i]), back, sizeof back), VG_EINVAL);
}

static const char group_yml[] = "name: g1\n"
                                "interval: 30s\n"
                                "limit: 3\n"
                                "rules:\n"
                                "- record: job:up:sum\n"
                                "  expr: sum by (job) (up)\n"
                                "  labels: {team: \"true\", level: \"1\"}\n"
                                "- alert: Down\n"
                                "  expr: |\n"
                                "    up\n"
                                "      == 0\n"
                                "  for: 5m\n"
                                "  keep_firing_for: 1m\n"
                                "  labels: {severity: page}\n"
                                "  annotations: {summary: \"{{ $labels.job }}: down\"}\n";

static void group_parse_and_write(void **state) {
    (void)state;
    rules_group_spec_t g;
    rules_errors_t errs;
    int rc = rules_group_parse("ns1", group_yml, strlen(group_yml), &g, &errs);
    if (rc) fail_msg("unexpected %d: %s", rc, errs.n ? errs.v[0].msg : "");
    assert_string_equal(g.name, "g1");
    assert_string_equal(g.file, "ns1");
    assert_int_equal(g.interval_ms, 30000);
    assert_int_equal(g.limit, 3);
    assert_int_equal(g.n_rules, 2);
    assert_string_equal(g.rules[1].expr, "up\n  == 0\n");
    /* written back and read back: the same group */
    vg_buf_t b = VG_BUF_INIT;
    assert_int_equal(rules_group_write_yaml(&g, &b), 0);
    assert_int_equal(vg_buf_putc(&b, '\0'), 0);
    assert_non_null(strstr(b.data, "name: g1\n"));
    assert_non_null(strstr(b.data, "limit: 3\n"));
    assert_non_null(strstr(b.data, "team: 'true'\n")); /* a string that would read as a boolean is quoted */
    rules_group_spec_t g2;
    rc = rules_group_parse("ns1", b.data, b.len - 1, &g2, &errs);
    if (rc) fail_msg("written group does not parse (%s):\n%s", errs.n ? errs.v[0].msg : "", b.data);
    assert_true(rules_group_spec_equal(&g, &g2));
    rules_group_spec_deinit(&g2);
    /* the namespace listing: a map of namespace → groups */
    vg_buf_reset(&b);
    const char *names[] = {"ns1", "true"};
    const rules_group_spec_t *groups[] = {&g, &g};
    size_t n_groups[] = {1, 0};
    rules_namespaces_t ns = {names, groups, n_groups, 2};
    assert_int_equal(rules_namespaces_write_yaml(&ns, &b), 0);
    assert_int_equal(vg_buf_putc(&b, '\0'), 0);
    assert_non_null(strstr(b.data, "ns1:\n- name: g1\n"));
    assert_non_null(strstr(b.data, "'true': []\n"));
    vg_buf_deinit(&b);
    rules_group_spec_deinit(&g);
}

static void group_parse_errors(void **state) {
    (void)state;
    static const struct {
        const char *yml, *msg;
        int line, col;
    } cases[] = {
        {"", "expected a rule group, got nothing", 1, 1},
        {"name: g\nrules:\n- record: \"bad name\"\n  expr: up\n", "group \"g\", rule 1, \"bad name\": invalid recording rule name: bad name", 3, 11},
        {"name: g\nrules:\n- alert: A\n  expr: sum(up\n", "could not parse expression: 1:7: parse error: unclosed left parenthesis", 4, 15},
        {"name: g\nbogus: 1\n", "unknown field \"bogus\"", 2, 1},
        {"groups:\n- name: g\n", "unknown field \"groups\"", 1, 1},
        {"name: [\n", "YAML syntax error", 2, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rules_group_spec_t g;
        rules_errors_t errs;
        assert_int_equal(rules_group_parse("ns", cases[i].yml, strlen(cases[i].yml), &g, &errs), VG_EINVAL);
        assert_true(errs.n >= 1);
        if (!strstr(errs.v[0].msg, cases[i].msg) || errs.v[0].line != cases[i].line || errs.v[0].col != cases[i].col)
            fail_msg("case %zu: got %d:%d: %s", i, errs.v[0].line, errs.v[0].col, errs.v[0].msg);
        rules_errors_free(&errs);
    }
}

typedef struct {
    char owner[8][64], ns[8][64];
    size_t n_groups[8];
    char first[8][64];
    size_t n;
} seen_t;

static void collect(void *ctx, const char *owner, const char *ns, rules_file_t *f) {
    seen_t *s = ctx;
    if (s->n < 8) {
        snprintf(s->owner[s->n], 64, "%s", owner ? owner : "(unscoped)");
        snprintf(s->ns[s->n], 64, "%s", ns);
        s->n_groups[s->n] = f->n_groups;
        snprintf(s->first[s->n], 64, "%s|%s", f->n_groups ? f->groups[0].name : "", f->n_groups ? f->groups[0].file : "");
        s->n++;
    }
    rules_file_free(f);
}

static int find(const seen_t *s, const char *owner, const char *ns) {
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->owner[i], owner) && !strcmp(s->ns[i], ns)) return (int)i;
    return -1;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void store_round_trip(void **state) {
    (void)state;
    char dir[] = "/tmp/vigil-ruler-store-XXXXXX", root[128], path[512];
    assert_non_null(mkdtemp(dir));
    snprintf(root, sizeof root, "%s/rules", dir);
    rules_group_spec_t g;
    rules_errors_t errs;
    assert_int_equal(rules_group_parse("../ns", group_yml, strlen(group_yml), &g, &errs), 0);
    vg_error_t err;
    /* a namespace that tries to leave the root stays a file inside its owner's directory */
    assert_int_equal(rules_store_write(root, "alice", "../ns", &g, 1, &err), 0);
    snprintf(path, sizeof path, "%s/alice/%%2E%%2E%%2Fns.yml", root);
    assert_true(exists(path));
    snprintf(path, sizeof path, "%s/ns.yml", root);
    assert_false(exists(path));
    snprintf(path, sizeof path, "%s/ns.yml", dir);
    assert_false(exists(path));
    assert_int_equal(rules_store_write(root, NULL, "ops", &g, 1, &err), 0);
    snprintf(path, sizeof path, "%s/@unscoped/ops.yml", root);
    assert_true(exists(path));
    /* replaced whole: two groups, then back to one */
    rules_group_spec_t two[2];
    two[0] = g, two[1] = g;
    two[1].name = "g2";
    assert_int_equal(rules_store_write(root, "bob@x", "ns", two, 2, &err), 0);
    /* a leftover temp file (a crash mid-write) does not count and is cleaned up */
    snprintf(path, sizeof path, "%s/bob%%40x/ns.yml.tmp", root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("groups: [garbage", f);
    fclose(f);
    /* and a file of some other kind is ignored */
    snprintf(path, sizeof path, "%s/bob%%40x/notes.txt", root);
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    seen_t s = {0};
    assert_int_equal(rules_store_load(root, collect, &s, &err), 3);
    int i = find(&s, "alice", "../ns");
    assert_true(i >= 0);
    assert_int_equal(s.n_groups[i], 1);
    assert_string_equal(s.first[i], "g1|../ns");
    assert_true((i = find(&s, "(unscoped)", "ops")) >= 0);
    assert_true((i = find(&s, "bob@x", "ns")) >= 0);
    assert_int_equal(s.n_groups[i], 2);
    snprintf(path, sizeof path, "%s/bob%%40x/ns.yml.tmp", root);
    assert_false(exists(path));
    /* no groups: the namespace file goes; removing it twice is no error */
    assert_int_equal(rules_store_write(root, "bob@x", "ns", NULL, 0, &err), 0);
    assert_int_equal(rules_store_write(root, "bob@x", "ns", NULL, 0, &err), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(rules_store_load(root, collect, &s, &err), 2);
    assert_int_equal(find(&s, "bob@x", "ns"), -1);
    /* a corrupt namespace file is skipped, the others load */
    snprintf(path, sizeof path, "%s/alice/broken.yml", root);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("groups:\n- name: [\n", f);
    fclose(f);
    memset(&s, 0, sizeof s);
    assert_int_equal(rules_store_load(root, collect, &s, &err), 2);
    /* names too long for a file are refused before anything is written */
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(rules_store_write(root, "alice", longname, &g, 1, &err), VG_EINVAL);
    /* a missing root is an empty store */
    memset(&s, 0, sizeof s);
    snprintf(path, sizeof path, "%s/none", dir);
    assert_int_equal(rules_store_load(path, collect, &s, &err), 0);
    rules_group_spec_deinit(&g);
    assert_int_equal(vg_fs_remove_all(dir, &err), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escape_table),          cmocka_unit_test(escape_limits),   cmocka_unit_test(group_parse_and_write),
        cmocka_unit_test(group_parse_errors), cmocka_unit_test(store_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
