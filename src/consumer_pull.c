/* consumer_pull.c — pull consumers: CONSUMER.MSG.NEXT requests waiting for messages.
 *
 * WHAT IT IS
 *   A pull request asks for up to `batch` messages (and `max_bytes` bytes) to be sent to its
 *   reply subject, waiting at most `expires`. Requests wait in a FIFO queue bounded by
 *   max_waiting. Messages go round-robin: each message to the head request, which then moves
 *   to the tail if it wants more, so several clients fetching at once share fairly (as
 *   nats-server's waitQueue.pop does). Every status a client can see (spec 3.12):
 *
 *   | when                                             | status line                        |
 *   | batch (or max_bytes) used up                     | nothing: the request just ends     |
 *   | expires passed                                   | 408 Request Timeout  (+ pending)   |
 *   | no_wait, nothing pending, no expires             | 404 No Messages                    |
 *   | no_wait, delivered some, then nothing more       | 408 Request Timeout  (+ pending)   |
 *   | no_wait while other requests claim all pending   | 408 Requests Pending               |
 *   | idle_heartbeat while waiting                     | 100 Idle Heartbeat (+ last seqs)   |
 *   | heartbeat > expires/2                            | 400 Bad Request - heartbeat value too large |
 *   | batch / expires / max_bytes over the limits      | 409 Exceeded MaxRequest{Batch,Expires,MaxBytes} of <n> |
 *   | queue full                                       | 409 Exceeded MaxWaiting            |
 *   | next message larger than the bytes left          | 409 Message Size Exceeds MaxBytes (+ pending) |
 *   | the consumer is push based                       | 409 Consumer is push based         |
 *   | consumer or stream deleted                       | 409 Consumer Deleted               |
 *   "(+ pending)" = Nats-Pending-Messages / Nats-Pending-Bytes headers: what the request had
 *   left, which nats.js consume() uses to re-pull. A request whose reply subject lost its
 *   subscriber is dropped silently.
 *
 * INACTIVITY
 *   An ephemeral pull consumer (or one with inactive_threshold) is deleted once no request
 *   has waited on it for inactive_threshold.
 *
 * ACROSS A LEADER CHANGE (book 11.6)
 *   On a replicated stream the waiting requests travel in the consumer's record
 *   (consumer_build_waiting): reply, what is left of batch and max_bytes, the heartbeat, and
 *   the deadline on the wall clock. The next leader adopts them (consumer_adopt_waiting) and
 *   goes on serving and heartbeating them, so a client's pull outlives the move: nats.js's
 *   consume() would otherwise wait for two missed heartbeats (30 s and more with its
 *   defaults) before it pulls again, because a 409 Leadership Change without pending
 *   counts does not make it re-pull. A request the old leader never put in a record gets
 *   nats-server's 409 Leadership Change when leadership moves away (consumer_pull_release).
 */
#include <string.h>

#include "consumer_int.h"
#include "jsonutil.h"
#include "limits.h"

struct PullRequest {
    char *reply;
    int64_t batch;       /* messages left, > 0 */
    int64_t max_bytes;   /* bytes left; 0 = no byte limit */
    bool no_wait;
    int64_t expires_at;  /* monotonic; 0 = never */
    int64_t expires_ns;  /* as asked, 0 = never */
    int64_t hb_ns, hb_next;
    uint64_t delivered;
    bool carried;        /* in a consumer record built for the log (consumer_build_waiting) */
};

static void request_free(PullRequest *r) {
    g_free(r->reply);
    g_free(r);
}

static void status(Consumer *c, const char *reply, const char *line) {
    g_autofree char *h = g_strdup_printf("NATS/1.0 %s\r\n\r\n", line);
    server_publish(c->srv, reply, NULL, h, strlen(h), NULL, 0);
}

static void status_pending(Consumer *c, const PullRequest *r, const char *line) {
    g_autofree char *h = g_strdup_printf("NATS/1.0 %s\r\nNats-Pending-Messages: %" G_GINT64_FORMAT
                                         "\r\nNats-Pending-Bytes: %" G_GINT64_FORMAT "\r\n\r\n",
                                         line, r->batch, r->max_bytes);
    server_publish(c->srv, r->reply, NULL, h, strlen(h), NULL, 0);
}

