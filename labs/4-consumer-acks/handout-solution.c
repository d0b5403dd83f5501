/* Lab 4, handout solution: the four regions of src/consumer.c as a careful student writes
 * them from labs/4-consumer-acks/README.md alone ("What to implement" 1-4, the hints and
 * the common mistakes). Blocks are in file order: ack_timer_fired(), process_ack(), the
 * -NAK branch, the +WPI branch. labs-check grades it in a fresh starter: it must score 100. */

/* LAB(4) solution: src/consumer.c */
    int64_t now = consumer_now(c);
    bool queued_any = false;
    for (GTreeNode *n = g_tree_node_first(c->pending); n != NULL; n = g_tree_node_next(n)) {
        Pending *p = g_tree_node_value(n);      /* the tree walks in stream order */
        if (!p->queued && p->deadline_ns <= now) {
            p->queued = true;
            g_queue_push_tail(&c->redeliver_queue, GSIZE_TO_POINTER(p->sseq));
            queued_any = true;
        }
    }
    consumer_arm_ack_timer(c);
    if (queued_any)
        consumer_kick(c);
/* LAB(4) solution end */

/* LAB(4) solution: src/consumer.c */
    bool did = false;
    if (c->cfg->ack_policy == ACK_EXPLICIT) {
        if (ack_one(c, sseq)) {
            g_array_append_val(acked, sseq);
            did = true;
        }
    } else if (c->cfg->ack_policy == ACK_ALL) {
        if (sseq <= c->floor_sseq || sseq >= c->sseq_next)
            return;                                 /* at or below the floor, or beyond the cursor */
        g_autoptr(GArray) le = g_array_new(FALSE, FALSE, sizeof(uint64_t));
        g_array_append_val(le, sseq);              /* collect_le() reads its limit from [0] */
        g_tree_foreach(c->pending, collect_le, le);
        for (guint i = 1; i < le->len; i++)
            ack_one(c, g_array_index(le, uint64_t, i));
        for (uint64_t s = c->floor_sseq + 1; s <= sseq; s++)
            g_array_append_val(acked, s);
        c->floor_sseq = sseq;
        if (dseq > c->floor_dseq)
            c->floor_dseq = dseq;
        did = true;
    }
    if (did) {
        consumer_update_floor(c);
        c->last_ack_wall_ns = env_wall_ns(c->env);
    }
/* LAB(4) solution end */

/* LAB(4) solution: src/consumer.c */
        Pending *p = g_tree_lookup(c->pending, &sseq);
        if (p != NULL) {
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
/* LAB(4) solution end */

/* LAB(4) solution: src/consumer.c */
        Pending *p = g_tree_lookup(c->pending, &sseq);
        if (p != NULL && !p->queued)
            set_deadline(c, p, consumer_now(c) + ack_wait_for(c, p->deliveries));
/* LAB(4) solution end */
