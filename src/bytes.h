/* bytes.h — little-endian fields in on-disk records and wire messages.
 *
 * INTERFACE
 *   put16/put32/put64(p, v)   store v at p, least significant byte first
 *   get16/get32/get64(p)      load it back
 *
 * Every format minijet writes (store_file.c's records, consumer_state.c's state log,
 * raft_log.c's log and snapshot, raft_msg.c's messages) is little-endian, byte by byte, so
 * the files and messages mean the same on any host and need no alignment.
 */
#ifndef MINIJET_BYTES_H
#define MINIJET_BYTES_H

#include <stdint.h>

static inline void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static inline uint64_t get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

#endif
