/* consumer_set.c — the consumers of one stream: the registry (by name, by filter), the
 * stream's hooks, retention coupling, create and update. Their saved state is
 * consumer_state.c's. See consumer.h.
 *
 * RETENTION COUPLING
 *   limits     the consumers never remove anything.
 *   workqueue  a message goes as soon as its one consumer acks (or terminates) it.
 *   interest   a message goes once no consumer needs it (consumer_needs: not filtered away,
 *              above the ack floor, and not acked); a new message nobody's filter matches
 *              is not kept at all (stream.c asks consumer_set_interested); deleting a
 *              consumer releases what only it was holding.
 *   On a replicated stream the leader removes nothing itself: retention_remove hands the
 *   sequence to the cluster, which removes it on every replica through the stream's log;
 *   consumer_set_sweep finds what a dead leader's lost removals left.
 */
#include <string.h>

#include "consumer_int.h"
#include "jsonutil.h"
#include "limits.h"
#include "sublist.h"

struct ConsumerSet {
    Stream *st;
    Env *env;
    GTree *by_name;       /* char* -> Consumer*, sorted: NAMES/LIST order */
    Sublist *by_filter;   /* Consumer* under its filter subject (">" when unfiltered): who
                           * hears of a new message, see consumer_set_stored */
    GPtrArray *matched;   /* scratch for consumer_set_stored */
    uint64_t stored;      /* appends consumer_set_stored has heard of (consumer.c
                           * num_pending_cache_fresh) */
    ConsumerStates *states; /* the durable consumers' files (consumer_state.c) */
    const ConsumerSetRepl *repl; /* a replicated stream's: the cluster keeps the state, no files */
    void *repl_ctx;
};

Stream *consumer_set_stream(ConsumerSet *set) { return set->st; }
guint consumer_set_count(ConsumerSet *set) { return set != NULL ? (guint)g_tree_nnodes(set->by_name) : 0; }
Consumer *consumer_set_lookup(ConsumerSet *set, const char *name) { return g_tree_lookup(set->by_name, name); }
uint64_t consumer_set_stored_total(ConsumerSet *set) { return set->stored; }

/* The two indexes of the set's consumers: by name, and by filter (the sublist). */
static const char *filter_key(const ConsumerConfig *cfg) {
    return cfg->filter_subject != NULL ? cfg->filter_subject : ">";
}

static void index_add(ConsumerSet *set, Consumer *c) {
    g_tree_insert(set->by_name, (gpointer)consumer_name(c), c);
    bool ok = sublist_insert(set->by_filter, filter_key(consumer_config(c)), NULL, c);
    g_assert_true(ok); /* filters were validated as subscribe subjects */
}

static void index_remove(ConsumerSet *set, Consumer *c) {
    g_tree_remove(set->by_name, consumer_name(c));
    bool ok = sublist_remove(set->by_filter, filter_key(consumer_config(c)), NULL, c);
    g_assert_true(ok);
}

static gboolean collect(gpointer key, gpointer value, gpointer arr) {
    g_ptr_array_add(arr, value);
    return FALSE;
}

GPtrArray *consumer_set_list(ConsumerSet *set) {
    GPtrArray *arr = g_ptr_array_new();
    g_tree_foreach(set->by_name, collect, arr);
    return arr;
}

/* The stream's hooks (below): reached only through the StreamHooks table. */
static void consumer_set_close(ConsumerSet *set, bool stream_deleted);
static void consumer_set_stored(ConsumerSet *set, uint64_t seq, const char *subject);
static bool consumer_set_interested(ConsumerSet *set, const char *subject);
static void consumer_set_removed(ConsumerSet *set);

static void hook_stored(void *ctx, uint64_t seq, const char *subject) { consumer_set_stored(ctx, seq, subject); }
static bool hook_interested(void *ctx, const char *subject) { return consumer_set_interested(ctx, subject); }
static void hook_removed(void *ctx) { consumer_set_removed(ctx); }
static void hook_closed(void *ctx, bool deleted) { consumer_set_close(ctx, deleted); }
static guint hook_count(void *ctx) { return consumer_set_count(ctx); }

