/* stream_publish.c — the publish path of a stream: from a PUB on one of its subjects to a
 * PubAck sent once the record is durable.
 *
 * WHAT IT IS
 *   stream_on_msg() is the handler of the stream's internal subscriptions. It runs the checks
 *   of nats-server 2.9.10 in their order (see THE ORDER OF CHECKS below), appends to the
 *   store, applies roll-ups and limits, and queues the PubAck; stream_flush() (group commit)
 *   sends the acks once the store says the records are durable. Dedup and max_age live here
 *   too. The Stream struct is in stream_int.h; the rest of the stream is in stream.c.
 *
 * INVARIANTS
 *   - No PubAck for seq n is sent before store_durable_seq() >= n (asserted in stream_flush;
 *     a replicated stream's PubAck waits for the Raft commit instead, cluster_nrg.c).
 *   - A PubAck that may go (stream_ack_ready) has a flush on its way (jetstream.c asserts it).
 *   - Messages removed by a limit, max_age or a rollup are told to the consumers
 *     (stream_tell_removed) before a new message is announced.
 *   - One publisher's replies leave in the order its publishes arrived.
 *   - A refused publish (any check fails) changes nothing in the stream.
 *
 * Book: chapter 5 (the stream log), sections 5.2-5.5.
 */
#include <string.h>

#include "jsonutil.h"
#include "limits.h"
#include "stream_int.h"

/* ------------------------------------------------------------------ small pieces */

const char *stream_header_get(const uint8_t *hdr, size_t hdr_len, const char *key, size_t *len) {
    if (hdr == NULL || hdr_len == 0) return NULL; /* no headers (p + 0 on NULL is UB) */
    size_t klen = strlen(key);
    const char *p = (const char *)hdr, *end = p + hdr_len;
    const char *line = memchr(p, '\n', hdr_len); /* skip the NATS/1.0 status line */
    while (line != NULL && line + 1 < end) {
        line++;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL) eol = end;
        if ((size_t)(eol - line) > klen && memcmp(line, key, klen) == 0 && line[klen] == ':') {
            const char *v = line + klen + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            *len = (size_t)(ve - v);
            return v;
        }
        line = eol < end ? eol : NULL;
    }
    return NULL;
}

/* A header holding a decimal uint64; FALSE when absent. A malformed number reads as 0,
 * as nats-server's parse does. */
static bool header_u64(const uint8_t *hdr, size_t hdr_len, const char *key, uint64_t *out) {
    size_t len;
    const char *v = stream_header_get(hdr, hdr_len, key, &len);
    if (v == NULL) return false;
    g_autofree char *s = g_strndup(v, len);
    guint64 n = 0;
    *out = g_ascii_string_to_unsigned(s, 10, 0, G_MAXUINT64, &n, NULL) ? n : 0;
    return true;
}

/* The PubAck bodies as nats-server 2.9.10 writes them (spec 3.7), except that an error has
 * no "seq" (see puback_error). The
 * success one is formatted directly (jsonu_puback): it is sent for every publish. */
static char *puback_ok(Stream *st, uint64_t seq, bool duplicate) {
    return jsonu_puback(st->cfg->name, st->host.domain, seq, duplicate);
}

static char *puback_error(Stream *st, const GError *e) {
    const MjErrorInfo *info = mj_error_info((MjError)e->code);
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "error");
    json_builder_begin_object(b);
    jsonu_add_int(b, "code", info->code);
    jsonu_add_int(b, "err_code", info->err_code);
    jsonu_add_string(b, "description", e->message);
    json_builder_end_object(b);
    jsonu_add_string(b, "stream", st->cfg->name);
    /* nats-server 2.9.10 also writes "seq":0 here; we leave it out, so that a client that
     * reads seq before error never counts a refused message as stored at 0. */
    json_builder_end_object(b);
    return jsonu_builder_to_string(b);
}

static void send_reply(Stream *st, const char *reply, const char *body) {
    server_publish(st->srv, reply, NULL, NULL, 0, body, strlen(body));
}

void stream_pending_free(PendingAck *p) {
    g_free(p->reply);
    g_free(p->body);
    g_free(p);
}

/* Queue a reply behind the ones already waiting, so one publisher's acks never overtake
 * each other; body taken. With nothing waiting and nothing to make durable, send now. */
static void queue_ack(Stream *st, const char *reply, uint64_t seq, char *body) {
    if (reply == NULL) {
        g_free(body);
        return;
    }
    if (seq == 0 && g_queue_is_empty(&st->pending)) {
        send_reply(st, reply, body);
        g_free(body);
        return;
    }
    PendingAck *p = g_new(PendingAck, 1);
    p->reply = g_strdup(reply);
    p->seq = seq;
    p->body = body;
    g_queue_push_tail(&st->pending, p);
    stream_need_flush(st);
}

