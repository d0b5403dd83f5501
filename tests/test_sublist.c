/* test_sublist.c — the subject trie and the subject rules.
 *
 * Truth tables for wildcards and the subject rules, queue grouping, removal and pruning,
 * the cache bound, and a randomized run (fixed seed) that compares every match with a
 * brute-force matcher and checks the invariants after every operation.
 * `-m perf` adds a microbenchmark (numbers quoted in src/sublist.c).
 */
#include <string.h>

#include "limits.h"
#include "sublist.h"

#define ITEM(n) GINT_TO_POINTER(n)

/* ---- helpers --------------------------------------------------------------------- */

static const SublistResult *match(Sublist *sl, const char *subject) {
    return sublist_match(sl, subject, strlen(subject));
}

static gint cmp_ptr(gconstpointer a, gconstpointer b) {
    guintptr x = (guintptr) * (void *const *)a, y = (guintptr) * (void *const *)b;
    return x < y ? -1 : x > y;
}

/* The items of r (plain and every queue member) as a sorted, comma-separated string. */
static char *result_items(const SublistResult *r) {
    g_autoptr(GPtrArray) all = g_ptr_array_new();
    g_ptr_array_extend(all, r->plain, NULL, NULL);
    for (guint i = 0; i < r->queues->len; i++)
        g_ptr_array_extend(all, ((SublistQueue *)g_ptr_array_index(r->queues, i))->items, NULL,
                           NULL);
    g_ptr_array_sort(all, cmp_ptr);
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < all->len; i++)
        g_string_append_printf(s, "%s%d", i ? "," : "", GPOINTER_TO_INT(all->pdata[i]));
    return g_string_free(s, FALSE);
}

/* ---- wildcard truth table ---------------------------------------------------------- */

typedef struct {
    const char *pattern, *subject;
    bool match;
} MatchCase;

static const MatchCase match_cases[] = {
    {"foo", "foo", true},
    {"foo", "bar", false},
    {"foo", "foo.bar", false},
    {"foo.bar", "foo", false},
    {"foo.*", "foo.bar", true},
    {"foo.*", "foo", false},
    {"foo.*", "foo.bar.baz", false},
    {"*", "foo", true},
    {"*", "foo.bar", false},
    {"*.bar", "foo.bar", true},
    {"*.*", "a.b", true},
    {"foo.>", "foo.bar", true},
    {"foo.>", "foo.bar.baz", true},
    {"foo.>", "foo", false},
    {">", "foo", true},
    {">", "a.b.c", true},
    {"*.bar.>", "foo.bar.baz", true},
    {"*.bar.>", "foo.bar", false},
    {"foo.*.baz", "foo.bar.baz", true},
    {"foo.*.baz", "foo.bar.qux", false},
    /* wildcards only as whole tokens */
    {"fo*", "foo", false},
    {"fo*", "fo*", true},
    {"a>", "a>", true},
    {"a>", "a.b", false},
    {"a>", "a", false},
    {"*a", "ba", false},
    /* published subjects holding '*' or '>' tokens: the bytes are literal (nats-server) */
    {"foo.*", "foo.*", true},
    {"foo.bar", "foo.*", false},
    {"foo.>", "foo.*", true},
    {"foo.*", "foo.>", true},
    {"foo.>", "foo.>", true},
    {"*.*", "foo.>", true},
    {"foo.bar", "foo.>", false},
    {"$JS.API.CONSUMER.CREATE.*.*.>", "$JS.API.CONSUMER.CREATE.S.name.$KV.cfg.a.>", true},
    {"$JS.API.>", "$JS.API.CONSUMER.CREATE.S.name.$KV.cfg.a.>", true},
    {"$JS.API.CONSUMER.CREATE.*.*", "$JS.API.CONSUMER.CREATE.S.name.$KV.cfg.a.>", false},
    {"$JS.API.CONSUMER.CREATE.*.*", "$JS.API.CONSUMER.CREATE.S.name", true},
};

static void test_matches_pattern_table(void) {
    for (size_t i = 0; i < G_N_ELEMENTS(match_cases); i++) {
        const MatchCase *c = &match_cases[i];
        if (subject_matches_pattern(c->pattern, c->subject) != c->match)
            g_test_message("case: %s ~ %s", c->pattern, c->subject);
        g_assert_cmpint(subject_matches_pattern(c->pattern, c->subject), ==, c->match);
    }
    g_assert_false(subject_matches_pattern("a..b", "a..b"));
    g_assert_false(subject_matches_pattern(">", ""));
}

/* The same table through the trie: one sublist holding every pattern at once. */
static void test_trie_table(void) {
    Sublist *sl = sublist_new();
    for (size_t i = 0; i < G_N_ELEMENTS(match_cases); i++)
        g_assert_true(sublist_insert(sl, match_cases[i].pattern, NULL, ITEM(i + 1)));
    g_assert_cmpuint(sublist_count(sl), ==, G_N_ELEMENTS(match_cases));
    for (size_t i = 0; i < G_N_ELEMENTS(match_cases); i++) {
        const char *subject = match_cases[i].subject;
        const SublistResult *r = match(sl, subject);
        for (size_t j = 0; j < G_N_ELEMENTS(match_cases); j++) {
            bool want = subject_matches_pattern(match_cases[j].pattern, subject);
            bool got = g_ptr_array_find(r->plain, ITEM(j + 1), NULL);
            if (got != want)
                g_test_message("case: %s ~ %s", match_cases[j].pattern, subject);
            g_assert_cmpint(got, ==, want);
        }
        g_autofree char *first = result_items(r);
        const SublistResult *c = match(sl, subject); /* second sighting: admitted */
        g_autofree char *second = result_items(c);
        g_assert_cmpstr(second, ==, first);
        g_assert_true(match(sl, subject) == c); /* cached */
    }
    sublist_check_invariants(sl);
    sublist_free(sl);
}