/* The table the set registers with its stream (stream.h): how the stream reaches us. */
static const StreamHooks set_hooks = {hook_stored, hook_interested, hook_removed, hook_closed, hook_count};

ConsumerSet *consumer_set_of(Stream *st) {
    ConsumerSet *set = stream_hooks_ctx(st, &set_hooks);
    g_assert(set != NULL);
    return set;
}

ConsumerSet *consumer_set_open(Stream *st) {
    ConsumerSet *set = g_new0(ConsumerSet, 1);
    set->st = st;
    set->env = stream_env(st);
    set->by_name = g_tree_new((GCompareFunc)strcmp);
    set->by_filter = sublist_new();
    set->matched = g_ptr_array_new();
    set->states = consumer_states_open(st);
    g_autoptr(GPtrArray) loaded = consumer_states_load(set->states, set);
    for (guint i = 0; i < loaded->len; i++) index_add(set, g_ptr_array_index(loaded, i));
    stream_set_hooks(st, &set_hooks, set);
    return set;
}

static void consumer_set_close(ConsumerSet *set, bool stream_deleted) {
    if (set == NULL) return;
    if (!stream_deleted) consumer_states_flush(set->states);
    g_autoptr(GPtrArray) all = consumer_set_list(set);
    g_tree_destroy(set->by_name);
    sublist_free(set->by_filter);
    g_ptr_array_free(set->matched, TRUE);
    for (guint i = 0; i < all->len; i++) {
        consumer_states_forget(set->states, g_ptr_array_index(all, i), false);
        consumer_free(g_ptr_array_index(all, i), stream_deleted);
    }
    consumer_states_free(set->states);
    g_free(set);
}

/* ------------------------------------------------------------------ the stream's hooks */

static int by_name_cmp(gconstpointer a, gconstpointer b) {
    return strcmp(consumer_name(*(Consumer *const *)a), consumer_name(*(Consumer *const *)b));
}

/* A subject with a '*' or '>' token (core NATS lets a non-pedantic client publish one) is
 * matched token by token by the sublist but as a literal by consumer_filter_matches: such a
 * message goes the old way, through every consumer, so both agree. */
static void match_all(ConsumerSet *set, const char *subject) {
    g_autoptr(GPtrArray) all = consumer_set_list(set);
    for (guint i = 0; i < all->len; i++)
        if (consumer_filter_matches(g_ptr_array_index(all, i), subject)) g_ptr_array_add(set->matched, g_ptr_array_index(all, i));
}

/* The consumers whose filter matches `subject`, into set->matched, in name order. */
static void matching(ConsumerSet *set, const char *subject) {
    g_ptr_array_set_size(set->matched, 0);
    size_t len = strlen(subject);
    if (!subject_is_literal(subject, len)) {
        match_all(set, subject);
        return;
    }
    const SublistResult *r = sublist_match(set->by_filter, subject, len);
    for (guint i = 0; i < r->plain->len; i++) g_ptr_array_add(set->matched, g_ptr_array_index(r->plain, i));
    /* the trie's order is deterministic but not the name order the tree walk had; the kicks
     * (and so which consumer delivers first) keep that order */
    if (set->matched->len > 1) g_ptr_array_sort(set->matched, by_name_cmp);
}

/* A new message: only the consumers whose filter matches hear of it, found through the
 * sublist, so the cost no longer grows with consumers that do not care. Non-matching
 * consumers keep their num_pending cache through set->stored (consumer.c num_pending_cache_fresh).
 * jsconsumers publishes/s, N idle consumers whose filters do not match, one run each:
 *   before (walk every consumer): 1: 272k  100: 63k  1000: 20k
 *   after  (sublist match):       1: 126k  100: 132k  1000: 133k  (flat; a busier machine)
 *   nats-server 2.9.10 is flat at ~63k (bench/LATEST.md). */