static void heartbeat(Consumer *c, const char *to) {
    g_autofree char *h = g_strdup_printf("NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: %" G_GUINT64_FORMAT
                                         "\r\nNats-Last-Stream: %" G_GUINT64_FORMAT "\r\n\r\n",
                                         c->dseq_next - 1, c->sseq_next - 1);
    server_publish(c->srv, to, NULL, h, strlen(h), NULL, 0);
}

/* ------------------------------------------------------------------ timers */

static void pull_timer_fired(void *arg) {
    Consumer *c = arg;
    c->pull_timer = 0;
    consumer_pull_expire(c);
}

static void arm_pull_timer(Consumer *c) {
    int64_t next = INT64_MAX;
    for (GList *l = c->waiting.head; l != NULL; l = l->next) {
        PullRequest *r = l->data;
        if (r->expires_at != 0) next = MIN(next, r->expires_at);
        if (r->hb_ns > 0) next = MIN(next, r->hb_next);
    }
    if (c->pull_timer != 0 && c->pull_timer_at == next) return;
    env_timer_cancel(c->env, c->pull_timer);
    c->pull_timer = 0;
    if (next == INT64_MAX) return;
    c->pull_timer = env_timer_add(c->env, MAX(next - consumer_now(c), 0), pull_timer_fired, c);
    c->pull_timer_at = next;
}

static void inactive_fired(void *arg) {
    Consumer *c = arg;
    c->inactive_timer = 0;
    int64_t idle = consumer_now(c) - c->last_request_ns, limit = c->cfg->inactive_threshold_ns;
    if (g_queue_is_empty(&c->waiting) && idle >= limit) {
        env_log(c->env, ENV_LOG_DEBUG, "consumer %s > %s inactive: deleted", stream_name(c->st), c->name);
        consumer_set_delete(c->set, c); /* frees c */
        return;
    }
    c->inactive_timer = env_timer_add(c->env, g_queue_is_empty(&c->waiting) ? limit - idle : limit, inactive_fired, c);
}

static void arm_inactive(Consumer *c) {
    env_timer_cancel(c->env, c->inactive_timer);
    c->inactive_timer = 0;
    if (c->cfg->deliver_subject == NULL && c->cfg->inactive_threshold_ns > 0)
        c->inactive_timer = env_timer_add(c->env, c->cfg->inactive_threshold_ns, inactive_fired, c);
}

/* ------------------------------------------------------------------ lifecycle */

void consumer_pull_init(Consumer *c) {
    g_queue_init(&c->waiting);
    c->last_request_ns = consumer_now(c);
    arm_inactive(c);
}

void consumer_pull_reconfigured(Consumer *c) { arm_inactive(c); }

void consumer_pull_stop(Consumer *c, const char *why) {
    PullRequest *r;
    while ((r = g_queue_pop_head(&c->waiting)) != NULL) {
        if (why != NULL) status(c, r->reply, why);
        request_free(r);
    }
    env_timer_cancel(c->env, c->pull_timer);
    env_timer_cancel(c->env, c->inactive_timer);
    c->pull_timer = c->inactive_timer = 0;
}

/* ------------------------------------------------------------------ a request arrives */

/* The body: empty = batch 1; a bare integer = batch n; else the JSON request. FALSE with a
 * status line to send when it is not acceptable. */