/* Results come literal-first, then '*', then '>', in insertion order within a node. */
static void test_order(void) {
    Sublist *sl = sublist_new();
    g_assert_true(sublist_insert(sl, ">", NULL, ITEM(1)));
    g_assert_true(sublist_insert(sl, "a.>", NULL, ITEM(2)));
    g_assert_true(sublist_insert(sl, "a.*", NULL, ITEM(3)));
    g_assert_true(sublist_insert(sl, "a.b", NULL, ITEM(4)));
    g_assert_true(sublist_insert(sl, "*.b", NULL, ITEM(5)));
    g_assert_true(sublist_insert(sl, "a.b", NULL, ITEM(6)));
    const SublistResult *r = match(sl, "a.b");
    const int want[] = {4, 6, 3, 2, 5, 1};
    g_assert_cmpuint(r->plain->len, ==, G_N_ELEMENTS(want));
    for (guint i = 0; i < G_N_ELEMENTS(want); i++)
        g_assert_cmpint(GPOINTER_TO_INT(r->plain->pdata[i]), ==, want[i]);
    sublist_free(sl);
}

/* ---- queue groups ------------------------------------------------------------------- */

static const SublistQueue *find_queue(const SublistResult *r, const char *name) {
    for (guint i = 0; i < r->queues->len; i++) {
        const SublistQueue *q = g_ptr_array_index(r->queues, i);
        if (strcmp(q->name, name) == 0)
            return q;
    }
    return NULL;
}

static void test_queues(void) {
    Sublist *sl = sublist_new();
    g_assert_true(sublist_insert(sl, "orders.new", "workers", ITEM(1)));
    g_assert_true(sublist_insert(sl, "orders.new", "workers", ITEM(2)));
    g_assert_true(sublist_insert(sl, "orders.*", "workers", ITEM(3))); /* same name, other node */
    g_assert_true(sublist_insert(sl, "orders.>", "audit", ITEM(4)));
    g_assert_true(sublist_insert(sl, "orders.new", NULL, ITEM(5)));
    g_assert_true(sublist_insert(sl, "orders.old", "workers", ITEM(6))); /* does not match */
    const SublistResult *r = match(sl, "orders.new");
    g_assert_cmpuint(r->plain->len, ==, 1);
    g_assert_true(r->plain->pdata[0] == ITEM(5));
    g_assert_cmpuint(r->queues->len, ==, 2);
    const SublistQueue *w = g_ptr_array_index(r->queues, 0);
    g_assert_cmpstr(w->name, ==, "workers");
    g_assert_cmpuint(w->items->len, ==, 3);
    g_assert_true(w->items->pdata[0] == ITEM(1) && w->items->pdata[1] == ITEM(2) &&
                  w->items->pdata[2] == ITEM(3));
    const SublistQueue *a = find_queue(r, "audit");
    g_assert_nonnull(a);
    g_assert_cmpuint(a->items->len, ==, 1);
    sublist_check_invariants(sl);

    /* Removing the last member of a group removes the group from results. */
    g_assert_true(sublist_remove(sl, "orders.>", "audit", ITEM(4)));
    r = match(sl, "orders.new");
    g_assert_null(find_queue(r, "audit"));
    g_assert_cmpuint(find_queue(r, "workers")->items->len, ==, 3);
    /* Wrong queue name, or none: not found. */
    g_assert_false(sublist_remove(sl, "orders.new", "other", ITEM(1)));
    g_assert_false(sublist_remove(sl, "orders.new", NULL, ITEM(1)));
    g_assert_false(sublist_remove(sl, "orders.new", "workers", ITEM(5)));
    /* Bad queue names are refused. */
    g_assert_false(sublist_insert(sl, "x", "", ITEM(9)));
    g_assert_false(sublist_insert(sl, "x", "a b", ITEM(9)));
    g_assert_cmpuint(sublist_count(sl), ==, 5);
    sublist_check_invariants(sl);
    sublist_free(sl);
}

/* One item under several subjects appears once per matching subject. */
static void test_same_item_many_subjects(void) {
    Sublist *sl = sublist_new();
    g_assert_true(sublist_insert(sl, "a.b", NULL, ITEM(1)));
    g_assert_true(sublist_insert(sl, "a.*", NULL, ITEM(1)));
    g_assert_true(sublist_insert(sl, "a.>", "q", ITEM(1)));
    const SublistResult *r = match(sl, "a.b");
    g_assert_cmpuint(r->plain->len, ==, 2);
    g_assert_cmpuint(r->queues->len, ==, 1);
    g_assert_true(sublist_remove(sl, "a.*", NULL, ITEM(1)));
    r = match(sl, "a.b");
    g_assert_cmpuint(r->plain->len, ==, 1);
    g_assert_cmpuint(sublist_count(sl), ==, 2);
    sublist_check_invariants(sl);
    sublist_free(sl);
}

/* ---- remove, pruning, invalid input ----------------------------------------------- */

static void test_remove_absent(void) {
    Sublist *sl = sublist_new();
    g_assert_false(sublist_remove(sl, "a", NULL, ITEM(1)));
    g_assert_true(sublist_insert(sl, "a.b", NULL, ITEM(1)));
    g_assert_false(sublist_remove(sl, "a.b", NULL, ITEM(2)));    /* other item */
    g_assert_false(sublist_remove(sl, "a", NULL, ITEM(1)));      /* interior node */
    g_assert_false(sublist_remove(sl, "a.b.c", NULL, ITEM(1)));  /* past a leaf */
    g_assert_false(sublist_remove(sl, "a.*", NULL, ITEM(1)));    /* wildcard is not literal */
    g_assert_false(sublist_remove(sl, "a..b", NULL, ITEM(1)));   /* invalid */
    g_assert_false(sublist_remove(sl, "", NULL, ITEM(1)));
    g_assert_cmpuint(sublist_count(sl), ==, 1);
    g_assert_true(sublist_remove(sl, "a.b", NULL, ITEM(1)));
    g_assert_false(sublist_remove(sl, "a.b", NULL, ITEM(1)));   /* twice */
    g_assert_cmpuint(sublist_count(sl), ==, 0);
    sublist_check_invariants(sl);
    sublist_free(sl);
}

