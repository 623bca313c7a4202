/* DNS service discovery (Prometheus' dns_sd_configs): every refresh_interval each name is looked up
 * through the libc resolver (res_nsearch: /etc/resolv.conf's servers, search list and options, read
 * afresh at each refresh) for SRV, A, AAAA or MX records, and becomes one target group (source: the
 * name) with a target per record:
 *   SRV   __address__ = <target without its final dot>:<record port>, __meta_dns_srv_record_target
 *         (rooted, as in the answer), __meta_dns_srv_record_port;
 *   MX    __address__ = <exchange without its final dot>:<port>, __meta_dns_mx_record_target;
 *   A/AAAA __address__ = <address>:<port> (IPv6 in brackets);
 * and __meta_dns_name = the name on every target. A name that does not exist or has no such records
 * gives an empty group; a lookup that fails (timeout, SERVFAIL, malformed answer) is logged and counted
 * and keeps that name's previous records (Prometheus drops them until the next success).
 *
 * Answers are parsed with libresolv's ns_parserr/dn_expand, bounded by the message's length. */
#include "discovery_int.h"

#include "util/log.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DNS_MAX_RECORDS 4096
#define DNS_MAX_ANSWER 65536

static int dn_name(const ns_msg *h, const unsigned char *p, char *out, size_t cap) {
    char tmp[NS_MAXDNAME];
    if (dn_expand(ns_msg_base(*h), ns_msg_end(*h), p, tmp, sizeof tmp) < 0) return -1;
    size_t n = strlen(tmp);
    if (n + 2 > cap) return -1;
    memcpy(out, tmp, n);
    if (n == 0 || tmp[n - 1] != '.') out[n++] = '.'; /* rooted, as the answer wrote it */
    out[n] = '\0';
    return 0;
}

int ingest_dns_parse_answer(const unsigned char *msg, size_t len, int qtype, ingest_dns_record_t *out, size_t cap,
                            int *rcode, vg_error_t *err) {
    ns_msg h;
    *rcode = -1;
    if (len > DNS_MAX_ANSWER || ns_initparse(msg, (int)len, &h) < 0) return vg_error_set(err, VG_EINVAL, "malformed DNS message");
    *rcode = ns_msg_getflag(h, ns_f_rcode);
    int n = 0, count = ns_msg_count(h, ns_s_an);
    for (int i = 0; i < count; i++) {
        ns_rr rr;
        if (ns_parserr(&h, ns_s_an, i, &rr) < 0) return vg_error_set(err, VG_EINVAL, "malformed DNS answer record %d", i);
        if ((int)ns_rr_type(rr) != qtype || ns_rr_class(rr) != ns_c_in || (size_t)n >= cap) continue;
        const unsigned char *rd = ns_rr_rdata(rr);
        size_t rdlen = ns_rr_rdlen(rr);
        ingest_dns_record_t *r = &out[n];
        memset(r, 0, sizeof *r);
        switch (qtype) {
        case ns_t_a:
        case ns_t_aaaa:
            if (rdlen != (qtype == ns_t_a ? 4u : 16u)) return vg_error_set(err, VG_EINVAL, "malformed address record %d", i);
            inet_ntop(qtype == ns_t_a ? AF_INET : AF_INET6, rd, r->target, sizeof r->target);
            break;
        case ns_t_srv:
            if (rdlen < 7 || dn_name(&h, rd + 6, r->target, sizeof r->target))
                return vg_error_set(err, VG_EINVAL, "malformed SRV record %d", i);
            r->port = rd[4] << 8 | rd[5];
            break;
        case ns_t_mx:
            if (rdlen < 3 || dn_name(&h, rd + 2, r->target, sizeof r->target))
                return vg_error_set(err, VG_EINVAL, "malformed MX record %d", i);
            break;
        default: continue;
        }
        n++;
    }
    return n;
}

static void host_port(char *out, size_t cap, const char *host, int port) {
    size_t n = strlen(host);
    while (n > 1 && host[n - 1] == '.') n--; /* unrooted, as a host to connect to */
    if (memchr(host, ':', n)) snprintf(out, cap, "[%.*s]:%d", (int)n, host, port);
    else snprintf(out, cap, "%.*s:%d", (int)n, host, port);
}

