/* Kubernetes objects → target groups, one function per role, with the labels and addresses Prometheus
 * 2.42's Kubernetes SD gives them (the list is in docs/configuration.md), and the watch events that keep
 * a store of objects current. Pure functions over jansson values: the list/watch client (k8s_watch.c)
 * owns the stores and calls these on its thread; the unit tests and the fuzz target call them directly.
 *
 * Rules shared by every role: label and annotation keys become label-name suffixes with every byte
 * outside [a-zA-Z0-9_] replaced by '_' (Prometheus' SanitizeLabelName), each with a matching
 * `..._labelpresent_<name>` / `..._annotationpresent_<name>` set to "true"; an address and port are
 * joined as Go's net.JoinHostPort does (IPv6 in brackets); a field missing from the object gives an
 * empty value, and empty values are not labels. */
#include "discovery_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P "__meta_kubernetes_"

static const char *jstr(const json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static json_t *jpath(const json_t *o, const char *a, const char *b) { return json_object_get(json_object_get(o, a), b); }

/* An integer field as decimal text ("" when absent). */
static void jnum(const json_t *o, const char *key, char *out, size_t cap) {
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v)) snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    else out[0] = '\0';
}

static void sanitize(char *dst, size_t cap, const char *prefix, const char *key) {
    size_t n = (size_t)snprintf(dst, cap, "%s", prefix);
    for (const char *k = key; *k && n + 1 < cap; k++) {
        char c = *k;
        dst[n++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ? c : '_';
    }
    dst[n < cap ? n : cap - 1] = '\0';
}

static void set(ingest_sd_groups_t *g, ingest_sd_labels_t *l, const char *name, const char *value) {
    if (value && *value) ingest_sd_label_set(g, l, name, value);
}

/* metadata.labels and metadata.annotations as `<kind>_label_<k>` / `<kind>_labelpresent_<k>` and the
 * annotation pair. */
static void meta_labels(ingest_sd_groups_t *g, ingest_sd_labels_t *l, const json_t *obj, const char *kind, bool annotations) {
    const json_t *md = json_object_get(obj, "metadata");
    const char *what[2] = {"labels", "annotations"};
    for (int w = 0; w < (annotations ? 2 : 1); w++) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(md, what[w]), k, v) {
            if (!json_is_string(v)) continue;
            char prefix[96], name[512];
            snprintf(prefix, sizeof prefix, P "%s_%s_", kind, w ? "annotation" : "label");
            sanitize(name, sizeof name, prefix, k);
            ingest_sd_label_set(g, l, name, json_string_value(v)); /* an empty value still reads as present */
            snprintf(prefix, sizeof prefix, P "%s_%spresent_", kind, w ? "annotation" : "label");
            sanitize(name, sizeof name, prefix, k);
            ingest_sd_label_set(g, l, name, "true");
        }
    }
}

static void join_host_port(char *out, size_t cap, const char *host, const char *port) {
    if (strchr(host, ':')) snprintf(out, cap, "[%s]:%s", host, port);
    else snprintf(out, cap, "%s:%s", host, port);
}

static const char *ns_of(const json_t *obj) { return jstr(json_object_get(obj, "metadata"), "namespace"); }
static const char *name_of(const json_t *obj) { return jstr(json_object_get(obj, "metadata"), "name"); }

bool ingest_k8s_key(const json_t *obj, char *out, size_t cap) {
    const char *ns = ns_of(obj), *name = name_of(obj);
    if (!*name) return false;
    int n = *ns ? snprintf(out, cap, "%s/%s", ns, name) : snprintf(out, cap, "%s", name);
    return n > 0 && (size_t)n < cap;
}

static ingest_sd_group_t *group(ingest_sd_groups_t *g, const char *kind, const json_t *obj) {
    char src[600];
    if (*ns_of(obj)) snprintf(src, sizeof src, "%s/%s/%s", kind, ns_of(obj), name_of(obj));
    else snprintf(src, sizeof src, "%s/%s", kind, name_of(obj));
    return ingest_sd_group_add(g, src);
}

/* ---- node ---- */

