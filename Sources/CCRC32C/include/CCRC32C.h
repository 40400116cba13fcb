// CRC-32C with the CPU's crc32 instruction (x86-64 SSE4.2, AArch64 CRC extension).
#ifndef CCRC32C_H
#define CCRC32C_H
#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has a CRC-32C instruction and `ccrc32c_update` may be called, else 0.
int ccrc32c_available(void);
/// Updates a raw (not inverted) CRC-32C register over `length` bytes: the caller inverts before
/// and after, as the table-driven Swift code does.
uint32_t ccrc32c_update(uint32_t crc, const void *bytes, size_t length);
#endif
