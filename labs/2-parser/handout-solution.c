/* Lab 2, handout solution: the parse_control_line() body a careful student writes from
 * labs/2-parser/README.md alone (the grammar under "What to implement", the helpers it names,
 * ProtoOp and ProtoOpKind in src/proto.c). labs-check puts it into a fresh starter and grades
 * it: it must score 100, or the handout is missing something. Not the reference
 * (src/proto.c is): one split of the arguments, then one `if` per verb. */

/* LAB(2) solution: src/proto.c */
    size_t vlen = 0;                              /* the verb: up to the first blank */
    while (vlen < n && !is_blank(line[vlen]))
        vlen++;
    if (vlen == 0)                                /* empty, or starts with a blank */
        return MJ_ERR_PROTO_UNKNOWN_OP;
    const char *rest = line + vlen;
    size_t rest_len = n - vlen;
    ProtoToken a[PROTO_MAX_ARGS];
    size_t argc = split_args(rest, rest_len, a, PROTO_MAX_ARGS);

    if (vlen == 4 && word_is(line, "PING", 4)) {
        op->kind = OP_PING;
        return MJ_OK;
    }
    if (vlen == 4 && word_is(line, "PONG", 4)) {
        op->kind = OP_PONG;
        return MJ_OK;
    }
    if ((vlen == 4 && (word_is(line, "INFO", 4) || word_is(line, "-ERR", 4))) ||
        (vlen == 3 && word_is(line, "+OK", 3))) {
        op->kind = OP_IGNORED;
        return MJ_OK;
    }
    if (vlen == 7 && word_is(line, "CONNECT", 7)) {
        while (rest_len > 0 && is_blank(rest[0])) {
            rest++;
            rest_len--;
        }
        while (rest_len > 0 && is_blank(rest[rest_len - 1]))
            rest_len--;
        op->kind = OP_CONNECT;
        op->json = rest;
        op->json_len = rest_len;
        return MJ_OK;
    }
    bool is_pub = vlen == 3 && word_is(line, "PUB", 3);
    bool is_hpub = vlen == 4 && word_is(line, "HPUB", 4);
    if (is_pub || is_hpub) {
        size_t sizes = is_hpub ? 2 : 1;           /* hdr and total, or total */
        if (argc != sizes + 1 && argc != sizes + 2)
            return MJ_ERR_PROTO_BAD_ARGS;
        int64_t total = parse_size(&a[argc - 1]);
        int64_t hdr = 0;
        if (is_hpub)
            hdr = parse_size(&a[argc - 2]);
        if (total < 0 || hdr < 0 || hdr > total)
            return MJ_ERR_PROTO_BAD_ARGS;
        if ((uint64_t)total > p->limits.max_payload_bytes)
            return MJ_ERR_PROTO_MAX_PAYLOAD;
        bool has_reply = argc == sizes + 2;
        op->kind = OP_PUB;
        op->pub_total = (size_t)total;
        op->pub.subject = a[0].s;
        op->pub.subject_len = a[0].n;
        op->pub.reply = has_reply ? a[1].s : NULL;
        op->pub.reply_len = has_reply ? a[1].n : 0;
        op->pub.hdr_len = (size_t)hdr;
        op->pub.is_hpub = is_hpub;
        return MJ_OK;
    }
    if (vlen == 3 && word_is(line, "SUB", 3)) {
        if (argc != 2 && argc != 3)
            return MJ_ERR_PROTO_BAD_ARGS;
        const ProtoToken *sid = &a[argc - 1];
        if (sid->n > LIMIT_MAX_SID_BYTES)
            return MJ_ERR_PROTO_BAD_ARGS;
        op->kind = OP_SUB;
        op->sub.subject = a[0].s;
        op->sub.subject_len = a[0].n;
        op->sub.queue = argc == 3 ? a[1].s : NULL;
        op->sub.queue_len = argc == 3 ? a[1].n : 0;
        op->sub.sid = sid->s;
        op->sub.sid_len = sid->n;
        return MJ_OK;
    }
    if (vlen == 5 && word_is(line, "UNSUB", 5)) {
        if (argc != 1 && argc != 2)
            return MJ_ERR_PROTO_BAD_ARGS;
        op->kind = OP_UNSUB;
        op->unsub.sid = a[0].s;
        op->unsub.sid_len = a[0].n;
        op->unsub.max = argc == 2 ? parse_size(&a[1]) : -1;  /* not a number: -1 too */
        return MJ_OK;
    }
    return MJ_ERR_PROTO_UNKNOWN_OP;
/* LAB(2) solution end */
