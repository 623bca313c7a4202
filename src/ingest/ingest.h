/* The ingest module's public header: the exposition parser (expfmt.h) and the remote_write 1.0
 * decoder (remote_write.h). Both are zero-copy readers of untrusted bytes; see docs/ingest.md. */
#ifndef VG_INGEST_INGEST_H
#define VG_INGEST_INGEST_H

#include "ingest/expfmt.h"
#include "ingest/remote_write.h"

#endif
