/* loadgen.c — minijet-bench: the load generator behind `make bench`.
 *
 * THE ONE IDEA
 *   Measure the server, not the client. Where a client library would itself be the
 *   bottleneck (millions of 16-byte messages a second) we talk the NATS protocol over raw
 *   sockets: the publisher writes a ring of pre-built `PUB bench.s 16\r\n<16 bytes>\r\n`
 *   frames with writev() in 256 KiB slices, the subscribers read 1 MiB at a time and count
 *   MSG frames with a memchr() scanner that never copies a payload. Where the library is the
 *   natural tool (a request's round trip, JetStream's publish acks and pull fetches) we use
 *   libnats, because that is what an application would measure.
 *
 * INTERFACE
 *   minijet-bench [-h host] [-p port] [-l label] [-d seconds] [-T seconds] [-z bytes]
 *                 [-w window] [-n count] [-S subs] [-H] [-v]
 *                 SCENARIO
 *   Scenarios: ping pub pubsub fanout queue reqrep  (core NATS)
 *              jspub jspubasync pull push kvput kvget (JetStream; need a JetStream server)
 *              fsync-append fsync-prealloc (no server: the disk's own fdatasync rate in the
 *              folder -D DIR, the ceiling of a publish with fsync before its ack)
 *              jsgrow jsconsumers idle jsready jsmany jsmanyready (bench/scaling.sh; their
 *              own output lines,
 *              described where each is defined); -S N holds N non-matching subscriptions
 *              during pub/pubsub/fanout/queue (the subscription-count scaling figure)
 *   One line on stdout per run:
 *     scenario,server,msgs_per_s,MB_per_s,p50_us,p90_us,p99_us,p999_us,max_us
 *   (-H prints that header first; empty fields where a figure does not apply; MB = 10^6
 *   payload bytes). On any failure: exit status 1 and one line on stderr,
 *     FAIL scenario server: reason
 *   never a hang: every wait is bounded by -T (default 5 x duration + 10 s).
 *
 * WHAT EACH THROUGHPUT FIGURE MEANS
 *   pub     messages the server accepted per second: the clock stops when the PONG that
 *           follows the last PUB comes back (so everything was parsed and matched).
 *   pubsub  messages received per second at the one subscriber, first PUB to last MSG.
 *   fanout  deliveries per second summed over the 4 subscribers (4 per published message).
 *   queue   deliveries per second to a queue group of 4 (1 per published message).
 *   reqrep  round trips per second of one requester; latencies are per round trip.
 *   jspub / jspubasync  acknowledged JetStream publishes per second (sync: latency per ack;
 *           async: up to 4,000 in flight, the clock stops at the last ack).
 *   jspub-r3 / jspubasync-r3  the same on an R3 stream of a three-node cluster (-c P1,P2,P3,
 *           nodes named n1, n2, n3 in that order): the client connects to the stream
 *           leader's node, as an application near its stream would, so the figure is the
 *           replicated write path (leader, quorum, ack) and not an extra route hop.
 *   pull / push  messages consumed and acked per second from a pre-filled stream.
 *   kvput / kvget  KV operations per second over 1,000 keys; latency per operation.
 *   fsync-append / fsync-prealloc  the disk alone: write the bytes minijet writes for one
 *           128 B publish (its MSG record and the LAST record, 36 + 8 + 128 + 36 = 208 B) and
 *           fdatasync, repeated for -d seconds, in a file in -D DIR; per second, latency per
 *           fdatasync. append: at the end of a growing file (what every write was before
 *           store_file.c's PREALLOCATION); prealloc: into a file preallocated as minijet
 *           preallocates (fallocate, then zeros written and synced once, as env_real.c's
 *           real_file_allocate). prealloc is the ceiling of a sync publish on this disk.
 *           A second thread spins meanwhile (fsync_spin says why: an idle vCPU's slow wake-up).
 *   The publisher never runs more than -w messages ahead of the slowest subscriber, so a
 *   fast publisher measures the server's delivery rate instead of filling its 64 MiB
 *   outbound buffer and being cut off as a slow consumer (both servers share that limit).
 *
 * INVARIANTS
 *   - A run counts as done only when every expected message arrived; then each subscriber
 *     does a PING/PONG round trip and its count is checked again (no duplicates, no extras).
 *   - The publisher only ever stops between frames: a PONG we owe the server is written at a
 *     frame boundary, never inside a PUB.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#define IN_BUF_BYTES (1024 * 1024)  /* one read() per MiB of MSG frames */
#define RING_BYTES (256 * 1024)     /* the publisher's ring of pre-built PUB frames */
#define CTRL_BYTES 256              /* PING/PONG waiting for a frame boundary */
#define MAX_LINE_BYTES 4096         /* a control line longer than this is a protocol error */
#define MAX_SUBS 16
#define MAX_SAMPLES (4 * 1024 * 1024) /* latency samples kept per run */

/* ------------------------------------------------------------------ options, output */

typedef struct {
    const char *host;
    int port;
    const char *label;
    double duration_s;
    double timeout_s;
    int size;      /* payload bytes; 0 = the scenario's default */
    long window;   /* max messages the publisher may run ahead of the slowest subscriber */
    long count;    /* messages for count-bound scenarios (pull) */
    long first;    /* jsmany: the first stream's number (-o) */
    long noise;    /* -S: non-matching subscriptions held during pub/pubsub (scaling) */
    int nports;    /* -c p1,p2,...: client ports of a cluster's nodes (pubsub-route, queue-route) */
    int ports[8];
    int append;    /* -A: jsgrow appends to an existing stream BENCH instead of a fresh one */
    int replicas;  /* jspub-r3 / jspubasync-r3: the stream's num_replicas (1 otherwise) */
    const char *dir; /* -D: the folder of fsync-append / fsync-prealloc's file */
    int header;
    int msg_ids;   /* -I: jsgrow sends a Nats-Msg-Id with every message (a header on each) */
    int verbose;
} Opts;

static Opts opt = {
    .host = "127.0.0.1", .port = 4222, .label = "server", .duration_s = 2.0,
    .timeout_s = 0, .size = 0, .window = 200000, .count = 0, .replicas = 1,
};
static const char *scenario = "?";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fprintf(stderr, "FAIL %s %s: %s\n", scenario, opt.label, msg);
    exit(1);
}

