/* rng.c — xoshiro256** and splitmix64 (see rng.h). Vigna's public-domain designs, written
 * from their published descriptions. */
#include "rng.h"

uint64_t rng_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void rng_seed(Rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = rng_splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(Rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* A child stream: the parent's state mixed with a label (FNV-1a), expanded by splitmix64.
 * The parent is not advanced, so deriving streams never shifts the parent's numbers. */
Rng rng_derive(const Rng *parent, const char *label) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const char *p = label; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
    Rng r;
    rng_seed(&r, h ^ parent->s[0] ^ rotl(parent->s[1], 17) ^ rotl(parent->s[2], 31) ^ parent->s[3]);
    return r;
}

uint64_t rng_below(Rng *r, uint64_t n) {
    g_assert(n > 0);
    /* Lemire's method would avoid the divide; rejection keeps it exactly uniform and short. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = rng_next(r);
    while (x >= limit);
    return x % n;
}

double rng_double(Rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

bool rng_chance(Rng *r, double p) {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return rng_double(r) < p;
}

int64_t rng_range(Rng *r, int64_t lo, int64_t hi) {
    g_assert(lo <= hi);
    return lo + (int64_t)rng_below(r, (uint64_t)(hi - lo) + 1);
}

/* The 64 bits folded to 32: connection and timer ids count up from 1, so the low bits
 * already spread them over GHashTable's buckets; mixing would only cost time. */
guint u64_hash(gconstpointer key) {
    uint64_t v = *(const uint64_t *)key;
    return (guint)(v ^ (v >> 32));
}

gboolean u64_equal(gconstpointer a, gconstpointer b) { return *(const uint64_t *)a == *(const uint64_t *)b; }