/* ------------------------------------------------------------------ dedup
 *
 * HOW IT WORKS
 *   A publisher that retries after a lost PubAck sends the same Nats-Msg-Id again. The
 *   stream remembers every id it stored within the last duplicate_window (a hash table for
 *   lookup, a queue in arrival order for forgetting) and answers a repeat with the original
 *   seq and "duplicate": true, storing nothing. Exactly-once publishing is this plus the
 *   publisher's retries.
 *
 * WHY A WINDOW
 *   Remembering every id forever costs memory without bound; a retry comes seconds after
 *   the original, not days. Ids are forgotten lazily, when a newer publish looks.
 *
 * AFTER A RESTART: REBUILT WHEN FIRST NEEDED (stream_dedup_rebuild)
 *   The table is rebuilt by reading the messages of the last window back from the store, but
 *   not at open: the first time something needs it (a publish carrying a Nats-Msg-Id or a
 *   Nats-Expected-Last-Msg-Id, a replicated stream taking its role, a snapshot). Until then
 *   the table is not kept at all (after_append skips it): its state is whatever the store
 *   says, and the rebuild reads the store as it is then, appends since the open included.
 *   nats-server 2.9.10 does the same (rebuildDedupe, "called lazily to avoid penalizing
 *   startup times").
 *
 * WHY LAZY
 *   A stream whose publishers all send ids (exactly-once publishing) has a header on every
 *   message, so the rebuild reads and checksums every message of the window and builds a table
 *   entry for each. 1M messages with ids (`minijet-bench -I -n 1000000 jsgrow`), restarted
 *   inside the window, old and new server alternating on that store (`jsready`, load ~6):
 *   ready in 2.7-4.3 s with 176 MB RSS when the rebuild ran at open, 0.49-0.62 s with 39 MB
 *   now (nats-server 2.9.10 on such a store: 0.03 s, 12 MB; bench/LATEST.md's restart table
 *   has the sitting's figures).
 *
 * LIMITATIONS
 *   The window is measured on message timestamps (wall clock), as nats-server does; a clock
 *   jump backwards makes ids live longer. The first id publish after a restart pays the
 *   rebuild. An id whose message a limit removed between the restart and that first publish
 *   is forgotten (as at a restart, and as in nats-server).
 */
/* An entry is one allocation (its queue link and id inside it), not three (entry, id copy, queue
 * node): after the first id publish that rebuilt a window of 1M ids (`minijet-bench -I -n
 * 1000000 jsgrow`, restarted inside the window, old and new server alternating, load ~6) the
 * RSS was 176 MB before, 155 MB after; the rebuild's time stayed within the noise (1.0-1.9 s
 * against 1.2-1.4 s): the hash table and reading the messages back are most of it. */
static void dedup_forget(Stream *st, DedupEntry *d) {
    g_queue_unlink(&st->dedup_order, &d->link);
    if (g_hash_table_lookup(st->dedup, d->id) == d) g_hash_table_remove(st->dedup, d->id);
    g_free(d);
}

void stream_dedup_clear(Stream *st) {
    while (st->dedup_order.head != NULL) dedup_forget(st, st->dedup_order.head->data);
}

static void dedup_expire(Stream *st, int64_t now_ns) {
    DedupEntry *d;
    while (st->dedup_order.head != NULL && (d = st->dedup_order.head->data)->ts_ns < now_ns - st->cfg->duplicate_window_ns)
        dedup_forget(st, d);
}

static void dedup_add(Stream *st, const char *id, size_t len, uint64_t seq, int64_t ts_ns) {
    if (len == 0 || len > LIMIT_STREAM_MSG_ID_BYTES) return;
    DedupEntry *d = g_malloc(sizeof(DedupEntry) + len + 1);
    memcpy(d->id, id, len);
    d->id[len] = '\0';
    d->seq = seq;
    d->ts_ns = ts_ns;
    d->link = (GList){.data = d};
    g_queue_push_tail_link(&st->dedup_order, &d->link);
    g_hash_table_replace(st->dedup, d->id, d);
}

/* Forget ids of appends the store rolled back (their seqs will be reused). */
static void dedup_rollback(Stream *st, uint64_t durable) {
    DedupEntry *d;
    while (st->dedup_order.tail != NULL && (d = st->dedup_order.tail->data)->seq > durable) dedup_forget(st, d);
}

/* Only messages with headers can carry a Nats-Msg-Id, and the index knows which those are,
 * so messages without headers are never read. Restarting on 3M x 128 B header-less messages
 * all inside the window (493 MB) used to read and checksum every one of them: ready in
 * 0.72-0.88 s, about 30% of it here; after, old and new server alternating on that store
 * (`minijet-bench -n 3000000 -T 180 jsready`): 0.754 / 0.755 / 0.753 s before, 0.530 / 0.554 /
 * 0.538 s after (what remains is the segment scan's CRC and the index build). */
void stream_dedup_rebuild(Stream *st) {
    if (st->dedup_loaded) return;
    st->dedup_loaded = true;
    int64_t since = env_wall_ns(st->env) - st->cfg->duplicate_window_ns;
    uint64_t from = store_seq_for_time(st->store, since);
    if (from == 0) return;
    uint64_t loaded = 0;
    for (uint64_t seq = store_next_seq_with_headers(st->store, from); seq != 0;
         seq = store_next_seq_with_headers(st->store, seq + 1)) {
        g_autoptr(GError) err = NULL;
        g_autoptr(StoreMsg) m = store_load(st->store, seq, &err);
        if (m == NULL) continue;
        loaded = seq;
        size_t len = 0;
        const char *id = stream_header_get(m->hdr, m->hdr_len, "Nats-Msg-Id", &len);
        g_free(st->last_msg_id);
        st->last_msg_id = id != NULL ? g_strndup(id, len) : NULL;
        if (id != NULL) dedup_add(st, id, len, m->seq, m->ts_ns);
    }
    /* last_msg_id is the id of the LAST message: none if a message after `loaded` exists */
    if (store_next_seq(st->store, NULL, MAX(loaded + 1, from)) != 0) g_clear_pointer(&st->last_msg_id, g_free);
}

/* ------------------------------------------------------------------ group commit
 *
 * HOW IT WORKS
 *   stream_on_msg appends to the store, which only buffers, and queues the PubAck. The
 *   first queued ack of a loop turn asks jetstream.c for a flush at the end of the turn
 *   (env_turn_end); by then every publish read in this turn has been appended. stream_flush then makes ONE store_flush (one write, one fsync under the
 *   default policy) and releases every ack whose seq the store now calls durable.
 *
 * WHAT A POWER CUT LOSES (the policy is the store's; see store_file.c)
 *   sync always (default)  nothing acknowledged; publishes of the cut turn may or may not
 *                          survive, but their publishers never got an ack.
 *   sync_interval          acks follow the write(), fsync every interval: up to one interval
 *                          of acknowledged messages.
 *   memory storage         everything, always (the config survives, the messages do not).
 *
 * WHY NOT FSYNC PER MESSAGE
 *   One fsync costs ~0.1-10 ms; a turn may carry thousands of publishes. Batching turns the
 *   fsync rate limit into a per-turn cost shared by everyone who published in that turn.
 */
