/* Test support: runs tests/grafana_fake/fake_grafana.py (a contract fake of Grafana's API) as a child
 * process on a free port, talks to its /__fake/ control endpoints, and builds clients pointed at it.
 *
 * Invariants: one fake per test binary (started in the group setup, reset before each test); when
 * python3 or the fake cannot start, fake_ok() is false and every test that needs it skips. */
#ifndef VG_TEST_GRAFANA_FAKE_H
#define VG_TEST_GRAFANA_FAKE_H

#include "grafana/grafana.h"

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#define FAKE_ADMIN_PASSWORD "s3cret-admin-pw"

typedef struct fake {
    pid_t pid;
    int stdin_fd; /* closing it makes the fake exit */
    int port;
    char url[64];
} fake_t;

extern fake_t fake;

/* Group setup/teardown for cmocka: start and stop the fake. Setup never fails (tests skip instead). */
int fake_group_setup(void **state);
int fake_group_teardown(void **state);
/* Per-test setup: resets the fake's state (when there is one). */
int fake_test_setup(void **state);

/* First statement of a test that needs the fake: skips it when there is none. */
#define FAKE_REQUIRED()                                                                                                \
    do {                                                                                                               \
        if (!fake_ok()) skip();                                                                                        \
    } while (0)

bool fake_ok(void);

/* Raw HTTP to the fake. auth: NULL (none), "admin" (basic admin), or a bearer token. org: 0 = no header.
 * Returns the status; *body (optional) gets the answer (free()). */
long fake_http(const char *method, const char *path, const char *json, const char *auth, long org, char **body);

/* POST a control request (e.g. "/__fake/fail"); asserts 200. */
void fake_control(const char *path, const char *json);
/* GET /__fake/state as JSON (json_decref). */
json_t *fake_state(void);
/* Requests the fake has seen whose method matches (NULL = any) and path starts with prefix. */
int fake_count(const char *method, const char *prefix);

/* Config with test-friendly timeouts and millisecond backoff, pointed at the fake, with the shipped
 * dashboard templates. */
void fake_config(grafana_config_t *cfg);
grafana_client_t *fake_client(void);

/* The tenant's org object in a state, or NULL. */
json_t *fake_org(json_t *state, const char *name);

/* Provisions tenant with credential "Bearer jwt-<tenant>"; asserts success. */
void fake_provision(grafana_client_t *c, const char *tenant, grafana_provision_result_t *res);

#endif
