/* Service discovery's pure parts: Kubernetes objects → target groups per role (from testdata/cluster.json,
 * objects written from the Kubernetes API reference), watch events against a store, the watch stream's
 * line splitter (partial lines, oversized lines skipped), DNS answers (A, AAAA, SRV with a compressed
 * target, malformed messages) and their groups, and HTTP SD bodies. */
#include "config/config.h"
#include "ingest/discovery/discovery.h"

#include <arpa/nameser.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static json_t *cluster;

/* A store (key → object) of one resource of the fixture. */
static json_t *store_of(const char *res) {
    json_t *st = json_object();
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(cluster, res), i, o) {
        char key[600];
        assert_true(ingest_k8s_key(o, key, sizeof key));
        json_object_set(st, key, o);
    }
    return st;
}

static ingest_sd_groups_t *build(int role) {
    static const char *const res[] = {"endpoints", "endpointslices", "nodes", "pods", "services", "ingresses"};
    json_t *main = store_of(res[role]), *pods = store_of("pods"), *svcs = store_of("services");
    ingest_sd_groups_t *g;
    assert_int_equal(ingest_k8s_build(role, main, pods, svcs, &g), 0);
    json_decref(main), json_decref(pods), json_decref(svcs);
    return g;
}

/* The value of name on the target at addr (target labels over group labels), NULL when absent; the
 * n-th such target (targets may share an address). */
static const char *label_at(const ingest_sd_groups_t *g, const char *addr, int nth, const char *name) {
    for (size_t i = 0; i < g->n; i++)
        for (size_t t = 0; t < g->v[i].n_targets; t++) {
            const char *a = ingest_sd_label_get(&g->v[i].targets[t], "__address__");
            if (!a || strcmp(a, addr) || nth-- > 0) continue;
            const char *v = ingest_sd_label_get(&g->v[i].targets[t], name);
            return v ? v : ingest_sd_label_get(&g->v[i].labels, name);
        }
    return NULL;
}

static size_t n_targets(const ingest_sd_groups_t *g) { return g->n_targets_total; }

#define K "__meta_kubernetes_"
#define EXPECT(g, addr, nth, name, want)                                                                           \
    do {                                                                                                           \
        const char *got_ = label_at(g, addr, nth, name);                                                           \
        if ((want) == NULL) assert_null(got_);                                                                     \
        else {                                                                                                     \
            if (!got_) fail_msg("%s on %s: missing, want \"%s\"", name, addr, (const char *)(want));               \
            assert_string_equal(got_, (want));                                                                     \
        }                                                                                                          \
    } while (0)

static void test_node(void **state) {
    (void)state;
    ingest_sd_groups_t *g = build(CONFIG_K8S_NODE);
    assert_int_equal(g->n, 3);        /* one group per node */
    assert_int_equal(n_targets(g), 2); /* n3 has no address: a group without targets */
    EXPECT(g, "10.0.0.1:10250", 0, "instance", "n1");
    EXPECT(g, "10.0.0.1:10250", 0, K "node_name", "n1");
    EXPECT(g, "10.0.0.1:10250", 0, K "node_provider_id", "aws:///eu-west-1a/i-0abc");
    EXPECT(g, "10.0.0.1:10250", 0, K "node_label_kubernetes_io_hostname", "n1");
    EXPECT(g, "10.0.0.1:10250", 0, K "node_labelpresent_node_role_kubernetes_io_worker", "true");
    EXPECT(g, "10.0.0.1:10250", 0, K "node_label_node_role_kubernetes_io_worker", ""); /* present, empty */
    EXPECT(g, "10.0.0.1:10250", 0, K "node_annotation_example_com_rack", "r7");
    EXPECT(g, "10.0.0.1:10250", 0, K "node_annotationpresent_example_com_rack", "true");
    EXPECT(g, "10.0.0.1:10250", 0, K "node_address_InternalIP", "10.0.0.1"); /* the first of its type */
    EXPECT(g, "10.0.0.1:10250", 0, K "node_address_ExternalIP", "203.0.113.1");
    EXPECT(g, "10.0.0.1:10250", 0, K "node_address_Hostname", "n1");
    EXPECT(g, "n2.example:10250", 0, "instance", "n2"); /* Hostname is the last resort */
    ingest_sd_groups_unref(g);
}