void ingest_dns_group(ingest_sd_groups_t *g, const char *name, int qtype, int port, const ingest_dns_record_t *r, size_t n) {
    ingest_sd_group_t *grp = ingest_sd_group_add(g, name);
    if (!grp) return;
    for (size_t i = 0; i < n; i++) {
        ingest_sd_labels_t *t = ingest_sd_target_add(g, grp);
        if (!t) return;
        char addr[300], num[16];
        host_port(addr, sizeof addr, r[i].target, qtype == ns_t_srv ? r[i].port : port);
        ingest_sd_label_set(g, t, "__address__", addr);
        ingest_sd_label_set(g, t, "__meta_dns_name", name);
        if (qtype == ns_t_srv) {
            snprintf(num, sizeof num, "%d", r[i].port);
            ingest_sd_label_set(g, t, "__meta_dns_srv_record_target", r[i].target);
            ingest_sd_label_set(g, t, "__meta_dns_srv_record_port", num);
        } else if (qtype == ns_t_mx) {
            ingest_sd_label_set(g, t, "__meta_dns_mx_record_target", r[i].target);
        }
    }
}

/* Looks name up; returns the number of records (0 for NXDOMAIN / no data) or <0 with err. */
static int lookup(const char *name, int qtype, unsigned char *ans, ingest_dns_record_t *out, vg_error_t *err) {
    struct __res_state st;
    memset(&st, 0, sizeof st);
    if (res_ninit(&st)) return vg_error_set(err, VG_EIO, "cannot initialise the resolver");
    st.options |= RES_USE_EDNS0;
    int len = res_nsearch(&st, name, ns_c_in, qtype, ans, DNS_MAX_ANSWER);
    int herr = st.res_h_errno;
    res_nclose(&st);
    if (len < 0) {
        if (herr == HOST_NOT_FOUND || herr == NO_DATA) return 0;
        return vg_error_set(err, VG_EUNAVAIL, "could not resolve \"%s\": %s", name, herr == TRY_AGAIN ? "server failure or timeout" : hstrerror(herr));
    }
    int rcode;
    int n = ingest_dns_parse_answer(ans, (size_t)len, qtype, out, DNS_MAX_RECORDS, &rcode, err);
    if (n < 0) return n;
    if (rcode != ns_r_noerror && rcode != ns_r_nxdomain)
        return vg_error_set(err, VG_EUNAVAIL, "could not resolve \"%s\": response code %d", name, rcode);
    return n;
}

void *ingest__dns_sd_run(void *arg) {
    ingest__sd_provider_t *p = arg;
    const config_dns_sd_t *c = p->conf;
    static const int qtypes[] = {ns_t_srv, ns_t_a, ns_t_aaaa, ns_t_mx};
    int qtype = qtypes[c->qtype];
    size_t n = c->names.n;
    ingest_dns_record_t **recs = calloc(n, sizeof *recs);
    int *nrec = calloc(n, sizeof *nrec);
    bool *have = calloc(n, sizeof *have);
    unsigned char *ans = malloc(DNS_MAX_ANSWER);
    ingest_dns_record_t *tmp = malloc(DNS_MAX_RECORDS * sizeof *tmp);
    if (!recs || !nrec || !have || !ans || !tmp) {
        vg_log_error("discovery", "out of memory starting DNS SD", VG_LS("job", p->job));
        goto out;
    }
    do {
        bool any = false;
        for (size_t i = 0; i < n && !ingest__sd_stopping(p); i++) {
            vg_error_t err;
            int k = lookup(c->names.v[i], qtype, ans, tmp, &err);
            if (k < 0) {
                ingest__sd_fail(p);
                vg_log_error("discovery", "DNS SD lookup failed; keeping the name's last records", VG_LS("job", p->job),
                             VG_LS("name", c->names.v[i]), VG_LS("err", err.msg));
                continue;
            }
            ingest_dns_record_t *copy = malloc((k ? (size_t)k : 1) * sizeof *copy);
            if (!copy) continue;
            memcpy(copy, tmp, (size_t)k * sizeof *copy);
            free(recs[i]);
            recs[i] = copy;
            nrec[i] = k;
            have[i] = any = true;
        }
        if (!any || ingest__sd_stopping(p)) continue;
        ingest_sd_groups_t *g = ingest_sd_groups_new();
        for (size_t i = 0; g && i < n; i++)
            if (have[i]) ingest_dns_group(g, c->names.v[i], qtype, (int)c->port, recs[i], (size_t)nrec[i]);
        if (g && !g->oom) ingest__sd_publish(p, g);
        else ingest_sd_groups_unref(g);
    } while (!ingest__sd_sleep(p, c->refresh_interval_ms));
out:
    for (size_t i = 0; recs && i < n; i++) free(recs[i]);
    free(recs), free(nrec), free(have), free(ans), free(tmp);
    return NULL;
}