static void build_node(ingest_sd_groups_t *g, const json_t *node) {
    ingest_sd_group_t *grp = group(g, "node", node);
    if (!grp) return;
    set(g, &grp->labels, P "node_name", name_of(node));
    set(g, &grp->labels, P "node_provider_id", jstr(json_object_get(node, "spec"), "providerID"));
    meta_labels(g, &grp->labels, node, "node", true);
    /* the first address of each type; the target's is the first of InternalIP, InternalDNS, ExternalIP,
       ExternalDNS, LegacyHostIP, Hostname */
    static const char *const order[] = {"InternalIP", "InternalDNS", "ExternalIP", "ExternalDNS", "LegacyHostIP", "Hostname"};
    const json_t *addrs = jpath(node, "status", "addresses");
    const char *addr = NULL;
    for (size_t o = 0; o < 6 && !addr; o++) {
        size_t i;
        json_t *a;
        json_array_foreach(addrs, i, a) if (!strcmp(jstr(a, "type"), order[o]) && *jstr(a, "address")) {
            addr = jstr(a, "address");
            break;
        }
    }
    if (!addr) return; /* Prometheus: "cannot get node address" — a group without targets */
    ingest_sd_labels_t *t = ingest_sd_target_add(g, grp);
    if (!t) return;
    char port[24], hp[600];
    jnum(json_object_get(jpath(node, "status", "daemonEndpoints"), "kubeletEndpoint"), "Port", port, sizeof port);
    join_host_port(hp, sizeof hp, addr, *port ? port : "0");
    set(g, t, "__address__", hp);
    set(g, t, "instance", name_of(node));
    size_t i;
    json_t *a;
    json_array_foreach(addrs, i, a) {
        char name[300];
        sanitize(name, sizeof name, P "node_address_", jstr(a, "type"));
        if (!ingest_sd_label_get(t, name)) set(g, t, name, jstr(a, "address"));
    }
}

/* ---- pod ---- */

static const char *pod_ready(const json_t *pod) {
    size_t i;
    json_t *c;
    json_array_foreach(jpath(pod, "status", "conditions"), i, c) if (!strcmp(jstr(c, "type"), "Ready")) {
        const char *s = jstr(c, "status");
        return !strcmp(s, "True") ? "true" : !strcmp(s, "False") ? "false" : "unknown";
    }
    return "unknown";
}

/* Prometheus' podLabels: what every target of a pod carries (pod role: group labels; endpoints roles:
   merged into the endpoint's target). */
static void pod_labels(ingest_sd_groups_t *g, ingest_sd_labels_t *l, const json_t *pod) {
    const json_t *md = json_object_get(pod, "metadata"), *st = json_object_get(pod, "status"), *sp = json_object_get(pod, "spec");
    set(g, l, P "pod_name", name_of(pod));
    set(g, l, P "pod_ip", jstr(st, "podIP"));
    set(g, l, P "pod_ready", pod_ready(pod));
    set(g, l, P "pod_phase", jstr(st, "phase"));
    set(g, l, P "pod_node_name", jstr(sp, "nodeName"));
    set(g, l, P "pod_host_ip", jstr(st, "hostIP"));
    set(g, l, P "pod_uid", jstr(md, "uid"));
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(md, "ownerReferences"), i, o) if (json_is_true(json_object_get(o, "controller"))) {
        set(g, l, P "pod_controller_kind", jstr(o, "kind"));
        set(g, l, P "pod_controller_name", jstr(o, "name"));
        break;
    }
    meta_labels(g, l, pod, "pod", true);
}

static void container_port_labels(ingest_sd_groups_t *g, ingest_sd_labels_t *t, const json_t *c, const json_t *port,
                                  const char *protocol) {
    char num[24];
    jnum(port, "containerPort", num, sizeof num);
    set(g, t, P "pod_container_name", jstr(c, "name"));
    set(g, t, P "pod_container_port_name", jstr(port, "name"));
    set(g, t, P "pod_container_port_number", num);
    set(g, t, P "pod_container_port_protocol", protocol);
}

