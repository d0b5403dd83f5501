/* sublist.h — the subject trie: which subscriptions match a subject.
 *
 * INTERFACE
 *   sublist_new() / sublist_free()
 *   sublist_insert(sl, subject, queue, item)    add an item (a subscription, owned by the
 *                                               caller) under a subject, optionally in a
 *                                               queue group; false if the subject is invalid
 *   sublist_remove(sl, subject, queue, item)    remove that exact item; false if absent
 *   sublist_match(sl, subject, len)             every item whose subject matches, grouped
 *   sublist_count(sl)                           number of items
 *   sublist_node_count(sl), sublist_stats(sl)   trie size; counters for /subsz
 *   sublist_overlaps(sl, pattern, except)       does a stored pattern (of an item other
 *                                               than except) overlap pattern? (one walk)
 *   subject_valid_publish(), subject_valid_subscribe(), subject_is_literal(),
 *   subject_matches_pattern(), subject_patterns_overlap()  the subject rules (spec 1.9)
 *
 * SUBJECTS
 *   Tokens separated by '.', none empty, no whitespace. '*' matches exactly one token,
 *   '>' one or more trailing tokens; both are wildcards only as a whole token ("fo*" is a
 *   literal), and '>' must be the last token.
 *
 * RESULTS
 *   A SublistResult is owned by the sublist (it may be cached) and stays valid until the
 *   next insert or remove. Its order is deterministic: plain items and queue groups appear
 *   in insertion order per trie node, nodes visited literal-first then '*' then '>'.
 *   Eviction from the full cache does not end a result's life early: evicted results are
 *   kept until the next insert/remove (or at least LIMIT_SUBLIST_CACHE_COUNT/2 further
 *   cache misses). One exception: a subject's first sighting is not cached (admission),
 *   and its result lives only until the next sublist_match that is not a cache hit.
 *   Simplest rule for callers: finish with a result before matching, inserting or
 *   removing again. A SublistQueue's name is borrowed from the trie (same lifetime).
 *   Matching does not check for whitespace: validate with subject_valid_publish first.
 *   A queue name must be non-empty without whitespace (NULL = no queue group).
 *   Choosing one member of a queue group is the caller's job (fairly: with randomness
 *   from the environment), so the trie stays free of effects.
 *
 * INVARIANTS (checked by sublist_check_invariants)
 *   - Every cached result equals what a fresh match would return.
 *   - The cache holds at most LIMIT_SUBLIST_CACHE_COUNT results.
 *   - Nodes with no items and no children are pruned on remove.
 */
#ifndef MINIJET_SUBLIST_H
#define MINIJET_SUBLIST_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct Sublist Sublist;

typedef struct SublistQueue {
    const char *name;  /* the queue group name */
    GPtrArray *items;  /* members (caller's items) matching, at least one */
} SublistQueue;

typedef struct SublistResult {
    GPtrArray *plain;  /* items without a queue group */
    GPtrArray *queues; /* of SublistQueue*, one per distinct queue name */
} SublistResult;

Sublist *sublist_new(void);
void sublist_free(Sublist *sl);
/* FALSE: an invalid subject or queue, or the trie would grow past its node cap (then
 * sublist_full says so). */
bool sublist_insert(Sublist *sl, const char *subject, const char *queue, void *item);
/* Would inserting subject need more nodes than the cap allows (LIMIT_SUBLIST_NODES_COUNT)? */
bool sublist_full(const Sublist *sl, const char *subject);
void sublist_set_nodes_max(Sublist *sl, size_t nodes_max); /* tests: a small cap */
bool sublist_remove(Sublist *sl, const char *subject, const char *queue, void *item);
const SublistResult *sublist_match(Sublist *sl, const char *subject, size_t subject_len);
size_t sublist_count(const Sublist *sl);
/* Is some item other than `except` stored under a pattern that overlaps `pattern` (some
 * literal subject matches both, subject_patterns_overlap)? A walk, not a scan: the streams'
 * subject index answers a create in time independent of the number of streams. */
bool sublist_overlaps(const Sublist *sl, const char *pattern, const void *except);
/* Counters for monitoring (/subsz): the fanout figures are over the cached results,
 * as nats-server reports them. */
typedef struct SublistStats {
    size_t count;          /* items stored */
    size_t cache_count;    /* cached results */
    guint64 inserts, removes, matches, cache_hits;
    guint64 uncached;      /* misses answered without caching (first sightings) */
    size_t max_fanout;     /* largest plain + queue-group count among cached results */
    double avg_fanout;     /* mean of the same */
} SublistStats;
void sublist_stats(const Sublist *sl, SublistStats *out);
/* Trie nodes, the root included (1 for an empty sublist): shows pruning. */
size_t sublist_node_count(const Sublist *sl);
/* Asserts the invariants above; for tests and the simulator. */
void sublist_check_invariants(Sublist *sl);

/* Subject rules. Lengths are explicit: subjects come straight from the wire. */
bool subject_valid_publish(const char *s, size_t len);   /* tokens valid; wildcards allowed as literals */
bool subject_valid_subscribe(const char *s, size_t len); /* tokens valid; '>' only last */
bool subject_is_literal(const char *s, size_t len);     /* valid and no '*'/'>' token */
/* Does literal subject `subj` match `pattern` (which may hold wildcards)? */
bool subject_matches_pattern(const char *pattern, const char *subj);
/* Could some literal subject match both patterns? (stream subject overlap, filters) */
bool subject_patterns_overlap(const char *a, const char *b);
/* Is every subject matched by `sub` also matched by `super`? (filter is a subset) */
bool subject_pattern_is_subset(const char *sub, const char *super);

#endif
