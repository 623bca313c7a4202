/* config: vigil's YAML configuration → typed, validated structs, with every error located as
 * `file:line:col: message`.
 *
 * A config_t is immutable once loaded and reference-counted: the server swaps the current pointer on
 * reload, and readers that took a reference keep a consistent view until they drop it. */
#ifndef VG_CONFIG_H
#define VG_CONFIG_H

#include "util/error.h"
#include "util/log.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard bounds on what a config file may be: a bigger or deeper file is refused. */
#define CONFIG_MAX_FILE_BYTES (16u << 20)
#define CONFIG_MAX_DEPTH 64

typedef struct config_server {
    char *listen;             /* "host:port", "[v6]:port" */
    int64_t read_timeout_ms;  /* idle/read timeout per connection */
    uint64_t max_body;        /* bytes */
    uint64_t max_header;      /* bytes of request line + headers */
    int64_t threads;          /* HTTP worker threads */
    int64_t max_connections;
    int64_t shutdown_timeout_ms;
} config_server_t;

typedef struct config_storage {
    char *path;
    int64_t retention_ms;
} config_storage_t;

typedef struct config_log {
    vg_log_level_t level;
    vg_log_format_t format;
} config_log_t;

typedef struct config {
    _Atomic int refs;
    char *file;         /* the file it was read from ("" for a string) */
    char hash[17];      /* hex XXH64 of the file's bytes */
    config_server_t server;
    config_storage_t storage;
    config_log_t log;
} config_t;

/* Reads and validates a config file. On success *out holds a config with one reference (drop it with
 * config_unref); on failure *out is NULL and err says where and why (code VG_ECONFIG or VG_EIO). */
int config_load_file(const char *path, config_t **out, vg_error_t *err);

/* Same from bytes in memory; name is used in messages and stored as `file`. */
int config_parse(const char *name, const char *text, size_t len, config_t **out, vg_error_t *err);

/* A config holding only the defaults (one reference), or NULL when out of memory. */
config_t *config_default(void);

config_t *config_ref(config_t *c);
void config_unref(config_t *c);

/* "file:line:col: message" for an error from config_load_file/config_parse, into out (cap bytes). */
void config_error_format(const vg_error_t *err, const char *file, char *out, size_t cap);

/* Splits "host:port" or "[v6]:port" into host (cap bytes) and port. Returns 0 or VG_EINVAL. */
int config_split_listen(const char *listen, char *host, size_t cap, int *port);

#endif