static void test_pod(void **state) {
    (void)state;
    ingest_sd_groups_t *g = build(CONFIG_K8S_POD);
    assert_int_equal(g->n, 3);
    /* web-1: two ports of app, sidecar without ports, init container's port; v6: one; pending: none */
    assert_int_equal(n_targets(g), 5);
    EXPECT(g, "10.1.0.5:8080", 0, K "namespace", "default");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_name", "web-1");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_ip", "10.1.0.5");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_ready", "true");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_phase", "Running");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_node_name", "n1");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_host_ip", "10.0.0.1");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_uid", "u1");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_controller_kind", "ReplicaSet"); /* the owner with controller: true */
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_controller_name", "web-rs");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_label_app_kubernetes_io_name", "web");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_labelpresent_app_kubernetes_io_name", "true");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_annotation_prometheus_io_scrape", "true");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_container_name", "app");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_container_image", "web:1");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_container_port_name", "http");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_container_port_number", "8080");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_container_port_protocol", "TCP");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_container_init", "false");
    EXPECT(g, "10.1.0.5:9090", 0, K "pod_container_port_protocol", "UDP");
    EXPECT(g, "10.1.0.5:9090", 0, K "pod_container_port_name", NULL);
    EXPECT(g, "10.1.0.5", 0, K "pod_container_name", "sidecar"); /* no ports: the pod IP alone */
    EXPECT(g, "10.1.0.5", 0, K "pod_container_port_number", NULL);
    EXPECT(g, "10.1.0.5:7000", 0, K "pod_container_init", "true");
    EXPECT(g, "[fd00::5]:80", 0, K "pod_ready", "unknown"); /* IPv6 joined in brackets; no Ready condition */
    EXPECT(g, "[fd00::5]:80", 0, K "pod_controller_kind", NULL);
    ingest_sd_groups_unref(g);
}

static void test_service(void **state) {
    (void)state;
    ingest_sd_groups_t *g = build(CONFIG_K8S_SERVICE);
    assert_int_equal(n_targets(g), 2);
    EXPECT(g, "web.default.svc:80", 0, K "service_name", "web");
    EXPECT(g, "web.default.svc:80", 0, K "namespace", "default");
    EXPECT(g, "web.default.svc:80", 0, K "service_label_app", "web");
    EXPECT(g, "web.default.svc:80", 0, K "service_annotationpresent_team", "true");
    EXPECT(g, "web.default.svc:80", 0, K "service_port_name", "http");
    EXPECT(g, "web.default.svc:80", 0, K "service_port_number", "80");
    EXPECT(g, "web.default.svc:80", 0, K "service_port_protocol", "TCP");
    EXPECT(g, "web.default.svc:80", 0, K "service_type", "ClusterIP");
    EXPECT(g, "web.default.svc:80", 0, K "service_cluster_ip", "10.96.0.10");
    EXPECT(g, "ext.default.svc:5432", 0, K "service_external_name", "db.example.com");
    EXPECT(g, "ext.default.svc:5432", 0, K "service_cluster_ip", NULL);
    ingest_sd_groups_unref(g);
}

static void test_endpoints(void **state) {
    (void)state;
    ingest_sd_groups_t *g = build(CONFIG_K8S_ENDPOINTS);
    /* the ready address (joined with web-1), the not-ready one (no pod), and web-1's other container
       ports no endpoint port covered (9090; init containers are not considered) */
    assert_int_equal(n_targets(g), 3);
    EXPECT(g, "10.1.0.5:8080", 0, K "endpoints_name", "web");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpoints_label_app", "web");
    EXPECT(g, "10.1.0.5:8080", 0, K "service_name", "web"); /* the service of the same name */
    EXPECT(g, "10.1.0.5:8080", 0, K "service_label_app", "web");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpoint_ready", "true");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpoint_port_name", "http");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpoint_port_protocol", "TCP");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpoint_node_name", "n1");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpoint_hostname", "h1");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpoint_address_target_kind", "Pod");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpoint_address_target_name", "web-1");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_name", "web-1");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_container_name", "app");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_container_port_name", "http");
    EXPECT(g, "10.9.9.9:8080", 0, K "endpoint_ready", "false");
    EXPECT(g, "10.9.9.9:8080", 0, K "pod_name", NULL);
    EXPECT(g, "10.1.0.5:9090", 0, K "pod_container_port_number", "9090");
    EXPECT(g, "10.1.0.5:9090", 0, K "endpoint_port_name", NULL);
    EXPECT(g, "10.1.0.5:9090", 0, K "service_name", "web"); /* group labels */
    ingest_sd_groups_unref(g);
}

