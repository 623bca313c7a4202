/* The hidden `vigil template expand` subcommand: expands an alert template with given labels and
 * value, as a rule's annotation would be, so template behaviour can be checked against Prometheus
 * from the command line.
 *
 * Exit codes: 0 the expansion was written to stdout (as is, no newline added), 1 the template failed
 * to parse or execute (the error on stderr as "error: <message>"), 2 usage error. */
#include "rules/template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void) {
    fprintf(stderr, "usage: vigil template expand [--labels 'a=b,c=d'] [--value V] [--external-url URL] [--name NAME] TEMPLATE\n");
    return 2;
}

/* Splits "a=b,c=d" into labels (pointing into s, which is modified). Returns the count or -1. */
static int split_labels(char *s, model_label_t *out, int cap) {
    int n = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (!eq || n == cap) return -1;
        *eq = '\0';
        out[n++] = (model_label_t){tok, eq + 1};
    }
    return n;
}

int rules_cmd_template(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "expand") != 0) return usage();
    const char *labels = "", *value = "0", *url = "", *name = "expand", *text = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--labels") && i + 1 < argc) labels = argv[++i];
        else if (!strcmp(argv[i], "--value") && i + 1 < argc) value = argv[++i];
        else if (!strcmp(argv[i], "--external-url") && i + 1 < argc) url = argv[++i];
        else if (!strcmp(argv[i], "--name") && i + 1 < argc) name = argv[++i];
        else if (!text) text = argv[i];
        else return usage();
    }
    if (!text) return usage();
    char *lcopy = strdup(labels);
    model_label_t lv[64];
    int n = lcopy ? split_labels(lcopy, lv, 64) : -1;
    if (n < 0) {
        free(lcopy);
        fprintf(stderr, "error: --labels wants name=value pairs separated by commas\n");
        return 2;
    }
    model_labels_sort(lv, (size_t)n);
    char *end;
    double v = strtod(value, &end);
    if (*end) {
        free(lcopy);
        fprintf(stderr, "error: --value %s is not a number\n", value);
        return 2;
    }
    vg_error_t err;
    vg_error_clear(&err);
    rules_template_t *t;
    int rc = rules_template_parse(name, text, strlen(text), &t, &err);
    if (rc == 0) {
        rules_tmpl_data_t d = {.labels = lv, .n_labels = (size_t)n, .external_url = url, .value = v};
        vg_buf_t out = VG_BUF_INIT;
        rc = rules_template_exec(t, &d, &out, &err);
        if (rc == 0) fwrite(out.data ? out.data : "", 1, out.len, stdout);
        vg_buf_deinit(&out);
        rules_template_free(t);
    }
    free(lcopy);
    if (rc) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    return 0;
}
