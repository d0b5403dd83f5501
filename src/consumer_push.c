/* consumer_push.c — push consumers: delivery to a deliver subject while someone listens,
 * idle heartbeats, flow control, rate limit, and inactivity.
 *
 * INTEREST (push_bound)
 *   A push consumer only sends while the deliver subject has a subscriber (a client SUB, with
 *   or without deliver_group as its queue). It watches the subject through the server
 *   (server_watch_interest): the server calls on_interest the moment the first subscriber
 *   arrives or the last one leaves, as nats-server's consumers hear of interest changes.
 *     - gained: `bound` turns true and a delivery pass is scheduled (consumer_kick, a
 *       zero-delay timer: the watch fires inside the SUB, where delivering is not allowed),
 *       so what was published meanwhile goes out at once, not after ack_wait;
 *     - lost: `bound` turns false and nothing more is sent. Messages published while nobody
 *       listens stay where they are: not delivered, not pending an ack, counted in
 *       num_pending, and handed to the next subscriber. A consumer with inactive_threshold
 *       (ephemerals: 5 s by default) is deleted once it has been unbound that long.
 *   WHY NOT POLL
 *   Looking every 50 ms left a subscriber waiting up to 50 ms, and a departure went unseen
 *   for up to 500 ms, during which messages went into the void and came back only after
 *   ack_wait (30 s by default).
 *
 * IDLE HEARTBEAT (spec 3.13)
 *   After idle_heartbeat without a delivery, and then every interval:
 *     HMSG <deliver> <sid> <n> <n>  NATS/1.0 100 Idle Heartbeat
 *                                   Nats-Last-Consumer: <dseq of the last delivery>
 *                                   Nats-Last-Stream: <cursor - 1>
 *                                   [Nats-Consumer-Stalled: <FC subject>]   while stalled on FC
 *   nats.js ordered consumers compare Nats-Last-Consumer with what they saw, so it is exact.
 *
 * FLOW CONTROL (HOW IT WORKS)
 *   Bytes sent since the client last answered are counted. Past half the window the consumer
 *   sends "NATS/1.0 100 FlowControl Request" with reply $JS.FC.<stream>.<consumer>.<4 chars>
 *   and keeps sending until the whole window is outstanding, then stalls. The client's empty
 *   reply on that subject releases the bytes counted up to the request, and the window
 *   doubles (2 MiB up to 32 MiB), as nats-server ramps a slow start.
 *
 * BACK-PRESSURE
 *   A client publishing faster than its subscribers read is paused (server.c, OUTBOUND
 *   MEMORY). A push consumer is a publisher inside the server: before each message it asks
 *   server_can_send, and while the deliver subject's reader holds more than half its
 *   max_pending (or the broker is over its outbound limit) it stops and looks again after
 *   LIMIT_CONSUMER_ROOM_RETRY_NS. The slow reader catches up instead of being cut as a slow
 *   consumer; what waits stays in the stream, counted in num_pending.
 *
 * RATE LIMIT
 *   rate_limit_bps spaces sends so that bytes*8 per second stays under the limit: after each
 *   send the next may go at (previous + bytes*8/bps); a timer resumes the pass.
 */
#include <string.h>

#include "consumer_int.h"
#include "limits.h"

static bool is_push(Consumer *c) { return c->cfg->deliver_subject != NULL; }

static void hb_fired(void *arg);

static void arm_hb(Consumer *c) {
    env_timer_cancel(c->env, c->hb_timer);
    c->hb_timer = 0;
    if (is_push(c) && c->cfg->idle_heartbeat_ns > 0)
        c->hb_timer = env_timer_add(c->env, c->cfg->idle_heartbeat_ns, hb_fired, c);
}

static void unbound_fired(void *arg) {
    Consumer *c = arg;
    c->unbound_timer = 0;
    g_assert_false(c->bound);
    env_log(c->env, ENV_LOG_DEBUG, "consumer %s > %s inactive: deleted", stream_name(c->st), c->name);
    consumer_set_delete(c->set, c); /* frees c */
}