static void fail_pending(Stream *st, const GError *why) {
    uint64_t durable = store_durable_seq(st->store);
    dedup_rollback(st, durable);
    g_autoptr(GError) e = NULL;
    mj_js_error(&e, MJ_ERR_JS_STREAM_STORE_FAILED, "%s", why != NULL ? why->message : "store failed");
    for (GList *l = st->pending.head; l != NULL; l = l->next) {
        PendingAck *p = l->data;
        if (p->seq > durable) {
            g_free(p->body);
            p->body = puback_error(st, e);
            p->seq = 0;
        }
    }
}

void stream_flush(Stream *st) {
    if (store_dirty(st->store)) {
        g_autoptr(GError) err = NULL;
        if (!store_flush(st->store, &err)) fail_pending(st, err);
    }
    uint64_t durable = store_durable_seq(st->store);
    PendingAck *p;
    while ((p = g_queue_peek_head(&st->pending)) != NULL && p->seq <= durable) {
        g_queue_pop_head(&st->pending);
        /* THE contract of the stream: no PubAck for a record above the durable mark */
        g_assert_cmpuint(p->seq, <=, store_durable_seq(st->store));
        send_reply(st, p->reply, p->body);
        stream_pending_free(p);
    }
    stream_account(st); /* a failed flush rolled appends back */
    /* Still waiting: the store buffered more than one flush writes (it will say dirty). */
    if (!g_queue_is_empty(&st->pending) && store_dirty(st->store)) stream_need_flush(st);
}

bool stream_ack_ready(Stream *st) {
    PendingAck *p = g_queue_peek_head(&st->pending);
    return p != NULL && p->seq <= store_durable_seq(st->store);
}

/* ------------------------------------------------------------------ limits */

/* Messages left the store: the consumers forget them (a pending one counts as acked, as
 * nats-server's decStreamPending does), so a deleted message is in no consumer's pending set
 * (consumer_check_contracts asserts it). */
void stream_tell_removed(Stream *st) {
    if (st->hooks != NULL) st->hooks->removed(st->hooks_ctx);
}

/* REFUSED PUBLISHES, COUNTED
 *   A stream at its discard:new limits (10077) or an account over its storage (10023)
 *   refuses every publish until something is removed, and a publisher that retries in a loop
 *   is refused thousands of times a second. A log line for each would flood the log and the
 *   disk it is on, and bury everything else; no line at all leaves the operator blind, and a
 *   publish without a reply subject has no one else to tell. So the first refusal is logged
 *   at once, with its reason; those that follow are counted per reason and logged as one line
 *   every LIMIT_STREAM_REFUSED_LOG_NS while they keep coming; an interval without one ends
 *   the series, and the next refusal is again logged at once. The interval is a timer on the
 *   environment's clock, so the unit tests and the simulator see exactly this. Refusals a
 *   client asked for (expected-sequence checks, 10071) are answers, not trouble: not logged. */
static void refused_tick(void *arg) {
    Stream *st = arg;
    st->refused_timer = 0;
    if (st->refused == NULL || g_hash_table_size(st->refused) == 0) return; /* a quiet interval */
    GList *reasons = g_list_sort(g_hash_table_get_keys(st->refused), (GCompareFunc)strcmp); /* a stable line */
    g_autoptr(GString) line = g_string_new(NULL);
    uint64_t total = 0;
    guint i = 0;
    for (GList *l = reasons; l != NULL; l = l->next, i++) {
        const char *why = l->data;
        uint64_t n = *(uint64_t *)g_hash_table_lookup(st->refused, why);
        total += n;
        g_string_append_printf(line, "%s%s x %" G_GUINT64_FORMAT, i > 0 ? ", " : "", why, n);
    }
    g_list_free(reasons);
    env_log(st->env, ENV_LOG_WARN, "stream %s: %" G_GUINT64_FORMAT " more publishes refused in the last %lld s: %s",
            st->cfg->name, total, LIMIT_STREAM_REFUSED_LOG_NS / 1000000000LL, line->str);
    g_hash_table_remove_all(st->refused);
    st->refused_timer = env_timer_add(st->env, LIMIT_STREAM_REFUSED_LOG_NS, refused_tick, st);
}

/* Log (or count) a refused publish; `why` names the reason, `detail` is shown once. */
static void refused(Stream *st, const char *subject, const char *why, const char *detail) {
    if (st->refused_timer == 0) {
        env_log(st->env, ENV_LOG_WARN,
                "stream %s: publish to %s refused: %s%s%s (more refusals are counted and logged every %lld s)",
                st->cfg->name, subject, why, detail != NULL ? ": " : "", detail != NULL ? detail : "",
                LIMIT_STREAM_REFUSED_LOG_NS / 1000000000LL);
        st->refused_timer = env_timer_add(st->env, LIMIT_STREAM_REFUSED_LOG_NS, refused_tick, st);
        return;
    }
    if (st->refused == NULL) st->refused = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    uint64_t *n = g_hash_table_lookup(st->refused, why);
    if (n == NULL) {
        n = g_new0(uint64_t, 1);
        g_hash_table_insert(st->refused, g_strdup(why), n);
    }
    (*n)++;
}

/* A publish refused by a check: the error PubAck, and the log for a full stream or account. */
static void refuse(Stream *st, const char *subject, const char *reply, const GError *err) {
    if (err->code == MJ_ERR_JS_STREAM_STORE_FAILED || err->code == MJ_ERR_JS_INSUFFICIENT_RESOURCES) {
        const MjErrorInfo *info = mj_error_info((MjError)err->code);
        g_autofree char *why = g_strdup_printf("%s (%d)", err->message, info->err_code);
        refused(st, subject, why, NULL);
    }
    queue_ack(st, reply, 0, puback_error(st, err));
}