static bool parse_request(Consumer *c, const uint8_t *body, size_t len, PullRequest *r, char **why) {
    g_autofree char *s = g_strstrip(g_strndup((const char *)body, len));
    r->batch = 1;
    if (*s == '\0') return true;
    if (*s != '{') {
        gint64 n;
        if (g_ascii_string_to_signed(s, 10, G_MININT32, G_MAXINT32, &n, NULL)) r->batch = n;
        return true;
    }
    g_autoptr(JsonParser) parser = NULL;
    JsonObject *o = jsonu_parse_object(s, strlen(s), &parser);
    int64_t batch = 0, expires = 0, max_bytes = 0, hb = 0;
    bool no_wait = false;
    if (o == NULL || !jsonu_get_int(o, "batch", &batch) || !jsonu_get_int(o, "expires", &expires) ||
        !jsonu_get_int(o, "max_bytes", &max_bytes) || !jsonu_get_int(o, "idle_heartbeat", &hb) ||
        !jsonu_get_bool(o, "no_wait", &no_wait)) {
        *why = g_strdup("400 Bad Request - invalid JSON");
        return false;
    }
    if (hb > 0 && hb * 2 > expires) {
        *why = g_strdup("400 Bad Request - heartbeat value too large");
        return false;
    }
    r->batch = batch;
    r->max_bytes = MAX(max_bytes, 0);
    r->no_wait = no_wait;
    r->hb_ns = MAX(hb, 0);
    if (expires > 0) r->expires_at = consumer_now(c) + expires;
    r->expires_ns = MAX(expires, 0);
    return true;
}

void consumer_pull_request(Consumer *c, const char *reply, const uint8_t *body, size_t len) {
    if (c->cfg->deliver_subject != NULL) {
        status(c, reply, "409 Consumer is push based");
        return;
    }
    PullRequest req = {0};
    g_autofree char *why = NULL;
    if (!parse_request(c, body, len, &req, &why)) {
        status(c, reply, why);
        return;
    }
    const ConsumerConfig *cfg = c->cfg;
    int64_t now = consumer_now(c);
    if (cfg->max_batch > 0 && req.batch > cfg->max_batch) {
        g_autofree char *l = g_strdup_printf("409 Exceeded MaxRequestBatch of %" G_GINT64_FORMAT, cfg->max_batch);
        status(c, reply, l);
        return;
    }
    if (req.expires_at != 0 && cfg->max_expires_ns > 0 && req.expires_at > now + cfg->max_expires_ns) {
        g_autofree char *d = consumer_go_duration(cfg->max_expires_ns);
        g_autofree char *l = g_strdup_printf("409 Exceeded MaxRequestExpires of %s", d);
        status(c, reply, l);
        return;
    }
    if (req.max_bytes > 0 && cfg->max_bytes > 0 && req.max_bytes > cfg->max_bytes) {
        g_autofree char *l = g_strdup_printf("409 Exceeded MaxRequestMaxBytes of %" G_GINT64_FORMAT, cfg->max_bytes);
        status(c, reply, l);
        return;
    }
    if (req.batch <= 0) req.batch = 1;
    c->last_request_ns = now;
    if ((int64_t)g_queue_get_length(&c->waiting) >= cfg->max_waiting) consumer_pull_expire(c);
    if (req.no_wait) {
        uint64_t avail = consumer_num_pending(c) + g_queue_get_length(&c->redeliver_queue);
        if (avail == 0 && req.expires_at == 0) {
            status(c, reply, "404 No Messages");
            return;
        }
        if (avail > 0) {
            uint64_t claimed = 0;
            for (GList *l = c->waiting.head; l != NULL; l = l->next) claimed += (uint64_t)((PullRequest *)l->data)->batch;
            if (avail < claimed) {
                status(c, reply, "408 Requests Pending");
                return;
            }
        }
    }
    if ((int64_t)g_queue_get_length(&c->waiting) >= cfg->max_waiting) {
        status(c, reply, "409 Exceeded MaxWaiting");
        return;
    }
    PullRequest *r = g_memdup2(&req, sizeof req);
    r->reply = g_strdup(reply);
    if (r->hb_ns > 0) r->hb_next = now + r->hb_ns;
    g_queue_push_tail(&c->waiting, r);
    arm_pull_timer(c);
    consumer_set_waiting_changed(c->set, c);
    consumer_deliver(c); /* at once: pull latency is one pass, not one loop turn */
}

/* ------------------------------------------------------------------ delivery */

bool consumer_pull_has_waiting(Consumer *c) { return !g_queue_is_empty(&c->waiting); }

