/* The rule sections: `rule_files` (globs of Prometheus rule files, relative to the config file's
 * directory, read by the rule manager) and `rules` (the alert-state settings Prometheus takes as
 * --rules.alert.* flags, and the size bound of a group uploaded through the ruler API). The rule files
 * themselves are validated by src/rules/, not here: a config with a broken rule file still loads, as
 * Prometheus' does. */
#include "config_int.h"

static const config__field_t rules_fields[] = {
    {.key = "alert_for_outage_tolerance", .type = F_DURATION, .off = OFF(config_rules_t, alert_for_outage_tolerance_ms),
     .min = 0, .max = 365 * DAY_MS},
    {.key = "alert_for_grace_period", .type = F_DURATION, .off = OFF(config_rules_t, alert_for_grace_period_ms), .min = 0,
     .max = 365 * DAY_MS},
    {.key = "alert_resend_delay", .type = F_DURATION, .off = OFF(config_rules_t, alert_resend_delay_ms), .min = 0,
     .max = 365 * DAY_MS},
    {.key = "ruler_max_group_size", .type = F_SIZE, .off = OFF(config_rules_t, ruler_max_group_size), .min = 1024,
     .max = 64 << 20},
    FIELD_END,
};

static int rules_defaults(config_t *c) {
    c->rules.alert_for_outage_tolerance_ms = 3600 * 1000;
    c->rules.alert_for_grace_period_ms = 10 * 60 * 1000;
    c->rules.alert_resend_delay_ms = 60 * 1000;
    c->rules.ruler_max_group_size = 256 << 10;
    return 0;
}

const config__section_t config__section_rule_files = {
    .field = {.key = "rule_files", .type = F_STRLIST, .off = OFF(config_t, rule_files)},
};

const config__section_t config__section_rules = {
    .field = {.key = "rules", .type = F_STRUCT, .off = OFF(config_t, rules), .sub = rules_fields},
    .defaults = rules_defaults,
};