static void test_prune(void) {
    Sublist *sl = sublist_new();
    g_assert_cmpuint(sublist_node_count(sl), ==, 1);
    g_assert_true(sublist_insert(sl, "a.b.c.d", NULL, ITEM(1)));
    g_assert_true(sublist_insert(sl, "a.b.*.>", "q", ITEM(2)));
    g_assert_true(sublist_insert(sl, "a", NULL, ITEM(3)));
    g_assert_cmpuint(sublist_node_count(sl), ==, 1 + 4 + 2);
    sublist_check_invariants(sl);
    g_assert_true(sublist_remove(sl, "a.b.c.d", NULL, ITEM(1)));
    g_assert_cmpuint(sublist_node_count(sl), ==, 1 + 4); /* c and d pruned */
    sublist_check_invariants(sl);
    g_assert_true(sublist_remove(sl, "a.b.*.>", "q", ITEM(2)));
    g_assert_cmpuint(sublist_node_count(sl), ==, 1 + 1); /* a stays: it holds item 3 */
    g_assert_true(sublist_remove(sl, "a", NULL, ITEM(3)));
    g_assert_cmpuint(sublist_node_count(sl), ==, 1);
    sublist_check_invariants(sl);
    sublist_free(sl);
}

static void test_invalid(void) {
    Sublist *sl = sublist_new();
    const char *bad_sub[] = {"", ".", "a.", ".a", "a..b", "foo.>.bar", ">.a", "a b", "a\tb"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad_sub); i++)
        g_assert_false(sublist_insert(sl, bad_sub[i], NULL, ITEM(1)));
    g_assert_true(sublist_insert(sl, ">", NULL, ITEM(1)));
    const char *bad_pub[] = {"", ".", "a.", ".a", "a..b"};
    for (size_t i = 0; i < G_N_ELEMENTS(bad_pub); i++) {
        const SublistResult *r = match(sl, bad_pub[i]);
        g_assert_cmpuint(r->plain->len + r->queues->len, ==, 0);
    }
    /* too many tokens / too long: nothing, and not cached */
    GString *many = g_string_new("a");
    for (int i = 1; i <= LIMIT_MAX_SUBJECT_TOKENS; i++)
        g_string_append(many, ".a");
    g_assert_cmpuint(match(sl, many->str)->plain->len, ==, 0);
    g_string_free(many, TRUE);
    g_autofree char *longs = g_strnfill(LIMIT_MAX_SUBJECT_BYTES + 1, 'x');
    g_assert_cmpuint(match(sl, longs)->plain->len, ==, 0);
    longs[LIMIT_MAX_SUBJECT_BYTES] = '\0';
    g_assert_cmpuint(match(sl, longs)->plain->len, ==, 1); /* first sighting: not cached */
    g_assert_cmpuint(match(sl, longs)->plain->len, ==, 1);
    SublistStats st;
    sublist_stats(sl, &st);
    g_assert_cmpuint(st.cache_count, ==, 1);
    /* the length is honoured: "a.b" given as 1 byte is "a" */
    g_assert_true(sublist_insert(sl, "a", NULL, ITEM(2)));
    g_assert_cmpuint(sublist_match(sl, "a.b", 1)->plain->len, ==, 2);
    g_assert_cmpuint(sublist_match(sl, "a.b", 3)->plain->len, ==, 1);
    sublist_check_invariants(sl);
    sublist_free(sl);
}

/* ---- the cache ----------------------------------------------------------------------- */

static void test_cache_bound(void) {
    Sublist *sl = sublist_new();
    g_assert_true(sublist_insert(sl, "s.*", NULL, ITEM(1)));
    match(sl, "s.first"); /* first sighting: not admitted */
    const SublistResult *first = match(sl, "s.first");
    char buf[64];
    for (int i = 0; i < 3 * LIMIT_SUBLIST_CACHE_COUNT; i++) {
        g_snprintf(buf, sizeof buf, "s.%d", i);
        g_assert_cmpuint(match(sl, buf)->plain->len, ==, 1); /* seen once ... */
        const SublistResult *r = match(sl, buf);             /* ... admitted */
        g_assert_cmpuint(r->plain->len, ==, 1);
        if (i < LIMIT_SUBLIST_CACHE_COUNT / 2) /* evicted, yet still readable */
            g_assert_true(first->plain->pdata[0] == ITEM(1));
    }
    SublistStats st;
    sublist_stats(sl, &st);
    g_assert_cmpuint(st.cache_count, ==, LIMIT_SUBLIST_CACHE_COUNT);
    g_assert_cmpuint(st.matches, ==, 2 * (1 + 3 * LIMIT_SUBLIST_CACHE_COUNT));
    /* most first sightings go uncached; a bloom false positive admits one at once (then
     * its second sighting hits); a filter reset between sightings delays an admission */
    g_assert_cmpuint(st.uncached, >, 3 * LIMIT_SUBLIST_CACHE_COUNT * 9 / 10);
    g_assert_cmpuint(st.uncached + st.cache_hits, <=, 2 * (1 + 3 * LIMIT_SUBLIST_CACHE_COUNT));
    guint64 hits = st.cache_hits;
    g_assert_cmpuint(st.max_fanout, ==, 1);
    sublist_check_invariants(sl);
    /* the newest entries survive (FIFO): a hit */
    g_snprintf(buf, sizeof buf, "s.%d", 3 * LIMIT_SUBLIST_CACHE_COUNT - 1);
    match(sl, buf);
    sublist_stats(sl, &st);
    g_assert_cmpuint(st.cache_hits, ==, hits + 1);
    /* a wildcard insert drops what it matches, and only that */
    g_assert_true(sublist_insert(sl, "s.1*", NULL, ITEM(2))); /* literal token "1*" */
    sublist_stats(sl, &st);
    g_assert_cmpuint(st.cache_count, ==, LIMIT_SUBLIST_CACHE_COUNT);
    g_assert_true(sublist_insert(sl, "*.*", NULL, ITEM(3)));
    sublist_stats(sl, &st);
    g_assert_cmpuint(st.cache_count, ==, 0);
    sublist_check_invariants(sl);
    sublist_free(sl);
}

