/* Component health: a fixed table of (component, status, message, since) behind one mutex. Only
 * status changes and health endpoints touch it, never a hot path. */
#include "selfmon.h"

#include "util/timeutil.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char name[32];
    selfmon_status_t status;
    char message[256];
    double since;
} component_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static component_t comps[SELFMON_MAX_COMPONENTS];
static size_t n_comps;

const char *selfmon_status_name(selfmon_status_t s) {
    static const char *const names[] = {"starting", "up", "degraded", "down"};
    return (unsigned)s < 4 ? names[s] : "unknown";
}

static component_t *find(const char *name) {
    for (size_t i = 0; i < n_comps; i++)
        if (!strcmp(comps[i].name, name)) return &comps[i];
    return NULL;
}

void selfmon_health_set(const char *component, selfmon_status_t status, const char *message) {
    pthread_mutex_lock(&mu);
    component_t *c = find(component);
    if (!c && n_comps < SELFMON_MAX_COMPONENTS) {
        c = &comps[n_comps++];
        snprintf(c->name, sizeof c->name, "%s", component);
        c->status = (selfmon_status_t)-1;
    }
    if (c) {
        if (c->status != status) c->since = vg_now_s();
        c->status = status;
        snprintf(c->message, sizeof c->message, "%s", message ? message : "");
    }
    pthread_mutex_unlock(&mu);
}

bool selfmon_health_get(const char *component, selfmon_status_t *status, char *msg, size_t msg_cap) {
    pthread_mutex_lock(&mu);
    component_t *c = find(component);
    if (c) {
        *status = c->status;
        if (msg && msg_cap) snprintf(msg, msg_cap, "%s", c->message);
    }
    pthread_mutex_unlock(&mu);
    return c != NULL;
}

void selfmon_health_each(void (*fn)(void *ctx, const char *component, selfmon_status_t status,
                                    const char *message, double since),
                         void *ctx) {
    component_t copy[SELFMON_MAX_COMPONENTS];
    pthread_mutex_lock(&mu);
    size_t n = n_comps;
    memcpy(copy, comps, n * sizeof *copy);
    pthread_mutex_unlock(&mu);
    for (size_t i = 0; i < n; i++) fn(ctx, copy[i].name, copy[i].status, copy[i].message, copy[i].since);
}