static void build_pod(ingest_sd_groups_t *g, const json_t *pod) {
    ingest_sd_group_t *grp = group(g, "pod", pod);
    if (!grp) return;
    const char *ip = jstr(json_object_get(pod, "status"), "podIP");
    if (!*ip) return; /* starting or evicted: a group without targets */
    pod_labels(g, &grp->labels, pod);
    set(g, &grp->labels, P "namespace", ns_of(pod));
    const json_t *spec = json_object_get(pod, "spec");
    const char *lists[2] = {"containers", "initContainers"};
    for (int init = 0; init < 2; init++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(spec, lists[init]), i, c) {
            const json_t *ports = json_object_get(c, "ports");
            if (json_array_size(ports) == 0) { /* no port: one target at the pod's IP, the user adds a port */
                ingest_sd_labels_t *t = ingest_sd_target_add(g, grp);
                if (!t) return;
                set(g, t, "__address__", ip);
                set(g, t, P "pod_container_name", jstr(c, "name"));
                set(g, t, P "pod_container_image", jstr(c, "image"));
                set(g, t, P "pod_container_init", init ? "true" : "false");
                continue;
            }
            size_t k;
            json_t *port;
            json_array_foreach(ports, k, port) {
                ingest_sd_labels_t *t = ingest_sd_target_add(g, grp);
                if (!t) return;
                char num[24], hp[300];
                jnum(port, "containerPort", num, sizeof num);
                join_host_port(hp, sizeof hp, ip, num);
                set(g, t, "__address__", hp);
                container_port_labels(g, t, c, port, jstr(port, "protocol"));
                set(g, t, P "pod_container_image", jstr(c, "image"));
                set(g, t, P "pod_container_init", init ? "true" : "false");
            }
        }
    }
}

/* ---- service ---- */

static void service_labels(ingest_sd_groups_t *g, ingest_sd_labels_t *l, const json_t *svc) {
    set(g, l, P "service_name", name_of(svc));
    set(g, l, P "namespace", ns_of(svc));
    meta_labels(g, l, svc, "service", true);
}

static void build_service(ingest_sd_groups_t *g, const json_t *svc) {
    ingest_sd_group_t *grp = group(g, "svc", svc);
    if (!grp) return;
    service_labels(g, &grp->labels, svc);
    const json_t *spec = json_object_get(svc, "spec");
    const char *type = jstr(spec, "type");
    size_t i;
    json_t *port;
    json_array_foreach(json_object_get(spec, "ports"), i, port) {
        ingest_sd_labels_t *t = ingest_sd_target_add(g, grp);
        if (!t) return;
        char num[24], host[600], hp[700];
        jnum(port, "port", num, sizeof num);
        snprintf(host, sizeof host, "%s.%s.svc", name_of(svc), ns_of(svc));
        join_host_port(hp, sizeof hp, host, num);
        set(g, t, "__address__", hp);
        set(g, t, P "service_port_name", jstr(port, "name"));
        set(g, t, P "service_port_number", num);
        set(g, t, P "service_port_protocol", jstr(port, "protocol"));
        set(g, t, P "service_type", type);
        if (!strcmp(type, "ExternalName")) set(g, t, P "service_external_name", jstr(spec, "externalName"));
        else set(g, t, P "service_cluster_ip", jstr(spec, "clusterIP"));
    }
}

/* ---- endpoints and endpointslice: endpoint targets joined with their pods and service ---- */

static const json_t *lookup(const json_t *store, const char *ns, const char *name) {
    if (!store || !*name) return NULL;
    char key[600];
    snprintf(key, sizeof key, "%s/%s", ns, name);
    return json_object_get(store, key);
}

/* The pods an endpoints object reached, with the ports it reached them on (to add their other ports). */
typedef struct {
    const json_t *pods[256];
    json_t *ports[256]; /* JSON arrays of port numbers (owned) */
    size_t n;
} seen_t;

static void seen_add(seen_t *s, const json_t *pod, long long port) {
    size_t i = 0;
    while (i < s->n && s->pods[i] != pod) i++;
    if (i == s->n) {
        if (s->n == 256) return;
        s->pods[s->n] = pod;
        s->ports[s->n++] = json_array();
    }
    json_array_append_new(s->ports[i], json_integer(port));
}

static void seen_free(seen_t *s) {
    for (size_t i = 0; i < s->n; i++) json_decref(s->ports[i]);
}

/* The pod's labels and the labels of its container port equal to `port` (protocol: the endpoint's). */
static void endpoint_pod_labels(ingest_sd_groups_t *g, ingest_sd_labels_t *t, const json_t *pod, long long port, const char *protocol) {
    pod_labels(g, t, pod);
    size_t i;
    json_t *c;
    json_array_foreach(jpath(pod, "spec", "containers"), i, c) {
        size_t k;
        json_t *cp;
        json_array_foreach(json_object_get(c, "ports"), k, cp) if (json_integer_value(json_object_get(cp, "containerPort")) == port) {
            container_port_labels(g, t, c, cp, protocol);
            return;
        }
    }
}