static void consumer_set_stored(ConsumerSet *set, uint64_t seq, const char *subject) {
    if (set == NULL) return;
    set->stored++;
    matching(set, subject);
    for (guint i = 0; i < set->matched->len; i++) consumer_on_stored(g_ptr_array_index(set->matched, i), seq);
}

static bool consumer_set_interested(ConsumerSet *set, const char *subject) {
    if (set == NULL) return false;
    matching(set, subject);
    return set->matched->len > 0;
}

static gboolean each_removed(gpointer key, gpointer value, gpointer data) {
    consumer_on_removed(value);
    return FALSE;
}

static void consumer_set_removed(ConsumerSet *set) {
    if (set != NULL) g_tree_foreach(set->by_name, each_removed, NULL);
}

static gboolean any_needs(gpointer key, gpointer value, gpointer data) {
    gpointer *a = data;
    if (consumer_needs(value, *(uint64_t *)a[0], a[1])) a[2] = value;
    return a[2] != NULL;
}

static bool needed(ConsumerSet *set, uint64_t seq, const char *subject) {
    gpointer a[3] = {&seq, (gpointer)subject, NULL};
    g_tree_foreach(set->by_name, any_needs, a);
    return a[2] != NULL;
}

/* Retention removes seq: here, or on a replicated stream through its log, so that every
 * replica removes the same messages (jscluster.c, op 5). TRUE: removed here, flush. */
static bool retention_remove(ConsumerSet *set, uint64_t seq) {
    if (set->repl != NULL && set->repl->remove != NULL) {
        set->repl->remove(set->repl_ctx, seq);
        return false;
    }
    return store_remove(stream_store(set->st), seq, FALSE, NULL);
}

void consumer_set_msg_acked(ConsumerSet *set, uint64_t seq) {
    StreamRetention r = stream_config(set->st)->retention;
    if (r == RETENTION_LIMITS) return;
    Store *store = stream_store(set->st);
    if (r == RETENTION_INTEREST) {
        g_autoptr(StoreMsg) m = store_load(store, seq, NULL);
        if (m == NULL || needed(set, seq, m->subject)) return;
    }
    if (retention_remove(set, seq)) stream_need_flush(set->st);
}

/* Remove every message retention no longer keeps; workqueue only where some consumer's
 * filter matches (a message no consumer can take stays for the next one). */
static void sweep(ConsumerSet *set, bool workqueue) {
    Store *store = stream_store(set->st);
    bool removed = false;
    for (uint64_t seq = store_next_seq(store, NULL, 0); seq != 0; seq = store_next_seq(store, NULL, seq + 1)) {
        g_autoptr(StoreMsg) m = store_load(store, seq, NULL);
        if (m == NULL || needed(set, seq, m->subject) || (workqueue && !consumer_set_interested(set, m->subject)))
            continue;
        removed |= retention_remove(set, seq);
    }
    if (removed) stream_need_flush(set->st);
}

/* Interest retention after a consumer left: release what nobody needs any more. */
static void release_unneeded(ConsumerSet *set) {
    if (stream_config(set->st)->retention == RETENTION_INTEREST) sweep(set, false);
}

void consumer_set_sweep(ConsumerSet *set) {
    StreamRetention r = stream_config(set->st)->retention;
    if (r != RETENTION_LIMITS) sweep(set, r == RETENTION_WORKQUEUE);
}

static void drop(ConsumerSet *set, Consumer *c) {
    index_remove(set, c);
    consumer_states_forget(set->states, c, true);
    consumer_free(c, true);
    release_unneeded(set);
}