void stream_refused_close(Stream *st) {
    env_timer_cancel(st->env, st->refused_timer);
    st->refused_timer = 0;
    g_clear_pointer(&st->refused, g_hash_table_destroy);
}

/* discard:old — make room by dropping the oldest messages until the limits hold. */
void stream_enforce_limits(Stream *st) {
    StoreState s;
    store_state(st->store, &s);
    while ((st->cfg->max_msgs > 0 && s.msgs > (uint64_t)st->cfg->max_msgs) ||
           (st->cfg->max_bytes > 0 && s.bytes > (uint64_t)st->cfg->max_bytes)) {
        if (s.msgs <= 1) break; /* never drop the message just stored */
        store_remove(st->store, s.first_seq, FALSE, NULL);
        store_state(st->store, &s);
    }
}

void stream_enforce_subject_limit(Stream *st, const char *subject) {
    StoreSubjectInfo si;
    int64_t max = st->cfg->max_msgs_per_subject;
    if (max > 0 && store_subject_info(st->store, subject, &si) && si.msgs > (uint64_t)max) {
        StorePurge req = {.filter = subject, .keep = (uint64_t)max};
        store_purge(st->store, &req, NULL);
    }
}

void stream_age_tick(void *arg) {
    Stream *st = arg;
    st->age_timer = 0;
    if (st->cfg->max_age_ns <= 0) return; /* no age limit: nothing ever expires */
    int64_t cutoff = env_wall_ns(st->env) - st->cfg->max_age_ns;
    uint64_t keep_from = store_seq_for_time(st->store, cutoff);
    StoreState s;
    store_state(st->store, &s);
    if (keep_from == 0) keep_from = s.last_seq + 1; /* everything is older */
    if (s.msgs > 0 && keep_from > s.first_seq) {
        store_compact(st->store, keep_from, NULL);
        stream_need_flush(st);
        stream_tell_removed(st);
    }
    stream_arm_age_timer(st);
}

void stream_arm_age_timer(Stream *st) {
    if (st->age_timer != 0 || st->cfg->max_age_ns <= 0) return;
    StoreState s;
    store_state(st->store, &s);
    if (s.msgs == 0) return;
    int64_t delay = s.first_ts_ns + st->cfg->max_age_ns - env_wall_ns(st->env);
    st->age_timer = env_timer_add(st->env, MAX(delay, LIMIT_STREAM_AGE_TIMER_MIN_NS), stream_age_tick, st);
}

/* ------------------------------------------------------------------ the publish path
 *
 * THE ORDER OF CHECKS (nats-server 2.9.10's processJetStreamMsg; spec 3.7)
 *   0. sealed                      nothing gets in (10109)
 *   1. Nats-Expected-Stream        the publisher meant another stream (10060)
 *   2. Nats-Msg-Id                 seen within duplicate_window: answer the ORIGINAL seq with
 *                                  "duplicate": true and store nothing
 *   3. Nats-Expected-Last-Subject-Sequence   last seq on this subject must match (10071)
 *   4. Nats-Expected-Last-Sequence           stream's last seq must match (10071)
 *   5. Nats-Expected-Last-Msg-Id             last stored message's id must match (10070)
 *   6. Nats-Rollup                 only with allow_rollup_hdrs (10111)
 *   7. size                        headers <= 64 KiB (10097), headers+payload <=
 *                                  max_msg_size (10054)
 *   8. discard:new limits          max_msgs / max_bytes / per-subject (10077)
 *   then store, roll up, apply discard:old limits, queue the PubAck.
 *
 * WHY THIS ORDER
 *   Dedup comes before the expected-* checks on purpose: a retried publish whose original
 *   was stored must get its original ack back, even though "expected last sequence" is no
 *   longer true (the original moved it). The optimistic-concurrency checks (3-5) come before
 *   anything that changes the stream, so a refused publish has no effect at all. Limits come
 *   last because only an otherwise acceptable message should evict old ones.
 *
 * Headers are looked up case-sensitively, first occurrence, and stored verbatim.
 */
static bool check_publish(Stream *st, const ServerMsg *m, const char *subject, uint64_t last_seq,
                          const char *last_msg_id, GError **error) {
    const StreamConfig *c = st->cfg;
    const uint8_t *h = m->hdr;
    size_t hl = m->hdr_len, len;
    uint64_t want;
    const char *v;
    if ((v = stream_header_get(h, hl, "Nats-Expected-Stream", &len)) != NULL &&
        (len != strlen(c->name) || memcmp(v, c->name, len) != 0)) {
        mj_js_error(error, MJ_ERR_JS_STREAM_NOT_MATCH, NULL);
        return false;
    }
    StoreState s;
    store_state(st->store, &s);
    if (header_u64(h, hl, "Nats-Expected-Last-Subject-Sequence", &want)) {
        StoreSubjectInfo si = {0};
        uint64_t last = store_subject_info(st->store, subject, &si) ? si.last_seq : 0;
        if (last != want) {
            mj_js_error(error, MJ_ERR_JS_STREAM_WRONG_LAST_SEQ, "wrong last sequence: %" G_GUINT64_FORMAT, last);
            return false;
        }
    }
    if (header_u64(h, hl, "Nats-Expected-Last-Sequence", &want) && want != last_seq) {
        mj_js_error(error, MJ_ERR_JS_STREAM_WRONG_LAST_SEQ, "wrong last sequence: %" G_GUINT64_FORMAT, last_seq);
        return false;
    }
    if ((v = stream_header_get(h, hl, "Nats-Expected-Last-Msg-Id", &len)) != NULL) {
        const char *last = last_msg_id != NULL ? last_msg_id : "";
        if (len != strlen(last) || memcmp(v, last, len) != 0) {
            mj_js_error(error, MJ_ERR_JS_STREAM_WRONG_LAST_MSG_ID, "wrong last msg ID: %s", last);
            return false;
        }
    }
    if (stream_header_get(h, hl, "Nats-Rollup", &len) != NULL && !c->allow_rollup_hdrs) {
        mj_js_error(error, MJ_ERR_JS_STREAM_ROLLUP_FAILED, NULL);
        return false;
    }
    if (hl > LIMIT_STREAM_HEADER_BYTES) {
        mj_js_error(error, MJ_ERR_JS_STREAM_HEADER_TOO_BIG, NULL);
        return false;
    }
    if (c->max_msg_size > 0 && hl + m->payload_len > (uint64_t)c->max_msg_size) {
        mj_js_error(error, MJ_ERR_JS_MESSAGE_TOO_BIG, NULL);
        return false;
    }
    if (c->discard == DISCARD_NEW) {
        /* A publish that will evict one of its own subject's messages adds nothing overall,
         * so the stream-wide limits let it through (nats-server's rule). */
        StoreSubjectInfo si;
        bool at_subject_limit = c->max_msgs_per_subject > 0 &&
                                store_subject_info(st->store, subject, &si) &&
                                si.msgs >= (uint64_t)c->max_msgs_per_subject;
        const char *why = NULL;
        if (at_subject_limit && c->discard_new_per_subject)
            why = "maximum messages per subject exceeded";
        else if (!at_subject_limit && c->max_msgs > 0 && s.msgs >= (uint64_t)c->max_msgs)
            why = "maximum messages exceeded";
        else if (!at_subject_limit && c->max_bytes > 0 &&
                 s.bytes + store_msg_bytes(st->store, strlen(subject), hl, m->payload_len) >
                     (uint64_t)c->max_bytes)
            why = "maximum bytes exceeded";
        if (why != NULL) {
            mj_js_error(error, MJ_ERR_JS_STREAM_STORE_FAILED, "%s", why);
            return false;
        }
    }
    return true;
}

