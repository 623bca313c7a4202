/* The `clusters` section: the cluster and node overview API (docs/api.md, "Clusters"): the label that
 * names a node's cluster, the warning and critical thresholds of CPU, memory and disk use (which also
 * become the alert rules of the group vigil-cluster-thresholds), the Grafana template of a cluster's
 * public dashboard, and how many queries of one overview request run at once.
 *
 * Invariant after the check: for every metric 0 <= warning <= critical <= 100, and label is a valid
 * label name. */
#include "config_int.h"

#include <stdlib.h>
#include <string.h>

static const config__field_t threshold_fields[] = {
    {.key = "warning", .type = F_FLOAT, .off = OFF(config_threshold_t, warning), .min = 0, .max = 100},
    {.key = "critical", .type = F_FLOAT, .off = OFF(config_threshold_t, critical), .min = 0, .max = 100},
    FIELD_END,
};

static const config__field_t thresholds_fields[] = {
    {.key = "cpu", .type = F_STRUCT, .off = OFF(config_clusters_t, thresholds.cpu) - OFF(config_clusters_t, thresholds),
     .sub = threshold_fields},
    {.key = "memory", .type = F_STRUCT, .off = OFF(config_clusters_t, thresholds.memory) - OFF(config_clusters_t, thresholds),
     .sub = threshold_fields},
    {.key = "disk", .type = F_STRUCT, .off = OFF(config_clusters_t, thresholds.disk) - OFF(config_clusters_t, thresholds),
     .sub = threshold_fields},
    FIELD_END,
};

static const config__field_t clusters_fields[] = {
    {.key = "label", .type = F_STR, .off = OFF(config_clusters_t, label)},
    {.key = "thresholds", .type = F_STRUCT, .off = OFF(config_clusters_t, thresholds), .sub = thresholds_fields},
    {.key = "grafana_template", .type = F_STR, .off = OFF(config_clusters_t, grafana_template)},
    {.key = "alert_rules", .type = F_BOOL, .off = OFF(config_clusters_t, alert_rules)},
    {.key = "query_parallelism", .type = F_INT, .off = OFF(config_clusters_t, query_parallelism), .min = 1, .max = 64},
    FIELD_END,
};

static int clusters_defaults(config_t *c) {
    config_clusters_t *k = &c->clusters;
    k->label = strdup("cluster");
    k->grafana_template = strdup("vigil-overview");
    k->thresholds.cpu = (config_threshold_t){70, 90};
    k->thresholds.memory = (config_threshold_t){80, 95};
    k->thresholds.disk = (config_threshold_t){80, 90};
    k->alert_rules = false; /* opt-in: /api/v1/rules stays as Prometheus answers it unless asked */
    k->query_parallelism = 4;
    return k->label && k->grafana_template ? 0 : VG_ENOMEM;
}

static int clusters_check(config_t *c, vg_error_t *err) {
    const config_clusters_t *k = &c->clusters;
    if (!config__valid_label_name(k->label, strlen(k->label)) || !strncmp(k->label, "__", 2))
        return vg_error_set(err, VG_ECONFIG, "clusters.label: \"%s\" is not a valid label name", k->label);
    const struct {
        const char *name;
        const config_threshold_t *t;
    } m[] = {{"cpu", &k->thresholds.cpu}, {"memory", &k->thresholds.memory}, {"disk", &k->thresholds.disk}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (m[i].t->warning > m[i].t->critical)
            return vg_error_set(err, VG_ECONFIG, "clusters.thresholds.%s: warning (%g) must not exceed critical (%g)",
                                m[i].name, m[i].t->warning, m[i].t->critical);
    return 0;
}

const config__section_t config__section_clusters = {
    .field = {.key = "clusters", .type = F_STRUCT, .off = OFF(config_t, clusters), .sub = clusters_fields},
    .defaults = clusters_defaults,
    .check = clusters_check,
};