/* Targets for the container ports of the pods seen that no endpoint port covered. */
static void uncovered_ports(ingest_sd_groups_t *g, ingest_sd_group_t *grp, seen_t *s) {
    for (size_t i = 0; i < s->n; i++) {
        const json_t *pod = s->pods[i];
        size_t c_i;
        json_t *c;
        json_array_foreach(jpath(pod, "spec", "containers"), c_i, c) {
            size_t k;
            json_t *cp;
            json_array_foreach(json_object_get(c, "ports"), k, cp) {
                long long num = json_integer_value(json_object_get(cp, "containerPort"));
                bool covered = false;
                size_t j;
                json_t *pv;
                json_array_foreach(s->ports[i], j, pv) covered |= json_integer_value(pv) == num;
                if (covered) continue;
                ingest_sd_labels_t *t = ingest_sd_target_add(g, grp);
                if (!t) return;
                char n[24], hp[300];
                snprintf(n, sizeof n, "%lld", num);
                join_host_port(hp, sizeof hp, jstr(json_object_get(pod, "status"), "podIP"), n);
                set(g, t, "__address__", hp);
                container_port_labels(g, t, c, cp, jstr(cp, "protocol"));
                pod_labels(g, t, pod);
            }
        }
    }
}

static void build_endpoints(ingest_sd_groups_t *g, const json_t *eps, const json_t *pods, const json_t *services) {
    ingest_sd_group_t *grp = group(g, "endpoints", eps);
    if (!grp) return;
    set(g, &grp->labels, P "namespace", ns_of(eps));
    set(g, &grp->labels, P "endpoints_name", name_of(eps));
    const json_t *svc = lookup(services, ns_of(eps), name_of(eps));
    if (svc) service_labels(g, &grp->labels, svc);
    meta_labels(g, &grp->labels, eps, "endpoints", false);
    seen_t seen = {.n = 0};
    size_t i;
    json_t *ss;
    json_array_foreach(json_object_get(eps, "subsets"), i, ss) {
        size_t k;
        json_t *port;
        json_array_foreach(json_object_get(ss, "ports"), k, port) {
            const char *lists[2] = {"addresses", "notReadyAddresses"};
            for (int nr = 0; nr < 2; nr++) {
                size_t a_i;
                json_t *addr;
                json_array_foreach(json_object_get(ss, lists[nr]), a_i, addr) {
                    ingest_sd_labels_t *t = ingest_sd_target_add(g, grp);
                    if (!t) goto out;
                    char num[24], hp[300];
                    jnum(port, "port", num, sizeof num);
                    join_host_port(hp, sizeof hp, jstr(addr, "ip"), num);
                    set(g, t, "__address__", hp);
                    set(g, t, P "endpoint_port_name", jstr(port, "name"));
                    set(g, t, P "endpoint_port_protocol", jstr(port, "protocol"));
                    set(g, t, P "endpoint_ready", nr ? "false" : "true");
                    const json_t *ref = json_object_get(addr, "targetRef");
                    if (ref) {
                        set(g, t, P "endpoint_address_target_kind", jstr(ref, "kind"));
                        set(g, t, P "endpoint_address_target_name", jstr(ref, "name"));
                    }
                    set(g, t, P "endpoint_node_name", jstr(addr, "nodeName"));
                    set(g, t, P "endpoint_hostname", jstr(addr, "hostname"));
                    const json_t *pod = ref && !strcmp(jstr(ref, "kind"), "Pod") ? lookup(pods, jstr(ref, "namespace"), jstr(ref, "name")) : NULL;
                    if (!pod) continue;
                    long long pnum = json_integer_value(json_object_get(port, "port"));
                    endpoint_pod_labels(g, t, pod, pnum, jstr(port, "protocol"));
                    seen_add(&seen, pod, pnum);
                }
            }
        }
    }
    uncovered_ports(g, grp, &seen);
out:
    seen_free(&seen);
}