const char *consumer_pull_target(Consumer *c, size_t size) {
    int64_t now = consumer_now(c);
    PullRequest *r;
    while ((r = g_queue_peek_head(&c->waiting)) != NULL) {
        bool drop = false;
        if (r->expires_at != 0 && r->expires_at <= now) {
            status_pending(c, r, "408 Request Timeout");
            drop = true;
        } else if (r->max_bytes > 0 && (int64_t)size > r->max_bytes) {
            status_pending(c, r, "409 Message Size Exceeds MaxBytes");
            drop = true;
        } else if (!server_has_interest(c->srv, r->reply)) {
            drop = true; /* the requester is gone: silently */
        }
        if (!drop) {
            if (r->max_bytes > 0) {
                r->max_bytes -= (int64_t)size;
                if (r->max_bytes == 0) r->batch = 1; /* this one, then done */
            }
            return r->reply;
        }
        request_free(g_queue_pop_head(&c->waiting));
        consumer_set_waiting_changed(c->set, c);
    }
    arm_pull_timer(c);
    return NULL;
}

void consumer_pull_sent(Consumer *c) {
    PullRequest *r = g_queue_pop_head(&c->waiting);
    g_assert(r != NULL);
    r->batch--;
    r->delivered++;
    if (r->batch <= 0) { /* done: no status (spec 3.12) */
        request_free(r);
        arm_pull_timer(c);
        return;
    }
    if (r->hb_ns > 0) r->hb_next = consumer_now(c) + r->hb_ns;
    g_queue_push_tail(&c->waiting, r); /* round-robin */
}

/* Nothing more to deliver now. no_wait requests end here unless max_ack_pending is the
 * reason (then they wait for acks like the others). */
void consumer_pull_end_of_stream(Consumer *c, bool stalled) {
    if (stalled) return;
    GList *l = c->waiting.head;
    while (l != NULL) {
        GList *next = l->next;
        PullRequest *r = l->data;
        if (r->no_wait && (r->delivered > 0 || r->expires_at == 0)) {
            if (r->delivered > 0) status_pending(c, r, "408 Request Timeout");
            else status(c, r->reply, "404 No Messages");
            g_queue_delete_link(&c->waiting, l);
            request_free(r);
            consumer_set_waiting_changed(c->set, c);
        }
        l = next;
    }
    arm_pull_timer(c);
}

/* Expire, heartbeat and drop requests whose requester left; re-arm the timer. */
void consumer_pull_expire(Consumer *c) {
    int64_t now = consumer_now(c);
    bool dropped = false;
    GList *l = c->waiting.head;
    while (l != NULL) {
        GList *next = l->next;
        PullRequest *r = l->data;
        bool drop = false;
        if (r->expires_at != 0 && r->expires_at <= now) {
            status_pending(c, r, "408 Request Timeout");
            drop = true;
        } else if (!server_has_interest(c->srv, r->reply)) {
            drop = true;
        } else if (r->hb_ns > 0 && r->hb_next <= now) {
            heartbeat(c, r->reply);
            r->hb_next = now + r->hb_ns;
        }
        if (drop) {
            g_queue_delete_link(&c->waiting, l);
            request_free(r);
            c->last_request_ns = now; /* inactivity counts from the last request's end */
            dropped = true;
        }
        l = next;
    }
    arm_pull_timer(c);
    if (dropped) consumer_set_waiting_changed(c->set, c);
}

uint64_t consumer_pull_num_waiting(Consumer *c) { return g_queue_get_length(&c->waiting); }

/* ------------------------------------------------------------------ across a leader change */

/* The first LIMIT_CONSUMER_WAITING_CARRIED_COUNT waiting requests, for the record. The
 * deadline is on the wall clock: the next leader's monotonic clock is another one. */