/* What follows an append at `seq`, the same on every path (a single server's publish and a
 * replica applying a committed entry), so every replica ends in the same state: the message
 * id for dedup, roll-ups, the per-subject and (discard old) stream limits, the consumers told
 * of removals before the new message, interest retention, the max_age timer. `keep_all`:
 * keep a message no consumer wants (a replicated stream's followers have no consumers, so
 * only the leader may judge interest). */
static void after_append(Stream *st, uint64_t seq, const char *subject, const ServerMsg *m, int64_t ts,
                         bool keep_all) {
    const StreamConfig *c = st->cfg;
    size_t id_len = 0, rl = 0;
    const char *id = stream_header_get(m->hdr, m->hdr_len, "Nats-Msg-Id", &id_len);
    if (st->dedup_loaded) { /* not yet rebuilt: the rebuild will read this message (AFTER A RESTART) */
        g_free(st->last_msg_id);
        st->last_msg_id = id != NULL ? g_strndup(id, id_len) : NULL;
        if (id != NULL) dedup_add(st, id, id_len, seq, ts);
    }
    StoreState before;
    store_state(st->store, &before);
    const char *rollup = stream_header_get(m->hdr, m->hdr_len, "Nats-Rollup", &rl);
    if (rollup != NULL && rl == 3 && memcmp(rollup, "sub", 3) == 0) {
        StorePurge req = {.filter = subject, .keep = 1};
        store_purge(st->store, &req, NULL);
    } else if (rollup != NULL && rl == 3 && memcmp(rollup, "all", 3) == 0) {
        store_compact(st->store, seq, NULL);
    }
    stream_enforce_subject_limit(st, subject);
    if (c->discard == DISCARD_OLD) stream_enforce_limits(st);
    StoreState after;
    store_state(st->store, &after);
    if (after.msgs < before.msgs) stream_tell_removed(st); /* before the new one is announced */
    /* Interest retention with no consumer whose filter matches: nobody will ever read it,
     * so it is not kept, but it still took a sequence number and the publisher gets its ack
     * (spec 3.7). Otherwise the consumers hear of it (they deliver after this turn). A
     * replicated stream's leader (only it has the consumers) asks for the removal through
     * the log (jscluster.c, op 5), so every replica drops it at the same place of the log. */
    if (c->retention == RETENTION_INTEREST && !keep_all &&
        (st->hooks == NULL || !st->hooks->interested(st->hooks_ctx, subject))) {
        if (st->repl != NULL) st->repl->remove(st->repl_ctx, seq);
        else store_remove(st->store, seq, FALSE, NULL);
    } else if (st->hooks != NULL)
        st->hooks->stored(st->hooks_ctx, seq, subject);
    stream_arm_age_timer(st);
}

/* ------------------------------------------------------------------ replicated streams
 *
 * HOW A REPLICATED PUBLISH WORKS (the cluster layer, jscluster.c, owns the Raft group)
 *   Only the stream's leader subscribes to its subjects. It decides each publish here, at
 *   once, against the stream AS IT WILL BE once everything already proposed is applied (its
 *   "projection": last seq, last msg id, ids in flight), assigns the sequence number, and
 *   hands the message to the cluster to propose. When the entry is committed (a quorum has
 *   it on disk) every replica calls stream_repl_apply with the same seq and timestamp: it
 *   appends, remembers the id for dedup, rolls up and trims exactly as the local path does,
 *   and on the leader returns the PubAck to send. A replica that already holds seq (the log
 *   is replayed after a restart) skips it, so applying twice changes nothing.
 *
 * WHY DECIDE AT THE LEADER
 *   Sequence numbers must be assigned once: an entry carries its seq, so a replay or a
 *   replica that lags can never give one message two numbers. The price is the projection:
 *   checks that need the store itself with proposals in flight (expected last sequence per
 *   subject, discard:new limits, roll-ups, a retry of an id still in flight) wait in a small
 *   queue until the proposals drain, then run against the real store.
 *
 * A PUBLISH THE LEADER CAN NO LONGER TAKE
 *   Leadership moves (a stepdown hands it over, a partition deposes it) while publishes are
 *   on their way to the old leader: Raft refuses a proposal while leadership is being
 *   transferred, a deposed leader is no longer ready, and what waited in the queue above is
 *   dropped when it stops leading. None of them is stored anywhere, and the publisher must
 *   hear so at once: silence costs it its whole request timeout (the 0.5 s of a stepdown in
 *   bench, issue 14). So each gets the answer a client gets when no stream holds the
 *   subject at all, the 503 no-responders status (what nats-server's clients see between
 *   its old leader's unsubscribe and its new leader's subscribe, a quarter of a second per
 *   stepdown here): clients already take it as "retry shortly" (nats.js and nats.go retry a
 *   JetStream publish on 503), and it is true: nothing was stored.
 */
