/* Kubernetes list + watch (placeholder until the roles land). */
#include "discovery_int.h"

void *ingest__k8s_run(void *arg) {
    (void)arg;
    return NULL;
}
