/* Benchmark of the query front end as the HTTP path uses it: parse + enforce (namespace="client-alice") +
 * print, per query of the PromQL compliance corpus (../shared/promql/compliance/expanded-queries.tsv, real
 * dashboard-style queries), or of tests/promql/format.txt when ../shared is absent.
 *
 * Usage: bench_promql [-v] [min_ms_per_query] [file.tsv]. Prints one line per query with -v
 * ("name ns/op B/op blocks/op"), then the summary: median / p90 / max ns per query and arena bytes.
 * The arena is reset (not freed) between iterations, as a per-request arena would be; B/op is the arena's
 * bytes handed out, blocks/op the extra heap blocks the arena needed beyond its first. */
#include "promql/promql.h"

#include "util/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *q;
    double ns;
    size_t bytes, blocks;
} item_t;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static size_t arena_blocks(const vg_arena_t *a) {
    /* vg_arena_block_t is opaque; count the chain through its first field (the next pointer). */
    size_t n = 0;
    for (const void *b = a->head; b; b = *(const void *const *)b) n++;
    return n;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    vg_buf_t b = VG_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) vg_buf_append(&b, chunk, n);
    fclose(f);
    return vg_buf_steal(&b, NULL);
}

int main(int argc, char **argv) {
    bool verbose = false;
    double min_ms = 20;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) verbose = true;
        else if (argv[i][0] >= '0' && argv[i][0] <= '9') min_ms = atof(argv[i]);
        else path = argv[i];
    }
    const char *root = getenv("VIGIL_SOURCE_ROOT");
    char def[4096];
    bool tsv = true;
    if (!path) {
        snprintf(def, sizeof def, "%s/../shared/promql/compliance/expanded-queries.tsv", root ? root : ".");
        path = def;
    }
    char *text = slurp(path);
    if (!text) {
        snprintf(def, sizeof def, "%s/tests/promql/format.txt", root ? root : ".");
        text = slurp(def);
        tsv = false;
        path = def;
    }
    if (!text) {
        fprintf(stderr, "bench_promql: no corpus (set VIGIL_SOURCE_ROOT or pass a file)\n");
        return 2;
    }
    size_t n = 0, cap = 1024;
    item_t *items = calloc(cap, sizeof *items);
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *q = NULL;
        if (tsv) {
            char *tab = strchr(line, '\t');
            q = tab ? tab + 1 : NULL;
        } else if (strncmp(line, "in: ", 4) == 0) {
            q = line + 4;
        }
        if (!q || n == cap) continue;
        items[n++].q = q;
    }

    static const char *const vals[] = {"client-alice"};
    const promql_enforced_label_t tenant = {"namespace", vals, 1};
    vg_arena_t arena;
    vg_arena_init(&arena, 16384);
    vg_buf_t out = VG_BUF_INIT;
    size_t used = 0, checksum = 0;
    for (size_t i = 0; i < n; i++) {
        const char *q = items[i].q;
        size_t len = strlen(q);
        promql_node_t *root_node;
        vg_error_t err;
        /* warm up and validate once: queries that fail to parse (the corpus' should_fail cases) are skipped */
        vg_arena_reset(&arena);
        if (promql_parse(q, len, &arena, &root_node, &err) != 0 ||
            promql_enforce(root_node, &tenant, 1, PROMQL_ENFORCE_OVERRIDE, &arena, &err) < 0) {
            items[i].ns = -1;
            continue;
        }
        uint64_t iters = 0, t0 = vg_mono_ns(), t1;
        size_t blocks0 = arena_blocks(&arena);
        do {
            for (int k = 0; k < 64; k++) {
                vg_arena_reset(&arena);
                vg_buf_reset(&out);
                if (promql_parse(q, len, &arena, &root_node, &err) != 0) abort();
                if (promql_enforce(root_node, &tenant, 1, PROMQL_ENFORCE_OVERRIDE, &arena, &err) < 0) abort();
                if (promql_print(root_node, &out) != 0 || out.len == 0) abort();
                checksum += out.len;
            }
            iters += 64;
            t1 = vg_mono_ns();
        } while ((double)(t1 - t0) < min_ms * 1e6);
        items[i].ns = (double)(t1 - t0) / (double)iters;
        items[i].bytes = arena.total;
        items[i].blocks = arena_blocks(&arena) - (blocks0 ? 1 : 0);
        if (verbose) printf("%-60.60s %10.0f ns/op %6zu B/op %zu blocks/op\n", q, items[i].ns, items[i].bytes, items[i].blocks);
        used++;
    }
    double *ns = calloc(used ? used : 1, sizeof *ns);
    size_t bytes_sum = 0, k = 0;
    for (size_t i = 0; i < n; i++)
        if (items[i].ns >= 0) {
            ns[k++] = items[i].ns;
            bytes_sum += items[i].bytes;
        }
    qsort(ns, k, sizeof *ns, cmp_double);
    if (k == 0) {
        fprintf(stderr, "bench_promql: no query parsed\n");
        return 1;
    }
    printf("promql parse+enforce+print: %zu queries from %s (%zu skipped)\n", k, path, n - k);
    printf("  median %.0f ns/query, p90 %.0f ns, max %.0f ns, mean arena %zu B/query (checksum %zu)\n", ns[k / 2],
           ns[k * 9 / 10], ns[k - 1], bytes_sum / k, checksum % 1000);
    free(ns);
    free(items);
    free(text);
    vg_buf_deinit(&out);
    vg_arena_deinit(&arena);
    return 0;
}