typedef struct HeldMsg {
    char *subject, *reply;
    GBytes *hdr, *payload;
} HeldMsg;

static void held_free(HeldMsg *h) {
    g_free(h->subject);
    g_free(h->reply);
    g_bytes_unref(h->hdr);
    g_bytes_unref(h->payload);
    g_free(h);
}

/* A PUBLISH THE LEADER CAN NO LONGER TAKE (above): 503, nothing stored. */
void stream_not_taken(Stream *st, const char *reply) {
    static const char status[] = "NATS/1.0 503\r\n\r\n";
    if (reply != NULL) server_publish(st->srv, reply, NULL, status, sizeof status - 1, "", 0);
}

static void held_drop(HeldMsg *h, Stream *st) {
    stream_not_taken(st, h->reply);
    held_free(h);
}

static void hold(Stream *st, const ServerMsg *m) {
    if (g_queue_get_length(&st->repl_held) >= LIMIT_CLUSTER_HELD_PUBLISHES_COUNT) { /* full: try again later */
        g_autofree char *reply = m->reply_len ? g_strndup(m->reply, m->reply_len) : NULL;
        return stream_not_taken(st, reply);
    }
    HeldMsg *h = g_new0(HeldMsg, 1);
    h->subject = g_strndup(m->subject, m->subject_len);
    h->reply = m->reply_len ? g_strndup(m->reply, m->reply_len) : NULL;
    h->hdr = g_bytes_new(m->hdr, m->hdr_len);
    h->payload = g_bytes_new(m->payload, m->payload_len);
    g_queue_push_tail(&st->repl_held, h);
}

/* The account's storage of this stream's kind is over max_file_store / max_memory_store:
 * nothing more is stored until something is removed (nats-server: 503, 10023, after the
 * dedup and expected-header checks). */
static bool check_room(Stream *st, GError **error) {
    if (st->host.room == NULL || st->host.room(st->host.owner, st)) return true;
    mj_js_error(error, MJ_ERR_JS_INSUFFICIENT_RESOURCES, NULL);
    return false;
}

/* Must this publish see the real store (nothing in flight) before it can be decided? */
static bool needs_store(Stream *st, const uint8_t *hdr, size_t hdr_len) {
    const StreamConfig *c = st->cfg;
    size_t len;
    const char *id = stream_header_get(hdr, hdr_len, "Nats-Msg-Id", &len);
    g_autofree char *key = id != NULL && len > 0 ? g_strndup(id, len) : NULL;
    return stream_header_get(hdr, hdr_len, "Nats-Expected-Last-Subject-Sequence", &len) != NULL ||
           stream_header_get(hdr, hdr_len, "Nats-Rollup", &len) != NULL ||
           (c->discard == DISCARD_NEW && (c->max_msgs > 0 || c->max_bytes > 0 || c->max_msgs_per_subject > 0)) ||
           (key != NULL && g_hash_table_contains(st->repl_ids, key));
}

static void held_drain(void *arg) {
    Stream *st = arg;
    st->repl_held_timer = 0;
    HeldMsg *h;
    st->repl_draining = true;
    while (st->repl != NULL && (h = g_queue_peek_head(&st->repl_held)) != NULL) {
        gsize hl, pl;
        ServerMsg m = {.subject = h->subject, .subject_len = strlen(h->subject), .reply = h->reply,
                       .reply_len = h->reply ? strlen(h->reply) : 0};
        m.hdr = g_bytes_get_data(h->hdr, &hl);
        m.hdr_len = hl;
        m.payload = g_bytes_get_data(h->payload, &pl);
        m.payload_len = pl;
        if (st->repl_pending > 0 && needs_store(st, m.hdr, m.hdr_len)) break; /* next drain */
        g_queue_pop_head(&st->repl_held);
        stream_on_msg(st, &m);
        held_free(h);
    }
    st->repl_draining = false;
}

void stream_repl_reset(Stream *st) {
    if (st->repl != NULL) stream_dedup_rebuild(st); /* the projection starts from last_msg_id */
    StoreState s;
    store_state(st->store, &s);
    st->repl_last_seq = s.last_seq;
    st->repl_pending = 0;
    g_free(st->repl_last_msg_id);
    st->repl_last_msg_id = g_strdup(st->last_msg_id);
    g_hash_table_remove_all(st->repl_ids);
    g_queue_foreach(&st->repl_held, (GFunc)held_drop, st);
    g_queue_clear(&st->repl_held);
}

void stream_set_repl(Stream *st, const StreamRepl *r, void *ctx) {
    st->repl = r;
    st->repl_ctx = ctx;
    stream_repl_reset(st);
}

uint64_t stream_repl_pending(Stream *st) { return st->repl_pending; }
uint64_t stream_repl_last_seq(Stream *st) { return st->repl_last_seq; }