static void test_endpointslice(void **state) {
    (void)state;
    ingest_sd_groups_t *g = build(CONFIG_K8S_ENDPOINTSLICE);
    assert_int_equal(n_targets(g), 2);
    EXPECT(g, "10.1.0.5:8080", 0, K "endpointslice_name", "web-x");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpointslice_address_type", "IPv4");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpointslice_label_kubernetes_io_service_name", "web");
    EXPECT(g, "10.1.0.5:8080", 0, K "service_name", "web"); /* joined through kubernetes.io/service-name */
    EXPECT(g, "10.1.0.5:8080", 0, K "endpointslice_port", "8080");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpointslice_port_name", "http");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpointslice_port_app_protocol", "http");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpointslice_endpoint_conditions_ready", "false");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpointslice_endpoint_topology_topology_kubernetes_io_zone", "z1");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpointslice_endpoint_topology_present_topology_kubernetes_io_zone", "true");
    EXPECT(g, "10.1.0.5:8080", 0, K "endpointslice_address_target_name", "web-1");
    EXPECT(g, "10.1.0.5:8080", 0, K "pod_ip", "10.1.0.5");
    EXPECT(g, "10.1.0.5:9090", 0, K "pod_container_port_protocol", "UDP");
    ingest_sd_groups_unref(g);
}

static void test_ingress(void **state) {
    (void)state;
    ingest_sd_groups_t *g = build(CONFIG_K8S_INGRESS);
    assert_int_equal(n_targets(g), 3);
    EXPECT(g, "a.example.com", 0, K "ingress_scheme", "https"); /* *.example.com covers one label */
    EXPECT(g, "a.example.com", 0, K "ingress_path", "/x");
    EXPECT(g, "a.example.com", 0, K "ingress_host", "a.example.com");
    EXPECT(g, "a.example.com", 0, K "ingress_name", "web");
    EXPECT(g, "a.b.example.com", 0, K "ingress_scheme", "http"); /* … not two */
    EXPECT(g, "a.b.example.com", 0, K "ingress_path", "/");      /* no paths: "/" */
    EXPECT(g, "example.com", 0, K "ingress_scheme", "http");
    EXPECT(g, "example.com", 0, K "ingress_path", "/");          /* empty path: "/" */
    EXPECT(g, "example.com", 0, K "ingress_class_name", NULL);
    ingest_sd_groups_unref(g);
}

