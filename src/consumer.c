/* consumer.c — one consumer: its cursor, its ledger of unacknowledged deliveries, and the
 * timers that move them. See consumer.h for the interface and the invariants; the pull side
 * (waiting requests, 404/408/409) is in consumer_pull.c. Book: chapter 6.
 *
 * THE STATE, IN NATS-SERVER'S WORDS
 *   sseq_next   the next stream sequence the cursor will look at (o.sseq). "delivered.
 *               stream_seq" is sseq_next - 1: the cursor has passed everything below it.
 *   dseq_next   the next consumer sequence (o.dseq): +1 for every delivery, redeliveries too.
 *   pending     sseq -> Pending for every delivery not yet acknowledged (ack explicit/all).
 *   redeliver_queue
 *               pending sseqs whose ack_wait ran out or that were NAKed, served before any
 *               new message.
 *   ack floor   (ack_floor_dseq, ack_floor_sseq): everything at or below is acknowledged.
 *
 * HOW THE ACK FLOOR MOVES (the subtle part; chapter 6 draws it)
 *   With no pending entries the floor is the cursor itself: everything delivered was acked.
 *   Otherwise it sits just below the OLDEST pending entry: floor.stream = first.sseq - 1 and
 *   floor.consumer = first.dseq_first - 1, where dseq_first is the consumer sequence of that
 *   message's FIRST delivery. New messages are delivered in stream order, so first deliveries
 *   are ordered the same way in both sequences, and the floor never moves backwards.
 *   (nats-server uses the latest delivery's sequence, which can jump around on redelivery;
 *   using the first keeps the floor monotonic and means the same thing for every policy.)
 *
 * REDELIVERY (HOW IT WORKS)
 *   Every pending entry has a deadline: delivery time + ack_wait, or + backoff[deliveries-1]
 *   when a backoff schedule is set. One timer per consumer is armed at the earliest deadline; when it
 *   fires it scans the pending entries, queues every expired one (in stream order) and re-arms
 *   for the next. A scan costs O(pending), at most max_ack_pending, once per deadline.
 *   WHY NOT ONE TIMER PER MESSAGE: +WPI and -NAK move deadlines constantly; rescheduling one
 *   timer is cheaper than cancelling thousands, and the scan keeps the redeliveries in order.
 *
 * MAX DELIVER (nats-server 2.9.10's bookkeeping, which a client sees in CONSUMER.INFO)
 *   A message whose max_deliver-th delivery went unacknowledged is given up when it comes up
 *   for redelivery: one MAX_DELIVERIES advisory, out of pending (num_ack_pending), never sent
 *   again. nats-server keeps its redelivery count (o.rdc) though, so it stays in
 *   num_redelivered, and the ack floor does not move for it: the floor moves on acks only.
 *   gave_up remembers those seqs; an ack that still comes for one forgets it (and, as in
 *   nats-server, acknowledges the message to the stream: a work queue removes it).
 *
 * LIMITATIONS
 *   sample_freq is accepted and echoed but no ack-sampling metrics are published. Consumer
 *   state is saved LIMIT_CONSUMER_SAVE_DELAY_NS after a change (and at shutdown), so a power
 *   cut can forget the last acks of that window: those messages are delivered again, never
 *   lost (at-least-once). Ephemeral consumers are not persisted at all. gave_up is not
 *   persisted or replicated: after a restart or a new leader the given-up messages leave
 *   num_redelivered (nats-server keeps them).
 */
#include "consumer_int.h"

#include <string.h>

#include "jsonutil.h"
#include "limits.h"
#include "sublist.h"

/* ------------------------------------------------------------------ small pieces */

int64_t consumer_now(Consumer *c) { return env_now_ns(c->env); }

static void pending_free(Pending *p) { g_free(p); }

bool consumer_filter_matches(Consumer *c, const char *subject) {
    const char *f = c->cfg->filter_subject;
    return f == NULL || subject_matches_pattern(f, subject);
}

/* How long the (deliveries)-th delivery may stay unacknowledged. */
static int64_t ack_wait_for(Consumer *c, uint64_t deliveries) {
    GArray *bo = c->cfg->backoff_ns;
    if (bo != NULL && bo->len > 0) {
        guint i = deliveries >= 1 ? (guint)MIN(deliveries - 1, (uint64_t)bo->len - 1) : 0;
        return g_array_index(bo, int64_t, i);
    }
    return c->cfg->ack_wait_ns;
}

static Pending *first_pending(Consumer *c) {
    GTreeNode *n = g_tree_node_first(c->pending);
    return n != NULL ? g_tree_node_value(n) : NULL;
}

/* See HOW THE ACK FLOOR MOVES. */
void consumer_update_floor(Consumer *c) {
    Pending *p = first_pending(c);
    if (p == NULL) {
        c->floor_dseq = c->dseq_next - 1;
        c->floor_sseq = c->sseq_next - 1;
    } else {
        c->floor_sseq = MAX(c->floor_sseq, p->sseq - 1);
        c->floor_dseq = MAX(c->floor_dseq, p->dseq_first - 1);
    }
    /* the contract: the ack floor never passes what was delivered */
    g_assert_cmpuint(c->floor_sseq, <=, c->sseq_next - 1);
    g_assert_cmpuint(c->floor_dseq, <=, c->dseq_next - 1);
}

/* Is the cached num_pending still right, with the store holding `msgs` messages? It was
 * counted when the store held num_pending_cache_msgs and the set had heard of
 * num_pending_cache_stored appends. Every append since then raised the store's count by one
 * and, if it matched the filter, was added to num_pending_cache by consumer_on_stored. So the
 * cache holds exactly when the store's count is what those appends alone explain; anything
 * else means something was removed: recount. (This used to be a per-consumer msgs++ on every
 * append, which made publishing touch every consumer of the stream; the set-level counter
 * lets it notify only the matching ones.) */
static bool num_pending_cache_fresh(Consumer *c, uint64_t msgs) {
    uint64_t appended = consumer_set_stored_total(c->set) - c->num_pending_cache_stored;
    return c->num_pending_cache_valid && msgs == c->num_pending_cache_msgs + appended;
}

static void num_pending_cache_set(Consumer *c, uint64_t n, uint64_t msgs) {
    c->num_pending_cache = n;
    c->num_pending_cache_msgs = msgs;
    c->num_pending_cache_stored = consumer_set_stored_total(c->set);
    c->num_pending_cache_valid = true;
}

