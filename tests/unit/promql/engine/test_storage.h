/* The promqltest storage factory over the in-memory TSDB, for the engine's tests and benchmarks (main.c
 * has its own for `vigil promqltest`). */
#ifndef VG_TESTS_PROMQL_ENGINE_TEST_STORAGE_H
#define VG_TESTS_PROMQL_ENGINE_TEST_STORAGE_H

#include "promql/engine/promql_engine.h"

/* A factory whose storages are in-memory TSDBs accepting any timestamp order across series. */
extern const promql_test_storage_t promql_test_tsdb_storage;

#endif
