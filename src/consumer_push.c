/* consumer_push.c — push consumers: delivery to a deliver subject while someone listens,
 * idle heartbeats, flow control, rate limit, and inactivity.
 *
 * INTEREST (push_bound)
 *   A push consumer only sends while the deliver subject has a subscriber (a client SUB, with
 *   or without deliver_group as its queue). The server core has no "interest changed" event,
 *   so the consumer looks: before every delivery pass, and on a poll timer — every
 *   LIMIT_CONSUMER_INTEREST_POLL_NS while nobody listens (so a late subscriber is served
 *   within that), every LIMIT_CONSUMER_BOUND_POLL_NS while bound (to notice a departure for
 *   inactive_threshold). An ephemeral push consumer is deleted after inactive_threshold
 *   without interest.
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
 * RATE LIMIT
 *   rate_limit_bps spaces sends so that bytes*8 per second stays under the limit: after each
 *   send the next may go at (previous + bytes*8/bps); a timer resumes the pass.
 */
#include <string.h>

#include "consumer_int.h"
#include "limits.h"

static bool is_push(Consumer *c) { return c->cfg->deliver_subject != NULL; }

static void poll_fired(void *arg);
static void hb_fired(void *arg);

static void arm_poll(Consumer *c) {
    env_timer_cancel(c->env, c->poll_timer);
    c->poll_timer = env_timer_add(c->env, c->bound ? LIMIT_CONSUMER_BOUND_POLL_NS : LIMIT_CONSUMER_INTEREST_POLL_NS,
                                  poll_fired, c);
}

static void arm_hb(Consumer *c) {
    env_timer_cancel(c->env, c->hb_timer);
    c->hb_timer = 0;
    if (is_push(c) && c->cfg->idle_heartbeat_ns > 0)
        c->hb_timer = env_timer_add(c->env, c->cfg->idle_heartbeat_ns, hb_fired, c);
}

/* Look at the deliver subject's interest now; returns it. */
static bool check_interest(Consumer *c) {
    bool now_bound = server_has_interest(c->srv, c->cfg->deliver_subject);
    if (now_bound && !c->bound) consumer_kick(c);
    if (!now_bound && c->bound) c->unbound_since_ns = consumer_now(c);
    c->bound = now_bound;
    return now_bound;
}

static void poll_fired(void *arg) {
    Consumer *c = arg;
    c->poll_timer = 0;
    bool was = c->bound;
    check_interest(c);
    int64_t limit = c->cfg->inactive_threshold_ns;
    if (!c->bound && limit > 0 && consumer_now(c) - c->unbound_since_ns >= limit) {
        env_log(c->env, ENV_LOG_DEBUG, "consumer %s > %s inactive: deleted", stream_name(c->st), c->name);
        consumer_set_delete(c->set, c); /* frees c */
        return;
    }
    if (was != c->bound || c->poll_timer == 0) arm_poll(c);
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
    c->bound = server_has_interest(c->srv, c->cfg->deliver_subject);
    c->unbound_since_ns = consumer_now(c);
    c->fc_window = LIMIT_CONSUMER_FC_WINDOW_BYTES;
    if (c->cfg->flow_control) {
        g_autofree char *fc = g_strdup_printf("$JS.FC.%s.%s.*", stream_name(c->st), c->name);
        c->fc_sub = server_subscribe_internal(c->srv, fc, NULL, on_fc_reply, c);
    }
    arm_poll(c);
    arm_hb(c);
}

void consumer_push_init(Consumer *c) { start(c); }

void consumer_push_stop(Consumer *c) {
    env_timer_cancel(c->env, c->poll_timer);
    env_timer_cancel(c->env, c->hb_timer);
    env_timer_cancel(c->env, c->rate_timer);
    c->poll_timer = c->hb_timer = c->rate_timer = 0;
    server_unsubscribe_internal(c->srv, c->fc_sub);
    c->fc_sub = NULL;
    g_clear_pointer(&c->fc_subject, g_free);
}

void consumer_push_reconfigured(Consumer *c, const ConsumerConfig *old) {
    consumer_push_stop(c);
    start(c);
}

bool consumer_push_bound(Consumer *c) { return is_push(c) && check_interest(c); }

bool consumer_push_ready(Consumer *c) {
    if (!c->bound && !check_interest(c)) return false;
    if (c->fc_subject != NULL && c->fc_bytes >= c->fc_window) return false; /* stalled on FC */
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
        g_assert_cmpuint(c->poll_timer, ==, 0);
        g_assert_cmpuint(c->hb_timer, ==, 0);
        return;
    }
    g_assert_cmpuint(c->poll_timer, !=, 0);
    if (c->cfg->idle_heartbeat_ns > 0) g_assert_cmpuint(c->hb_timer, !=, 0);
    g_assert_true((c->fc_sub != NULL) == c->cfg->flow_control);
    if (c->fc_subject == NULL) g_assert_cmpuint(c->fc_sent_bytes, ==, 0);
    g_assert_cmpuint(c->fc_window, <=, LIMIT_CONSUMER_FC_WINDOW_MAX_BYTES);
}
