/* Test helper for test_alertmanager.py: sends the alerts of a JSON file through the notifier built from
 * a vigil config, waits until they went out, and prints the notifier's counts as one JSON line.
 *   notifier_send CONFIG ALERTS.json
 * ALERTS.json: [{"labels": {...}, "annotations": {...}, "startsAt": ms, "endsAt": ms, "generatorURL": "..."}]
 * Exit status 0 when the queue drained and nothing failed or was dropped. */
#include "config/config.h"
#include "rules/notifier.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_label(const void *a, const void *b) {
    return strcmp(((const model_label_t *)a)->name, ((const model_label_t *)b)->name);
}

static model_label_t *labels_of(json_t *obj, size_t *n) {
    *n = json_object_size(obj);
    model_label_t *v = calloc(*n + 1, sizeof *v);
    size_t i = 0;
    const char *k;
    json_t *val;
    json_object_foreach(obj, k, val) v[i++] = (model_label_t){k, json_string_value(val)};
    qsort(v, *n, sizeof *v, cmp_label);
    return v;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fputs("usage: notifier_send CONFIG ALERTS.json\n", stderr);
        return 2;
    }
    config_t *cfg;
    vg_error_t err;
    if (config_load_file(argv[1], &cfg, &err)) {
        fprintf(stderr, "%s:%d:%d: %s\n", argv[1], err.line, err.col, err.msg);
        return 2;
    }
    json_error_t jerr;
    json_t *doc = json_load_file(argv[2], 0, &jerr);
    if (!json_is_array(doc)) {
        fprintf(stderr, "%s: %s\n", argv[2], jerr.text);
        return 2;
    }
    size_t n = json_array_size(doc);
    rules_alert_t *alerts = calloc(n + 1, sizeof *alerts);
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(doc, i);
        alerts[i].labels = labels_of(json_object_get(a, "labels"), &alerts[i].n_labels);
        alerts[i].annotations = labels_of(json_object_get(a, "annotations"), &alerts[i].n_annotations);
        alerts[i].starts_at_ms = json_integer_value(json_object_get(a, "startsAt"));
        alerts[i].ends_at_ms = json_integer_value(json_object_get(a, "endsAt"));
        alerts[i].generator_url = json_string_value(json_object_get(a, "generatorURL"));
    }
    rules_notifier_t *nt;
    if (rules_notifier_new(cfg, &nt, &err)) {
        fprintf(stderr, "notifier: %s\n", err.msg);
        return 2;
    }
    rules_notifier_send(nt, alerts, n);
    bool drained = rules_notifier_flush(nt, 20000);
    rules_notifier_stats_t st;
    rules_notifier_stats(nt, &st);
    printf("{\"drained\":%s,\"sent\":%llu,\"errors\":%llu,\"dropped\":%llu,\"posts\":%llu}\n", drained ? "true" : "false",
           (unsigned long long)st.sent, (unsigned long long)st.errors, (unsigned long long)st.dropped,
           (unsigned long long)st.posts);
    rules_notifier_free(nt, 1000);
    for (size_t i = 0; i < n; i++) {
        free((void *)alerts[i].labels);
        free((void *)alerts[i].annotations);
    }
    free(alerts);
    json_decref(doc);
    config_unref(cfg);
    return drained && !st.errors && !st.dropped ? 0 : 1;
}