/* Nobody listens since unbound_since_ns: delete after inactive_threshold, if it has one. */
static void arm_unbound(Consumer *c) {
    env_timer_cancel(c->env, c->unbound_timer);
    c->unbound_timer = 0;
    int64_t limit = c->cfg->inactive_threshold_ns;
    if (!c->bound && limit > 0)
        c->unbound_timer = env_timer_add(c->env, MAX(c->unbound_since_ns + limit - consumer_now(c), 0),
                                         unbound_fired, c);
}

/* The server's watch on deliver_subject: the first subscriber came, or the last one went. */
static void on_interest(void *ctx, bool interest) {
    Consumer *c = ctx;
    g_assert(interest != c->bound);
    c->bound = interest;
    if (!interest) c->unbound_since_ns = consumer_now(c);
    arm_unbound(c);
    if (interest) consumer_kick(c); /* deliver after this turn: not inside the SUB */
}

static void hb_fired(void *arg) {
    Consumer *c = arg;
    c->hb_timer = 0;
    if (c->bound) {
        GString *h = g_string_new(NULL);
        g_string_append_printf(h, "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: %" G_GUINT64_FORMAT
                               "\r\nNats-Last-Stream: %" G_GUINT64_FORMAT "\r\n",
                               c->dseq_next - 1, c->sseq_next - 1);
        if (c->fc_subject != NULL) g_string_append_printf(h, "Nats-Consumer-Stalled: %s\r\n", c->fc_subject);
        g_string_append(h, "\r\n");
        server_publish(c->srv, c->cfg->deliver_subject, NULL, h->str, h->len, NULL, 0);
        g_string_free(h, TRUE);
    }
    arm_hb(c);
}

static void on_fc_reply(void *ctx, const ServerMsg *m) {
    Consumer *c = ctx;
    if (c->fc_subject == NULL || m->subject_len != strlen(c->fc_subject) ||
        memcmp(m->subject, c->fc_subject, m->subject_len) != 0)
        return; /* not the latest request: ignored, as nats-server does */
    c->fc_bytes = c->fc_bytes > c->fc_sent_bytes ? c->fc_bytes - c->fc_sent_bytes : 0;
    c->fc_window = MIN(c->fc_window * 2, (uint64_t)LIMIT_CONSUMER_FC_WINDOW_MAX_BYTES);
    g_clear_pointer(&c->fc_subject, g_free);
    c->fc_sent_bytes = 0;
    consumer_kick(c);
}

static void send_fc_request(Consumer *c) {
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    uint64_t r = env_random_u64(c->env);
    char tail[5];
    for (int i = 0; i < 4; i++, r /= 62) tail[i] = digits[r % 62];
    tail[4] = '\0';
    g_free(c->fc_subject);
    c->fc_subject = g_strdup_printf("$JS.FC.%s.%s.%s", stream_name(c->st), c->name, tail);
    c->fc_sent_bytes = c->fc_bytes;
    static const char hdr[] = "NATS/1.0 100 FlowControl Request\r\n\r\n";
    server_publish(c->srv, c->cfg->deliver_subject, c->fc_subject, hdr, sizeof hdr - 1, NULL, 0);
}

static void rate_fired(void *arg) {
    Consumer *c = arg;
    c->rate_timer = 0;
    consumer_deliver(c);
}

/* ------------------------------------------------------------------ the interface */

static void start(Consumer *c) {
    if (!is_push(c)) return;
    c->interest = server_watch_interest(c->srv, c->cfg->deliver_subject, on_interest, c);
    c->bound = server_has_interest(c->srv, c->cfg->deliver_subject);
    c->unbound_since_ns = consumer_now(c);
    c->fc_window = LIMIT_CONSUMER_FC_WINDOW_BYTES;
    if (c->cfg->flow_control) {
        g_autofree char *fc = g_strdup_printf("$JS.FC.%s.%s.*", stream_name(c->st), c->name);
        c->fc_sub = server_subscribe_internal(c->srv, fc, NULL, on_fc_reply, c);
    }
    arm_unbound(c);
    arm_hb(c);
}