/* Messages matching the filter at or after the cursor: num_pending. Cached, because every
 * ack reply carries it; invalidated whenever the stream removes messages. */
uint64_t consumer_num_pending(Consumer *c) {
    Store *store = stream_store(c->st);
    StoreState st;
    store_state(store, &st);
    if (!num_pending_cache_fresh(c, st.msgs)) {
        uint64_t n = 0;
        if (c->last_per_subject_seqs != NULL) {
            n = c->last_per_subject_seqs->len - c->last_per_subject_pos;
            n += store_count(store, c->cfg->filter_subject, c->last_per_subject_resume);
        } else {
            n = store_count(store, c->cfg->filter_subject, c->sseq_next);
        }
        num_pending_cache_set(c, n, st.msgs);
    }
    return c->num_pending_cache;
}

void consumer_kick(Consumer *c);

static void kick_fired(void *arg) {
    Consumer *c = arg;
    c->kick_timer = 0;
    consumer_deliver(c);
}

/* Deliver soon (after this loop turn): acks and new messages of one turn share one pass. */
void consumer_kick(Consumer *c) {
    if (c->kick_timer == 0) c->kick_timer = env_timer_add(c->env, 0, kick_fired, c);
}

static void save_soon(Consumer *c) { consumer_set_save_soon(c->set, c); }

/* ------------------------------------------------------------------ advisories */

static void advisory(Consumer *c, const char *prefix, const char *type, const Pending *p,
                     uint64_t dseq, uint64_t deliveries) {
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    jsonu_add_string(b, "type", type);
    char id[24];
    g_snprintf(id, sizeof id, "%016" G_GINT64_MODIFIER "x", env_random_u64(c->env));
    jsonu_add_string(b, "id", id);
    g_autofree char *ts = jsonu_time_format(env_wall_ns(c->env));
    jsonu_add_string(b, "timestamp", ts);
    jsonu_add_string(b, "stream", stream_name(c->st));
    jsonu_add_string(b, "consumer", c->name);
    if (dseq != 0) jsonu_add_int(b, "consumer_seq", (int64_t)dseq);
    jsonu_add_int(b, "stream_seq", (int64_t)p->sseq);
    jsonu_add_int(b, "deliveries", (int64_t)deliveries);
    if (stream_domain(c->st) != NULL) jsonu_add_string(b, "domain", stream_domain(c->st));
    json_builder_end_object(b);
    g_autofree char *json = jsonu_builder_to_string(b);
    g_autofree char *subject = g_strdup_printf("%s.%s.%s", prefix, stream_name(c->st), c->name);
    server_publish(c->srv, subject, NULL, NULL, 0, json, strlen(json));
}

/* ------------------------------------------------------------------ the ack timer */

static void ack_timer_fired(void *arg);

/* Arm the ack timer for the earliest deadline of a pending entry not already queued. */
void consumer_arm_ack_timer(Consumer *c) {
    env_timer_cancel(c->env, c->ack_timer);
    c->ack_timer = 0;
    int64_t next = INT64_MAX;
    GTreeNode *n = g_tree_node_first(c->pending);
    for (; n != NULL; n = g_tree_node_next(n)) {
        Pending *p = g_tree_node_value(n);
        if (!p->queued && p->deadline_ns < next) next = p->deadline_ns;
    }
    if (next == INT64_MAX) return;
    int64_t delay = MAX(next - consumer_now(c), 0);
    c->ack_timer = env_timer_add(c->env, delay, ack_timer_fired, c);
    c->ack_timer_at = next;
}

static void ack_timer_fired(void *arg) {
    Consumer *c = arg;
    c->ack_timer = 0;
    /* LAB(4) begin */
    /* LAB(4) stub: (void)c; */
    int64_t now = consumer_now(c);
    bool any = false;
    for (GTreeNode *n = g_tree_node_first(c->pending); n != NULL; n = g_tree_node_next(n)) {
        Pending *p = g_tree_node_value(n);
        if (!p->queued && p->deadline_ns <= now) { /* in stream order: the tree is sorted */
            p->queued = true;
            g_queue_push_tail(&c->redeliver_queue, GSIZE_TO_POINTER(p->sseq));
            any = true;
        }
    }
    consumer_arm_ack_timer(c);
    if (any) consumer_kick(c);
    /* LAB(4) end */
}

/* A new deadline for p; re-arm only when it is earlier than the armed one. */
static void set_deadline(Consumer *c, Pending *p, int64_t deadline) {
    p->deadline_ns = deadline;
    if (c->ack_timer != 0 && deadline >= c->ack_timer_at) return; /* the common case */
    /* earlier than the armed one, or none armed: arm for this deadline (no scan needed: a
     * timer firing early finds nothing due and re-arms for the next) */
    env_timer_cancel(c->env, c->ack_timer);
    c->ack_timer = env_timer_add(c->env, MAX(deadline - consumer_now(c), 0), ack_timer_fired, c);
    c->ack_timer_at = deadline;
}

/* ------------------------------------------------------------------ acks */

static void remove_pending(Consumer *c, Pending *p) {
    if (p->queued) g_queue_remove(&c->redeliver_queue, GSIZE_TO_POINTER(p->sseq));
    if (p->deliveries > 1) c->num_redelivered--;
    g_tree_remove(c->pending, &p->sseq); /* frees p */
}

/* Forget a given-up seq (MAX DELIVER); TRUE if it was one. */
static bool forget_gave_up(Consumer *c, uint64_t sseq) {
    return c->gave_up != NULL && g_hash_table_remove(c->gave_up, GSIZE_TO_POINTER(sseq));
}

/* Acknowledge one stream sequence (explicit, or TERM); FALSE if it was not pending. */
static bool ack_one(Consumer *c, uint64_t sseq) {
    Pending *p = g_tree_lookup(c->pending, &sseq);
    if (p == NULL) return forget_gave_up(c, sseq);
    remove_pending(c, p);
    return true;
}

static gboolean gave_up_le(gpointer key, gpointer value, gpointer limit) {
    return GPOINTER_TO_SIZE(key) <= GPOINTER_TO_SIZE(limit);
}

