/* Kubernetes objects → target groups (placeholder until the roles land). */
#include "discovery_int.h"
