/* Parameters of the Prometheus HTTP API, parsed with Prometheus' rules and error texts: times (Unix
 * seconds as a float, or RFC 3339), durations (a float of seconds, or a Prometheus duration), and
 * match[] selectors turned into storage matchers. http-internal. */
#ifndef VG_HTTP_PARAMS_H
#define VG_HTTP_PARAMS_H

#include "auth.h"
#include "http.h"
#include "model/matcher.h"

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

/* One match[] selector as matchers (arena-owned array; the matchers themselves must be freed with
 * api_matchers_free). */
typedef struct api_matchers {
    model_matcher_t **v;
    size_t n;
} api_matchers_t;

/* Parses every match[] parameter of req. *out gets n_out sets (arena array); free the matchers with
 * api_matchers_release. Errors are bad_data with the parser's message, prefixed with
 * `invalid parameter "match[]": ` when wrap is set (Prometheus does so for /series, not /labels). */
int api_match_params(http_req_t *req, bool wrap, api_matchers_t **out, size_t *n_out);
void api_matchers_release(api_matchers_t *sets, size_t n);

/* The matchers of a parsed selector (up to cap; free each with model_matcher_free). */
int api_selector_matchers(http_req_t *req, const struct promql_node *sel, model_matcher_t **out, size_t cap, size_t *n_out);

/* For a scoped request, rewrites expr so every selector carries the tenant's matcher; a matcher of its
 * own on the enforced label is refused (VG_EFORBIDDEN). 0 and nothing done for an unscoped request. */
int api_enforce_query(http_req_t *req, struct promql_node *expr);

/* The matcher selecting a scoped request's tenant's series (free with model_matcher_free). */
int api_tenant_matcher(const http_req_t *req, model_matcher_t **out);

#endif
