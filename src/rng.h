/* rng.h — the one pseudo-random generator and the one 64-bit mixer of the project.
 *
 * WHAT IT IS
 *   xoshiro256** (Blackman & Vigna), seeded through splitmix64: fast, 256 bits of state, good
 *   statistical quality; not a CSPRNG (nothing in the broker needs one). env_real.c draws
 *   env_random_u64 from one, the simulator draws every choice of a run from streams derived
 *   from one seed, the unit-test world from one seeded by the test. Beside it, the one hash of
 *   64-bit keys (connection ids, timer ids) for every GHashTable keyed by one.
 *
 * INTERFACE
 *   rng_seed(r, seed) / rng_next(r)      seed (any value, 0 included) / draw 64 bits
 *   rng_derive(parent, label)            an independent stream (one per node, net, ...); the
 *                                        parent is not advanced
 *   rng_below(r, n), rng_double(r), rng_chance(r, p), rng_range(r, lo, hi)
 *   rng_splitmix64(&x)                   advance x and return the next splitmix64 output
 *   u64_hash / u64_equal                 GHashTable functions for keys that point at a uint64_t
 *
 * INVARIANTS
 *   - The same seed gives the same numbers on every machine (no platform-dependent types).
 */
#ifndef MINIJET_RNG_H
#define MINIJET_RNG_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct Rng {
    uint64_t s[4];
} Rng;

uint64_t rng_splitmix64(uint64_t *x);
void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_next(Rng *r);
Rng rng_derive(const Rng *parent, const char *label);
uint64_t rng_below(Rng *r, uint64_t n); /* uniform in [0, n), n > 0 */
double rng_double(Rng *r);              /* uniform in [0, 1) */
bool rng_chance(Rng *r, double p);
int64_t rng_range(Rng *r, int64_t lo, int64_t hi); /* uniform in [lo, hi] */

guint u64_hash(gconstpointer key);                  /* key points at a uint64_t */
gboolean u64_equal(gconstpointer a, gconstpointer b);

#endif
