/* A stand-alone `promqltest` for the engine's meson tests: the same runner as `vigil promqltest`, over the
 * in-memory TSDB. */
#include "test_storage.h"

int main(int argc, char **argv) { return promql_cmd_test(argc - 1, argv + 1, &promql_test_tsdb_storage); }