/* Brute force: the live (pattern, queue, item) records, matched one by one. */
typedef struct {
    char *pattern;
    char *queue;
    int item;
} Rec;

static void rec_free(gpointer p) {
    Rec *r = p;
    g_free(r->pattern);
    g_free(r->queue);
    g_free(r);
}

static char *brute_items(GPtrArray *recs, const char *subject) {
    g_autoptr(GPtrArray) all = g_ptr_array_new();
    for (guint i = 0; i < recs->len; i++) {
        Rec *r = recs->pdata[i];
        if (subject_matches_pattern(r->pattern, subject))
            g_ptr_array_add(all, ITEM(r->item));
    }
    g_ptr_array_sort(all, cmp_ptr);
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < all->len; i++)
        g_string_append_printf(s, "%s%d", i ? "," : "", GPOINTER_TO_INT(all->pdata[i]));
    return g_string_free(s, FALSE);
}

/* Each queue group in r holds exactly the brute-force members of that name. */
static void check_groups(GPtrArray *recs, const SublistResult *res, const char *subject) {
    guint plain = 0;
    for (guint i = 0; i < recs->len; i++) {
        Rec *r = recs->pdata[i];
        if (!subject_matches_pattern(r->pattern, subject))
            continue;
        if (!r->queue) {
            plain++;
            continue;
        }
        const SublistQueue *q = find_queue(res, r->queue);
        g_assert_nonnull(q);
        g_assert_true(g_ptr_array_find(q->items, ITEM(r->item), NULL));
    }
    g_assert_cmpuint(plain, ==, res->plain->len);
    for (guint i = 0; i < res->queues->len; i++)
        for (guint j = 0; j < i; j++)
            g_assert_cmpstr(((SublistQueue *)res->queues->pdata[i])->name, !=,
                            ((SublistQueue *)res->queues->pdata[j])->name);
}

/* A pattern (wild) or a published subject of 1-4 tokens. Published subjects also use
 * "d" and "e", which no pattern names literally, and '*'/'>' as literal tokens. */
static char *random_subject(GRand *rand, bool wild) {
    static const char *lit[] = {"a", "b", "c", "fo*", "d", "e"};
    int n = g_rand_int_range(rand, 1, 5);
    GString *s = g_string_new(NULL);
    for (int i = 0; i < n; i++) {
        if (i)
            g_string_append_c(s, '.');
        int k = g_rand_int_range(rand, 0, 8);
        if (k == 4)
            g_string_append_c(s, '*');
        else if (k == 5 && (!wild || i == n - 1))
            g_string_append_c(s, '>');
        else if (k < 4 || !wild)
            g_string_append(s, lit[k < 4 ? k : k - 2]);
        else
            g_string_append(s, lit[0]);
    }
    return g_string_free(s, FALSE);
}

static void test_random_vs_brute_force(void) {
    static const char *queues[] = {NULL, NULL, NULL, "q1", "q2"};
    GRand *rand = g_rand_new_with_seed(20240601);
    Sublist *sl = sublist_new();
    GPtrArray *recs = g_ptr_array_new_with_free_func(rec_free);
    int next_item = 1;
    /* Phase 1 churns (30% insert, 20% remove); phase 2 matches 99.5% of the time, so the cache
     * fills past its bound (4680 possible subjects) and evicts. */
    size_t max_cached = 0;
    const SublistResult *prev = NULL; /* the last match's result, while still valid */
    char *prev_want = NULL;
    for (int op = 0; op < 14000; op++) {
        int kind = op < 4000 ? g_rand_int_range(rand, 0, 10) : g_rand_int_range(rand, 0, 1000);
        if (kind < 3) {
            Rec *r = g_new0(Rec, 1);
            r->pattern = random_subject(rand, true);
            r->queue = g_strdup(queues[g_rand_int_range(rand, 0, G_N_ELEMENTS(queues))]);
            r->item = next_item++;
            g_assert_true(sublist_insert(sl, r->pattern, r->queue, ITEM(r->item)));
            g_ptr_array_add(recs, r);
            prev = NULL; /* an insert ends every result's life */
        } else if (kind < 5 && recs->len > 0) {
            guint i = (guint)g_rand_int_range(rand, 0, (gint32)recs->len);
            Rec *r = recs->pdata[i];
            g_assert_false(sublist_remove(sl, r->pattern, r->queue, ITEM(next_item)));
            g_assert_true(sublist_remove(sl, r->pattern, r->queue, ITEM(r->item)));
            g_ptr_array_remove_index(recs, i); /* keeps insertion order */
            prev = NULL; /* so does a remove */
        } else {
            g_autofree char *subject = random_subject(rand, false);
            guint64 hits_before = 0;
            if (prev) {
                SublistStats b;
                sublist_stats(sl, &b);
                hits_before = b.cache_hits;
            }
            const SublistResult *res = match(sl, subject);
            g_autofree char *got = result_items(res);
            g_autofree char *want = brute_items(recs, subject);
            g_assert_cmpstr(got, ==, want);
            check_groups(recs, res, subject);
            /* lifetime: a result from before survives a cache hit (cached or scratch) */
            if (prev) {
                SublistStats a;
                sublist_stats(sl, &a);
                if (a.cache_hits > hits_before) {
                    g_autofree char *again = result_items(prev);
                    g_assert_cmpstr(again, ==, prev_want);
                }
            }
            /* admission: a miss is cached on its second sighting at the latest, then hit */
            const SublistResult *res2 = match(sl, subject);
            if (match(sl, subject) != res2) { /* a filter reset fell between two sightings */
                res2 = match(sl, subject);
                g_assert_true(match(sl, subject) == res2);
            }
            g_autofree char *got2 = result_items(res2);
            g_assert_cmpstr(got2, ==, want);
            prev = res2;
            g_free(prev_want);
            prev_want = g_strdup(want);
        }
        g_assert_cmpuint(sublist_count(sl), ==, recs->len);
        if (op < 4000 || op % 16 == 0)
            sublist_check_invariants(sl);
        SublistStats now;
        sublist_stats(sl, &now);
        max_cached = MAX(max_cached, now.cache_count);
    }
    /* The ring evicts its oldest slot even when invalidation left holes elsewhere, so a
     * churning cache hovers just under the bound; it must come close and never pass it. */
    g_assert_cmpuint(max_cached, >=, LIMIT_SUBLIST_CACHE_COUNT * 9 / 10);
    g_assert_cmpuint(max_cached, <=, LIMIT_SUBLIST_CACHE_COUNT);
    SublistStats st;
    sublist_stats(sl, &st);
    g_test_message("random: %zu subs, %zu cached, %" G_GUINT64_FORMAT " matches, %"
                   G_GUINT64_FORMAT " hits", st.count, st.cache_count, st.matches, st.cache_hits);
    g_assert_cmpuint(st.cache_hits, >, 0);
    g_assert_cmpuint(st.uncached, >, 0); /* the admission path ran */
    g_free(prev_want);
    /* drain: everything removed, everything pruned */
    while (recs->len > 0) {
        Rec *r = recs->pdata[recs->len - 1];
        g_assert_true(sublist_remove(sl, r->pattern, r->queue, ITEM(r->item)));
        g_ptr_array_remove_index(recs, recs->len - 1);
    }
    g_assert_cmpuint(sublist_node_count(sl), ==, 1);
    sublist_check_invariants(sl);
    g_ptr_array_unref(recs);
    sublist_free(sl);
    g_rand_free(rand);
}