static void repl_publish(Stream *st, const ServerMsg *m, const char *subject, const char *reply, const char *id,
                         size_t id_len, int64_t now) {
    g_autofree char *key = id != NULL && id_len > 0 ? g_strndup(id, id_len) : NULL;
    bool behind = !g_queue_is_empty(&st->repl_held) && !st->repl_draining; /* keep arrival order */
    if (behind || (st->repl_pending > 0 && needs_store(st, m->hdr, m->hdr_len))) {
        hold(st, m);
        return;
    }
    g_autoptr(GError) err = NULL;
    if (!check_publish(st, m, subject, st->repl_last_seq, st->repl_last_msg_id, &err) || !check_room(st, &err)) {
        refuse(st, subject, reply, err);
        return;
    }
    size_t rl = 0;
    const char *rollup = stream_header_get(m->hdr, m->hdr_len, "Nats-Rollup", &rl);
    if (rollup != NULL && !(rl == 3 && (memcmp(rollup, "sub", 3) == 0 || memcmp(rollup, "all", 3) == 0))) {
        g_autofree char *value = g_strndup(rollup, rl);
        refused(st, subject, "rollup value invalid", value); /* nats-server: logged, no PubAck */
        return;
    }
    uint64_t seq = st->repl_last_seq + 1;
    if (!st->repl->propose(st->repl_ctx, st, seq, now, m)) return stream_not_taken(st, reply); /* no longer leader */
    st->repl_last_seq = seq;
    st->repl_pending++;
    g_free(st->repl_last_msg_id);
    st->repl_last_msg_id = key != NULL ? g_strdup(key) : NULL;
    if (key != NULL) g_hash_table_insert(st->repl_ids, g_steal_pointer(&key), GSIZE_TO_POINTER(seq));
}

char *stream_repl_apply(Stream *st, uint64_t seq, int64_t ts, const ServerMsg *m, bool leader) {
    const StreamConfig *c = st->cfg;
    StoreState s;
    store_state(st->store, &s);
    size_t id_len = 0;
    const char *id = stream_header_get(m->hdr, m->hdr_len, "Nats-Msg-Id", &id_len);
    if (st->repl_pending > 0 && seq <= st->repl_last_seq) {
        st->repl_pending--;
        if (id != NULL && id_len > 0) {
            g_autofree char *key = g_strndup(id, id_len);
            if (GPOINTER_TO_SIZE(g_hash_table_lookup(st->repl_ids, key)) == seq) g_hash_table_remove(st->repl_ids, key);
        }
        if (!g_queue_is_empty(&st->repl_held) && st->repl_held_timer == 0)
            st->repl_held_timer = env_timer_add(st->env, 0, held_drain, st);
    }
    /* LAB(10) begin */
    /* LAB(10) stub: (void)c; (void)s; (void)after_append; return NULL; */
    if (seq <= s.last_seq) return NULL; /* already here (a replay after restart) */
    if (seq != s.last_seq + 1) {
        env_log(st->env, ENV_LOG_ERROR, "stream %s: replicated entry seq %" G_GUINT64_FORMAT " after %" G_GUINT64_FORMAT
                ": a gap, not applied", c->name, seq, s.last_seq);
        return NULL;
    }
    g_autofree char *subject = g_strndup(m->subject, m->subject_len);
    g_autoptr(GError) err = NULL;
    uint64_t got = store_append(st->store, subject, m->subject_len, m->hdr, m->hdr_len, m->payload,
                                m->payload_len, ts, &err);
    if (got != seq) {
        env_log(st->env, ENV_LOG_ERROR, "stream %s: cannot store replicated seq %" G_GUINT64_FORMAT ": %s", c->name,
                seq, err != NULL ? err->message : "sequence mismatch");
        if (!leader) return NULL;
        g_autoptr(GError) e2 = NULL;
        mj_js_error(&e2, MJ_ERR_JS_STREAM_STORE_FAILED, "%s", err != NULL ? err->message : "store failed");
        return puback_error(st, e2);
    }
    after_append(st, seq, subject, m, ts, !leader);
    stream_need_flush(st);
    return leader && !c->no_ack ? puback_ok(st, seq, false) : NULL;
    /* LAB(10) end */
}

/* ------------------------------------------------------------------ snapshots and catch-up
 *
 * A replicated stream's snapshot is its state, not its messages (as nats-server's): first and
 * last seq, counts, the deleted ranges between them, the dedup window. A replica restoring it
 * trims what the snapshot says is gone; what it lacks it fetches from a peer (jscluster.c),
 * stored here one seq at a time, in order, a gap for each seq the peer no longer has. */
void stream_repl_snapshot(Stream *st, JsonBuilder *b) {
    stream_dedup_rebuild(st);
    json_builder_set_member_name(b, "dedup");
    json_builder_begin_array(b);
    for (GList *l = st->dedup_order.head; l != NULL; l = l->next) {
        DedupEntry *d = l->data;
        json_builder_begin_array(b);
        json_builder_add_string_value(b, d->id);
        json_builder_add_int_value(b, (int64_t)d->seq);
        json_builder_add_int_value(b, d->ts_ns);
        json_builder_end_array(b);
    }
    json_builder_end_array(b);
    if (st->last_msg_id != NULL) jsonu_add_string(b, "last_msg_id", st->last_msg_id);
}

/* The leader's consumers dropped an acked message from pending before it proposed the
 * removal, but not every live consumer has: a stale leader's (deposed, it applies the new
 * leader's entries before it lets its consumers go) or a new leader's applying an older
 * leader's removals may still hold one pending (failover-workqueue, seed 39). */
void stream_repl_removed(Stream *st) {
    stream_tell_removed(st);
    stream_need_flush(st);
}