static void test_events(void **state) {
    (void)state;
    json_t *st = json_object();
    char rv[64] = "";
    int code;
    vg_error_t err;
    const char *add = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"resourceVersion\":\"7\"}}}";
    assert_int_equal(ingest_k8s_apply_event(st, add, strlen(add), 10, rv, sizeof rv, &code, &err), INGEST_K8S_ADDED);
    assert_string_equal(rv, "7");
    assert_non_null(json_object_get(st, "ns/p"));
    const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"12\"}}}";
    assert_int_equal(ingest_k8s_apply_event(st, bm, strlen(bm), 10, rv, sizeof rv, &code, &err), INGEST_K8S_BOOKMARK);
    assert_string_equal(rv, "12");
    assert_int_equal(json_object_size(st), 1);
    const char *del = "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"resourceVersion\":\"13\"}}}";
    assert_int_equal(ingest_k8s_apply_event(st, del, strlen(del), 10, rv, sizeof rv, &code, &err), INGEST_K8S_DELETED);
    assert_int_equal(json_object_size(st), 0);
    const char *gone = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\"}}";
    assert_int_equal(ingest_k8s_apply_event(st, gone, strlen(gone), 10, rv, sizeof rv, &code, &err), INGEST_K8S_ERROR);
    assert_int_equal(code, 410);
    assert_string_equal(rv, "13");
    /* a full store refuses new objects, not updates */
    assert_int_equal(ingest_k8s_apply_event(st, add, strlen(add), 0, rv, sizeof rv, &code, &err), VG_ELIMIT);
    const char *bad[] = {"", "{", "[]", "{\"type\":\"ADDED\"}", "{\"type\":\"NOPE\",\"object\":{}}",
                         "{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}", "{\"type\":\"ADDED\",\"object\":7}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ingest_k8s_apply_event(st, bad[i], strlen(bad[i]), 10, rv, sizeof rv, &code, &err), VG_EINVAL);
    assert_int_equal(json_object_size(st), 0);
    json_decref(st);
}

typedef struct {
    char lines[8][64];
    int n;
} collected_t;

static int collect(void *ctx, const char *line, size_t len) {
    collected_t *c = ctx;
    assert_true(c->n < 8 && len < 64);
    memcpy(c->lines[c->n], line, len);
    c->lines[c->n++][len] = '\0';
    return 0;
}

static void test_lines(void **state) {
    (void)state;
    const char *stream = "{\"a\":1}\n{\"b\":2}\n\n" "0123456789012345678901234567890123456789\n{\"c\":3}\n{\"d\"";
    /* every split of the stream into two writes gives the same lines */
    for (size_t cut = 0; cut <= strlen(stream); cut++) {
        ingest_k8s_lines_t l;
        ingest_k8s_lines_init(&l, 16);
        collected_t c = {.n = 0};
        assert_int_equal(ingest_k8s_lines_feed(&l, stream, cut, collect, &c), 0);
        assert_int_equal(ingest_k8s_lines_feed(&l, stream + cut, strlen(stream) - cut, collect, &c), 0);
        assert_int_equal(c.n, 3);
        assert_string_equal(c.lines[0], "{\"a\":1}");
        assert_string_equal(c.lines[1], "{\"b\":2}");
        assert_string_equal(c.lines[2], "{\"c\":3}");   /* the 40-byte line was skipped whole */
        assert_int_equal(l.n_oversized, 1);
        assert_int_equal(l.len, 4);                     /* "{\"d\"" waits for its newline */
        ingest_k8s_lines_deinit(&l);
    }
    /* byte by byte, and a line of exactly max_line bytes passes */
    ingest_k8s_lines_t l;
    ingest_k8s_lines_init(&l, 7);
    collected_t c = {.n = 0};
    const char *s2 = "{\"a\":1}\n{\"ab\":1}\nok\n";
    for (size_t i = 0; s2[i]; i++) assert_int_equal(ingest_k8s_lines_feed(&l, s2 + i, 1, collect, &c), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.lines[0], "{\"a\":1}");
    assert_string_equal(c.lines[1], "ok");
    ingest_k8s_lines_deinit(&l);
}

/* ---- DNS ---- */

static size_t put_name(unsigned char *p, const char *name) {
    size_t n = 0;
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t len = dot ? (size_t)(dot - name) : strlen(name);
        p[n++] = (unsigned char)len;
        memcpy(p + n, name, len);
        n += len;
        name += len + (dot ? 1 : 0);
    }
    p[n++] = 0;
    return n;
}

/* A response to name/qtype with answers built by the caller after the question (returns the header +
 * question length; the question name sits at offset 12 for compression pointers). */
static size_t header(unsigned char *m, const char *name, int qtype, int ancount, int rcode) {
    memset(m, 0, 12);
    m[2] = 0x84, m[3] = (unsigned char)rcode;
    m[5] = 1, m[7] = (unsigned char)ancount;
    size_t n = 12 + put_name(m + 12, name);
    m[n++] = 0, m[n++] = (unsigned char)qtype, m[n++] = 0, m[n++] = 1;
    return n;
}