void consumer_set_delete(ConsumerSet *set, Consumer *c) {
    if (set->repl != NULL) set->repl->changed(set->repl_ctx, c); /* it is gone */
    else stream_action_advisory(set->st, consumer_name(c), "delete"); /* (a cluster: none yet) */
    drop(set, c);
}

/* ------------------------------------------------------------------ create / update */

static gboolean wq_conflict(gpointer key, gpointer value, gpointer data) {
    gpointer *a = data;
    const char *f = consumer_config(value)->filter_subject;
    const char *mine = a[0];
    if (f == NULL || subject_patterns_overlap(f, mine)) a[1] = value;
    return a[1] != NULL;
}

/* An ephemeral's name: 8 random alphanumerics, from the environment's randomness. */
static char *random_name(ConsumerSet *set) {
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (;;) {
        char n[9];
        uint64_t r = env_random_u64(set->env);
        for (int i = 0; i < 8; i++, r /= 62) n[i] = digits[r % 62];
        n[8] = '\0';
        if (consumer_set_lookup(set, n) == NULL) return g_strdup(n);
    }
}

Consumer *consumer_set_add(ConsumerSet *set, ConsumerConfig *cfg_in, GError **error) {
    g_autoptr(ConsumerConfig) cfg = cfg_in;
    const StreamConfig *scfg = stream_config(set->st);
    if (!consumer_config_validate(cfg, scfg, error)) return NULL;
    const char *name = cfg->durable_name != NULL ? cfg->durable_name : cfg->name;
    Consumer *old = name != NULL ? consumer_set_lookup(set, name) : NULL;
    if (old != NULL) {
        if (consumer_config_equal(consumer_config(old), cfg)) return old;
        if (!consumer_config_check_update(consumer_config(old), cfg, error)) return NULL;
        if (cfg->backoff_ns != NULL && cfg->backoff_ns->len > 0 && cfg->max_deliver <= (int64_t)cfg->backoff_ns->len) {
            mj_js_error(error, MJ_ERR_JS_CONSUMER_MAX_DELIVER_BACKOFF, NULL);
            return NULL;
        }
        index_remove(set, old); /* the filter may change */
        consumer_update(old, g_steal_pointer(&cfg));
        index_add(set, old);
        return old;
    }
    if (scfg->max_consumers > 0 && (int64_t)consumer_set_count(set) >= scfg->max_consumers) {
        mj_js_error(error, MJ_ERR_JS_MAXIMUM_CONSUMERS, NULL);
        return NULL;
    }
    if (scfg->retention == RETENTION_WORKQUEUE && !cfg->direct) {
        if (cfg->ack_policy != ACK_EXPLICIT) {
            mj_js_error(error, MJ_ERR_JS_CONSUMER_WQ_REQUIRES_EXPLICIT_ACK, NULL);
            return NULL;
        }
        if (consumer_set_count(set) > 0) {
            if (cfg->filter_subject == NULL) {
                mj_js_error(error, MJ_ERR_JS_CONSUMER_WQ_MULTIPLE_UNFILTERED, NULL);
                return NULL;
            }
            gpointer a[2] = {cfg->filter_subject, NULL};
            g_tree_foreach(set->by_name, wq_conflict, a);
            if (a[1] != NULL) {
                mj_js_error(error, MJ_ERR_JS_CONSUMER_WQ_NOT_UNIQUE, NULL);
                return NULL;
            }
        }
        if (cfg->deliver_policy != DELIVER_ALL) {
            mj_js_error(error, MJ_ERR_JS_CONSUMER_WQ_NOT_DELIVER_ALL, NULL);
            return NULL;
        }
    }
    g_autofree char *gen = NULL;
    if (name == NULL) { /* the config keeps no name: nats-server 2.9.10 echoes none for these */
        gen = random_name(set);
        name = gen;
    }
    g_autofree char *nm = g_strdup(name);
    Consumer *c = consumer_new(set, nm, g_steal_pointer(&cfg), env_wall_ns(set->env), NULL);
    index_add(set, c);
    /* A durable is acknowledged only once it is on disk; if it cannot be written (disk full,
     * a name the file system refuses) the reply is the error and nothing of it remains. On a
     * replicated stream every consumer is acknowledged once its record is committed. */
    if (set->repl != NULL) {
        set->repl->changed(set->repl_ctx, c); /* the cluster answers once it is replicated */
    } else if (set->repl == NULL && !consumer_states_save_now(set->states, c, error)) {
        drop(set, c);
        return NULL;
    } else {
        stream_action_advisory(set->st, nm, "create");
    }
    return c;
}

