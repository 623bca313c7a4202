/* The ruler in the service: owners (a tenant's own groups, X-Scope-OrgID refused to a tenant naming
 * another, honoured for an unscoped caller; the unscoped owner apart), the per-tenant limits with
 * their messages (rules per group, groups per tenant, a replacement not counted twice, overrides),
 * the group size bound, enforcement at upload (403), 404s, and groups stored in the data directory
 * coming back into the rule manager after a restart of the rules. */
#include "service_testutil.h"

#include "rules/rules.h"
#include "util/buf.h"

#include <sys/stat.h>

static const char *group(const char *name, int n_rules, const char *expr) {
    static char buf[4096];
    int k = snprintf(buf, sizeof buf, "name: %s\nrules:\n", name);
    for (int i = 0; i < n_rules; i++) k += snprintf(buf + k, sizeof buf - (size_t)k, "- record: r%d\n  expr: %s\n", i, expr);
    return buf;
}

static int set(service_ctx_t *ctx, const char *org, const char *ns, const char *body, vg_error_t *err) {
    return service_ruler_set(ctx, org, ns, body, strlen(body), err);
}

static void ruler(void **state) {
    (void)state;
    char dir[] = "/tmp/vigil-svc-ruler-XXXXXX", yaml[1024], path[512];
    assert_non_null(mkdtemp(dir));
    snprintf(yaml, sizeof yaml,
             "storage: {path: %s}\n"
             "auth: {anonymous: true}\n"
             "tenants:\n  enforce: {namespace: \"client-{org_id}\"}\n"
             "  overrides:\n    small: {limits: {ruler_max_rule_groups: 1, ruler_max_rules_per_rule_group: 2}}\n"
             "limits: {ruler_max_rule_groups: 3}\n"
             "rules: {ruler_max_group_size: 2KiB}\n",
             dir);
    st_t t;
    st_open(&t, yaml);
    vg_error_t err;
    service_ctx_t alice, bob, small, anon;
    st_tenant(&t, "alice", &alice);
    st_tenant(&t, "bob", &bob);
    st_tenant(&t, "small", &small);
    service_ctx_internal(&t.svc, &anon);
    assert_int_equal(service_ruler_set(&alice, NULL, "ns", "x", 1, &err), VG_EUNAVAIL); /* no rule manager yet */
    assert_int_equal(service_rules_start(&t.svc, &err), 0);

    /* a tenant's groups */
    assert_int_equal(set(&alice, NULL, "ns1", group("g1", 2, "sum(up)"), &err), 0);
    assert_int_equal(set(&alice, "alice", "ns1", group("g2", 1, "up"), &err), 0); /* its own id is fine */
    assert_int_equal(set(&alice, "bob", "ns1", group("g3", 1, "up"), &err), VG_EFORBIDDEN);
    vg_buf_t b = VG_BUF_INIT;
    assert_int_equal(service_ruler_get(&alice, NULL, NULL, NULL, &b, &err), 0);
    assert_int_equal(vg_buf_putc(&b, '\0'), 0);
    assert_non_null(strstr(b.data, "ns1:\n- name: g1\n"));
    assert_non_null(strstr(b.data, "- name: g2\n"));
    vg_buf_reset(&b);
    assert_int_equal(service_ruler_get(&bob, NULL, NULL, NULL, &b, &err), VG_ENOTFOUND);
    assert_string_equal(err.msg, "no rule groups found");
    assert_int_equal(service_ruler_get(&bob, NULL, "ns1", NULL, &b, &err), VG_ENOTFOUND);
    assert_int_equal(service_ruler_get(&bob, NULL, "ns1", "g1", &b, &err), VG_ENOTFOUND);
    assert_int_equal(service_ruler_delete(&bob, NULL, "ns1", NULL, &err), VG_ENOTFOUND);
    /* an unscoped caller acts for a tenant with X-Scope-OrgID, or for the unscoped owner without it */
    assert_int_equal(service_ruler_get(&anon, "alice", "ns1", "g2", &b, &err), 0);
    assert_int_equal(service_ruler_get(&anon, NULL, NULL, NULL, &b, &err), VG_ENOTFOUND);
    assert_int_equal(service_ruler_get(&anon, "a b", NULL, NULL, &b, &err), VG_EINVAL);
    assert_int_equal(set(&anon, NULL, "ops", group("all", 1, "sum(up{namespace=\"client-bob\"})"), &err), 0);
    snprintf(path, sizeof path, "%s/rules/@unscoped/ops.yml", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);

    /* enforcement at upload, as queries are refused */
    assert_int_equal(set(&alice, NULL, "ns2", group("snoop", 1, "sum(up{namespace=\"client-bob\"})"), &err), VG_EFORBIDDEN);
    assert_non_null(strstr(err.msg, "group \"snoop\", rule 1, \"r0\": "));
    assert_int_equal(set(&anon, "alice", "ns2", group("snoop", 1, "sum(up{namespace=\"client-bob\"})"), &err), VG_EFORBIDDEN);
    assert_int_equal(service_ruler_get(&alice, NULL, "ns2", NULL, &b, &err), VG_ENOTFOUND);

    /* limits: the default (3 groups), an override (1 group, 2 rules), replacements not counted twice */
    assert_int_equal(set(&alice, NULL, "ns2", group("g4", 1, "up"), &err), 0);
    assert_int_equal(set(&alice, NULL, "ns3", group("g5", 1, "up"), &err), VG_EINVAL);
    assert_string_equal(err.msg, "per-tenant limit of 3 rule groups exceeded (limits.ruler_max_rule_groups): delete a group first");
    assert_int_equal(set(&alice, NULL, "ns1", group("g1", 3, "up"), &err), 0);
    assert_int_equal(set(&small, NULL, "a", group("one", 3, "up"), &err), VG_EINVAL);
    assert_string_equal(err.msg, "per-tenant limit of 2 rules per rule group exceeded (limits.ruler_max_rules_per_rule_group): "
                                 "group \"one\" has 3 rules");
    assert_int_equal(set(&small, NULL, "a", group("one", 2, "up"), &err), 0);
    assert_int_equal(set(&small, NULL, "b", group("two", 1, "up"), &err), VG_EINVAL);
    assert_int_equal(set(&small, NULL, "a", group("one", 1, "vector(1)"), &err), 0);
    /* the size bound, the namespace name bound, a broken body */
    char big[3000];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(set(&alice, NULL, "ns1", big, &err), VG_ETOOLARGE);
    char longname[300];
    memset(longname, '.', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(set(&alice, NULL, longname, group("g1", 1, "up"), &err), VG_EINVAL);
    assert_int_equal(set(&alice, NULL, "ns1", "name: g\nrules:\n- record: r\n  expr: sum(\n", &err), VG_EINVAL);
    assert_string_equal(err.msg, "invalid rule group: 4:13: group \"g\", rule 1, \"r\": could not parse expression: 1:5: "
                                 "parse error: unclosed left parenthesis");

    /* alice 3, small 1, the unscoped owner 1 */
    assert_int_equal(rules_manager_n_groups(t.svc.rules), 5);
    assert_int_equal(service_ruler_delete(&alice, NULL, "ns2", "g4", &err), 0);
    assert_int_equal(service_ruler_delete(&alice, NULL, "ns2", "g4", &err), VG_ENOTFOUND);
    assert_int_equal(rules_manager_n_groups(t.svc.rules), 4);

    /* the rules restart: every group comes back from the data directory */
    service_rules_stop(&t.svc);
    assert_int_equal(service_rules_start(&t.svc, &err), 0);
    assert_int_equal(rules_manager_n_groups(t.svc.rules), 4);
    vg_buf_reset(&b);
    assert_int_equal(service_ruler_get(&alice, NULL, "ns1", "g1", &b, &err), 0);
    assert_int_equal(vg_buf_putc(&b, '\0'), 0);
    assert_non_null(strstr(b.data, "- record: r2\n"));
    assert_int_equal(service_ruler_delete(&alice, NULL, "ns1", NULL, &err), 0);
    assert_int_equal(service_ruler_get(&alice, NULL, "ns1", NULL, &b, &err), VG_ENOTFOUND);
    assert_int_equal(rules_manager_n_groups(t.svc.rules), 2);

    vg_buf_deinit(&b);
    service_rules_stop(&t.svc);
    service_ctx_deinit(&alice);
    service_ctx_deinit(&bob);
    service_ctx_deinit(&small);
    service_ctx_deinit(&anon);
    st_close(&t);
    vg_fs_remove_all(dir, &err);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(ruler)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
