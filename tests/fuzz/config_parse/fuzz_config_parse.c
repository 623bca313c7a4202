/* Fuzz target: any bytes given to the config parser produce a config or a located error, never a
 * crash or a leak; an error always carries a message. */
#include "config/config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    config_t *c = NULL;
    vg_error_t err;
    int rc = config_parse("fuzz.yml", (const char *)data, size, &c, &err);
    if (rc == 0) {
        if (!c || !c->server.listen || !c->storage.path) abort();
        config_unref(c);
    } else if (c || err.msg[0] == '\0') {
        abort();
    }
    return 0;
}