/* Lab 1, part 2: an insert or a remove drops exactly the cached results whose subject its
 * pattern matches (a literal pattern, `*`, `>`, a queue subscription), keeps the others
 * cached, and the next match of a dropped subject is fresh. */
static size_t cached(Sublist *sl) {
    SublistStats st;
    sublist_stats(sl, &st);
    return st.cache_count;
}

static const char *const inval_subjects[] = {"orders.new", "orders.old", "users.x", "a.b.c"};

/* Match every subject twice (the doorkeeper admits on the second sighting): all cached. */
static void prime(Sublist *sl) {
    for (size_t i = 0; i < G_N_ELEMENTS(inval_subjects); i++) {
        match(sl, inval_subjects[i]);
        match(sl, inval_subjects[i]);
    }
    g_assert_cmpuint(cached(sl), ==, G_N_ELEMENTS(inval_subjects));
    sublist_check_invariants(sl);
}

static void expect_items(Sublist *sl, const char *subject, const char *want) {
    g_autofree char *got = result_items(match(sl, subject));
    if (strcmp(got, want) != 0)
        g_error("after the insert/remove, %s matches [%s], expected [%s] (a stale cached result?)",
                subject, got, want);
}

static void test_cache_invalidation(void) {
    Sublist *sl = sublist_new();
    g_assert_true(sublist_insert(sl, "orders.new", NULL, ITEM(1)));
    prime(sl);
    /* a literal pattern: only the same subject */
    g_assert_true(sublist_insert(sl, "orders.new", NULL, ITEM(2)));
    g_assert_cmpuint(cached(sl), ==, 3);
    sublist_check_invariants(sl);
    expect_items(sl, "orders.new", "1,2");
    expect_items(sl, "orders.old", "");
    prime(sl);
    /* '*': every cached subject it matches, and nothing else */
    g_assert_true(sublist_insert(sl, "orders.*", NULL, ITEM(3)));
    g_assert_cmpuint(cached(sl), ==, 2);
    sublist_check_invariants(sl);
    expect_items(sl, "orders.old", "3");
    expect_items(sl, "orders.new", "1,2,3");
    prime(sl);
    /* '>': one or more tokens */
    g_assert_true(sublist_insert(sl, "a.>", NULL, ITEM(4)));
    g_assert_cmpuint(cached(sl), ==, 3);
    sublist_check_invariants(sl);
    expect_items(sl, "a.b.c", "4");
    prime(sl);
    /* a queue subscription invalidates like any other */
    g_assert_true(sublist_insert(sl, "*.x", "workers", ITEM(5)));
    g_assert_cmpuint(cached(sl), ==, 3);
    sublist_check_invariants(sl);
    expect_items(sl, "users.x", "5");
    prime(sl);
    /* a remove drops what the removed pattern matched */
    g_assert_true(sublist_remove(sl, "orders.*", NULL, ITEM(3)));
    g_assert_cmpuint(cached(sl), ==, 2);
    sublist_check_invariants(sl);
    expect_items(sl, "orders.old", "");
    expect_items(sl, "orders.new", "1,2");
    prime(sl);
    g_assert_true(sublist_remove(sl, "*.x", "workers", ITEM(5)));
    g_assert_cmpuint(cached(sl), ==, 3);
    expect_items(sl, "users.x", "");
    prime(sl);
    /* a pattern that matches no cached subject drops nothing */
    g_assert_true(sublist_insert(sl, "orders.new.*", NULL, ITEM(6)));
    g_assert_true(sublist_insert(sl, "users", NULL, ITEM(7)));
    g_assert_cmpuint(cached(sl), ==, 4);
    /* '>' alone matches everything */
    g_assert_true(sublist_insert(sl, ">", NULL, ITEM(8)));
    g_assert_cmpuint(cached(sl), ==, 0);
    sublist_check_invariants(sl);
    expect_items(sl, "a.b.c", "4,8");
    sublist_free(sl);
}

/* Admission: one-off subjects are answered without being cached, so a stream of them
 * neither fills the cache nor evicts the hot subject; an uncached result is valid until
 * the next miss, a cached one (even evicted) as before. */