void consumer_push_init(Consumer *c) { start(c); }

void consumer_push_stop(Consumer *c) {
    server_remove_hook(c->srv, c->interest);
    c->interest = NULL;
    c->bound = false;
    env_timer_cancel(c->env, c->unbound_timer);
    env_timer_cancel(c->env, c->hb_timer);
    env_timer_cancel(c->env, c->rate_timer);
    env_timer_cancel(c->env, c->room_timer);
    c->unbound_timer = c->hb_timer = c->rate_timer = c->room_timer = 0;
    server_unsubscribe_internal(c->srv, c->fc_sub);
    c->fc_sub = NULL;
    g_clear_pointer(&c->fc_subject, g_free);
}

void consumer_push_reconfigured(Consumer *c, const ConsumerConfig *old) {
    consumer_push_stop(c);
    start(c);
}

bool consumer_push_bound(Consumer *c) { return is_push(c) && c->bound; }

static void room_fired(void *arg) {
    Consumer *c = arg;
    c->room_timer = 0;
    consumer_deliver(c);
}

bool consumer_push_ready(Consumer *c) {
    if (!c->bound) return false; /* nobody listens: what is new stays new (num_pending) */
    if (c->fc_subject != NULL && c->fc_bytes >= c->fc_window) return false; /* stalled on FC */
    if (!server_can_send(c->srv, c->cfg->deliver_subject)) { /* BACK-PRESSURE: look again later */
        if (c->room_timer == 0) c->room_timer = env_timer_add(c->env, LIMIT_CONSUMER_ROOM_RETRY_NS, room_fired, c);
        return false;
    }
    if (c->cfg->rate_limit_bps > 0) {
        int64_t now = consumer_now(c);
        if (c->rate_next_ns > now) {
            if (c->rate_timer == 0) c->rate_timer = env_timer_add(c->env, c->rate_next_ns - now, rate_fired, c);
            return false;
        }
    }
    return true;
}

void consumer_push_sent(Consumer *c, size_t bytes) {
    if (!is_push(c)) return;
    if (c->cfg->idle_heartbeat_ns > 0) arm_hb(c);
    if (c->cfg->flow_control) {
        c->fc_bytes += bytes;
        if (c->fc_subject == NULL && c->fc_bytes > c->fc_window / 2) send_fc_request(c);
    }
    if (c->cfg->rate_limit_bps > 0) {
        int64_t now = consumer_now(c);
        int64_t cost = (int64_t)((double)bytes * 8.0 * 1e9 / (double)c->cfg->rate_limit_bps);
        c->rate_next_ns = MAX(c->rate_next_ns, now) + cost;
    }
}

void consumer_push_check(Consumer *c) {
    if (!is_push(c)) {
        g_assert_null(c->interest);
        g_assert_false(c->bound);
        g_assert_cmpuint(c->unbound_timer, ==, 0);
        g_assert_cmpuint(c->hb_timer, ==, 0);
        return;
    }
    /* bound is the truth about the deliver subject (the watch never missed a change) */
    g_assert_nonnull(c->interest);
    g_assert_true(c->bound == server_has_interest(c->srv, c->cfg->deliver_subject));
    /* unbound with an inactivity limit: the deletion timer runs; bound: it does not */
    g_assert_true((c->unbound_timer != 0) == (!c->bound && c->cfg->inactive_threshold_ns > 0));
    if (c->cfg->idle_heartbeat_ns > 0) g_assert_cmpuint(c->hb_timer, !=, 0);
    g_assert_true((c->fc_sub != NULL) == c->cfg->flow_control);
    if (c->fc_subject == NULL) g_assert_cmpuint(c->fc_sent_bytes, ==, 0);
    g_assert_cmpuint(c->fc_window, <=, LIMIT_CONSUMER_FC_WINDOW_MAX_BYTES);
}