static size_t rr(unsigned char *p, int type, const unsigned char *rd, size_t rdlen) {
    size_t n = 0;
    p[n++] = 0xc0, p[n++] = 12; /* the question's name */
    p[n++] = 0, p[n++] = (unsigned char)type, p[n++] = 0, p[n++] = 1;
    p[n++] = 0, p[n++] = 0, p[n++] = 0, p[n++] = 30;
    p[n++] = (unsigned char)(rdlen >> 8), p[n++] = (unsigned char)rdlen;
    memcpy(p + n, rd, rdlen);
    return n + rdlen;
}

static void test_dns(void **state) {
    (void)state;
    unsigned char m[512], rd[128];
    ingest_dns_record_t r[4];
    int rcode;
    vg_error_t err;
    /* SRV: one target written out, one compressed against the question name */
    size_t n = header(m, "_x._tcp.svc.test", ns_t_srv, 2, 0);
    unsigned char srv1[64] = {0, 10, 0, 5, 0x23, 0x8c};
    size_t l1 = 6 + put_name(srv1 + 6, "node-a.svc.test");
    n += rr(m + n, ns_t_srv, srv1, l1);
    unsigned char srv2[16] = {0, 10, 0, 5, 0x24, 0x54, 2, 'n', 'b', 0xc0, 12 + 8}; /* "nb." + "svc.test" */
    n += rr(m + n, ns_t_srv, srv2, 11);
    assert_int_equal(ingest_dns_parse_answer(m, n, ns_t_srv, r, 4, &rcode, &err), 2);
    assert_int_equal(rcode, 0);
    assert_string_equal(r[0].target, "node-a.svc.test.");
    assert_int_equal(r[0].port, 9100);
    assert_string_equal(r[1].target, "nb.svc.test.");
    assert_int_equal(r[1].port, 9300);
    ingest_sd_groups_t *g = ingest_sd_groups_new();
    ingest_dns_group(g, "_x._tcp.svc.test", ns_t_srv, 0, r, 2);
    EXPECT(g, "node-a.svc.test:9100", 0, "__meta_dns_name", "_x._tcp.svc.test");
    EXPECT(g, "node-a.svc.test:9100", 0, "__meta_dns_srv_record_target", "node-a.svc.test.");
    EXPECT(g, "node-a.svc.test:9100", 0, "__meta_dns_srv_record_port", "9100");
    EXPECT(g, "nb.svc.test:9300", 0, "__meta_dns_srv_record_port", "9300");
    assert_string_equal(g->v[0].source, "_x._tcp.svc.test");
    ingest_sd_groups_unref(g);
    /* every truncation of the SRV message is an error or a subset, never a read past the end */
    for (size_t cut = 0; cut < n; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, m, cut);
        int k = ingest_dns_parse_answer(copy, cut, ns_t_srv, r, 4, &rcode, &err);
        assert_true(k < 0 || k <= 2);
        free(copy);
    }
    /* A and AAAA (a CNAME in between is skipped) */
    n = header(m, "hosts.test", ns_t_a, 3, 0);
    unsigned char a1[4] = {10, 1, 0, 1}, a2[4] = {10, 1, 0, 2};
    n += rr(m + n, ns_t_a, a1, 4);
    n += rr(m + n, ns_t_cname, (const unsigned char *)"\2xx\0", 4);
    n += rr(m + n, ns_t_a, a2, 4);
    assert_int_equal(ingest_dns_parse_answer(m, n, ns_t_a, r, 4, &rcode, &err), 2);
    assert_string_equal(r[1].target, "10.1.0.2");
    g = ingest_sd_groups_new();
    ingest_dns_group(g, "hosts.test", ns_t_a, 9100, r, 2);
    EXPECT(g, "10.1.0.1:9100", 0, "__meta_dns_name", "hosts.test");
    EXPECT(g, "10.1.0.1:9100", 0, "__meta_dns_srv_record_target", NULL);
    ingest_sd_groups_unref(g);
    n = header(m, "hosts.test", ns_t_aaaa, 1, 0);
    memset(rd, 0, 16);
    rd[0] = 0xfd, rd[15] = 1;
    n += rr(m + n, ns_t_aaaa, rd, 16);
    assert_int_equal(ingest_dns_parse_answer(m, n, ns_t_aaaa, r, 4, &rcode, &err), 1);
    g = ingest_sd_groups_new();
    ingest_dns_group(g, "hosts.test", ns_t_aaaa, 9100, r, 1);
    EXPECT(g, "[fd00::1]:9100", 0, "__meta_dns_name", "hosts.test");
    ingest_sd_groups_unref(g);
    /* malformed: an A record with 3 bytes, an SRV name pointing past the end; NXDOMAIN's code */
    n = header(m, "hosts.test", ns_t_a, 1, 0);
    n += rr(m + n, ns_t_a, a1, 3);
    assert_int_equal(ingest_dns_parse_answer(m, n, ns_t_a, r, 4, &rcode, &err), VG_EINVAL);
    n = header(m, "s.test", ns_t_srv, 1, 0);
    unsigned char srv3[8] = {0, 1, 0, 1, 0, 80, 0xc0, 0xff};
    n += rr(m + n, ns_t_srv, srv3, 8);
    assert_int_equal(ingest_dns_parse_answer(m, n, ns_t_srv, r, 4, &rcode, &err), VG_EINVAL);
    n = header(m, "none.test", ns_t_a, 0, 3);
    assert_int_equal(ingest_dns_parse_answer(m, n, ns_t_a, r, 4, &rcode, &err), 0);
    assert_int_equal(rcode, 3);
}