static void test_admission(void) {
    Sublist *sl = sublist_new();
    g_assert_true(sublist_insert(sl, "hot", NULL, ITEM(1)));
    g_assert_true(sublist_insert(sl, "$JS.ACK.>", NULL, ITEM(2)));
    g_assert_true(sublist_insert(sl, "$JS.ACK.S.*.>", "q", ITEM(3)));
    match(sl, "hot");
    const SublistResult *hot = match(sl, "hot");
    SublistStats st;
    sublist_stats(sl, &st);
    g_assert_cmpuint(st.cache_count, ==, 1);
    char buf[96];
    const SublistResult *last = NULL;
    for (int i = 0; i < 10 * LIMIT_SUBLIST_CACHE_COUNT; i++) {
        g_snprintf(buf, sizeof buf, "$JS.ACK.S.C.1.%d.%d.1700000000.0", i + 1, i + 1);
        const SublistResult *r = match(sl, buf);
        g_assert_cmpuint(r->plain->len, ==, 1);
        g_assert_cmpuint(r->queues->len, ==, 1);
        g_assert_cmpstr(((SublistQueue *)r->queues->pdata[0])->name, ==, "q");
        g_assert_true(match(sl, "hot") == hot); /* a hit: the hot subject stays cached */
        g_assert_true(r->plain->pdata[0] == ITEM(2)); /* the hit left r alone */
        last = r;
    }
    sublist_stats(sl, &st);
    /* a few false positives of the bloom filter may be admitted; nowhere near all */
    g_assert_cmpuint(st.cache_count, <, 10 * LIMIT_SUBLIST_CACHE_COUNT / 20); /* < 5% */
    g_assert_cmpuint(st.uncached, >, 9 * LIMIT_SUBLIST_CACHE_COUNT);
    g_assert_cmpuint(st.cache_hits, ==, 10 * LIMIT_SUBLIST_CACHE_COUNT);
    (void)last;
    sublist_check_invariants(sl);
    /* determinism: a second sublist fed the same calls ends with the same counters */
    Sublist *sl2 = sublist_new();
    g_assert_true(sublist_insert(sl2, "hot", NULL, ITEM(1)));
    g_assert_true(sublist_insert(sl2, "$JS.ACK.>", NULL, ITEM(2)));
    g_assert_true(sublist_insert(sl2, "$JS.ACK.S.*.>", "q", ITEM(3)));
    match(sl2, "hot");
    match(sl2, "hot");
    for (int i = 0; i < 10 * LIMIT_SUBLIST_CACHE_COUNT; i++) {
        g_snprintf(buf, sizeof buf, "$JS.ACK.S.C.1.%d.%d.1700000000.0", i + 1, i + 1);
        match(sl2, buf);
        match(sl2, "hot");
    }
    SublistStats st2;
    sublist_stats(sl2, &st2);
    g_assert_cmpuint(st2.cache_count, ==, st.cache_count);
    g_assert_cmpuint(st2.uncached, ==, st.uncached);
    sublist_free(sl2);
    /* a subject recurring within the filter's window is admitted on its second sighting */
    for (int i = 0; i < 100; i++) {
        g_snprintf(buf, sizeof buf, "$JS.ACK.S.C.2.%d.%d.1700000000.0", i, i);
        match(sl, buf);
    }
    size_t admitted = 0;
    for (int i = 0; i < 100; i++) {
        g_snprintf(buf, sizeof buf, "$JS.ACK.S.C.2.%d.%d.1700000000.0", i, i);
        sublist_stats(sl, &st);
        guint64 before = st.uncached;
        match(sl, buf);
        sublist_stats(sl, &st);
        admitted += st.uncached == before;
    }
    g_assert_cmpuint(admitted, >=, 90); /* all, unless a filter reset fell in between */
    sublist_check_invariants(sl);
    /* an uncached result is rebuilt for the current trie after an insert */
    match(sl, "cold");
    g_assert_cmpuint(match(sl, "cold.x")->plain->len, ==, 0);
    g_assert_true(sublist_insert(sl, "cold.*", NULL, ITEM(4)));
    g_snprintf(buf, sizeof buf, "cold.y");
    const SublistResult *r = match(sl, buf);
    g_assert_cmpuint(r->plain->len, ==, 1);
    g_assert_true(r->plain->pdata[0] == ITEM(4));
    sublist_check_invariants(sl);
    sublist_free(sl);
}

/* ---- subject rules ------------------------------------------------------------------ */

typedef struct {
    const char *s;
    bool pub, sub, literal;
} ValidCase;

static void test_validation(void) {
    static const ValidCase cases[] = {
        {"foo", true, true, true},
        {"foo.bar", true, true, true},
        {"$JS.API.INFO", true, true, true},
        {"_INBOX.abc.*", true, true, false},
        {"foo.>", true, true, false},
        {">", true, true, false},
        {"*", true, true, false},
        {"fo*", true, true, true},
        {"a>", true, true, true},
        {"foo.>.bar", true, false, false}, /* publish: '>' is just bytes */
        {"", false, false, false},
        {".", false, false, false},
        {"a.", false, false, false},
        {".a", false, false, false},
        {"a..b", false, false, false},
        {"a b", false, false, false},
        {"a\tb", false, false, false},
        {"a\rb", false, false, false},
        {"a\nb", false, false, false},
        {"a\fb", false, false, false},
        {" ", false, false, false},
        {"a.b ", false, false, false},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const ValidCase *c = &cases[i];
        size_t len = strlen(c->s);
        if (subject_valid_publish(c->s, len) != c->pub ||
            subject_valid_subscribe(c->s, len) != c->sub ||
            subject_is_literal(c->s, len) != c->literal)
            g_test_message("case: '%s'", c->s);
        g_assert_cmpint(subject_valid_publish(c->s, len), ==, c->pub);
        g_assert_cmpint(subject_valid_subscribe(c->s, len), ==, c->sub);
        g_assert_cmpint(subject_is_literal(c->s, len), ==, c->literal);
    }
    /* limits */
    g_autofree char *max = g_strnfill(LIMIT_MAX_SUBJECT_BYTES, 'x');
    g_assert_true(subject_valid_publish(max, LIMIT_MAX_SUBJECT_BYTES));
    g_autofree char *over = g_strnfill(LIMIT_MAX_SUBJECT_BYTES + 1, 'x');
    g_assert_false(subject_valid_publish(over, LIMIT_MAX_SUBJECT_BYTES + 1));
    GString *toks = g_string_new("a");
    for (int i = 1; i < LIMIT_MAX_SUBJECT_TOKENS; i++)
        g_string_append(toks, ".a");
    g_assert_true(subject_valid_subscribe(toks->str, toks->len));
    g_string_append(toks, ".a");
    g_assert_false(subject_valid_subscribe(toks->str, toks->len));
    g_string_free(toks, TRUE);
    /* explicit length: bytes after len are ignored */
    g_assert_true(subject_valid_publish("foo bar", 3));
    g_assert_false(subject_valid_publish("foo.", 4));
}