static gboolean collect_le(gpointer key, gpointer value, gpointer data) {
    GArray *out = data;
    uint64_t limit = g_array_index(out, uint64_t, 0);
    Pending *p = value;
    if (p->sseq > limit) return TRUE;
    g_array_append_val(out, p->sseq);
    return FALSE;
}

/* Process an ack of (sseq, dseq). Returns the stream seqs newly acknowledged in `acked`. */
static void process_ack(Consumer *c, uint64_t sseq, uint64_t dseq, GArray *acked) {
    /* LAB(4) begin */
    /* LAB(4) stub: (void)c; (void)sseq; (void)dseq; (void)acked; (void)collect_le; */
    if (c->cfg->ack_policy == ACK_EXPLICIT) {
        if (ack_one(c, sseq)) g_array_append_val(acked, sseq);
    } else if (c->cfg->ack_policy == ACK_ALL) {
        if (sseq <= c->floor_sseq || sseq >= c->sseq_next) return;
        g_autoptr(GArray) seqs = g_array_new(FALSE, FALSE, sizeof(uint64_t));
        g_array_append_val(seqs, sseq); /* [0] = the limit */
        g_tree_foreach(c->pending, collect_le, seqs);
        for (guint i = 1; i < seqs->len; i++) {
            uint64_t s = g_array_index(seqs, uint64_t, i);
            ack_one(c, s);
        }
        if (c->gave_up != NULL) g_hash_table_foreach_remove(c->gave_up, gave_up_le, GSIZE_TO_POINTER(sseq));
        /* acking N acks everything up to N, even what was not pending (delivered filtered) */
        for (uint64_t s = c->floor_sseq + 1; s <= sseq; s++) g_array_append_val(acked, s);
        c->floor_sseq = MAX(c->floor_sseq, sseq);
        c->floor_dseq = MAX(c->floor_dseq, MIN(dseq, c->dseq_next - 1));
    } else {
        return; /* ack none: nothing to do */
    }
    consumer_update_floor(c);
    c->last_ack_wall_ns = env_wall_ns(c->env);
    /* LAB(4) end */
}

/* Parse "$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>": exactly nine
 * tokens, the 5th-7th plain decimal. One pass, no allocation (it runs once per ack; the
 * g_strndup + g_strsplit it replaces cost eleven allocations each time). */
static bool parse_ack_subject(const char *subject, size_t len, uint64_t *deliveries, uint64_t *sseq, uint64_t *dseq) {
    uint64_t v[3] = {0, 0, 0};
    bool seen[3] = {false, false, false};
    size_t tok = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || subject[i] == '.') {
            if (tok >= 4 && tok <= 6 && !seen[tok - 4]) return false; /* empty number */
            tok++;
            continue;
        }
        if (tok < 4 || tok > 6) continue;
        char ch = subject[i];
        if (ch < '0' || ch > '9') return false;
        uint64_t d = (uint64_t)(ch - '0');
        if (v[tok - 4] > (G_MAXUINT64 - d) / 10) return false; /* overflow */
        v[tok - 4] = v[tok - 4] * 10 + d;
        seen[tok - 4] = true;
    }
    if (tok != 9) return false;
    *deliveries = v[0], *sseq = v[1], *dseq = v[2];
    return *sseq > 0;
}

