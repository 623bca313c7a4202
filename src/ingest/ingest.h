/* The ingest module's public header: the exposition parser (expfmt.h), the remote_write 1.0
 * decoder (remote_write.h) — both zero-copy readers of untrusted bytes, see docs/ingest.md — and the
 * OpenMetrics file import (import.h). The scraper has its own header, ingest/scrape/scrape.h. */
#ifndef VG_INGEST_INGEST_H
#define VG_INGEST_INGEST_H

#include "ingest/expfmt.h"
#include "ingest/import.h"
#include "ingest/remote_write.h"

#endif