typedef struct {
    const char *a, *b;
    bool overlap;
    bool a_in_b, b_in_a; /* subset both ways */
} PairCase;

static void test_overlap_subset(void) {
    static const PairCase cases[] = {
        {"foo", "foo", true, true, true},
        {"foo", "bar", false, false, false},
        {"foo", "foo.bar", false, false, false},
        {"foo.*", "foo.bar", true, false, true},
        {"foo.*", "foo", false, false, false},
        {"foo.>", "foo", false, false, false},
        {"foo.>", "foo.bar.baz", true, false, true},
        {"foo.>", "foo.*", true, false, true},
        {"foo.>", "foo.>", true, true, true},
        {">", "foo.*.baz", true, false, true},
        {">", "*", true, false, true},
        {"*.bar", "foo.*", true, false, false},
        {"*.bar", "foo.baz", false, false, false},
        {"*.*", "foo.>", true, false, false},
        {"*.*", "a.b.c", false, false, false},
        {"*.>", "a.*.c", true, false, true},
        {"a.*.c", "a.b.*", true, false, false},
        {"*", ">", true, true, false},
        {"fo*", "foo", false, false, false},
        {"fo*", "*", true, true, false},
        {"ORDERS.*", "ORDERS.>", true, true, false},
        {"$KV.b.>", "$KV.b.a", true, false, true},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const PairCase *c = &cases[i];
        g_test_message("case %zu: %s vs %s", i, c->a, c->b);
        g_assert_cmpint(subject_patterns_overlap(c->a, c->b), ==, c->overlap);
        g_assert_cmpint(subject_patterns_overlap(c->b, c->a), ==, c->overlap);
        g_assert_cmpint(subject_pattern_is_subset(c->a, c->b), ==, c->a_in_b);
        g_assert_cmpint(subject_pattern_is_subset(c->b, c->a), ==, c->b_in_a);
        /* a subset overlaps its superset */
        if (c->a_in_b || c->b_in_a)
            g_assert_true(c->overlap);
    }
    g_assert_false(subject_patterns_overlap("a..b", "a..b"));
    g_assert_false(subject_pattern_is_subset("", ">"));
}

/* Overlap and subset agree with brute force over a small subject space. */
static void test_overlap_subset_brute(void) {
    static const char *tok[] = {"a", "b", "*", ">"};
    static const char *lit[] = {"a", "b", "c"};
    g_autoptr(GPtrArray) pats = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) subs = g_ptr_array_new_with_free_func(g_free);
    for (int n = 1; n <= 4; n++) {
        int pn = 1, sn = 1;
        for (int i = 0; i < n; i++)
            pn *= 4, sn *= 3;
        for (int k = 0; k < pn && n <= 3; k++) {
            GString *s = g_string_new(NULL);
            for (int i = 0, x = k; i < n; i++, x /= 4)
                g_string_append_printf(s, "%s%s", i ? "." : "", tok[x % 4]);
            if (subject_valid_subscribe(s->str, s->len))
                g_ptr_array_add(pats, g_string_free(s, FALSE));
            else
                g_string_free(s, TRUE);
        }
        for (int k = 0; k < sn; k++) {
            GString *s = g_string_new(NULL);
            for (int i = 0, x = k; i < n; i++, x /= 3)
                g_string_append_printf(s, "%s%s", i ? "." : "", lit[x % 3]);
            g_ptr_array_add(subs, g_string_free(s, FALSE));
        }
    }
    /* patterns have up to 3 tokens, subjects up to 4: one more than any pattern, so
     * '>' is told apart from '*' ("c" stands for any token no pattern names) */
    for (guint i = 0; i < pats->len; i++) {
        for (guint j = 0; j < pats->len; j++) {
            const char *a = pats->pdata[i], *b = pats->pdata[j];
            bool both = false, a_not_b = false;
            for (guint k = 0; k < subs->len; k++) {
                bool ma = subject_matches_pattern(a, subs->pdata[k]);
                bool mb = subject_matches_pattern(b, subs->pdata[k]);
                both = both || (ma && mb);
                a_not_b = a_not_b || (ma && !mb);
            }
            if (subject_patterns_overlap(a, b) != both || subject_pattern_is_subset(a, b) == a_not_b)
                g_test_message("case: %s vs %s", a, b);
            g_assert_cmpint(subject_patterns_overlap(a, b), ==, both);
            g_assert_cmpint(subject_pattern_is_subset(a, b), ==, !a_not_b);
        }
    }
}

/* sublist_overlaps (the streams' subject index) agrees with subject_patterns_overlap tried
 * against every stored pattern, with an `except` item skipped, over random stored sets that
 * grow and shrink (the trie is pruned as in real use). */
