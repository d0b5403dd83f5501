/* Lab 10, handout solution: the stream group's apply path as a careful student writes it from
 * labs/10-stream-apply/README.md alone. labs-check grades it in a fresh starter: it must
 * score 100. */

/* LAB(10) solution: src/jscluster.c */
        /* stream_apply, op 1: apply on this replica; only the leader's answer goes out */
        char *ack = stream_repl_apply(a->st, seq, ts, &m, leader);
        if (ack != NULL && m.reply_len > 0) {
            char *reply = g_strndup(m.reply, m.reply_len);
            server_publish(c->srv, reply, NULL, NULL, 0, ack, strlen(ack));
            g_free(reply);
        }
        g_free(ack);
/* LAB(10) solution end */

/* LAB(10) solution: src/stream_publish.c */
    /* stream_repl_apply: the committed entry into this replica's store */
    if (seq <= s.last_seq)                 /* a replay: already stored */
        return NULL;
    if (seq != s.last_seq + 1) {           /* a gap: never store out of order */
        env_log(st->env, ENV_LOG_ERROR, "stream %s: entry seq %" G_GUINT64_FORMAT " after %" G_GUINT64_FORMAT,
                c->name, seq, s.last_seq);
        return NULL;
    }
    char *subject = g_strndup(m->subject, m->subject_len);
    GError *err = NULL;
    uint64_t got = store_append(st->store, subject, m->subject_len, m->hdr, m->hdr_len, m->payload,
                                m->payload_len, ts, &err);
    if (got != seq) {
        char *answer = NULL;
        if (leader) {
            GError *e2 = NULL;
            mj_js_error(&e2, MJ_ERR_JS_STREAM_STORE_FAILED, "%s", err != NULL ? err->message : "store failed");
            answer = puback_error(st, e2);
            g_error_free(e2);
        }
        g_clear_error(&err);
        g_free(subject);
        return answer;
    }
    after_append(st, seq, subject, m, ts, !leader);   /* followers keep everything */
    stream_need_flush(st);
    g_free(subject);
    if (!leader || c->no_ack) return NULL;
    return puback_ok(st, seq, false);
/* LAB(10) solution end */