static void test_http_sd(void **state) {
    (void)state;
    const char *body = "[{\"targets\":[\"a:1\",\"b:2\"],\"labels\":{\"env\":\"x\"}},{\"targets\":[]},{\"labels\":{\"k\":\"v\"}}]";
    ingest_sd_groups_t *g;
    vg_error_t err;
    assert_int_equal(ingest_http_sd_parse("http://sd/x", body, strlen(body), &g, &err), 0);
    assert_int_equal(g->n, 3);
    assert_string_equal(g->v[1].source, "http://sd/x:1");
    EXPECT(g, "b:2", 0, "env", "x");
    EXPECT(g, "b:2", 0, "__meta_url", "http://sd/x");
    ingest_sd_groups_unref(g);
    const char *bad[] = {"{}", "[1]", "[{\"targets\":\"a\"}]", "[{\"targets\":[1]}]", "[{\"labels\":{\"a-b\":\"x\"}}]",
                         "[{\"labels\":{\"a\":1}}]", "[", "[{\"labels\":{\"a\":\"1\",\"a\":\"2\"}}]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ingest_http_sd_parse("u", bad[i], strlen(bad[i]), &g, &err), VG_EINVAL);
        assert_null(g);
    }
    assert_true(ingest_http_sd_content_type_ok("application/json"));
    assert_true(ingest_http_sd_content_type_ok("application/json; charset=utf-8"));
    assert_false(ingest_http_sd_content_type_ok("application/jsonx"));
    assert_false(ingest_http_sd_content_type_ok("text/plain"));
    assert_false(ingest_http_sd_content_type_ok("Application/JSON"));
    assert_false(ingest_http_sd_content_type_ok(NULL));
}

static int setup(void **state) {
    (void)state;
    const char *root = getenv("VIGIL_SOURCE_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/unit/ingest/discovery/testdata/cluster.json", root ? root : ".");
    json_error_t je;
    cluster = json_load_file(path, 0, &je);
    if (!cluster) fprintf(stderr, "cannot load %s: %s\n", path, je.text);
    return cluster ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    json_decref(cluster);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node),     cmocka_unit_test(test_pod),   cmocka_unit_test(test_service),
        cmocka_unit_test(test_endpoints), cmocka_unit_test(test_endpointslice), cmocka_unit_test(test_ingress),
        cmocka_unit_test(test_events),   cmocka_unit_test(test_lines), cmocka_unit_test(test_dns),
        cmocka_unit_test(test_http_sd),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
