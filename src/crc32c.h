/* crc32c.h — CRC-32C (Castagnoli), the checksum of every store record and consumer state
 * record.
 *
 * INTERFACE
 *   crc32c(p, n)         the checksum of n bytes (init ~0, final xor ~0, reflected: the
 *                        iSCSI / ext4 / SSE4.2 convention; crc32c("123456789") == 0xE3069283)
 *   crc32c_sw(p, n)      the portable table version, always available (tests compare)
 *   crc32c_hw_available() TRUE when crc32c() uses the SSE4.2 crc32 instruction
 */
#ifndef MINIJET_CRC32C_H
#define MINIJET_CRC32C_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

uint32_t crc32c(const void *p, size_t n);
/* The CRC of the bytes so far (crc, of a prefix) extended by p[0, n): crc32c(ab) ==
 * crc32c_extend(crc32c(a), b); crc32c_extend(0, p, n) == crc32c(p, n). */
uint32_t crc32c_extend(uint32_t crc, const void *p, size_t n);
uint32_t crc32c_sw(const void *p, size_t n);
gboolean crc32c_hw_available(void);

#endif
