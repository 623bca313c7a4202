/* Prometheus API parameter parsing; see params.h. */
#include "params.h"

#include "util/timeutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int api_parse_time(const char *param, const char *s, int64_t *out_ms, vg_error_t *err) {
    if (!s) s = "";
    char *end;
    errno = 0;
    double f = strtod(s, &end);
    if (*s && !*end && errno != ERANGE && strncasecmp(s, "nan", 3) && !strchr(s, 'x') && !strchr(s, 'X') &&
        !strpbrk(s, "iI")) {
        /* whole seconds, and the fraction rounded to ms (Prometheus: math.Modf then round to 1/1000) */
        double sec, frac = modf(f, &sec);
        double ms = sec * 1000 + round(frac * 1000);
        if (ms >= -9.2e18 && ms <= 9.2e18) {
            *out_ms = (int64_t)ms;
            return 0;
        }
    }
    /* Prometheus' own min/max time strings, as clients send them back */
    if (!strcmp(s, "-292273086-05-16T16:47:06Z")) return *out_ms = API_MIN_TIME_MS, 0;
    if (!strcmp(s, "292277025-08-18T07:12:54.999999999Z")) return *out_ms = API_MAX_TIME_MS, 0;
    if (!vg_rfc3339_parse(s, strlen(s), out_ms)) return 0;
    return vg_error_set(err, VG_EINVAL, "invalid parameter \"%s\": cannot parse \"%s\" to a valid timestamp", param, s);
}

int api_time_param(http_req_t *req, const char *param, int64_t dflt, int64_t *out_ms) {
    const char *s = http_req_param(req, param);
    if (!s || !*s) {
        *out_ms = dflt;
        return 0;
    }
    if (!api_parse_time(param, s, out_ms, NULL)) return 0;
    return vg_error_set(&req->err, VG_EINVAL,
                        "invalid parameter \"%s\": Invalid time value for '%s': cannot parse \"%.200s\" to a valid timestamp", param,
                        param, s);
}

int api_parse_duration(const char *param, const char *s, int64_t *out_ms, vg_error_t *err) {
    char *end;
    errno = 0;
    double f = strtod(s, &end);
    if (*s && !*end && !strpbrk(s, "xXiInN")) {
        double ms = f * 1000;
        if (!(ms >= -9.2e15 && ms <= 9.2e15)) /* ns would overflow int64, as in Prometheus */
            return vg_error_set(err, VG_EINVAL, "invalid parameter \"%s\": cannot parse \"%s\" to a valid duration. It overflows int64",
                                param, s);
        *out_ms = (int64_t)ms;
        return 0;
    }
    if (!vg_duration_parse(s, strlen(s), out_ms)) return 0;
    return vg_error_set(err, VG_EINVAL, "invalid parameter \"%s\": cannot parse \"%s\" to a valid duration", param, s);
}