static void check(ConsumerSet *set, bool full) {
    g_autoptr(GPtrArray) all = consumer_set_list(set);
    StreamRetention r = stream_config(set->st)->retention;
    for (guint i = 0; i < all->len; i++) {
        Consumer *c = g_ptr_array_index(all, i);
        if (full) consumer_check_invariants(c);
        else consumer_check_contracts(c);
        if (r == RETENTION_WORKQUEUE) { /* no two consumers may see the same subject */
            for (guint j = i + 1; j < all->len; j++) {
                const char *a = consumer_config(c)->filter_subject;
                const char *b = consumer_config(g_ptr_array_index(all, j))->filter_subject;
                g_assert_true(a != NULL && b != NULL && !subject_patterns_overlap(a, b));
            }
        }
    }
    g_assert_cmpuint(sublist_count(set->by_filter), ==, all->len); /* both indexes hold every consumer */
    consumer_states_check(set->states);
}

void consumer_set_save_soon(ConsumerSet *set, Consumer *c) {
    if (set->repl != NULL)
        set->repl->changed(set->repl_ctx, c);
    else
        consumer_states_save_soon(set->states, c);
}

/* The waiting pulls are no state of a file (a restarted server has no requests), but a
 * replicated record carries them to the next leader. */
void consumer_set_waiting_changed(ConsumerSet *set, Consumer *c) {
    if (set->repl != NULL) set->repl->changed(set->repl_ctx, c);
}

/* ------------------------------------------------------------------ replication
 *
 * A replicated stream's consumers, ephemeral ones included, are the cluster's (jscluster.c,
 * "CONSUMERS"): their config and state travel in the stream's Raft log, and only the stream's leader holds live
 * Consumer objects. So in this mode nothing is written to files: a change goes to
 * repl->changed, an ack that asked for a reply is answered through repl->ack_reply once the
 * change is replicated, the leader adopts every consumer when it takes over and releases
 * them all when it stops leading. */

void consumer_set_set_repl(ConsumerSet *set, const ConsumerSetRepl *r, void *ctx) {
    set->repl = r;
    set->repl_ctx = ctx;
}

void consumer_set_ack_reply(ConsumerSet *set, Consumer *c, const char *reply) {
    if (set->repl != NULL) {
        set->repl->ack_reply(set->repl_ctx, c, reply);
        return;
    }
    server_publish(stream_server(set->st), reply, NULL, NULL, 0, NULL, 0);
}

Consumer *consumer_set_adopt(ConsumerSet *set, const char *name, ConsumerConfig *cfg, int64_t created_ns,
                             JsonObject *state) {
    g_assert_null(consumer_set_lookup(set, name));
    Consumer *c = consumer_new(set, name, cfg, created_ns, state);
    index_add(set, c);
    return c;
}

void consumer_set_release(ConsumerSet *set, bool leadership_change) {
    g_autoptr(GPtrArray) all = consumer_set_list(set);
    for (guint i = 0; i < all->len; i++) {
        Consumer *c = g_ptr_array_index(all, i);
        index_remove(set, c);
        consumer_states_forget(set->states, c, false);
        consumer_release(c, leadership_change);
    }
}

void consumer_set_check_invariants(ConsumerSet *set) { check(set, true); }
void consumer_set_check_contracts(ConsumerSet *set) { check(set, false); }
