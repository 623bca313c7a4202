/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of every WAL record and chunk
 * frame vigil writes. Uses the SSE4.2 crc32 instruction when the CPU has it, a slicing-by-8 table
 * otherwise; both give identical results. Thread-safe (tables are built once). */
#ifndef VG_UTIL_CRC32C_H
#define VG_UTIL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC: pass 0 for a fresh one. vg_crc32c_update(0, "123456789", 9) == 0xE3069283. */
uint32_t vg_crc32c_update(uint32_t crc, const void *data, size_t len);

static inline uint32_t vg_crc32c(const void *data, size_t len) { return vg_crc32c_update(0, data, len); }

#endif
