/* Which URLs a tenant may give a datasource: Grafana's proxy calls a datasource's URL from inside the
 * operator's network on the tenant's behalf, so a tenant may only point one at vigil itself or under
 * an operator-approved prefix.
 *
 * Invariants:
 *  - URLs are compared after normalisation: scheme (http|https, any case), host (lowercase, one
 *    trailing dot dropped), port (explicit or the scheme's default), path; a prefix matches on a
 *    path-segment boundary only ("/prom" does not cover "/prometheus").
 *  - Anything a URL parser could read two ways is refused rather than interpreted: userinfo ("@"
 *    anywhere in the authority), backslashes, whitespace and control bytes, non-ASCII, "%" in the
 *    host or path (encoded dots and slashes), dot segments, a query or a fragment, an empty port.
 *  - An allow-list entry that does not parse allows nothing. */
#include "grafana/grafana_int.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    bool https;
    char host[256];
    unsigned port;
    const char *path; /* starts with '/', or "" for none */
    size_t path_len;
} url_t;

static bool ieq_prefix(const char *s, const char *p) {
    for (; *p; s++, p++) {
        char ch = *s;
        if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
        if (ch != *p) return false;
    }
    return true;
}

static bool host_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_';
}

static int url_parse(const char *s, url_t *u) {
    if (!s) return -1;
    memset(u, 0, sizeof *u);
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch >= 0x7f || ch == '\\') return -1;
    }
    if (ieq_prefix(s, "http://")) s += 7;
    else if (ieq_prefix(s, "https://")) s += 8, u->https = true;
    else return -1;
    size_t alen = strcspn(s, "/?#");
    if (memchr(s, '@', alen)) return -1; /* userinfo: "http://vigil@evil" is evil */
    const char *a = s, *aend = s + alen, *port = NULL;
    size_t hlen = 0;
    if (*a == '[') { /* IPv6 literal */
        const char *close = memchr(a, ']', alen);
        if (!close) return -1;
        hlen = (size_t)(close - a) + 1;
        for (const char *p = a + 1; p < close; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') || *p == ':' ||
                  *p == '.'))
                return -1;
        if (close + 1 < aend) {
            if (close[1] != ':') return -1;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(a, ':', alen);
        hlen = colon ? (size_t)(colon - a) : alen;
        if (colon) port = colon + 1;
    }
    if (!hlen || hlen >= sizeof u->host) return -1;
    for (size_t i = 0; i < hlen; i++) {
        char ch = a[i];
        if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
        if (*a != '[' && !host_char(ch)) return -1;
        u->host[i] = ch;
    }
    if (hlen > 1 && u->host[hlen - 1] == '.') u->host[--hlen] = '\0'; /* "vigil.example." is vigil.example */
    if (u->host[0] == '.' || strstr(u->host, "..")) return -1;
    u->port = u->https ? 443 : 80;
    if (port) {
        if (port == aend || aend - port > 5) return -1;
        unsigned v = 0;
        for (const char *p = port; p < aend; p++) {
            if (*p < '0' || *p > '9') return -1;
            v = v * 10 + (unsigned)(*p - '0');
        }
        if (!v || v > 65535) return -1;
        u->port = v;
    }
    const char *path = aend;
    if (*path == '?' || *path == '#') return -1;
    size_t plen = strlen(path);
    if (memchr(path, '?', plen) || memchr(path, '#', plen) || memchr(path, '%', plen)) return -1;
    for (const char *seg = path; seg < path + plen;) { /* no "." or ".." segments */
        const char *next = memchr(seg + 1, '/', (size_t)(path + plen - seg - 1));
        size_t sl = (next ? (size_t)(next - seg) : (size_t)(path + plen - seg)) - 1;
        if ((sl == 1 && seg[1] == '.') || (sl == 2 && seg[1] == '.' && seg[2] == '.')) return -1;
        if (!next) break;
        seg = next;
    }
    while (plen && path[plen - 1] == '/') plen--; /* "/x/" and "/x" are the same prefix */
    u->path = path;
    u->path_len = plen;
    return 0;
}

/* Whether url lies under prefix: same scheme, host and port; the path equal or below on a '/'. */
static bool under(const url_t *url, const url_t *prefix) {
    if (url->https != prefix->https || url->port != prefix->port || strcmp(url->host, prefix->host)) return false;
    if (url->path_len < prefix->path_len || memcmp(url->path, prefix->path, prefix->path_len)) return false;
    return url->path_len == prefix->path_len || url->path[prefix->path_len] == '/';
}

bool grafana_url_allowed(const char *url, const char *vigil_url, const char *const *allow, size_t n_allow) {
    url_t u, p;
    if (url_parse(url, &u)) return false;
    if (vigil_url && !url_parse(vigil_url, &p) && under(&u, &p)) return true;
    for (size_t i = 0; i < n_allow; i++)
        if (!url_parse(allow[i], &p) && under(&u, &p)) return true;
    return false;
}