/* "-NAK", "-NAK {\"delay\":ns}" or "-NAK 5s": the delay in ns, 0 = none. */
static int64_t nak_delay(const uint8_t *body, size_t len) {
    if (len <= 4) return 0;
    g_autofree char *arg = g_strstrip(g_strndup((const char *)body + 4, len - 4));
    if (*arg == '\0') return 0;
    if (*arg == '{') {
        g_autoptr(JsonParser) parser = NULL;
        JsonObject *o = jsonu_parse_object(arg, strlen(arg), &parser);
        int64_t d = 0;
        if (o == NULL || !jsonu_get_int(o, "delay", &d)) return 0;
        return MAX(d, 0);
    }
    /* a Go duration: number + unit (ns, us, ms, s, m, h); just the common single-unit forms */
    char *end = NULL;
    double v = g_ascii_strtod(arg, &end);
    if (end == arg || v < 0) return 0;
    static const struct { const char *unit; double ns; } units[] = {
        {"ns", 1}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    for (size_t i = 0; i < G_N_ELEMENTS(units); i++)
        if (strcmp(end, units[i].unit) == 0) return (int64_t)(v * units[i].ns);
    return 0;
}

static void on_ack(void *ctx, const ServerMsg *m) {
    Consumer *c = ctx;
    uint64_t deliveries, sseq, dseq;
    if (!parse_ack_subject(m->subject, m->subject_len, &deliveries, &sseq, &dseq)) return;
    const uint8_t *body = m->payload;
    size_t len = m->payload_len;
    g_autofree char *reply = m->reply_len > 0 ? g_strndup(m->reply, m->reply_len) : NULL;
    g_autoptr(GArray) acked = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    bool ack_reply = reply != NULL;
#define IS(lit) (len >= sizeof(lit) - 1 && memcmp(body, lit, sizeof(lit) - 1) == 0)
    if (len == 0 || (len == 4 && IS("+ACK")) || (len == 3 && IS("+OK"))) {
        process_ack(c, sseq, dseq, acked);
    } else if (IS("+NXT")) {
        process_ack(c, sseq, dseq, acked);
        ack_reply = false;
    } else if (IS("-NAK")) {
        /* LAB(4) begin */
        /* LAB(4) stub: (void)nak_delay; */
        Pending *p = g_tree_lookup(c->pending, &sseq);
        if (p != NULL) {
            advisory(c, "$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED", "io.nats.jetstream.advisory.v1.nak", p, dseq,
                     deliveries);
            int64_t delay = nak_delay(body, len);
            if (delay > 0) {
                if (p->queued) {
                    g_queue_remove(&c->redeliver_queue, GSIZE_TO_POINTER(sseq));
                    p->queued = false;
                }
                set_deadline(c, p, consumer_now(c) + delay);
            } else if (!p->queued) {
                p->queued = true;
                g_queue_push_tail(&c->redeliver_queue, GSIZE_TO_POINTER(sseq));
                consumer_kick(c);
            }
        }
        /* LAB(4) end */
    } else if (len == 4 && IS("+WPI")) {
        /* LAB(4) begin */
        Pending *p = g_tree_lookup(c->pending, &sseq);
        if (p != NULL && !p->queued) set_deadline(c, p, consumer_now(c) + ack_wait_for(c, p->deliveries));
        /* LAB(4) end */
    } else if (IS("+TERM")) { /* "+TERM" or "+TERM <reason>" (nats.js term(reason)) */
        Pending *p = g_tree_lookup(c->pending, &sseq);
        if (p != NULL) {
            Pending copy = *p;
            process_ack(c, sseq, dseq, acked);
            advisory(c, "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED", "io.nats.jetstream.advisory.v1.terminated",
                     &copy, dseq, deliveries);
        }
    }
#undef IS
    for (guint i = 0; i < acked->len; i++) consumer_set_msg_acked(c->set, g_array_index(acked, uint64_t, i));
    if (acked->len > 0) {
        save_soon(c);
        consumer_kick(c); /* max_ack_pending may have been the brake */
    }
    if (ack_reply) consumer_set_ack_reply(c->set, c, reply);
    if (len >= 4 && memcmp(body, "+NXT", 4) == 0 && reply != NULL)
        consumer_pull_request(c, reply, body + 4, len - 4);
}

/* ------------------------------------------------------------------ picking the next message */

/* The next message to send: a redelivery first, then the cursor. NULL when there is nothing
 * (or max_ack_pending holds new messages back: *stalled). *deliveries is the delivery count it
 * will have. */
static StoreMsg *next_msg(Consumer *c, uint64_t *deliveries, bool *stalled) {
    Store *store = stream_store(c->st);
    *stalled = false;
    while (!g_queue_is_empty(&c->redeliver_queue)) {
        uint64_t sseq = GPOINTER_TO_SIZE(g_queue_pop_head(&c->redeliver_queue));
        Pending *p = g_tree_lookup(c->pending, &sseq);
        if (p == NULL) continue;
        p->queued = false;
        if (c->cfg->max_deliver > 0 && p->deliveries >= (uint64_t)c->cfg->max_deliver) {
            /* given up: tell a dead-letter watcher, stop tracking; see MAX DELIVER */
            Pending copy = *p;
            advisory(c, "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES", "io.nats.jetstream.advisory.v1.max_deliver",
                     &copy, 0, p->deliveries);
            remove_pending(c, p);
            if (c->gave_up == NULL) c->gave_up = g_hash_table_new(g_direct_hash, g_direct_equal);
            g_hash_table_add(c->gave_up, GSIZE_TO_POINTER(sseq));
            save_soon(c);
            continue;
        }
        StoreMsg *m = store_load(store, sseq, NULL);
        if (m == NULL) { /* removed from the stream meanwhile */
            remove_pending(c, p);
            consumer_update_floor(c);
            continue;
        }
        *deliveries = p->deliveries + 1;
        return m;
    }
    if (c->cfg->max_ack_pending > 0 && g_tree_nnodes(c->pending) >= c->cfg->max_ack_pending) {
        *stalled = true;
        return NULL;
    }
    *deliveries = 1;
    while (c->last_per_subject_seqs != NULL) { /* last_per_subject: the skip list first */
        if (c->last_per_subject_pos >= c->last_per_subject_seqs->len) {
            c->sseq_next = MAX(c->sseq_next, c->last_per_subject_resume);
            g_array_free(c->last_per_subject_seqs, TRUE);
            c->last_per_subject_seqs = NULL;
            c->num_pending_cache_valid = false;
            break;
        }
        uint64_t seq = g_array_index(c->last_per_subject_seqs, uint64_t, c->last_per_subject_pos++);
        StoreMsg *m = store_load(store, seq, NULL);
        if (m != NULL) {
            c->sseq_next = seq + 1;
            if (c->num_pending_cache_valid && c->num_pending_cache > 0) c->num_pending_cache--;
            return m;
        }
        c->num_pending_cache_valid = false;
    }
    StoreMsg *m = store_load_next(store, c->cfg->filter_subject, c->sseq_next, NULL);
    if (m == NULL) {
        StoreState s;
        store_state(store, &s);
        c->sseq_next = MAX(c->sseq_next, s.last_seq + 1); /* the cursor passed the end */
        num_pending_cache_set(c, 0, s.msgs);
        return NULL;
    }
    c->sseq_next = m->seq + 1;
    if (c->num_pending_cache_valid && c->num_pending_cache > 0) c->num_pending_cache--;
    return m;
}

/* Put back a message picked but not sent (no room in the request / replay delay). */
static void unpick(Consumer *c, StoreMsg *m, uint64_t deliveries, uint64_t old_sseq_next) {
    if (deliveries > 1) {
        Pending *p = g_tree_lookup(c->pending, &m->seq);
        if (p != NULL && !p->queued) {
            p->queued = true;
            g_queue_push_head(&c->redeliver_queue, GSIZE_TO_POINTER(m->seq));
        }
    } else if (c->last_per_subject_seqs != NULL && c->last_per_subject_pos > 0 &&
               g_array_index(c->last_per_subject_seqs, uint64_t, c->last_per_subject_pos - 1) == m->seq) {
        c->last_per_subject_pos--;
        c->sseq_next = old_sseq_next;
        c->num_pending_cache_valid = false;
    } else {
        c->sseq_next = old_sseq_next;
        c->num_pending_cache_valid = false;
    }
}

/* ------------------------------------------------------------------ sending one message */

/* The headers as delivered: headers_only strips the body and adds Nats-Msg-Size. */
static GString *delivered_headers(Consumer *c, const StoreMsg *m) {
    if (!c->cfg->headers_only) return NULL;
    GString *h = g_string_new(NULL);
    if (m->hdr_len >= 4) g_string_append_len(h, (const char *)m->hdr, (gssize)m->hdr_len - 2); /* drop final CRLF */
    else g_string_append(h, "NATS/1.0\r\n");
    g_string_append_printf(h, "Nats-Msg-Size: %zu\r\n\r\n", m->data_len);
    return h;
}

/* Send m (its deliveries-th delivery) to `to`; bookkeeping for every ack policy. Returns the size
 * nats-server counts for max_bytes. */
/* Append v in decimal and a separator; returns the new end. */
static char *put_dec(char *p, uint64_t v, char sep) {
    char tmp[20];
    int n = 0;
    do tmp[n++] = (char)('0' + v % 10); while ((v /= 10) != 0);
    while (n > 0) *p++ = tmp[--n];
    *p++ = sep;
    return p;
}

/* The ack reply subject, $JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>, as
 * nats-server 2.9.10 lays it out. Built by hand: g_snprintf with its seven conversions was
 * ~5% of the server's samples in pull consume (vfprintf, _itoa_word, xsputn; appendix B). */
static size_t ack_reply(char *out, const char *stream, const char *consumer, uint64_t deliveries, uint64_t sseq,
                        uint64_t dseq, int64_t ts_ns, uint64_t pending) {
    size_t sl = strlen(stream), cl = strlen(consumer);
    g_assert(sl <= LIMIT_STREAM_NAME_BYTES && cl <= LIMIT_CONSUMER_NAME_BYTES); /* validated at creation */
    char *p = out;
    memcpy(p, "$JS.ACK.", 8);
    p += 8;
    memcpy(p, stream, sl);
    p += sl;
    *p++ = '.';
    memcpy(p, consumer, cl);
    p += cl;
    *p++ = '.';
    p = put_dec(p, deliveries, '.');
    p = put_dec(p, sseq, '.');
    p = put_dec(p, dseq, '.');
    if (ts_ns < 0) *p++ = '-';
    p = put_dec(p, ts_ns < 0 ? 0 - (uint64_t)ts_ns : (uint64_t)ts_ns, '.');
    p = put_dec(p, pending, '\0');
    return (size_t)(p - out) - 1;
}

static void send_msg(Consumer *c, const char *to, StoreMsg *m, uint64_t deliveries) {
    uint64_t dseq = c->dseq_next++;
    uint64_t pending = consumer_num_pending(c);
    /* 8 + names + 2 dots + five numbers of at most 20 digits (and a sign) with separators */
    char reply[16 + LIMIT_STREAM_NAME_BYTES + LIMIT_CONSUMER_NAME_BYTES + 5 * 22];
    size_t reply_len = ack_reply(reply, stream_name(c->st), c->name, deliveries, m->seq, dseq, m->ts_ns, pending);
    g_autoptr(GString) h = delivered_headers(c, m);
    const void *hdr = h != NULL ? (const void *)h->str : (const void *)m->hdr;
    size_t hdr_len = h != NULL ? h->len : m->hdr_len;
    size_t data_len = h != NULL ? 0 : m->data_len;
    server_publish_to(c->srv, to, m->subject, reply, hdr, hdr_len, m->data, data_len);
    c->last_delivered_wall_ns = env_wall_ns(c->env);
    c->delivered_msgs++;
    if (c->cfg->ack_policy == ACK_NONE) {
        c->floor_dseq = dseq;
        c->floor_sseq = c->sseq_next - 1;
        consumer_set_msg_acked(c->set, m->seq);
    } else {
        Pending *p = g_tree_lookup(c->pending, &m->seq);
        if (p == NULL) {
            p = g_new0(Pending, 1);
            p->sseq = m->seq;
            p->dseq_first = dseq;
            g_tree_insert(c->pending, &p->sseq, p);
        }
        if (deliveries > 1 && p->deliveries <= 1) c->num_redelivered++;
        p->dseq = dseq;
        p->deliveries = deliveries;
        p->delivered_wall_ns = c->last_delivered_wall_ns;
        set_deadline(c, p, consumer_now(c) + ack_wait_for(c, deliveries));
    }
    size_t bytes = m->subject_len + reply_len + hdr_len + data_len;
    consumer_push_sent(c, bytes);
    save_soon(c);
}

size_t consumer_msg_size(Consumer *c, const StoreMsg *m) {
    /* subject + ack reply (~ its fixed part) + headers + payload, as max_bytes counts it */
    size_t reply = 40 + strlen(stream_name(c->st)) + strlen(c->name);
    return m->subject_len + reply + m->hdr_len + (c->cfg->headers_only ? 0 : m->data_len);
}

/* ------------------------------------------------------------------ the delivery pass */

static void replay_fired(void *arg) {
    Consumer *c = arg;
    c->replay_timer = 0;
    consumer_deliver(c);
}

/* HOW IT WORKS
 *   Until there is nothing to send or somewhere to send it: pick the next message (a
 *   redelivery first), choose its destination (the deliver subject if someone listens; the
 *   head pull request otherwise), apply replay_original pacing and the rate limit, send it,
 *   record it. At most LIMIT_CONSUMER_DELIVER_BATCH_COUNT messages per pass; then yield to the
 *   loop and continue in the next turn, so one busy consumer cannot starve the others. */
void consumer_deliver(Consumer *c) {
    if (c->deleted) return;
    bool push = c->cfg->deliver_subject != NULL;
    for (int budget = LIMIT_CONSUMER_DELIVER_BATCH_COUNT; budget > 0; budget--) {
        if (push && !consumer_push_ready(c)) return;
        if (!push && !consumer_pull_has_waiting(c)) return;
        uint64_t deliveries = 1, old_next = c->sseq_next;
        bool stalled;
        g_autoptr(StoreMsg) m = next_msg(c, &deliveries, &stalled);
        if (m == NULL) {
            if (!push) consumer_pull_end_of_stream(c, stalled);
            return;
        }
        if (c->cfg->replay_policy == REPLAY_ORIGINAL && deliveries == 1) {
            int64_t now = consumer_now(c);
            if (c->replay_last_ts != 0) {
                int64_t due = c->replay_last_sent + (m->ts_ns - c->replay_last_ts);
                if (due > now + 1000000) {
                    unpick(c, m, deliveries, old_next);
                    if (c->replay_timer == 0) c->replay_timer = env_timer_add(c->env, due - now, replay_fired, c);
                    return;
                }
            }
            c->replay_last_ts = m->ts_ns;
            c->replay_last_sent = now;
        }
        const char *to = push ? c->cfg->deliver_subject : consumer_pull_target(c, consumer_msg_size(c, m));
        if (to == NULL) { /* no request can take it */
            unpick(c, m, deliveries, old_next);
            continue;
        }
        g_autofree char *dest = g_strdup(to);
        send_msg(c, dest, m, deliveries);
        if (!push) consumer_pull_sent(c);
    }
    consumer_kick(c); /* budget used up: continue next turn */
}

/* ------------------------------------------------------------------ the stream's news */

/* Called only for consumers whose filter matches (the set looks them up in its sublist):
 * a non-matching consumer is not touched at all, see num_pending_cache_fresh. */
void consumer_on_stored(Consumer *c, uint64_t seq) {
    /* what num_pending counts */
    uint64_t from = c->last_per_subject_seqs != NULL ? c->last_per_subject_resume : c->sseq_next;
    if (c->num_pending_cache_valid && seq >= from) c->num_pending_cache++;
    consumer_kick(c);
}

static gboolean collect_gone(gpointer key, gpointer value, gpointer data) {
    Pending *p = value;
    Consumer *c = ((gpointer *)data)[0];
    GArray *gone = ((gpointer *)data)[1];
    if (store_next_seq(stream_store(c->st), NULL, p->sseq) != p->sseq) g_array_append_val(gone, p->sseq);
    return FALSE;
}

/* Purge or delete: what the stream no longer has cannot be pending, and a cursor below the
 * stream's first message moves up to it (nats-server's consumer purge). */
void consumer_on_removed(Consumer *c) {
    StoreState s;
    store_state(stream_store(c->st), &s);
    g_autoptr(GArray) gone = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    gpointer data[2] = {c, gone};
    g_tree_foreach(c->pending, collect_gone, data);
    for (guint i = 0; i < gone->len; i++) ack_one(c, g_array_index(gone, uint64_t, i));
    if (c->gave_up != NULL && s.first_seq > 0) /* below the stream's first: gone for good */
        g_hash_table_foreach_remove(c->gave_up, gave_up_le, GSIZE_TO_POINTER(s.first_seq - 1));
    if (c->sseq_next < s.first_seq) {
        c->sseq_next = s.first_seq;
        if (c->last_per_subject_seqs != NULL) c->last_per_subject_resume = MAX(c->last_per_subject_resume, s.first_seq);
    }
    if (g_tree_nnodes(c->pending) == 0 && c->floor_sseq < c->sseq_next - 1) {
        c->floor_sseq = c->sseq_next - 1;
    }
    consumer_update_floor(c);
    c->num_pending_cache_valid = false;
    consumer_arm_ack_timer(c);
    save_soon(c);
    consumer_kick(c);
}

/* Interest retention: does this consumer still have to see / ack seq? */
bool consumer_needs(Consumer *c, uint64_t seq, const char *subject) {
    if (!consumer_filter_matches(c, subject)) return false;
    if (seq <= c->floor_sseq) return false;
    if (c->cfg->ack_policy != ACK_EXPLICIT) return true;
    if (seq >= c->sseq_next) return true;
    return g_tree_lookup(c->pending, &seq) != NULL;
}

/* ------------------------------------------------------------------ info and state */

void consumer_numbers(Consumer *c, ConsumerNumbers *n) {
    consumer_pull_expire(c);
    *n = (ConsumerNumbers){
        .delivered_consumer_seq = c->dseq_next - 1,
        .delivered_stream_seq = c->sseq_next - 1,
        .ack_floor_consumer_seq = c->floor_dseq,
        .ack_floor_stream_seq = c->floor_sseq,
        .last_delivered_ns = c->last_delivered_wall_ns,
        .last_ack_ns = c->last_ack_wall_ns,
        .num_ack_pending = (uint64_t)g_tree_nnodes(c->pending),
        .num_redelivered = c->num_redelivered + (c->gave_up != NULL ? g_hash_table_size(c->gave_up) : 0),
        .num_waiting = consumer_pull_num_waiting(c),
        .num_pending = consumer_num_pending(c),
        .push_bound = c->cfg->deliver_subject != NULL && consumer_push_bound(c),
    };
}

static void add_seq_info(JsonBuilder *b, const char *name, uint64_t cseq, uint64_t sseq, int64_t last) {
    json_builder_set_member_name(b, name);
    json_builder_begin_object(b);
    jsonu_add_int(b, "consumer_seq", (int64_t)cseq);
    jsonu_add_int(b, "stream_seq", (int64_t)sseq);
    if (last != 0) {
        g_autofree char *t = jsonu_time_format(last);
        jsonu_add_string(b, "last_active", t);
    }
    json_builder_end_object(b);
}

void consumer_build_info(Consumer *c, JsonBuilder *b) {
    ConsumerNumbers n;
    consumer_numbers(c, &n);
    add_seq_info(b, "delivered", n.delivered_consumer_seq, n.delivered_stream_seq, n.last_delivered_ns);
    add_seq_info(b, "ack_floor", n.ack_floor_consumer_seq, n.ack_floor_stream_seq, n.last_ack_ns);
    jsonu_add_int(b, "num_ack_pending", (int64_t)n.num_ack_pending);
    jsonu_add_int(b, "num_redelivered", (int64_t)n.num_redelivered);
    jsonu_add_int(b, "num_waiting", (int64_t)n.num_waiting);
    jsonu_add_int(b, "num_pending", (int64_t)n.num_pending);
    if (n.push_bound) jsonu_add_bool(b, "push_bound", true);
    /* minijet only (nats-server has no such member; clients ignore unknown members): the
     * saved progress this consumer lost at the last start, and why (consumer_state.c) */
    if (c->state_reset != NULL) jsonu_add_string(b, "state_reset", c->state_reset);
}

/* The persisted state (see consumer_state.c for the file). Pending entries as
 * [sseq, dseq, dseq_first, deliveries, delivered_wall_ns]. */
void consumer_build_state(Consumer *c, JsonBuilder *b) {
    json_builder_begin_object(b);
    jsonu_add_int(b, "sseq_next", (int64_t)c->sseq_next);
    jsonu_add_int(b, "dseq_next", (int64_t)c->dseq_next);
    jsonu_add_int(b, "floor_sseq", (int64_t)c->floor_sseq);
    jsonu_add_int(b, "floor_dseq", (int64_t)c->floor_dseq);
    json_builder_set_member_name(b, "pending");
    json_builder_begin_array(b);
    int saved = 0;
    for (GTreeNode *n = g_tree_node_first(c->pending); n != NULL && saved < LIMIT_CONSUMER_PENDING_SAVED_COUNT;
         n = g_tree_node_next(n), saved++) {
        Pending *p = g_tree_node_value(n);
        json_builder_begin_array(b);
        json_builder_add_int_value(b, (int64_t)p->sseq);
        json_builder_add_int_value(b, (int64_t)p->dseq);
        json_builder_add_int_value(b, (int64_t)p->dseq_first);
        json_builder_add_int_value(b, (int64_t)p->deliveries);
        json_builder_add_int_value(b, p->delivered_wall_ns);
        json_builder_end_array(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
}

/* ------------------------------------------------------------------ start position */

static void collect_last(const char *subject, uint64_t msgs, void *arg) {
    Consumer *c = arg;
    StoreSubjectInfo si;
    if (store_subject_info(stream_store(c->st), subject, &si))
        g_array_append_val(c->last_per_subject_seqs, si.last_seq);
}

static int cmp_u64(gconstpointer a, gconstpointer b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* nats-server's selectStartingSeqNo, for a consumer without saved state. */
static void select_start(Consumer *c) {
    Store *store = stream_store(c->st);
    StoreState s;
    store_state(store, &s);
    const ConsumerConfig *cfg = c->cfg;
    uint64_t start;
    if (cfg->opt_start_seq > 0) {
        start = cfg->opt_start_seq;
    } else {
        switch (cfg->deliver_policy) {
        case DELIVER_LAST: {
            start = s.last_seq;
            if (cfg->filter_subject != NULL) {
                g_autoptr(StoreMsg) m = store_load_last(store, cfg->filter_subject, NULL);
                start = m != NULL ? m->seq : 0;
            }
            break;
        }
        case DELIVER_LAST_PER_SUBJECT:
            c->last_per_subject_seqs = g_array_new(FALSE, FALSE, sizeof(uint64_t));
            store_subjects(store, cfg->filter_subject, collect_last, c);
            g_array_sort(c->last_per_subject_seqs, cmp_u64);
            if (c->last_per_subject_seqs->len == 0) {
                g_array_free(c->last_per_subject_seqs, TRUE);
                c->last_per_subject_seqs = NULL;
                start = s.last_seq + 1;
            } else {
                start = g_array_index(c->last_per_subject_seqs, uint64_t, 0);
                c->last_per_subject_resume = s.last_seq + 1;
            }
            break;
        case DELIVER_BY_START_TIME:
            start = store_seq_for_time(store, cfg->opt_start_time_ns);
            if (start == 0) start = s.last_seq + 1;
            break;
        case DELIVER_NEW:
            start = s.last_seq + 1;
            break;
        default:
            start = s.first_seq;
            break;
        }
    }
    if (start < s.first_seq) start = s.first_seq;
    if (start > s.last_seq + 1) start = s.last_seq + 1;
    if (start == 0) start = 1;
    c->sseq_next = start;
    c->dseq_next = 1;
    c->floor_dseq = 0;
    c->floor_sseq = start - 1;
}

/* Restore saved state; FALSE when it does not fit the stream (then start afresh). */
static bool restore_state(Consumer *c, JsonObject *o) {
    int64_t sn = 0, dn = 0, fs = 0, fd = 0;
    if (!jsonu_get_int(o, "sseq_next", &sn) || !jsonu_get_int(o, "dseq_next", &dn) ||
        !jsonu_get_int(o, "floor_sseq", &fs) || !jsonu_get_int(o, "floor_dseq", &fd))
        return false;
    StoreState s;
    store_state(stream_store(c->st), &s);
    if (sn < 1 || dn < 1 || (uint64_t)sn > s.last_seq + 1 || fs >= sn || fd >= dn) return false;
    c->sseq_next = (uint64_t)sn;
    c->dseq_next = (uint64_t)dn;
    c->floor_sseq = (uint64_t)fs;
    c->floor_dseq = (uint64_t)fd;
    JsonNode *pn = json_object_get_member(o, "pending");
    if (pn != NULL && JSON_NODE_HOLDS_ARRAY(pn)) {
        JsonArray *arr = json_node_get_array(pn);
        int64_t now = consumer_now(c), wall = env_wall_ns(c->env);
        for (guint i = 0; i < json_array_get_length(arr); i++) {
            JsonNode *en = json_array_get_element(arr, i);
            if (!JSON_NODE_HOLDS_ARRAY(en)) continue;
            JsonArray *e = json_node_get_array(en);
            int64_t v[5];
            guint k = 0;
            for (; k < 5 && k < json_array_get_length(e); k++) {
                JsonNode *vn = json_array_get_element(e, k);
                if (!JSON_NODE_HOLDS_VALUE(vn) || json_node_get_value_type(vn) != G_TYPE_INT64) break;
                v[k] = json_node_get_int(vn);
            }
            if (k != 5 || json_array_get_length(e) != 5) continue;
            /* an entry that contradicts the floors, or the others, is not restored (a hand-edited
             * or damaged record with a right checksum: tests/fuzz/fuzz_files.c found one) */
            uint64_t sseq = (uint64_t)v[0], dseq = (uint64_t)v[1], dseq_first = (uint64_t)v[2];
            if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 1 || sseq <= c->floor_sseq || sseq >= c->sseq_next ||
                dseq >= c->dseq_next || dseq_first <= c->floor_dseq || dseq_first > dseq ||
                g_tree_lookup(c->pending, &sseq) != NULL || c->cfg->ack_policy == ACK_NONE)
                continue;
            Pending *p = g_new0(Pending, 1);
            p->sseq = sseq;
            p->dseq = dseq;
            p->dseq_first = dseq_first;
            p->deliveries = (uint64_t)v[3];
            /* a delivery time after now (the wall clock went back, or a bad value) counts as now */
            p->delivered_wall_ns = v[4] < 0 || v[4] > wall ? wall : v[4];
            if (p->deliveries > 1) c->num_redelivered++;
            /* the deadline it had, translated from the wall clock to this run's monotonic one */
            p->deadline_ns = now + (p->delivered_wall_ns + ack_wait_for(c, p->deliveries) - wall);
            g_tree_insert(c->pending, &p->sseq, p);
        }
    }
    consumer_update_floor(c);
    consumer_on_removed(c); /* drop what the stream lost meanwhile */
    return true;
}

/* ------------------------------------------------------------------ lifecycle */

static gint cmp_seq(gconstpointer a, gconstpointer b, gpointer unused) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

Consumer *consumer_new(ConsumerSet *set, const char *name, ConsumerConfig *cfg, int64_t created_ns,
                       JsonObject *state) {
    Consumer *c = g_new0(Consumer, 1);
    c->set = set;
    c->st = consumer_set_stream(set);
    c->srv = stream_server(consumer_set_stream(set));
    c->env = stream_env(consumer_set_stream(set));
    c->name = g_strdup(name);
    c->cfg = cfg;
    c->created_ns = created_ns;
    c->pending = g_tree_new_full(cmp_seq, NULL, NULL, (GDestroyNotify)pending_free);
    g_queue_init(&c->redeliver_queue);
    if (state == NULL || !restore_state(c, state)) select_start(c);
    g_autofree char *ack = g_strdup_printf("$JS.ACK.%s.%s.*.*.*.*.*", stream_name(c->st), name);
    c->ack_sub = server_subscribe_internal(c->srv, ack, NULL, on_ack, c);
    consumer_pull_init(c);
    consumer_push_init(c);
    consumer_arm_ack_timer(c);
    consumer_kick(c);
    return c;
}

void consumer_update(Consumer *c, ConsumerConfig *cfg) {
    ConsumerConfig *old = c->cfg;
    c->cfg = cfg;
    /* nats-server accepts a lower max_ack_pending while more is pending: delivery pauses
     * (the check in pick_next) until acks bring the count under the new limit. */
    c->pending_over_max = g_tree_nnodes(c->pending);
    /* nats-server 2.9.10 lets an update change the filter subject (checkNewConsumerConfig has
     * no rule against it): the cursor stays, what lies ahead is counted under the new one */
    if (g_strcmp0(old->filter_subject, cfg->filter_subject) != 0) c->num_pending_cache_valid = false;
    consumer_push_reconfigured(c, old);
    consumer_pull_reconfigured(c);
    consumer_config_free(old);
    consumer_arm_ack_timer(c);
    save_soon(c);
    consumer_kick(c);
}

static void consumer_stop(Consumer *c, const char *why) {
    c->deleted = true;
    consumer_pull_stop(c, why);
    consumer_push_stop(c);
    server_unsubscribe_internal(c->srv, c->ack_sub);
    env_timer_cancel(c->env, c->kick_timer);
    env_timer_cancel(c->env, c->ack_timer);
    env_timer_cancel(c->env, c->replay_timer);
    g_queue_clear(&c->redeliver_queue);
    g_tree_destroy(c->pending);
    if (c->gave_up != NULL) g_hash_table_destroy(c->gave_up);
    if (c->last_per_subject_seqs != NULL) g_array_free(c->last_per_subject_seqs, TRUE);
    g_free(c->state_reset);
    consumer_config_free(c->cfg);
    g_free(c->name);
    g_free(c);
}

void consumer_free(Consumer *c, bool deleted) {
    if (c != NULL) consumer_stop(c, deleted ? "409 Consumer Deleted" : NULL);
}

void consumer_release(Consumer *c, bool leadership_change) {
    if (leadership_change) consumer_pull_release(c);
    consumer_stop(c, NULL);
}

const char *consumer_name(Consumer *c) { return c->name; }
const ConsumerConfig *consumer_config(Consumer *c) { return c->cfg; }
int64_t consumer_created_ns(Consumer *c) { return c->created_ns; }
bool consumer_is_durable(Consumer *c) { return c->cfg->durable_name != NULL; }

/* ------------------------------------------------------------------ invariants */

void consumer_check_invariants(Consumer *c) {
    consumer_check_contracts(c);
    StoreState ss;
    store_state(stream_store(c->st), &ss);
    if (c->last_per_subject_seqs == NULL && num_pending_cache_fresh(c, ss.msgs))
        g_assert_cmpuint(c->num_pending_cache, ==,
                         store_count(stream_store(c->st), c->cfg->filter_subject, c->sseq_next));
}

void consumer_check_contracts(Consumer *c) {
    g_assert_cmpuint(c->sseq_next, >=, 1);
    g_assert_cmpuint(c->dseq_next, >=, 1);
    g_assert_cmpuint(c->floor_sseq, <=, c->sseq_next - 1);
    g_assert_cmpuint(c->floor_dseq, <=, c->dseq_next - 1);
    if (c->cfg->ack_policy == ACK_NONE) g_assert_cmpint(g_tree_nnodes(c->pending), ==, 0);
    if (c->cfg->max_ack_pending > 0) {
        /* at most the limit or, after an update lowered it, what was pending then (delivery
         * stalls at the limit, so the count only shrinks until it is under it again) */
        g_assert_cmpint(g_tree_nnodes(c->pending), <=, MAX(c->cfg->max_ack_pending, c->pending_over_max));
    }
    uint64_t queued = 0, redelivered = 0, prev = 0;
    bool any_unqueued = false;
    Store *store = stream_store(c->st);
    for (GTreeNode *n = g_tree_node_first(c->pending); n != NULL; n = g_tree_node_next(n)) {
        Pending *p = g_tree_node_value(n);
        /* a deleted message is in no consumer's pending set (the stream's hooks told us) */
        g_assert_cmpuint(store_next_seq(store, NULL, p->sseq), ==, p->sseq);
        g_assert_cmpuint(p->sseq, >, prev);
        prev = p->sseq;
        g_assert_cmpuint(p->sseq, >, c->floor_sseq);
        g_assert_cmpuint(p->sseq, <, c->sseq_next);
        g_assert_cmpuint(p->deliveries, >=, 1);
        g_assert_cmpuint(p->dseq, <, c->dseq_next);
        g_assert_cmpuint(p->dseq_first, <=, p->dseq);
        g_assert_cmpuint(p->dseq_first, >, c->floor_dseq);
        if (p->queued) queued++;
        else any_unqueued = true;
        if (p->deliveries > 1) redelivered++;
    }
    g_assert_cmpuint(queued, ==, g_queue_get_length(&c->redeliver_queue));
    for (GList *l = c->redeliver_queue.head; l != NULL; l = l->next) {
        uint64_t s = GPOINTER_TO_SIZE(l->data);
        Pending *p = g_tree_lookup(c->pending, &s);
        g_assert_nonnull(p);
        g_assert_true(p->queued);
    }
    g_assert_cmpuint(redelivered, ==, c->num_redelivered);
    if (any_unqueued) g_assert_cmpuint(c->ack_timer, !=, 0); /* a stale timer just re-arms */
    consumer_pull_check(c);
    consumer_push_check(c);
}