static void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vlog(const char *fmt, ...)
{
    if (!opt.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  [%s %s] ", scenario, opt.label);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples (q in [0,1]). */
static double pct(const double *v, size_t n, double q)
{
    size_t k = (size_t)(q * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

/* The one output line. lat/nlat may be NULL/0 for throughput-only scenarios. */
static void report(double msgs_per_s, int payload_bytes, double *lat, size_t nlat)
{
    if (opt.header)
        printf("scenario,server,msgs_per_s,MB_per_s,p50_us,p90_us,p99_us,p999_us,max_us\n");
    printf("%s,%s,%.0f,%.2f", scenario, opt.label, msgs_per_s,
           msgs_per_s * payload_bytes / 1e6);
    if (nlat > 0) {
        qsort(lat, nlat, sizeof *lat, cmp_double);
        printf(",%.1f,%.1f,%.1f,%.1f,%.1f\n", pct(lat, nlat, 0.50), pct(lat, nlat, 0.90),
               pct(lat, nlat, 0.99), pct(lat, nlat, 0.999), lat[nlat - 1]);
    } else {
        printf(",,,,,\n");
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------ raw connections */

typedef struct RawConn RawConn;
/* Called for each MSG when a handler is set: the control line (no CRLF) and the payload. */
typedef void (*MsgFn)(RawConn *rc, const char *line, size_t line_len, const char *payload,
                      size_t size);

struct RawConn {
    int fd;
    char *in;           /* bytes read, not yet scanned */
    size_t in_len;
    size_t skip;        /* payload bytes (+ CRLF) of the current MSG still to skip */
    uint64_t msgs;      /* MSG/HMSG frames seen */
    uint64_t pongs;     /* PONGs seen */
    char ctrl[CTRL_BYTES]; /* PONG/PING owed to the server, written between frames */
    size_t ctrl_len;
    int dead;           /* closed or -ERR: err says why */
    char err[200];
    MsgFn on_msg;       /* NULL: count only (the fast path) */
    char *out;          /* replies queued by on_msg (the responder) */
    size_t out_len, out_cap;
};

static void ctrl_queue(RawConn *rc, const char *s)
{
    size_t n = strlen(s);
    if (rc->ctrl_len + n > sizeof rc->ctrl)
        fail("too many control lines queued (server PINGs we cannot answer?)");
    memcpy(rc->ctrl + rc->ctrl_len, s, n);
    rc->ctrl_len += n;
}

/* Write queued PING/PONG bytes; 1 when none are left. Only call between PUB frames. */
static int ctrl_flush(RawConn *rc)
{
    while (rc->ctrl_len > 0) {
        ssize_t n = write(rc->fd, rc->ctrl, rc->ctrl_len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            snprintf(rc->err, sizeof rc->err, "write: %s", strerror(errno));
            rc->dead = 1;
            return 0;
        }
        memmove(rc->ctrl, rc->ctrl + n, rc->ctrl_len - (size_t)n);
        rc->ctrl_len -= (size_t)n;
    }
    return 1;
}

/* The value of the last token of a control line (MSG's or HMSG's total size). */
static size_t trailing_number(const char *start, const char *end)
{
    size_t v = 0, mul = 1;
    while (end > start && end[-1] >= '0' && end[-1] <= '9') {
        v += (size_t)(end[-1] - '0') * mul;
        mul *= 10;
        end--;
    }
    return v;
}

/* Scan what is buffered. HOW IT WORKS: memchr finds the end of a control line; a MSG's size
 * is the line's last token, so we read it backwards and then jump over the payload without
 * looking at it (the `skip` counter carries a jump across read() boundaries). Only the tail
 * of an incomplete control line is kept (memmove to the front), never a payload. */
static void raw_scan(RawConn *rc)
{
    char *p = rc->in, *end = rc->in + rc->in_len;
    while (p < end) {
        if (rc->skip > 0) {
            size_t k = (size_t)(end - p) < rc->skip ? (size_t)(end - p) : rc->skip;
            p += k;
            rc->skip -= k;
            continue;
        }
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL) {
            if (end - p > MAX_LINE_BYTES) {
                snprintf(rc->err, sizeof rc->err, "control line longer than %d bytes",
                         MAX_LINE_BYTES);
                rc->dead = 1;
                return;
            }
            break;
        }
        const char *le = (nl > p && nl[-1] == '\r') ? nl - 1 : nl;
        switch (p[0]) {
        case 'M': case 'm': case 'H': case 'h': {
            size_t size = trailing_number(p, le);
            if (rc->on_msg != NULL) {
                if ((size_t)(end - (nl + 1)) < size + 2)
                    goto need_more; /* the handler wants the whole payload */
                rc->msgs++;
                rc->on_msg(rc, p, (size_t)(le - p), nl + 1, size);
                p = nl + 1 + size + 2;
                continue;
            }
            rc->msgs++;
            rc->skip = size + 2;
            break;
        }
        case 'P': case 'p':
            if (nl - p >= 2 && (p[1] == 'I' || p[1] == 'i'))
                ctrl_queue(rc, "PONG\r\n");
            else
                rc->pongs++;
            break;
        case '-':
            snprintf(rc->err, sizeof rc->err, "server said: %.*s", (int)(le - p), p);
            rc->dead = 1;
            return;
        case '+': /* +OK: we ask for verbose=false, but tolerate it */
        case 'I': /* async INFO (cluster changes, lame duck) */
            break;
        default:
            snprintf(rc->err, sizeof rc->err, "unexpected line: %.*s", (int)(le - p > 60 ? 60 : le - p), p);
            rc->dead = 1;
            return;
        }
        p = nl + 1;
    }
need_more:
    rc->in_len = (size_t)(end - p);
    if (rc->in_len > 0 && p != rc->in)
        memmove(rc->in, p, rc->in_len);
}

/* One read() and a scan. Returns bytes read (0 when nothing was ready). */
static ssize_t raw_read(RawConn *rc)
{
    ssize_t n = read(rc->fd, rc->in + rc->in_len, IN_BUF_BYTES - rc->in_len);
    if (n == 0) {
        snprintf(rc->err, sizeof rc->err, "server closed the connection");
        rc->dead = 1;
        return 0;
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        snprintf(rc->err, sizeof rc->err, "read: %s", strerror(errno));
        rc->dead = 1;
        return 0;
    }
    rc->in_len += (size_t)n;
    raw_scan(rc);
    return n;
}

static void write_all(int fd, const char *s, size_t n, double deadline)
{
    while (n > 0) {
        ssize_t k = write(fd, s, n);
        if (k < 0) {
            if (errno != EAGAIN && errno != EINTR)
                fail("write: %s", strerror(errno));
            if (now_s() > deadline)
                fail("write timed out");
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            poll(&pf, 1, 50);
            continue;
        }
        s += k;
        n -= (size_t)k;
    }
}

/* Wait (bounded) until the server answered the PING we just sent. */
static void raw_wait_pong(RawConn *rc, uint64_t pongs_before, double deadline)
{
    while (rc->pongs == pongs_before) {
        if (rc->dead)
            fail("%s", rc->err);
        double left = deadline - now_s();
        if (left <= 0)
            fail("no PONG from the server");
        struct pollfd pf = {.fd = rc->fd, .events = POLLIN};
        if (poll(&pf, 1, (int)(left * 1000) + 1) > 0)
            raw_read(rc);
        if (rc->ctrl_len > 0)
            ctrl_flush(rc);
    }
}

/* Connect, read INFO, send CONNECT (+ `extra`, e.g. SUB lines) and PING, wait for PONG: when
 * this returns, the server has processed the subscriptions. The socket is left nonblocking. */
static RawConn *raw_connect_port(const char *extra, double deadline, int port)
{
    RawConn *rc = calloc(1, sizeof *rc);
    rc->in = malloc(IN_BUF_BYTES);
    if (rc == NULL || rc->in == NULL)
        fail("out of memory");
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
    int gai = getaddrinfo(opt.host, portstr, &hints, &ai);
    if (gai != 0)
        fail("resolve %s: %s", opt.host, gai_strerror(gai));
    rc->fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (rc->fd < 0 || connect(rc->fd, ai->ai_addr, ai->ai_addrlen) < 0)
        fail("connect %s:%d: %s", opt.host, port, strerror(errno));
    freeaddrinfo(ai);
    int one = 1;
    setsockopt(rc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(rc->fd, F_SETFL, fcntl(rc->fd, F_GETFL) | O_NONBLOCK);

    /* INFO first: wait for one complete line. */
    while (memchr(rc->in, '\n', rc->in_len) == NULL) {
        double left = deadline - now_s();
        if (left <= 0)
            fail("no INFO from the server");
        struct pollfd pf = {.fd = rc->fd, .events = POLLIN};
        if (poll(&pf, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        ssize_t n = read(rc->fd, rc->in + rc->in_len, IN_BUF_BYTES - rc->in_len);
        if (n == 0)
            fail("server closed the connection before INFO");
        if (n > 0)
            rc->in_len += (size_t)n;
    }
    if (strncmp(rc->in, "INFO", 4) != 0)
        fail("expected INFO, got: %.40s", rc->in);
    raw_scan(rc); /* consumes the INFO line */

    char hello[1024];
    int n = snprintf(hello, sizeof hello,
                     "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,"
                     "\"name\":\"minijet-bench\",\"lang\":\"c-raw\",\"version\":\"1.0\","
                     "\"protocol\":1,\"echo\":true,\"headers\":false,\"no_responders\":false}"
                     "\r\n%sPING\r\n", extra ? extra : "");
    write_all(rc->fd, hello, (size_t)n, deadline);
    raw_wait_pong(rc, 0, deadline);
    return rc;
}

static RawConn *raw_connect(const char *extra, double deadline)
{
    return raw_connect_port(extra, deadline, opt.port);
}

static void raw_close(RawConn *rc)
{
    close(rc->fd);
    free(rc->in);
    free(rc->out);
    free(rc);
}

/* ------------------------------------------------------------------ publisher */

/* A ring of identical PUB frames; `sent_bytes` says how far into the endless stream of
 * frames we are, so partial writes need no bookkeeping beyond one counter. */
typedef struct {
    char *ring;
    size_t ring_bytes;  /* a multiple of frame_bytes */
    size_t frame_bytes;
    uint64_t sent_bytes;
} PubRing;

static void ring_init(PubRing *pr, const char *subject, int size)
{
    char head[256];
    int hn = snprintf(head, sizeof head, "PUB %s %d\r\n", subject, size);
    pr->frame_bytes = (size_t)hn + (size_t)size + 2;
    size_t frames = RING_BYTES / pr->frame_bytes;
    if (frames < 1)
        frames = 1;
    pr->ring_bytes = frames * pr->frame_bytes;
    pr->ring = malloc(pr->ring_bytes);
    if (pr->ring == NULL)
        fail("out of memory");
    for (size_t i = 0; i < frames; i++) {
        char *f = pr->ring + i * pr->frame_bytes;
        memcpy(f, head, (size_t)hn);
        for (int j = 0; j < size; j++)
            f[hn + j] = (char)('a' + (j % 26));
        memcpy(f + hn + size, "\r\n", 2);
    }
    pr->sent_bytes = 0;
}

static uint64_t ring_frames_started(const PubRing *pr)
{
    return (pr->sent_bytes + pr->frame_bytes - 1) / pr->frame_bytes;
}

/* Write frames until `limit_frames` are out or the socket is full; 1 if it wrote anything. */
static int ring_write(PubRing *pr, RawConn *rc, uint64_t limit_frames)
{
    uint64_t limit = limit_frames * pr->frame_bytes;
    if (pr->sent_bytes >= limit)
        return 0;
    /* Owed PONGs go out first, but only between frames. */
    if (rc->ctrl_len > 0 && pr->sent_bytes % pr->frame_bytes == 0 && !ctrl_flush(rc))
        return 0;
    uint64_t want = limit - pr->sent_bytes;
    size_t off = (size_t)(pr->sent_bytes % pr->ring_bytes);
    struct iovec iov[2];
    size_t a = pr->ring_bytes - off;
    if (a > want)
        a = (size_t)want;
    iov[0].iov_base = pr->ring + off;
    iov[0].iov_len = a;
    size_t b = off;  /* wrap around to the ring's start, up to where we began */
    if (b > want - a)
        b = (size_t)(want - a);
    iov[1].iov_base = pr->ring;
    iov[1].iov_len = b;
    ssize_t n = writev(rc->fd, iov, b > 0 ? 2 : 1);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        fail("publish: %s", strerror(errno));
    }
    pr->sent_bytes += (uint64_t)n;
    return n > 0;
}

/* ------------------------------------------------------------------ pub / pubsub / fanout / queue */

typedef enum { FAN_NONE, FAN_ALL, FAN_QUEUE } FanKind;

static RawConn *noise_subscribe(long n, double deadline); /* -S, see "scaling" below */

/* One publisher, `nsubs` subscribers on the same subject (all get everything, or a queue
 * group shares it). Publish for the duration, then wait for every delivery. */
static void run_throughput(int nsubs, FanKind kind, int size)
{
    double t_start = now_s();
    double deadline = t_start + opt.timeout_s;
    const char *subject = "bench.s";
    RawConn *subs[MAX_SUBS];
    /* -c (a cluster): the publisher on the first node; one subscriber on the second, or the
     * queue members spread over all nodes. Each subscriber also takes one probe message
     * (UNSUB after 1) on a subject of its own, subscribed after the real one: when the probe
     * arrives, the publisher's server has learned the subscriber's interest (routes keep
     * the order of RS+), so no message is published before every server can route it. */
    int route = opt.nports > 0;
    for (int i = 0; i < nsubs; i++) {
        char sub[256];
        int n = kind == FAN_QUEUE ? snprintf(sub, sizeof sub, "SUB %s bench.q 1\r\n", subject)
                                  : snprintf(sub, sizeof sub, "SUB %s 1\r\n", subject);
        if (route) snprintf(sub + n, sizeof sub - (size_t)n, "SUB bench.probe.%d 2\r\nUNSUB 2 1\r\n", i);
        int port = !route ? opt.port
                   : kind == FAN_QUEUE ? opt.ports[i % opt.nports] : opt.ports[(i + 1) % opt.nports];
        subs[i] = raw_connect_port(sub, deadline, port);
    }
    RawConn *noise = noise_subscribe(opt.noise, deadline); /* -S, for bench/scaling.sh */
    RawConn *pub = raw_connect_port(NULL, deadline, route ? opt.ports[0] : opt.port);
    for (int i = 0; route && i < nsubs; i++) {
        while (subs[i]->msgs == 0) {
            if (now_s() > deadline) fail("subscriber %d: its interest never reached the publisher's server", i);
            char probe[64];
            int n = snprintf(probe, sizeof probe, "PUB bench.probe.%d 0\r\n\r\nPING\r\n", i);
            uint64_t before = pub->pongs;
            write_all(pub->fd, probe, (size_t)n, deadline);
            raw_wait_pong(pub, before, deadline);
            struct pollfd pf = {.fd = subs[i]->fd, .events = POLLIN};
            if (poll(&pf, 1, 20) > 0) raw_read(subs[i]);
        }
        subs[i]->msgs = 0; /* exactly one probe: the server unsubscribed sid 2 after it */
    }
    PubRing pr;
    ring_init(&pr, subject, size);

    struct pollfd pfd[MAX_SUBS + 1];
    uint64_t stop_frames = UINT64_MAX; /* set when the duration is over */
    double t0 = now_s(), t_end = 0;
    uint64_t pongs_at_stop = 0;
    int ping_sent = 0;

    for (;;) {
        double t = now_s();
        if (t > deadline) {
            uint64_t got = 0;
            for (int i = 0; i < nsubs; i++)
                got += subs[i]->msgs;
            fail("timed out: published %llu, delivered %llu",
                 (unsigned long long)ring_frames_started(&pr), (unsigned long long)got);
        }
        if (stop_frames == UINT64_MAX && t - t0 >= opt.duration_s)
            stop_frames = ring_frames_started(&pr); /* finish the frame in flight, then stop */

        /* How far the slowest subscriber is behind decides how much we may send. */
        uint64_t delivered = 0, slowest = UINT64_MAX;
        for (int i = 0; i < nsubs; i++) {
            if (subs[i]->dead)
                fail("subscriber %d: %s", i, subs[i]->err);
            delivered += subs[i]->msgs;
            if (subs[i]->msgs < slowest)
                slowest = subs[i]->msgs;
        }
        if (pub->dead)
            fail("publisher: %s", pub->err);
        uint64_t progress = kind == FAN_QUEUE ? delivered : slowest; /* per published msg */
        uint64_t limit = nsubs == 0 ? UINT64_MAX / pr.frame_bytes : progress + (uint64_t)opt.window;
        if (limit > stop_frames)
            limit = stop_frames;

        uint64_t sent_frames = pr.sent_bytes / pr.frame_bytes;
        int publishing_done = stop_frames != UINT64_MAX && pr.sent_bytes == stop_frames * pr.frame_bytes;
        if (publishing_done) {
            if (nsubs == 0) {
                /* publish-only: done when the PONG after the last PUB comes back */
                if (!ping_sent) {
                    pongs_at_stop = pub->pongs;
                    ctrl_queue(pub, "PING\r\n");
                    ping_sent = 1;
                }
                if (pub->pongs > pongs_at_stop) {
                    t_end = now_s();
                    break;
                }
            } else {
                uint64_t expect = stop_frames;
                int all = kind == FAN_QUEUE ? delivered >= expect : slowest >= expect;
                if (all) {
                    t_end = now_s();
                    break;
                }
            }
        }
        if (pub->ctrl_len > 0 && pr.sent_bytes % pr.frame_bytes == 0)
            ctrl_flush(pub);

        /* Try to write without polling first; poll only when there is nothing to do. */
        int can_write = sent_frames < limit || pr.sent_bytes % pr.frame_bytes != 0;
        int did = 0;
        if (can_write)
            did = ring_write(&pr, pub, limit);
        int n = 0;
        pfd[n].fd = pub->fd;
        pfd[n].events = POLLIN | ((can_write || pub->ctrl_len) ? POLLOUT : 0);
        n++;
        for (int i = 0; i < nsubs; i++) {
            pfd[n].fd = subs[i]->fd;
            pfd[n].events = POLLIN;
            n++;
        }
        int ready = poll(pfd, (nfds_t)n, did ? 0 : 10);
        if (ready <= 0)
            continue;
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
            raw_read(pub);
        for (int i = 0; i < nsubs; i++) {
            if (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) {
                /* Drain: a few reads per turn keeps the kernel buffers from filling. */
                for (int k = 0; k < 4 && raw_read(subs[i]) == IN_BUF_BYTES; k++)
                    ;
                if (subs[i]->ctrl_len > 0)
                    ctrl_flush(subs[i]);
            }
        }
    }

    uint64_t published = stop_frames;
    uint64_t delivered = 0;
    for (int i = 0; i < nsubs; i++) {
        /* A PING/PONG round trip per subscriber: anything still queued for it arrives
         * first, so a duplicate or stray delivery would show up in the count. */
        uint64_t before = subs[i]->pongs;
        ctrl_queue(subs[i], "PING\r\n");
        ctrl_flush(subs[i]);
        raw_wait_pong(subs[i], before, deadline);
        delivered += subs[i]->msgs;
        uint64_t want = kind == FAN_QUEUE ? 0 : published;
        if (kind != FAN_QUEUE && subs[i]->msgs != want)
            fail("subscriber %d got %llu messages, expected %llu", i,
                 (unsigned long long)subs[i]->msgs, (unsigned long long)want);
        vlog("subscriber %d: %llu messages", i, (unsigned long long)subs[i]->msgs);
    }
    if (kind == FAN_QUEUE && delivered != published)
        fail("queue group got %llu messages, expected %llu", (unsigned long long)delivered,
             (unsigned long long)published);
    double secs = t_end - t0;
    uint64_t counted = nsubs == 0 ? published : delivered;
    vlog("published %llu in %.3f s, counted %llu", (unsigned long long)published, secs,
         (unsigned long long)counted);
    report((double)counted / secs, size, NULL, 0);
    for (int i = 0; i < nsubs; i++)
        raw_close(subs[i]);
    raw_close(pub);
    if (noise != NULL)
        raw_close(noise);
    free(pr.ring);
}

/* ------------------------------------------------------------------ request/reply */

/* The responder is a raw connection on its own thread: it answers each request with the
 * same payload, so the round trip measures the server twice and the responder barely. */
typedef struct {
    RawConn *rc;
    volatile int stop;
    char err[256];
} Responder;

static void responder_on_msg(RawConn *rc, const char *line, size_t line_len,
                             const char *payload, size_t size)
{
    /* MSG <subject> <sid> <reply> <size>: the reply is the fourth token. */
    const char *tok[6];
    size_t tlen[6];
    int nt = 0;
    const char *p = line, *e = line + line_len;
    while (p < e && nt < 6) {
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        if (p >= e)
            break;
        tok[nt] = p;
        while (p < e && *p != ' ' && *p != '\t')
            p++;
        tlen[nt] = (size_t)(p - tok[nt]);
        nt++;
    }
    if (nt != 5)
        return; /* no reply subject: nothing to answer */
    size_t need = rc->out_len + tlen[3] + size + 64;
    if (need > rc->out_cap) {
        rc->out_cap = need * 2;
        rc->out = realloc(rc->out, rc->out_cap);
        if (rc->out == NULL)
            fail("out of memory");
    }
    rc->out_len += (size_t)sprintf(rc->out + rc->out_len, "PUB %.*s %zu\r\n", (int)tlen[3],
                                   tok[3], size);
    memcpy(rc->out + rc->out_len, payload, size);
    rc->out_len += size;
    memcpy(rc->out + rc->out_len, "\r\n", 2);
    rc->out_len += 2;
}

static void *responder_main(void *arg)
{
    Responder *r = arg;
    RawConn *rc = r->rc;
    while (!r->stop) {
        struct pollfd pf = {.fd = rc->fd, .events = POLLIN};
        if (poll(&pf, 1, 50) <= 0)
            continue;
        raw_read(rc);
        if (rc->dead) {
            snprintf(r->err, sizeof r->err, "responder: %s", rc->err);
            return NULL;
        }
        if (rc->ctrl_len > 0)
            ctrl_flush(rc); /* the responder writes whole frames only, so any time is fine */
        if (rc->out_len > 0) {
            write_all(rc->fd, rc->out, rc->out_len, now_s() + 5);
            rc->out_len = 0;
        }
    }
    return NULL;
}

static natsConnection *lib_connect(void)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    char url[256];
    snprintf(url, sizeof url, "nats://%s:%d", opt.host, opt.port);
    if (natsOptions_Create(&o) != NATS_OK || natsOptions_SetURL(o, url) != NATS_OK ||
        natsOptions_SetTimeout(o, 5000) != NATS_OK ||
        natsOptions_SetAllowReconnect(o, false) != NATS_OK)
        fail("natsOptions: %s", nats_GetLastError(NULL));
    natsStatus s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK)
        fail("connect %s: %s", url, natsStatus_GetText(s));
    return nc;
}

static void run_reqrep(int size)
{
    double deadline = now_s() + opt.timeout_s;
    Responder r = {.rc = raw_connect("SUB bench.req 1\r\n", deadline)};
    r.rc->on_msg = responder_on_msg;
    pthread_t th;
    if (pthread_create(&th, NULL, responder_main, &r) != 0)
        fail("pthread_create");
    natsConnection *nc = lib_connect();
    char *payload = malloc((size_t)size);
    memset(payload, 'r', (size_t)size);
    double *lat = malloc(sizeof(double) * MAX_SAMPLES);
    if (payload == NULL || lat == NULL)
        fail("out of memory");
    size_t n = 0;
    double warm_end = now_s() + (opt.duration_s > 1 ? 0.25 : opt.duration_s / 10);
    double t0 = 0, t_end = 0;
    int warming = 1;
    for (;;) {
        double a = now_s();
        if (warming && a >= warm_end) {
            warming = 0;
            t0 = a;
        }
        if (!warming && (a - t0 >= opt.duration_s || n == MAX_SAMPLES)) {
            t_end = a;
            break;
        }
        if (a > deadline)
            fail("timed out after %zu requests", n);
        natsMsg *reply = NULL;
        natsStatus s = natsConnection_Request(&reply, nc, "bench.req", payload, size, 2000);
        double b = now_s();
        if (s != NATS_OK)
            fail("request %zu: %s %s", n, natsStatus_GetText(s), r.err);
        if (natsMsg_GetDataLength(reply) != size)
            fail("reply of %d bytes, expected %d", natsMsg_GetDataLength(reply), size);
        natsMsg_Destroy(reply);
        if (!warming)
            lat[n++] = (b - a) * 1e6;
    }
    r.stop = 1;
    pthread_join(th, NULL);
    if (r.err[0])
        fail("%s", r.err);
    natsConnection_Destroy(nc);
    report((double)n / (t_end - t0), size, lat, n);
    raw_close(r.rc);
    free(lat);
    free(payload);
}

/* ------------------------------------------------------------------ JetStream (libnats) */

#define JS_STREAM "BENCH"
#define JS_SUBJECT "bench.js"

/* Connection to the node a server name ("n2") stands for in the -c list; NULL if it is none. */
static natsConnection *lib_connect_node(const char *name)
{
    int k = (name != NULL && name[0] == 'n') ? atoi(name + 1) : 0;
    if (k < 1 || k > opt.nports)
        return NULL;
    int saved = opt.port;
    opt.port = opt.ports[k - 1];
    natsConnection *nc = lib_connect();
    opt.port = saved;
    return nc;
}

static uint64_t js_first_seq; /* messages in the fresh stream before the run (a replicated warm-up) */

/* A fresh file-backed stream for one run (an old one of the same name is deleted first).
 * Replicated (opt.replicas > 1): *ncp moves to the stream leader's node (callers hold no
 * other context on it yet), and one message is published, retried until the new Raft group
 * takes it, before the clock starts: js_first_seq says so. */
static jsCtx *js_fresh_stream(natsConnection **ncp)
{
    natsConnection *nc = *ncp;
    jsCtx *js = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    jo.PublishAsync.MaxPending = 4000;
    if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
        fail("JetStream context: %s", nats_GetLastError(NULL));
    jsErrCode jerr = 0;
    js_DeleteStream(js, JS_STREAM, NULL, &jerr); /* absent is fine */
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = JS_STREAM;
    const char *subjects[] = {JS_SUBJECT};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = opt.replicas;
    jsStreamInfo *si = NULL;
    natsStatus s = js_AddStream(&si, js, &cfg, NULL, &jerr);
    /* a fresh cluster answers once its meta group has a leader: retry for up to 20 s */
    for (double until = now_s() + 20; s != NATS_OK && opt.replicas > 1 && now_s() < until;) {
        usleep(100000);
        s = js_AddStream(&si, js, &cfg, NULL, &jerr);
    }
    if (s != NATS_OK)
        fail("add stream: %s (err_code %d) %s", natsStatus_GetText(s), (int)jerr,
             nats_GetLastError(NULL));
    js_first_seq = 0;
    if (opt.replicas <= 1) {
        jsStreamInfo_Destroy(si);
        return js;
    }
    double deadline = now_s() + 10;
    while (si == NULL || si->Cluster == NULL || si->Cluster->Leader == NULL || si->Cluster->Leader[0] == 0) {
        jsStreamInfo_Destroy(si);
        si = NULL;
        if (now_s() > deadline)
            fail("the R%d stream has no leader after 10 s", opt.replicas);
        usleep(20000);
        js_GetStreamInfo(&si, js, JS_STREAM, NULL, &jerr);
    }
    natsConnection *near = lib_connect_node(si->Cluster->Leader);
    if (near == NULL)
        fail("stream leader %s is not one of the -c nodes n1..n%d", si->Cluster->Leader, opt.nports);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    *ncp = nc = near;
    if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
        fail("JetStream context: %s", nats_GetLastError(NULL));
    for (;;) {
        jsPubAck *pa = NULL;
        if (js_Publish(&pa, js, JS_SUBJECT, "warm", 4, NULL, &jerr) == NATS_OK) {
            js_first_seq = pa->Sequence;
            jsPubAck_Destroy(pa);
            return js;
        }
        if (now_s() > deadline)
            fail("the R%d stream took no publish within 10 s (err_code %d)", opt.replicas, (int)jerr);
        usleep(20000);
    }
}

static void js_cleanup(jsCtx *js, natsConnection *nc)
{
    jsErrCode jerr = 0;
    js_DeleteStream(js, JS_STREAM, NULL, &jerr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* Synchronous publish: one message, wait for its ack, repeat. Latency per ack. */
static void run_jspub(int size)
{
    double deadline = now_s() + opt.timeout_s;
    natsConnection *nc = lib_connect();
    jsCtx *js = js_fresh_stream(&nc);
    char *payload = malloc((size_t)size);
    double *lat = malloc(sizeof(double) * MAX_SAMPLES);
    if (payload == NULL || lat == NULL)
        fail("out of memory");
    memset(payload, 'j', (size_t)size);
    size_t n = 0;
    double t0 = now_s(), t_end;
    for (;;) {
        double a = now_s();
        if (a - t0 >= opt.duration_s || n == MAX_SAMPLES) {
            t_end = a;
            break;
        }
        if (a > deadline)
            fail("timed out after %zu publishes", n);
        jsPubAck *pa = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_Publish(&pa, js, JS_SUBJECT, payload, size, NULL, &jerr);
        if (s != NATS_OK)
            fail("publish %zu: %s (err_code %d)", n, natsStatus_GetText(s), (int)jerr);
        if (pa->Sequence != js_first_seq + n + 1)
            fail("ack sequence %llu, expected %llu", (unsigned long long)pa->Sequence,
                 (unsigned long long)(js_first_seq + n + 1));
        jsPubAck_Destroy(pa);
        lat[n++] = (now_s() - a) * 1e6;
    }
    report((double)n / (t_end - t0), size, lat, n);
    js_cleanup(js, nc);
    free(lat);
    free(payload);
}

static volatile long js_async_errors;
static void js_async_err_handler(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    (void)js;
    (void)pae;
    (void)closure;
    __atomic_add_fetch(&js_async_errors, 1, __ATOMIC_RELAXED);
}

/* Asynchronous publish with up to 4,000 unacknowledged: throughput until the last ack. */
static void run_jspubasync(int size)
{
    natsConnection *nc = lib_connect();
    jsCtx *setup = js_fresh_stream(&nc); /* first: a replicated stream moves nc to its leader */
    jsCtx_Destroy(setup);
    jsCtx *js = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    jo.PublishAsync.MaxPending = 4000;
    jo.PublishAsync.ErrHandler = js_async_err_handler;
    jo.PublishAsync.StallWait = 5000;
    if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
        fail("JetStream context: %s", nats_GetLastError(NULL));
    char *payload = malloc((size_t)size);
    if (payload == NULL)
        fail("out of memory");
    memset(payload, 'a', (size_t)size);
    double t0 = now_s();
    long n = 0;
    while (now_s() - t0 < opt.duration_s) {
        natsStatus s = js_PublishAsync(js, JS_SUBJECT, payload, size, NULL);
        if (s != NATS_OK)
            fail("async publish %ld: %s", n, natsStatus_GetText(s));
        n++;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = (int64_t)(opt.timeout_s * 1000);
    natsStatus s = js_PublishAsyncComplete(js, &po);
    double t_end = now_s();
    if (s != NATS_OK)
        fail("waiting for %ld acks: %s", n, natsStatus_GetText(s));
    if (js_async_errors > 0)
        fail("%ld of %ld async publishes failed", (long)js_async_errors, n);
    report((double)n / (t_end - t0), size, NULL, 0);
    js_cleanup(js, nc);
    free(payload);
}

/* Pull consume: fill the stream, then fetch in batches of 100 and ack each message. */
static void run_pull(int size)
{
    double deadline = now_s() + opt.timeout_s;
    natsConnection *nc = lib_connect();
    jsCtx *js = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    jo.PublishAsync.MaxPending = 4000;
    jo.PublishAsync.ErrHandler = js_async_err_handler;
    if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
        fail("JetStream context: %s", nats_GetLastError(NULL));
    jsCtx *setup = js_fresh_stream(&nc);
    jsCtx_Destroy(setup);
    long count = opt.count > 0 ? opt.count : 100000;
    char *payload = malloc((size_t)size);
    memset(payload, 'p', (size_t)size);
    for (long i = 0; i < count; i++)
        if (js_PublishAsync(js, JS_SUBJECT, payload, size, NULL) != NATS_OK)
            fail("filling the stream: %s", nats_GetLastError(NULL));
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = (int64_t)(opt.timeout_s * 1000);
    if (js_PublishAsyncComplete(js, &po) != NATS_OK || js_async_errors > 0)
        fail("filling the stream: %ld errors", (long)js_async_errors);

    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.MaxAckPending = 20000;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_PullSubscribe(&sub, js, JS_SUBJECT, "benchpull", NULL, &so, &jerr);
    if (s != NATS_OK)
        fail("pull subscribe: %s (err_code %d)", natsStatus_GetText(s), (int)jerr);
    double t0 = now_s();
    long got = 0;
    while (got < count) {
        if (now_s() > deadline)
            fail("timed out: consumed %ld of %ld", got, count);
        natsMsgList list = {0};
        s = natsSubscription_Fetch(&list, sub, 100, 5000, &jerr);
        if (s != NATS_OK)
            fail("fetch after %ld: %s (err_code %d)", got, natsStatus_GetText(s), (int)jerr);
        for (int i = 0; i < list.Count; i++) {
            if (natsMsg_Ack(list.Msgs[i], NULL) != NATS_OK)
                fail("ack: %s", nats_GetLastError(NULL));
        }
        got += list.Count;
        natsMsgList_Destroy(&list);
    }
    double t_end = now_s();
    report((double)got / (t_end - t0), size, NULL, 0);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    js_cleanup(js, nc);
    free(payload);
}

/* Push consume: fill the stream, then a push consumer with explicit acks delivers it all to
 * a libnats callback that acks each message. Throughput from subscribe to the last message. */
static volatile long push_got;
static void push_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc;
    (void)sub;
    (void)closure;
    natsMsg_Ack(msg, NULL);
    natsMsg_Destroy(msg);
    __atomic_add_fetch(&push_got, 1, __ATOMIC_RELAXED);
}

static void run_push(int size)
{
    double deadline = now_s() + opt.timeout_s;
    natsConnection *nc = lib_connect();
    jsCtx *js = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    jo.PublishAsync.MaxPending = 4000;
    jo.PublishAsync.ErrHandler = js_async_err_handler;
    if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
        fail("JetStream context: %s", nats_GetLastError(NULL));
    jsCtx *setup = js_fresh_stream(&nc);
    jsCtx_Destroy(setup);
    long count = opt.count > 0 ? opt.count : 100000;
    char *payload = malloc((size_t)size);
    memset(payload, 'q', (size_t)size);
    for (long i = 0; i < count; i++)
        if (js_PublishAsync(js, JS_SUBJECT, payload, size, NULL) != NATS_OK)
            fail("filling the stream: %s", nats_GetLastError(NULL));
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = (int64_t)(opt.timeout_s * 1000);
    if (js_PublishAsyncComplete(js, &po) != NATS_OK || js_async_errors > 0)
        fail("filling the stream: %ld errors", (long)js_async_errors);

    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.ManualAck = true;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.MaxAckPending = 20000;
    natsSubscription *sub = NULL;
    jsErrCode jerr = 0;
    double t0 = now_s();
    natsStatus s = js_Subscribe(&sub, js, JS_SUBJECT, push_on_msg, NULL, NULL, &so, &jerr);
    if (s != NATS_OK)
        fail("push subscribe: %s (err_code %d)", natsStatus_GetText(s), (int)jerr);
    natsSubscription_SetPendingLimits(sub, -1, -1);
    while (__atomic_load_n(&push_got, __ATOMIC_RELAXED) < count) {
        if (now_s() > deadline)
            fail("timed out: consumed %ld of %ld", (long)push_got, count);
        nats_Sleep(1);
    }
    double t_end = now_s();
    report((double)count / (t_end - t0), size, NULL, 0);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    js_cleanup(js, nc);
    free(payload);
}

/* KV: a file-backed bucket (history 1) and 1,000 keys. kvput times each kvStore_Put (a
 * JetStream publish with its ack); kvget first writes every key once, then times each
 * kvStore_Get of a key chosen round-robin. */
#define KV_BUCKET "BENCHKV"
#define KV_KEYS 1000

static void run_kv(int size, int is_put)
{
    double deadline = now_s() + opt.timeout_s;
    natsConnection *nc = lib_connect();
    jsCtx *js = NULL;
    if (natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
        fail("JetStream context: %s", nats_GetLastError(NULL));
    js_DeleteKeyValue(js, KV_BUCKET); /* absent is fine */
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = KV_BUCKET;
    kc.History = 1;
    kc.StorageType = js_FileStorage;
    kvStore *kv = NULL;
    natsStatus s = js_CreateKeyValue(&kv, js, &kc);
    if (s != NATS_OK)
        fail("create bucket: %s %s", natsStatus_GetText(s), nats_GetLastError(NULL));
    char *val = malloc((size_t)size);
    double *lat = malloc(sizeof(double) * MAX_SAMPLES);
    if (val == NULL || lat == NULL)
        fail("out of memory");
    memset(val, 'v', (size_t)size);
    char key[32];
    if (!is_put) {
        for (int k = 0; k < KV_KEYS; k++) {
            snprintf(key, sizeof key, "k%d", k);
            uint64_t rev = 0;
            if ((s = kvStore_Put(&rev, kv, key, val, size)) != NATS_OK)
                fail("put %s: %s", key, natsStatus_GetText(s));
        }
    }
    size_t n = 0;
    double t0 = now_s(), t_end;
    for (;;) {
        double a = now_s();
        if (a - t0 >= opt.duration_s || n == MAX_SAMPLES) {
            t_end = a;
            break;
        }
        if (a > deadline)
            fail("timed out after %zu operations", n);
        snprintf(key, sizeof key, "k%zu", n % KV_KEYS);
        if (is_put) {
            uint64_t rev = 0;
            if ((s = kvStore_Put(&rev, kv, key, val, size)) != NATS_OK)
                fail("put %zu: %s", n, natsStatus_GetText(s));
        } else {
            kvEntry *e = NULL;
            if ((s = kvStore_Get(&e, kv, key)) != NATS_OK)
                fail("get %s: %s", key, natsStatus_GetText(s));
            if (kvEntry_ValueLen(e) != size)
                fail("get %s: %d bytes, expected %d", key, kvEntry_ValueLen(e), size);
            kvEntry_Destroy(e);
        }
        lat[n++] = (now_s() - a) * 1e6;
    }
    report((double)n / (t_end - t0), size, lat, n);
    kvStore_Destroy(kv);
    js_DeleteKeyValue(js, KV_BUCKET);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    free(lat);
    free(val);
}

/* ------------------------------------------------------------------ scaling (bench/scaling.sh) */

/* -S N: N subscriptions that never match the published subject `bench.s`, on one extra
 * connection opened before the run and kept open through it. A quarter each of four shapes,
 * so both the literal and the wildcard branches of the subject tree grow:
 *   noise.<i>.a   (literal)        noise.*.<i>  (partial wildcard, 3 tokens)
 *   bench.s.<i>.> (full wildcard: needs 3+ tokens, so not bench.s)   *.x<i>  (wildcard first
 *   token: matches `bench`, then the literal x<i> does not match `s`). */
static RawConn *noise_subscribe(long n, double deadline)
{
    if (n <= 0)
        return NULL;
    RawConn *rc = raw_connect(NULL, deadline);
    size_t cap = (size_t)n * 48 + 16, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        fail("out of memory");
    for (long i = 0; i < n; i++) {
        long sid = 1000 + i;
        switch (i % 4) {
        case 0: len += (size_t)sprintf(buf + len, "SUB noise.%ld.a %ld\r\n", i, sid); break;
        case 1: len += (size_t)sprintf(buf + len, "SUB noise.*.%ld %ld\r\n", i, sid); break;
        case 2: len += (size_t)sprintf(buf + len, "SUB bench.s.%ld.> %ld\r\n", i, sid); break;
        default: len += (size_t)sprintf(buf + len, "SUB *.x%ld %ld\r\n", i, sid); break;
        }
    }
    len += (size_t)sprintf(buf + len, "PING\r\n");
    uint64_t before = rc->pongs;
    write_all(rc->fd, buf, len, deadline);
    raw_wait_pong(rc, before, deadline);
    free(buf);
    vlog("%ld non-matching subscriptions in place", n);
    return rc;
}

/* A JetStream context with an async-publish window of 4,000 and the error counter. */
static jsCtx *js_async_ctx(natsConnection *nc)
{
    jsCtx *js = NULL;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 10000;
    jo.PublishAsync.MaxPending = 4000;
    jo.PublishAsync.ErrHandler = js_async_err_handler;
    jo.PublishAsync.StallWait = 10000;
    if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
        fail("JetStream context: %s", nats_GetLastError(NULL));
    return js;
}

/* Publish `n` messages asynchronously and wait for every ack; returns the seconds taken. */
static double js_publish_n(jsCtx *js, const char *subject, const char *payload, int size, long n)
{
    static long ids; /* -I: a fresh Nats-Msg-Id per message, unique within this run */
    char id[48];
    jsPubOptions ido;
    jsPubOptions_Init(&ido);
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        if (opt.msg_ids) {
            snprintf(id, sizeof id, "bench-%d-%ld", (int)getpid(), ++ids);
            ido.MsgId = id;
        }
        if (js_PublishAsync(js, subject, payload, size, opt.msg_ids ? &ido : NULL) != NATS_OK)
            fail("async publish: %s", nats_GetLastError(NULL));
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = (int64_t)(opt.timeout_s * 1000);
    natsStatus s = js_PublishAsyncComplete(js, &po);
    if (s != NATS_OK)
        fail("waiting for %ld acks: %s", n, natsStatus_GetText(s));
    if (js_async_errors > 0)
        fail("%ld async publishes failed", (long)js_async_errors);
    return now_s() - t0;
}

/* jsgrow: a fresh stream grows to -n messages (default 1,000,000) by async publish, window
 * 4,000; one line per -w messages (default 100,000): jsgrow,server,stored,msgs_per_s.
 * The stream is LEFT IN PLACE (scaling.sh restarts the server on it and times recovery).
 * -A: append -n more to the existing stream instead (`stored` then counts from its size).
 * -I: every message carries a unique Nats-Msg-Id (a header), so a restart rebuilds the dedup
 * window of them (scaling.sh's restart_ids rows). */
static void run_jsgrow(int size)
{
    long total = opt.count > 0 ? opt.count : 1000000;
    long step = opt.window != 200000 ? opt.window : 100000;
    natsConnection *nc = lib_connect();
    jsCtx *js = js_async_ctx(nc);
    long base = 0;
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if (opt.append && js_GetStreamInfo(&si, js, JS_STREAM, NULL, &jerr) == NATS_OK) {
        base = (long)si->State.Msgs;
        jsStreamInfo_Destroy(si);
    } else {
        jsCtx *setup = js_fresh_stream(&nc);
        jsCtx_Destroy(setup);
    }
    char *payload = malloc((size_t)size);
    memset(payload, 'g', (size_t)size);
    for (long done = 0; done < total;) {
        long n = total - done < step ? total - done : step;
        double secs = js_publish_n(js, JS_SUBJECT, payload, size, n);
        done += n;
        printf("jsgrow,%s,%ld,%.0f\n", opt.label, base + done, (double)n / secs);
        fflush(stdout);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    free(payload);
}

/* jsconsumers: one stream on `benchc.>`; consumers are added in steps 1, 10, 100, 1000 (up
 * to -n, default 1,000): durable PULL consumers, explicit ack, each filtered on its own
 * subject benchc.cold.<i>, which nothing is published to. After each step, async publishes
 * (window 4,000) to benchc.hot for -d seconds: jsconsumers,server,consumers,msgs_per_s,
 * add_ms (the mean time to add one consumer in that step). So the figure is what idle,
 * non-matching consumers cost each publish. */
static void run_jsconsumers(int size)
{
    long max = opt.count > 0 ? opt.count : 1000;
    natsConnection *nc = lib_connect();
    jsCtx *js = js_async_ctx(nc);
    jsErrCode jerr = 0;
    js_DeleteStream(js, "BENCHC", NULL, &jerr);
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = "BENCHC";
    const char *subjects[] = {"benchc.>"};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    jsStreamInfo *si = NULL;
    if (js_AddStream(&si, js, &cfg, NULL, &jerr) != NATS_OK)
        fail("add stream: %s (err_code %d)", nats_GetLastError(NULL), (int)jerr);
    jsStreamInfo_Destroy(si);
    char *payload = malloc((size_t)size);
    memset(payload, 'c', (size_t)size);
    long have = 0;
    for (long level = 1; level <= max; level *= 10) {
        double a0 = now_s();
        long added = 0;
        for (; have < level; have++, added++) {
            char name[32], filter[48];
            snprintf(name, sizeof name, "c%ld", have);
            snprintf(filter, sizeof filter, "benchc.cold.%ld", have);
            jsConsumerConfig cc;
            jsConsumerConfig_Init(&cc);
            cc.Durable = name;
            cc.AckPolicy = js_AckExplicit;
            cc.FilterSubject = filter;
            jsConsumerInfo *ci = NULL;
            if (js_AddConsumer(&ci, js, "BENCHC", &cc, NULL, &jerr) != NATS_OK)
                fail("add consumer %ld: %s (err_code %d)", have, nats_GetLastError(NULL), (int)jerr);
            jsConsumerInfo_Destroy(ci);
        }
        double add_ms = added > 0 ? (now_s() - a0) * 1000 / (double)added : 0;
        /* publish for the duration, in slices of 2,000 so the clock is checked often */
        double t0 = now_s();
        long n = 0;
        while (now_s() - t0 < opt.duration_s) {
            for (int i = 0; i < 2000; i++)
                if (js_PublishAsync(js, "benchc.hot", payload, size, NULL) != NATS_OK)
                    fail("async publish: %s", nats_GetLastError(NULL));
            n += 2000;
        }
        js_publish_n(js, "benchc.hot", payload, size, 0); /* wait for the last ack */
        double t_end = now_s();
        printf("jsconsumers,%s,%ld,%.0f,%.2f\n", opt.label, level, (double)n / (t_end - t0), add_ms);
        fflush(stdout);
    }
    js_DeleteStream(js, "BENCHC", NULL, &jerr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    free(payload);
}

/* idle: open -n raw connections (CONNECT + PING, each waits for its PONG), print
 * `idle,server,N,ready`, hold them for -d seconds (scaling.sh reads the server's VmRSS
 * meanwhile), then close them. Answers the server's PINGs while holding. */
static void run_idle(void)
{
    long n = opt.count > 0 ? opt.count : 1000;
    double deadline = now_s() + opt.timeout_s;
    RawConn **c = calloc((size_t)n, sizeof *c);
    if (c == NULL)
        fail("out of memory");
    for (long i = 0; i < n; i++) {
        c[i] = raw_connect(NULL, deadline);
        /* an idle connection needs no 1 MiB input buffer in this process */
        c[i]->in = realloc(c[i]->in, 4096);
    }
    printf("idle,%s,%ld,ready\n", opt.label, n);
    fflush(stdout);
    double until = now_s() + opt.duration_s;
    while (now_s() < until)
        usleep(20000);
    for (long i = 0; i < n; i++)
        raw_close(c[i]);
    free(c);
}

/* jsready: for restart timing. Started right after the server process: retries a libnats
 * connection every 2 ms until one succeeds, then asks for stream BENCH's info until it
 * answers with -n messages. Prints jsready,server,connect_s,ready_s,messages (seconds
 * since this program started). */
static natsConnection *connect_retry(double deadline, jsCtx **js)
{
    char url[256];
    snprintf(url, sizeof url, "nats://%s:%d", opt.host, opt.port);
    natsConnection *nc = NULL;
    for (;;) {
        natsOptions *o = NULL;
        natsOptions_Create(&o);
        natsOptions_SetURL(o, url);
        natsOptions_SetTimeout(o, 5000);
        natsOptions_SetAllowReconnect(o, false);
        natsStatus s = natsConnection_Connect(&nc, o);
        natsOptions_Destroy(o);
        if (s == NATS_OK)
            break;
        if (now_s() > deadline)
            fail("no connection after %.0f s: %s", opt.timeout_s, natsStatus_GetText(s));
        usleep(2000);
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    if (natsConnection_JetStream(js, nc, &jo) != NATS_OK)
        fail("JetStream context: %s", nats_GetLastError(NULL));
    return nc;
}

static void run_jsready(void)
{
    double t0 = now_s(), deadline = t0 + opt.timeout_s;
    jsCtx *js = NULL;
    natsConnection *nc = connect_retry(deadline, &js);
    double t_conn = now_s() - t0;
    uint64_t msgs = 0;
    for (;;) {
        jsStreamInfo *si = NULL;
        jsErrCode jerr = 0;
        if (js_GetStreamInfo(&si, js, JS_STREAM, NULL, &jerr) == NATS_OK) {
            msgs = si->State.Msgs;
            jsStreamInfo_Destroy(si);
            if (opt.count <= 0 || msgs == (uint64_t)opt.count)
                break;
        }
        if (now_s() > deadline)
            fail("stream %s not ready after %.0f s (%llu messages)", JS_STREAM, opt.timeout_s,
                 (unsigned long long)msgs);
        usleep(2000);
    }
    printf("jsready,%s,%.3f,%.3f,%llu\n", opt.label, t_conn, now_s() - t0, (unsigned long long)msgs);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* jsmany: -n file streams MANY<first>... (subject many.<i>; -o first, default 0), one 128-byte
 * message each, for the many-streams restart. Prints jsmany,server,streams,seconds. */
static void run_jsmany(void)
{
    double t0 = now_s();
    jsCtx *js = NULL;
    natsConnection *nc = connect_retry(t0 + opt.timeout_s, &js);
    long n = opt.count > 0 ? opt.count : 10000;
    char payload[128];
    memset(payload, 'm', sizeof payload);
    for (long i = opt.first; i < opt.first + n; i++) {
        char name[32], subject[48];
        snprintf(name, sizeof name, "MANY%05ld", i);
        snprintf(subject, sizeof subject, "many.%ld", i);
        const char *subjects[] = {subject};
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = name;
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        jsErrCode jerr = 0;
        natsStatus s = js_AddStream(NULL, js, &cfg, NULL, &jerr);
        if (s == NATS_OK)
            s = js_Publish(NULL, js, subject, payload, sizeof payload, NULL, &jerr);
        if (s != NATS_OK)
            fail("stream %s: %s (err_code %d) %s", name, natsStatus_GetText(s), (int)jerr,
                 nats_GetLastError(NULL));
        if (now_s() > t0 + opt.timeout_s)
            fail("%ld of %ld streams after %.0f s", i - opt.first, n, opt.timeout_s);
    }
    printf("jsmany,%s,%ld,%.3f\n", opt.label, n, now_s() - t0);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* jsmanyready: like jsready, for jsmany's streams: retries a connection, then asks
 * $JS.API.INFO until it counts -n streams. Prints jsmanyready,server,connect_s,ready_s,streams. */
static void run_jsmanyready(void)
{
    double t0 = now_s(), deadline = t0 + opt.timeout_s;
    jsCtx *js = NULL;
    natsConnection *nc = connect_retry(deadline, &js);
    double t_conn = now_s() - t0;
    long streams = 0;
    for (;;) {
        jsAccountInfo *ai = NULL;
        jsErrCode jerr = 0;
        if (js_GetAccountInfo(&ai, js, NULL, &jerr) == NATS_OK) {
            streams = (long)ai->Streams;
            jsAccountInfo_Destroy(ai);
            if (streams >= opt.count)
                break;
        }
        if (now_s() > deadline)
            fail("%ld of %ld streams after %.0f s", streams, opt.count, opt.timeout_s);
        usleep(2000);
    }
    printf("jsmanyready,%s,%.3f,%.3f,%ld\n", opt.label, t_conn, now_s() - t0, streams);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* ------------------------------------------------------------------ the disk alone */

#define FSYNC_FILE_BYTES (64LL * 1024 * 1024) /* prealloc: written round and round */
#define FSYNC_RECORD_BYTES (36 + 8 + 128 + 36) /* minijet's MSG + LAST records, 128 B payload */

/* A core kept busy while fsync-* runs. On this kind of VM (Firecracker) a vCPU that idles
 * while it waits for the disk wakes slowly from the completion: a lone write+fdatasync loop
 * measured a p50 of ~3 ms per fdatasync, the same loop beside a busy thread ~0.26 ms, which is
 * what the server sees (its client and the machine's other work keep the cores awake). The
 * spinner makes the figure the disk's, not the idle vCPU's wake-up. */
static volatile int fsync_spin_stop;
static void *fsync_spin(void *arg)
{
    while (!fsync_spin_stop) {
    }
    return arg;
}

/* fsync-append / fsync-prealloc: the disk's fdatasync rate, growing or preallocated file. */
static void run_fsync(int prealloc)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/minijet-bench-fsync.XXXXXX", opt.dir ? opt.dir : ".");
    int fd = mkstemp(path);
    if (fd < 0)
        fail("cannot create a file in %s: %s", opt.dir ? opt.dir : ".", strerror(errno));
    unlink(path);
    static char rec[FSYNC_RECORD_BYTES], zeros[1024 * 1024];
    memset(rec, 'r', sizeof rec);
    if (prealloc) {
        if (fallocate(fd, 0, 0, FSYNC_FILE_BYTES) != 0 && errno != EOPNOTSUPP)
            fail("fallocate: %s", strerror(errno));
        for (long long off = 0; off < FSYNC_FILE_BYTES; off += (long long)sizeof zeros)
            if (pwrite(fd, zeros, sizeof zeros, off) != (ssize_t)sizeof zeros)
                fail("writing zeros: %s", strerror(errno));
        if (fsync(fd) != 0)
            fail("fsync: %s", strerror(errno));
    }
    double *lat = malloc(sizeof(double) * MAX_SAMPLES);
    if (lat == NULL)
        fail("out of memory");
    size_t n = 0;
    long long off = 0;
    pthread_t spinner;
    if (pthread_create(&spinner, NULL, fsync_spin, NULL) != 0)
        fail("cannot start the busy thread");
    double t0 = now_s(), t_end;
    for (;;) {
        double a = now_s();
        if (a - t0 >= opt.duration_s || n == MAX_SAMPLES) {
            t_end = a;
            break;
        }
        if (prealloc && off + (long long)sizeof rec > FSYNC_FILE_BYTES)
            off = 0;
        if (pwrite(fd, rec, sizeof rec, off) != (ssize_t)sizeof rec)
            fail("write: %s", strerror(errno));
        if (fdatasync(fd) != 0)
            fail("fdatasync: %s", strerror(errno));
        off += (long long)sizeof rec;
        lat[n++] = (now_s() - a) * 1e6;
    }
    fsync_spin_stop = 1;
    pthread_join(spinner, NULL);
    close(fd);
    report((double)n / (t_end - t0), FSYNC_RECORD_BYTES, lat, n);
    free(lat);
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr,
            "usage: minijet-bench [-h host] [-p port] [-l label] [-d seconds] [-T seconds]\n"
            "                     [-z bytes] [-w window] [-n count] [-H] [-v] SCENARIO\n"
            "scenarios: ping pub pubsub fanout queue reqrep jspub jspubasync pull push kvput kvget\n"
            "disk:      -D DIR fsync-append fsync-prealloc (no server: the disk's fdatasync rate)\n"
            "scaling:   jsgrow jsconsumers idle jsready jsmany jsmanyready; -S N adds N non-matching\n"
            "           subs to pub/pubsub; -I: jsgrow sends a Nats-Msg-Id with every message;\n"
            "           -o N: jsmany's first stream is MANY<N>\n"
            "cluster:   -c PORT,PORT[,PORT] pubsub-route (publisher on the first node, subscriber on\n"
            "           the second) queue-route (4 queue members over the nodes, publisher on the first)\n"
            "           -c P1,P2,P3 jspub-r3 jspubasync-r3 (an R3 stream, the client on its leader's node)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int c;
    while ((c = getopt(argc, argv, "h:p:l:d:T:z:w:n:o:S:c:D:AHIv")) != -1) {
        switch (c) {
        case 'c':
            for (char *tok = strtok(optarg, ","); tok != NULL && opt.nports < 8; tok = strtok(NULL, ","))
                opt.ports[opt.nports++] = atoi(tok);
            break;
        case 'h': opt.host = optarg; break;
        case 'p': opt.port = atoi(optarg); break;
        case 'l': opt.label = optarg; break;
        case 'd': opt.duration_s = atof(optarg); break;
        case 'T': opt.timeout_s = atof(optarg); break;
        case 'z': opt.size = atoi(optarg); break;
        case 'w': opt.window = atol(optarg); break;
        case 'n': opt.count = atol(optarg); break;
        case 'o': opt.first = atol(optarg); break;
        case 'S': opt.noise = atol(optarg); break;
        case 'A': opt.append = 1; break;
        case 'D': opt.dir = optarg; break;
        case 'H': opt.header = 1; break;
        case 'I': opt.msg_ids = 1; break;
        case 'v': opt.verbose = 1; break;
        default: usage();
        }
    }
    if (optind != argc - 1 || opt.duration_s <= 0 || opt.window < 1)
        usage();
    scenario = argv[optind];
    if (strcmp(scenario, "jspub-r3") == 0 || strcmp(scenario, "jspubasync-r3") == 0) {
        if (opt.nports < 3)
            usage();
        opt.replicas = 3;
        opt.port = opt.ports[0];
    }
    if (opt.timeout_s <= 0)
        opt.timeout_s = opt.duration_s * 5 + 10;
    signal(SIGPIPE, SIG_IGN); /* a closed socket is an error we report, not a silent death */
    int size = opt.size;

    if (strcmp(scenario, "fsync-append") == 0 || strcmp(scenario, "fsync-prealloc") == 0) {
        run_fsync(strcmp(scenario, "fsync-prealloc") == 0);
        return 0;
    }
    if (strcmp(scenario, "ping") == 0) {
        RawConn *rc = raw_connect(NULL, now_s() + opt.timeout_s);
        raw_close(rc);
        return 0;
    }
    if (strcmp(scenario, "pub") == 0)
        run_throughput(0, FAN_NONE, size ? size : 16);
    else if (strcmp(scenario, "pubsub") == 0)
        run_throughput(1, FAN_ALL, size ? size : 16);
    else if (strcmp(scenario, "fanout") == 0)
        run_throughput(4, FAN_ALL, size ? size : 16);
    else if (strcmp(scenario, "queue") == 0)
        run_throughput(4, FAN_QUEUE, size ? size : 16);
    else if (strcmp(scenario, "pubsub-route") == 0 && opt.nports >= 2)
        run_throughput(1, FAN_ALL, size ? size : 16);
    else if (strcmp(scenario, "queue-route") == 0 && opt.nports >= 2)
        run_throughput(4, FAN_QUEUE, size ? size : 16);
    else if (strcmp(scenario, "reqrep") == 0)
        run_reqrep(size ? size : 64);
    else if (strcmp(scenario, "jspub") == 0 || strcmp(scenario, "jspub-r3") == 0)
        run_jspub(size ? size : 128);
    else if (strcmp(scenario, "jspubasync") == 0 || strcmp(scenario, "jspubasync-r3") == 0)
        run_jspubasync(size ? size : 128);
    else if (strcmp(scenario, "pull") == 0)
        run_pull(size ? size : 128);
    else if (strcmp(scenario, "push") == 0)
        run_push(size ? size : 128);
    else if (strcmp(scenario, "kvput") == 0)
        run_kv(size ? size : 64, 1);
    else if (strcmp(scenario, "kvget") == 0)
        run_kv(size ? size : 64, 0);
    else if (strcmp(scenario, "jsgrow") == 0)
        run_jsgrow(size ? size : 128);
    else if (strcmp(scenario, "jsconsumers") == 0)
        run_jsconsumers(size ? size : 128);
    else if (strcmp(scenario, "idle") == 0)
        run_idle();
    else if (strcmp(scenario, "jsready") == 0)
        run_jsready();
    else if (strcmp(scenario, "jsmany") == 0)
        run_jsmany();
    else if (strcmp(scenario, "jsmanyready") == 0)
        run_jsmanyready();
    else
        usage();
    nats_Close();
    return 0;
}