static void build_endpointslice(ingest_sd_groups_t *g, const json_t *es, const json_t *pods, const json_t *services) {
    ingest_sd_group_t *grp = group(g, "endpointslice", es);
    if (!grp) return;
    set(g, &grp->labels, P "namespace", ns_of(es));
    set(g, &grp->labels, P "endpointslice_name", name_of(es));
    set(g, &grp->labels, P "endpointslice_address_type", jstr(es, "addressType"));
    meta_labels(g, &grp->labels, es, "endpointslice", false);
    const char *svc_name = jstr(jpath(es, "metadata", "labels"), "kubernetes.io/service-name");
    const json_t *svc = lookup(services, ns_of(es), svc_name);
    if (svc) service_labels(g, &grp->labels, svc);
    seen_t seen = {.n = 0};
    size_t i;
    json_t *port;
    json_array_foreach(json_object_get(es, "ports"), i, port) {
        size_t k;
        json_t *ep;
        json_array_foreach(json_object_get(es, "endpoints"), k, ep) {
            size_t a_i;
            json_t *addr;
            json_array_foreach(json_object_get(ep, "addresses"), a_i, addr) {
                if (!json_is_string(addr)) continue;
                ingest_sd_labels_t *t = ingest_sd_target_add(g, grp);
                if (!t) goto out;
                char num[24], hp[300];
                jnum(port, "port", num, sizeof num);
                if (*num) join_host_port(hp, sizeof hp, json_string_value(addr), num);
                else snprintf(hp, sizeof hp, "%s", json_string_value(addr));
                set(g, t, "__address__", hp);
                set(g, t, P "endpointslice_port_name", jstr(port, "name"));
                set(g, t, P "endpointslice_port_protocol", jstr(port, "protocol"));
                set(g, t, P "endpointslice_port", num);
                set(g, t, P "endpointslice_port_app_protocol", jstr(port, "appProtocol"));
                json_t *ready = jpath(ep, "conditions", "ready");
                if (json_is_boolean(ready)) set(g, t, P "endpointslice_endpoint_conditions_ready", json_is_true(ready) ? "true" : "false");
                set(g, t, P "endpointslice_endpoint_hostname", jstr(ep, "hostname"));
                const json_t *ref = json_object_get(ep, "targetRef");
                if (ref) {
                    set(g, t, P "endpointslice_address_target_kind", jstr(ref, "kind"));
                    set(g, t, P "endpointslice_address_target_name", jstr(ref, "name"));
                }
                const char *tk;
                json_t *tv;
                json_object_foreach(json_object_get(ep, "deprecatedTopology"), tk, tv) {
                    char name[512];
                    sanitize(name, sizeof name, P "endpointslice_endpoint_topology_", tk);
                    set(g, t, name, json_string_value(tv));
                    sanitize(name, sizeof name, P "endpointslice_endpoint_topology_present_", tk);
                    set(g, t, name, "true");
                }
                const json_t *pod = ref && !strcmp(jstr(ref, "kind"), "Pod") ? lookup(pods, jstr(ref, "namespace"), jstr(ref, "name")) : NULL;
                if (!pod) continue;
                long long pnum = json_integer_value(json_object_get(port, "port"));
                endpoint_pod_labels(g, t, pod, pnum, jstr(port, "protocol"));
                seen_add(&seen, pod, pnum);
            }
        }
    }
    uncovered_ports(g, grp, &seen);
out:
    seen_free(&seen);
}

/* ---- ingress ---- */

/* Whether host matches a TLS host pattern ("*.example.com" covers exactly one more label). */
static bool host_matches(const char *pattern, const char *host) {
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = strchr(host, '.');
        return dot && dot != host && !strcmp(dot, pattern + 1);
    }
    return !strcmp(pattern, host);
}

static void build_ingress(ingest_sd_groups_t *g, const json_t *ing) {
    ingest_sd_group_t *grp = group(g, "ingress", ing);
    if (!grp) return;
    const json_t *spec = json_object_get(ing, "spec");
    set(g, &grp->labels, P "ingress_name", name_of(ing));
    set(g, &grp->labels, P "namespace", ns_of(ing));
    meta_labels(g, &grp->labels, ing, "ingress", true);
    set(g, &grp->labels, P "ingress_class_name", jstr(spec, "ingressClassName"));
    size_t i;
    json_t *rule;
    json_array_foreach(json_object_get(spec, "rules"), i, rule) {
        const char *host = jstr(rule, "host");
        const char *scheme = "http";
        size_t t_i;
        json_t *tls;
        json_array_foreach(json_object_get(spec, "tls"), t_i, tls) {
            size_t h_i;
            json_t *h;
            json_array_foreach(json_object_get(tls, "hosts"), h_i, h) if (json_is_string(h) && host_matches(json_string_value(h), host))
                scheme = "https";
        }
        const json_t *paths = jpath(rule, "http", "paths");
        size_t np = json_array_size(paths);
        for (size_t p = 0; p < (np ? np : 1); p++) {
            const char *path = np ? jstr(json_array_get(paths, p), "path") : "";
            ingest_sd_labels_t *t = ingest_sd_target_add(g, grp);
            if (!t) return;
            set(g, t, "__address__", host);
            set(g, t, P "ingress_scheme", scheme);
            set(g, t, P "ingress_host", host);
            set(g, t, P "ingress_path", *path ? path : "/");
        }
    }
}