void stream_repl_restore(Stream *st, JsonObject *o, uint64_t first_seq, const GArray *deleted) {
    stream_dedup_clear(st);
    st->dedup_loaded = true; /* the snapshot's window replaces whatever the store would give */
    JsonNode *dn = json_object_get_member(o, "dedup");
    JsonArray *da = dn != NULL && JSON_NODE_HOLDS_ARRAY(dn) ? json_node_get_array(dn) : NULL;
    for (guint i = 0; da != NULL && i < json_array_get_length(da); i++) {
        JsonNode *e = json_array_get_element(da, i);
        JsonArray *ea = JSON_NODE_HOLDS_ARRAY(e) ? json_node_get_array(e) : NULL;
        if (ea == NULL || json_array_get_length(ea) != 3) continue;
        const char *id = json_array_get_string_element(ea, 0);
        if (id != NULL)
            dedup_add(st, id, strlen(id), (uint64_t)json_array_get_int_element(ea, 1), json_array_get_int_element(ea, 2));
    }
    const char *last_id = NULL;
    jsonu_get_string(o, "last_msg_id", &last_id);
    g_free(st->last_msg_id);
    st->last_msg_id = g_strdup(last_id);
    StoreState s;
    store_state(st->store, &s);
    uint64_t removed = 0;
    if (s.msgs > 0 && s.first_seq < first_seq) removed += store_compact(st->store, MIN(first_seq, s.last_seq + 1), NULL);
    for (guint i = 0; deleted != NULL && i + 1 < deleted->len; i += 2) {
        uint64_t a = g_array_index(deleted, uint64_t, i), z = MIN(g_array_index(deleted, uint64_t, i + 1), s.last_seq);
        for (uint64_t seq = store_next_seq(st->store, NULL, a); seq != 0 && seq <= z;
             seq = store_next_seq(st->store, NULL, seq + 1))
            removed += store_remove(st->store, seq, FALSE, NULL) ? 1 : 0;
    }
    if (s.last_seq + 1 < first_seq) store_compact(st->store, first_seq, NULL); /* jump ahead */
    if (removed > 0) stream_tell_removed(st);
    stream_need_flush(st);
}

bool stream_repl_put(Stream *st, uint64_t seq, int64_t ts, const ServerMsg *m) {
    StoreState s;
    store_state(st->store, &s);
    if (seq != s.last_seq + 1) return false;
    static const char gap[] = "_MJ.GAP";
    g_autofree char *subject = m != NULL ? g_strndup(m->subject, m->subject_len) : NULL;
    g_autoptr(GError) err = NULL;
    uint64_t got = m != NULL ? store_append(st->store, subject, m->subject_len, m->hdr, m->hdr_len, m->payload,
                                            m->payload_len, ts, &err)
                             : store_append(st->store, gap, strlen(gap), NULL, 0, NULL, 0, ts, &err);
    if (got != seq) {
        env_log(st->env, ENV_LOG_ERROR, "stream %s: catch-up cannot store seq %" G_GUINT64_FORMAT ": %s", st->cfg->name,
                seq, err != NULL ? err->message : "sequence mismatch");
        return false;
    }
    if (m == NULL) store_remove(st->store, seq, FALSE, NULL); /* a seq the source no longer has */
    stream_need_flush(st);
    return true;
}

void stream_on_msg(void *ctx, const ServerMsg *m) {
    Stream *st = ctx;
    const StreamConfig *c = st->cfg;
    g_autofree char *subject = g_strndup(m->subject, m->subject_len);
    g_autofree char *reply = m->reply_len > 0 ? g_strndup(m->reply, m->reply_len) : NULL;
    if (c->no_ack) g_clear_pointer(&reply, g_free);
    g_autoptr(GError) err = NULL;
    if (c->sealed) {
        mj_js_error(&err, MJ_ERR_JS_STREAM_SEALED, NULL);
        queue_ack(st, reply, 0, puback_error(st, err));
        return;
    }
    int64_t now = env_wall_ns(st->env);
    size_t id_len = 0, el = 0;
    const char *id = stream_header_get(m->hdr, m->hdr_len, "Nats-Msg-Id", &id_len);
    if (id != NULL || stream_header_get(m->hdr, m->hdr_len, "Nats-Expected-Last-Msg-Id", &el) != NULL)
        stream_dedup_rebuild(st); /* the first since the open reads the window (AFTER A RESTART) */
    if (id != NULL && id_len > 0) {
        dedup_expire(st, now);
        g_autofree char *key = g_strndup(id, id_len);
        DedupEntry *d = g_hash_table_lookup(st->dedup, key);
        if (d != NULL) { /* a retry: the original's seq, nothing stored */
            queue_ack(st, reply, d->seq, puback_ok(st, d->seq, true)); /* after the original's */
            return;
        }
    }
    if (st->repl != NULL) {
        repl_publish(st, m, subject, reply, id, id_len, now);
        return;
    }
    StoreState ss;
    store_state(st->store, &ss);
    if (!check_publish(st, m, subject, ss.last_seq, st->last_msg_id, &err) || !check_room(st, &err)) {
        refuse(st, subject, reply, err);
        return;
    }
    size_t rl = 0;
    const char *rollup = stream_header_get(m->hdr, m->hdr_len, "Nats-Rollup", &rl);
    bool rollup_sub = rollup != NULL && rl == 3 && memcmp(rollup, "sub", 3) == 0;
    bool rollup_all = rollup != NULL && rl == 3 && memcmp(rollup, "all", 3) == 0;
    if (rollup != NULL && !rollup_sub && !rollup_all) { /* nats-server: logged, no PubAck */
        g_autofree char *value = g_strndup(rollup, rl);
        refused(st, subject, "rollup value invalid", value);
        return;
    }
    uint64_t seq = store_append(st->store, subject, m->subject_len, m->hdr, m->hdr_len,
                                m->payload, m->payload_len, now, &err);
    if (seq == 0) { /* disk full or I/O error: this and the turn's earlier appends are gone */
        fail_pending(st, err);
        g_autoptr(GError) e2 = NULL;
        mj_js_error(&e2, MJ_ERR_JS_STREAM_STORE_FAILED, "%s", err != NULL ? err->message : "store failed");
        queue_ack(st, reply, 0, puback_error(st, e2));
        return;
    }
    after_append(st, seq, subject, m, now, false);
    if (reply != NULL)
        queue_ack(st, reply, seq, puback_ok(st, seq, false));
    else
        stream_need_flush(st);
}

