/* fuzz_proto.c — libFuzzer harness for the NATS protocol parser (src/proto.c).
 *
 * The first byte picks small limits (so MAX_PAYLOAD / MAX_CONTROL_LINE are reachable), the
 * next bytes pick the slice sizes the rest of the input is fed in (splitting must never
 * matter, proto.h's first invariant). Every callback reads every byte it is handed, so
 * ASan flags any pointer that strays outside the fed slice or the parser's buffer.
 * See tests/fuzz/README.md.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static volatile uint8_t sink;

typedef struct {
    unsigned ops;
    uint64_t h; /* FNV-1a over every callback and its bytes: split feeds must give the same */
} Ctx;

static Ctx *cur;

static void mix(uint64_t v) {
    cur->h = (cur->h ^ v) * 1099511628211ull;
}

static void touch(const void *p, size_t len) {
    const uint8_t *b = p;
    uint8_t x = 0;
    mix(len);
    for (size_t i = 0; i < len; i++) {
        x ^= b[i];
        mix(b[i]);
    }
    sink ^= x;
}

static bool on_connect(void *ctx, const char *json, size_t len) {
    mix(1);
    touch(json, len);
    ((Ctx *)ctx)->ops++;
    return true;
}

static bool on_pub(void *ctx, const ProtoPub *p) {
    if (p->subject_len == 0 || p->subject == NULL) abort();
    mix(2 + p->is_hpub);
    touch(p->subject, p->subject_len);
    if (p->reply != NULL) touch(p->reply, p->reply_len);
    if (p->hdr_len > 0) {
        if (p->hdr == NULL) abort();
        touch(p->hdr, p->hdr_len);
    }
    if (p->payload_len > 0) touch(p->payload, p->payload_len);
    if (!p->is_hpub && p->hdr_len != 0) abort();
    Ctx *c = ctx;
    c->ops++;
    return true;
}

static bool on_sub(void *ctx, const ProtoSub *s) {
    mix(4 + (s->queue != NULL));
    touch(s->subject, s->subject_len);
    if (s->queue != NULL) touch(s->queue, s->queue_len);
    touch(s->sid, s->sid_len);
    ((Ctx *)ctx)->ops++;
    return true;
}

static bool on_unsub(void *ctx, const ProtoUnsub *u) {
    mix(6);
    mix((uint64_t)u->max);
    touch(u->sid, u->sid_len);
    if (u->max < -1) abort();
    ((Ctx *)ctx)->ops++;
    return true;
}

static bool on_ping(void *ctx) {
    mix(7);
    ((Ctx *)ctx)->ops++;
    return true;
}

static bool on_pong(void *ctx) {
    mix(8);
    ((Ctx *)ctx)->ops++;
    return true;
}

static const ProtoCallbacks cbs = {on_connect, on_pub, on_sub, on_unsub, on_ping, on_pong};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds data in slices of s1, s2, s1, ... bytes (0 = the rest at once); returns the hash of
 * the callbacks and the error that stopped parsing. */
static MjError run(const ProtoLimits *lim, const uint8_t *data, size_t size, uint8_t s1,
                   uint8_t s2, Ctx *ctx) {
    ProtoParser p;
    proto_parser_init(&p, lim);
    cur = ctx;
    ctx->h = 1469598103934665603ull;
    MjError e = MJ_OK;
    size_t off = 0;
    unsigned turn = 0;
    while (off < size) {
        size_t slice;
        uint8_t s = (turn++ & 1) ? s2 : s1;
        if (s == 0) slice = size - off; /* everything at once */
        else slice = s;
        if (slice > size - off) slice = size - off;
        /* copy each slice into its own exact-size heap block: out-of-bounds reads trip ASan */
        uint8_t *chunk = malloc(slice);
        memcpy(chunk, data + off, slice);
        e = proto_parser_feed(&p, chunk, slice, &cbs, ctx);
        free(chunk);
        off += slice;
        if (e != MJ_OK || p.dead) break;
    }
    proto_parser_clear(&p);
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    uint8_t mode = data[0];
    uint8_t s1 = data[1], s2 = data[2];
    data += 3;
    size -= 3;
    ProtoLimits lim;
    if (mode & 1) {
        lim.max_payload_bytes = 1 + (mode >> 1) % 64;
        lim.max_control_line_bytes = 8 + (mode >> 3) % 64;
    } else {
        lim.max_payload_bytes = 1024 * 1024;
        lim.max_control_line_bytes = 4096;
    }
    Ctx split = {0}, whole = {0};
    MjError e1 = run(&lim, data, size, s1, s2, &split);
    MjError e2 = run(&lim, data, size, 0, 0, &whole);
    /* proto.h: splitting the input at any byte offset produces the same callbacks, in order */
    if (e1 != e2 || split.h != whole.h || split.ops != whole.ops) abort();
    return 0;
}
