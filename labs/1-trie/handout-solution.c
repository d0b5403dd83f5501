/* Lab 1, handout solution: the smallest match_node() and cache_invalidate() bodies a careful
 * student writes from labs/1-trie/README.md alone (part 1's "What to implement" and hints
 * 1-3; part 2's "What to implement"). labs-check puts it
 * into a fresh starter and grades it: it must score 100, or the handout is missing something.
 * Not the reference (src/sublist.c is), and not meant to be elegant. */

/* LAB(1) solution: src/sublist.c */
    if (i == ntok) {                       /* hint 1: the subject ended at this node */
        result_add_node(r, n);
        return;
    }
    if (n->literal != NULL) {              /* "any of the three may be NULL" */
        const Node *lit = g_hash_table_lookup(n->literal, &toks[i]);   /* hint 2 */
        if (lit != NULL)
            match_node(lit, toks, ntok, i + 1, r);
    }
    if (n->star != NULL)                   /* then `*`: consumes one token */
        match_node(n->star, toks, ntok, i + 1, r);
    if (n->gt != NULL)                     /* then `>`: swallows the rest (at least one) */
        result_add_node(r, n->gt);
/* LAB(1) solution end */

/* Part 2, from "Part 2: cache invalidation": walk the ring, drop what the pattern matches.
 * (No literal fast path: the handout calls it optional.) */
/* LAB(1) solution: src/sublist.c */
    for (size_t slot = 0; slot < LIMIT_SUBLIST_CACHE_COUNT; slot++) {
        CacheEntry *e = sl->ring[slot];
        if (e == NULL)
            continue;
        Token toks[LIMIT_MAX_SUBJECT_TOKENS];
        size_t ntok = tokenize(e->key.tok.p, e->key.tok.len, toks);
        if (tokens_match(pt, pn, toks, ntok))
            cache_drop(sl, e);
    }
/* LAB(1) solution end */
