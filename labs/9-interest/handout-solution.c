/* Lab 9, handout solution: the route layer's interest exchange as a careful student writes it
 * from labs/9-interest/README.md alone (no sorted replay, a queue-name array built per
 * message). labs-check grades it in a fresh starter: it must score 100. */

/* LAB(9) solution: src/route.c */
    /* on_interest: plain interest on its first and last subscriber, a queue group on every change */
    if (queue != NULL || count == 0 || (count == 1 && delta == 1)) {
        GPtrArray *rs = registered_routes(cl);
        for (guint i = 0; i < rs->len; i++) send_interest(rs->pdata[i], key, count);
        g_ptr_array_free(rs, TRUE);
    }
/* LAB(9) solution end */

/* LAB(9) solution: src/route.c */
    /* send_all_interest: the whole table to the new route */
    GHashTableIter it;
    gpointer k, v;
    g_hash_table_iter_init(&it, cl->interest);
    while (g_hash_table_iter_next(&it, &k, &v)) send_interest(r, k, (int64_t)GPOINTER_TO_SIZE(v));
/* LAB(9) solution end */

/* LAB(9) solution: src/route.c */
    /* on_sub: an RS+ or RS- from the peer */
    char *subject = g_strndup(s->subject.p, s->subject.len);
    char *queue = s->queue.p != NULL ? g_strndup(s->queue.p, s->queue.len) : NULL;
    char *key = interest_key(subject, queue);
    ServerRemoteSub *rs = g_hash_table_lookup(r->rsubs, key);
    if (add && rs != NULL) {               /* a queue group's new weight */
        server_remote_sub_set_weight(rs, s->weight);
        g_free(key);
    } else if (add) {
        rs = server_remote_sub_add(cl->srv, forward_msg, r, subject, queue, s->weight);
        if (rs != NULL)
            g_hash_table_insert(r->rsubs, key, rs);   /* the table owns the key */
        else
            g_free(key);
    } else {
        if (rs != NULL) {
            server_remote_sub_remove(cl->srv, rs);
            g_hash_table_remove(r->rsubs, key);
        }
        g_free(key);
    }
    g_free(subject);
    g_free(queue);
/* LAB(9) solution end */

/* LAB(9) solution: src/route.c */
    /* on_msg: local subscribers only (the full-mesh rule), and the queue groups it names */
    GPtrArray *queues = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < m->nq; i++) g_ptr_array_add(queues, g_strndup(m->queues[i].p, m->queues[i].len));
    ServerMsg sm = {0};
    sm.subject = m->subject.p;
    sm.subject_len = m->subject.len;
    sm.reply = m->reply.p;
    sm.reply_len = m->reply.p != NULL ? m->reply.len : 0;
    sm.hdr = m->hdr;
    sm.hdr_len = m->hdr_len;
    sm.payload = m->payload;
    sm.payload_len = m->payload_len;
    server_deliver_routed(cl->srv, &sm, (const char *const *)queues->pdata, queues->len);
    g_ptr_array_free(queues, TRUE);
/* LAB(9) solution end */