int ingest_k8s_build(int role, const json_t *main, const json_t *pods, const json_t *services, ingest_sd_groups_t **out) {
    *out = NULL;
    ingest_sd_groups_t *g = ingest_sd_groups_new();
    if (!g) return VG_ENOMEM;
    const char *k;
    json_t *obj;
    json_object_foreach((json_t *)main, k, obj) {
        if (!json_is_object(obj)) continue;
        switch (role) {
        case CONFIG_K8S_NODE: build_node(g, obj); break;
        case CONFIG_K8S_POD: build_pod(g, obj); break;
        case CONFIG_K8S_SERVICE: build_service(g, obj); break;
        case CONFIG_K8S_ENDPOINTS: build_endpoints(g, obj, pods, services); break;
        case CONFIG_K8S_ENDPOINTSLICE: build_endpointslice(g, obj, pods, services); break;
        case CONFIG_K8S_INGRESS: build_ingress(g, obj); break;
        default: break;
        }
        if (g->oom) break;
    }
    if (g->oom) {
        ingest_sd_groups_unref(g);
        return VG_ENOMEM;
    }
    *out = g;
    return 0;
}

/* ---- watch events ---- */

int ingest_k8s_apply_event(json_t *store, const char *line, size_t len, size_t max_objects, char *rv, size_t rv_cap,
                           int *code, vg_error_t *err) {
    *code = 0;
    json_error_t je;
    json_t *ev = json_loadb(line, len, 0, &je);
    if (!ev) return vg_error_set(err, VG_EINVAL, "watch event: invalid JSON at column %d: %s", je.column, je.text);
    int rc;
    const char *type = jstr(ev, "type");
    json_t *obj = json_object_get(ev, "object");
    static const char *const types[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
    rc = 0;
    for (int i = 0; i < 5; i++)
        if (!strcmp(type, types[i])) rc = i + 1;
    if (!rc || !json_is_object(obj)) {
        rc = vg_error_set(err, VG_EINVAL, "watch event: unknown type \"%s\" or no object", type);
        goto done;
    }
    if (rc == INGEST_K8S_ERROR) {
        json_t *c = json_object_get(obj, "code");
        *code = json_is_integer(c) ? (int)json_integer_value(c) : 0;
        goto done;
    }
    const char *ver = jstr(json_object_get(obj, "metadata"), "resourceVersion");
    char key[600];
    if (rc != INGEST_K8S_BOOKMARK) {
        if (!ingest_k8s_key(obj, key, sizeof key)) {
            rc = vg_error_set(err, VG_EINVAL, "watch event: object without metadata.name");
            goto done;
        }
        if (rc == INGEST_K8S_DELETED) json_object_del(store, key);
        else if (!json_object_get(store, key) && json_object_size(store) >= max_objects) {
            rc = vg_error_set(err, VG_ELIMIT, "more than %zu objects", max_objects);
            goto done;
        } else if (json_object_set(store, key, obj)) {
            rc = vg_error_set(err, VG_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (*ver && strlen(ver) < rv_cap) strcpy(rv, ver);
done:
    json_decref(ev);
    return rc;
}

void ingest_k8s_lines_init(ingest_k8s_lines_t *l, size_t max_line) {
    memset(l, 0, sizeof *l);
    l->max_line = max_line;
}

void ingest_k8s_lines_deinit(ingest_k8s_lines_t *l) {
    free(l->buf);
    memset(l, 0, sizeof *l);
}

int ingest_k8s_lines_feed(ingest_k8s_lines_t *l, const char *p, size_t n, int (*fn)(void *, const char *, size_t), void *ctx) {
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (!l->skipping) {
            if (l->len + take > l->max_line) { /* too long: drop what we have and skip to the next newline */
                l->skipping = true;
                l->len = 0;
                l->n_oversized++;
            } else if (take) {
                if (!l->buf && !(l->buf = malloc(l->max_line ? l->max_line : 1))) return VG_ENOMEM;
                memcpy(l->buf + l->len, p, take);
                l->len += take;
            }
        }
        if (!nl) break;
        if (!l->skipping && l->len) {
            size_t len = l->len;
            l->len = 0;
            int rc = fn(ctx, l->buf, len);
            if (rc) return rc;
        }
        l->skipping = false;
        l->len = 0;
        p = nl + 1;
        n -= take + 1;
    }
    return 0;
}
