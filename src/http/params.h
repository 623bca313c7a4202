/* Parameters of the Prometheus HTTP API, parsed with Prometheus' rules and error texts: times (Unix
 * seconds as a float, or RFC 3339), durations (a float of seconds, or a Prometheus duration), and
 * match[] selectors turned into storage matchers. http-internal. */
#ifndef VG_HTTP_PARAMS_H
#define VG_HTTP_PARAMS_H

#include "http.h"

#include <stdbool.h>
#include <stdint.h>

/* The bounds Prometheus uses for "no start" / "no end" (its minTime / maxTime, in ms). */
#define API_MIN_TIME_MS (-9223309901257974LL)
#define API_MAX_TIME_MS (9223309901257974LL)

/* Parses s as Prometheus' parseTime does. Returns 0 or VG_EINVAL with
 * `invalid parameter "<param>": cannot parse "<s>" to a valid timestamp` in err. */
int api_parse_time(const char *param, const char *s, int64_t *out_ms, vg_error_t *err);
/* Parameter `param` of req as a time, or dflt when absent/empty; errors worded as Prometheus'
 * parseTimeParam ("Invalid time value for '<param>': ..."). */
int api_time_param(http_req_t *req, const char *param, int64_t dflt, int64_t *out_ms);
/* Parses s as Prometheus' parseDuration does (float seconds or a duration). */
int api_parse_duration(const char *param, const char *s, int64_t *out_ms, vg_error_t *err);

#endif