void consumer_build_waiting(Consumer *c, JsonBuilder *b) {
    int64_t now = consumer_now(c), wall = env_wall_ns(c->env);
    guint n = 0;
    json_builder_begin_array(b);
    for (GList *l = c->waiting.head; l != NULL && n < LIMIT_CONSUMER_WAITING_CARRIED_COUNT; l = l->next, n++) {
        PullRequest *r = l->data;
        r->carried = true;
        json_builder_begin_object(b);
        jsonu_add_string(b, "reply", r->reply);
        jsonu_add_int(b, "batch", r->batch);
        if (r->max_bytes > 0) jsonu_add_int(b, "max_bytes", r->max_bytes);
        if (r->no_wait) jsonu_add_bool(b, "no_wait", true);
        if (r->expires_at != 0) {
            jsonu_add_int(b, "expires", r->expires_ns);
            jsonu_add_int(b, "deadline", wall + (r->expires_at - now));
        }
        if (r->hb_ns > 0) jsonu_add_int(b, "idle_heartbeat", r->hb_ns);
        if (r->delivered > 0) jsonu_add_int(b, "delivered", (int64_t)r->delivered);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
}

/* The new leader takes over the requests of the record. A deadline already past (or a clock
 * that jumped) still ends the request, with the 408 its client expects; one further away
 * than the request asked for is cut to that. */
void consumer_adopt_waiting(Consumer *c, JsonArray *w) {
    if (c->cfg->deliver_subject != NULL || w == NULL) return;
    int64_t now = consumer_now(c), wall = env_wall_ns(c->env);
    for (guint i = 0; i < json_array_get_length(w); i++) {
        JsonNode *node = json_array_get_element(w, i);
        if ((int64_t)g_queue_get_length(&c->waiting) >= c->cfg->max_waiting) break;
        if (!JSON_NODE_HOLDS_OBJECT(node)) continue;
        JsonObject *o = json_node_get_object(node);
        const char *reply = NULL;
        int64_t batch = 0, max_bytes = 0, expires = 0, deadline = 0, hb = 0, delivered = 0;
        bool no_wait = false;
        if (!jsonu_get_string(o, "reply", &reply) || reply == NULL || *reply == '\0' ||
            !jsonu_get_int(o, "batch", &batch) || batch <= 0 || !jsonu_get_int(o, "max_bytes", &max_bytes) ||
            !jsonu_get_bool(o, "no_wait", &no_wait) || !jsonu_get_int(o, "expires", &expires) ||
            !jsonu_get_int(o, "deadline", &deadline) || !jsonu_get_int(o, "idle_heartbeat", &hb) ||
            !jsonu_get_int(o, "delivered", &delivered))
            continue;
        PullRequest *r = g_new0(PullRequest, 1);
        r->reply = g_strdup(reply);
        r->batch = batch;
        r->max_bytes = MAX(max_bytes, 0);
        r->no_wait = no_wait;
        if (expires > 0) {
            r->expires_ns = expires;
            r->expires_at = now + CLAMP(deadline - wall, 0, expires);
        }
        r->hb_ns = MAX(hb, 0);
        if (r->hb_ns > 0) r->hb_next = now + r->hb_ns;
        r->delivered = (uint64_t)MAX(delivered, 0);
        r->carried = true;
        g_queue_push_tail(&c->waiting, r);
    }
    if (!g_queue_is_empty(&c->waiting)) c->last_request_ns = now;
    arm_pull_timer(c);
    consumer_kick(c);
}

/* Leadership moved away: the requests no record carried learn it (nats-server's status);
 * the carried ones say nothing, the next leader serves them. */
void consumer_pull_release(Consumer *c) {
    PullRequest *r;
    while ((r = g_queue_pop_head(&c->waiting)) != NULL) {
        if (!r->carried) status(c, r->reply, "409 Leadership Change");
        request_free(r);
    }
}

void consumer_pull_check(Consumer *c) {
    if (c->cfg->deliver_subject != NULL) {
        g_assert_true(g_queue_is_empty(&c->waiting));
        return;
    }
    g_assert_cmpint((int64_t)g_queue_get_length(&c->waiting), <=, c->cfg->max_waiting);
    bool timed = false;
    for (GList *l = c->waiting.head; l != NULL; l = l->next) {
        PullRequest *r = l->data;
        g_assert_cmpint(r->batch, >, 0);
        g_assert_cmpint(r->max_bytes, >=, 0);
        if (r->expires_at != 0 || r->hb_ns > 0) timed = true;
    }
    if (timed) g_assert_cmpuint(c->pull_timer, !=, 0);
}