static void test_overlaps_vs_brute_force(void) {
    GRand *rand = g_rand_new_with_seed(20261206);
    for (int round = 0; round < 200; round++) {
        Sublist *sl = sublist_new();
        GPtrArray *pats = g_ptr_array_new_with_free_func(g_free);
        GArray *items = g_array_new(FALSE, FALSE, sizeof(int));
        int stored = g_rand_int_range(rand, 0, 12);
        for (int i = 0; i < stored; i++) {
            char *p = random_subject(rand, true);
            int item = g_rand_int_range(rand, 1, 5); /* a few items own several patterns */
            g_assert_true(sublist_insert(sl, p, NULL, ITEM(item)));
            g_ptr_array_add(pats, p);
            g_array_append_val(items, item);
        }
        for (int drop = g_rand_int_range(rand, 0, 3); drop > 0 && pats->len > 0; drop--) {
            guint k = (guint)g_rand_int_range(rand, 0, (gint32)pats->len);
            g_assert_true(sublist_remove(sl, pats->pdata[k], NULL, ITEM(g_array_index(items, int, k))));
            g_ptr_array_remove_index(pats, k);
            g_array_remove_index(items, k);
        }
        for (int q = 0; q < 40; q++) {
            g_autofree char *query = random_subject(rand, true);
            int except = g_rand_int_range(rand, 0, 5); /* 0: no item is skipped */
            bool want = false;
            for (guint k = 0; k < pats->len; k++)
                want = want || (g_array_index(items, int, k) != except &&
                                 subject_patterns_overlap(query, pats->pdata[k]));
            if (sublist_overlaps(sl, query, except ? ITEM(except) : NULL) != want)
                g_test_message("round %d: %s except %d", round, query, except);
            g_assert_cmpint(sublist_overlaps(sl, query, except ? ITEM(except) : NULL), ==, want);
        }
        sublist_check_invariants(sl);
        sublist_free(sl);
        g_ptr_array_free(pats, TRUE);
        g_array_free(items, TRUE);
    }
    g_rand_free(rand);
}

/* ---- performance (-m perf) ------------------------------------------------------------ */

static void test_perf(void) {
    if (!g_test_perf()) {
        g_test_skip("run with -m perf");
        return;
    }
    Sublist *sl = sublist_new();
    char buf[64];
    for (int i = 0; i < 10000; i++) {
        g_snprintf(buf, sizeof buf, "bench.%d.data", i);
        g_assert_true(sublist_insert(sl, buf, NULL, ITEM(i + 1)));
    }
    g_assert_true(sublist_insert(sl, "bench.*.data", "q", ITEM(99999)));
    g_assert_true(sublist_insert(sl, "bench.>", NULL, ITEM(99998)));
    const char *subject = "bench.1234.data1"; /* 16 bytes */
    g_assert_true(sublist_insert(sl, subject, NULL, ITEM(99997)));
    const int rounds = 10 * 1000 * 1000;
    size_t sink = 0;
    g_test_timer_start();
    for (int i = 0; i < rounds; i++)
        sink += sublist_match(sl, subject, 16)->plain->len;
    double hit_s = g_test_timer_elapsed();
    g_test_minimized_result(hit_s * 1e9 / rounds, "cached match, 16-byte subject: %.1f ns",
                            hit_s * 1e9 / rounds);
    const int misses = 1000 * 1000;
    g_test_timer_start();
    for (int i = 0; i < misses; i++) {
        int len = g_snprintf(buf, sizeof buf, "bench.%d.data", i % 20000);
        sink += sublist_match(sl, buf, (size_t)len)->plain->len; /* 20000 subjects cycle */
    }
    double miss_s = g_test_timer_elapsed();
    g_test_minimized_result(miss_s * 1e9 / misses, "uncached match (incl. snprintf): %.1f ns",
                            miss_s * 1e9 / misses);
    /* JetStream acks: every subject unique, interleaved with the hot subject */
    g_assert_true(sublist_insert(sl, "$JS.ACK.>", NULL, ITEM(99996)));
    g_test_timer_start();
    for (int i = 0; i < misses; i++) {
        int len = g_snprintf(buf, sizeof buf, "$JS.ACK.S.C.1.%d.%d.1700000000.0", i + 1, i + 1);
        sink += sublist_match(sl, buf, (size_t)len)->plain->len;
        sink += sublist_match(sl, subject, 16)->plain->len;
    }
    double ack_s = g_test_timer_elapsed();
    g_test_minimized_result(ack_s * 1e9 / misses,
                            "unique ack subject + hot subject (incl. snprintf): %.1f ns",
                            ack_s * 1e9 / misses);
    g_test_timer_start();
    for (int i = 0; i < 100000; i++) {
        g_snprintf(buf, sizeof buf, "bench.x%d.data", i);
        sublist_insert(sl, buf, NULL, ITEM(1));
        sublist_remove(sl, buf, NULL, ITEM(1));
    }
    double churn_s = g_test_timer_elapsed();
    g_test_minimized_result(churn_s * 1e9 / 100000, "literal insert+remove: %.1f ns",
                            churn_s * 1e9 / 100000);
    g_assert_cmpuint(sink, >, 0);
    sublist_free(sl);
}

int main(int argc, char **argv) {
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/sublist/matches-pattern-table", test_matches_pattern_table);
    g_test_add_func("/sublist/trie-table", test_trie_table);
    g_test_add_func("/sublist/order", test_order);
    g_test_add_func("/sublist/queues", test_queues);
    g_test_add_func("/sublist/same-item-many-subjects", test_same_item_many_subjects);
    g_test_add_func("/sublist/remove-absent", test_remove_absent);
    g_test_add_func("/sublist/prune", test_prune);
    g_test_add_func("/sublist/invalid", test_invalid);
    g_test_add_func("/sublist/cache-bound", test_cache_bound);
    g_test_add_func("/sublist/cache-invalidation", test_cache_invalidation);
    g_test_add_func("/sublist/random-vs-brute-force", test_random_vs_brute_force);
    g_test_add_func("/sublist/admission", test_admission);
    g_test_add_func("/sublist/validation", test_validation);
    g_test_add_func("/sublist/overlap-subset", test_overlap_subset);
    g_test_add_func("/sublist/overlap-subset-brute", test_overlap_subset_brute);
    g_test_add_func("/sublist/overlaps-vs-brute-force", test_overlaps_vs_brute_force);
    g_test_add_func("/sublist/perf", test_perf);
    return g_test_run();
}
