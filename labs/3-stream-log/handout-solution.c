/* Lab 3, handout solution: replay_record() and recover_segment()'s walk as a careful student
 * writes them from labs/3-stream-log/README.md alone ("How recovery is cut up": what each
 * record kind does to the index, when a lost range is reported, the walk in one sentence),
 * with the record table at the top of src/store_file.c for the fields. labs-check puts it
 * into a fresh starter and grades it: it must score 100, or the handout is missing something.
 * Not the reference (src/store_file.c is). */

/* LAB(3) solution: src/store_file.c */
    gboolean added = FALSE;
    StoreEntry removed;
    if (r->kind == KIND_MSG) {
        if (r->seq > s->last_seq) {
            uint32_t bytes = (uint32_t)file_msg_bytes(r->subject_len, r->hdr_len, r->data_len);
            store_index_add(s, r->seq, r->ts_ns, (const char *)r->subject, r->subject_len,
                            r->hdr_len > 0, bytes, ((uint64_t)g->no << 32) | off);
            g->live++;
            added = TRUE;
        } else {
            env_log(s->env, ENV_LOG_WARN, "store %s: %s: seq %" G_GUINT64_FORMAT
                    " is not above last seq %" G_GUINT64_FORMAT ", ignored",
                    s->name, path, r->seq, s->last_seq);
        }
    } else if (r->kind == KIND_DELETE) {
        if (store_index_del(s, r->seq, &removed))
            file_released(s, r->seq, &removed);
        g->tombs++;
    } else if (r->kind == KIND_FLOOR) {         /* seq = the floor */
        raise_last_seq(s, r->seq - 1);
        store_index_floor(s, r->seq);
        g->tombs++;
    } else if (r->kind == KIND_SEGMENT) {       /* seq = the floor, timestamp = last_seq */
        raise_last_seq(s, (uint64_t)r->ts_ns);
        store_index_floor(s, r->seq);
    } else if (r->kind == KIND_LAST) {
        raise_last_seq(s, r->seq);
    }
    if (rc->lost_from != 0) {                   /* close the report of a damaged stretch */
        if (r->kind == KIND_MSG) {
            report_lost(s, rc->lost_from, r->seq - 1);
            rc->lost_from = 0;
        } else if (r->kind != KIND_DELETE && s->last_seq >= rc->lost_from) {
            report_lost(s, rc->lost_from, s->last_seq);
            rc->lost_from = 0;
        }
    }
    return added;
/* LAB(3) solution end */

/* LAB(3) solution: src/store_file.c */
    uint64_t off = from;                        /* past what the segment's index file covered */
    uint64_t last_added = s->last_seq;
    while (off < size) {
        Rec r;
        const char *why = "";
        int got = read_record(s, fd, path, &rc->w, off, &size, &r, &why);
        if (got == READ_END || got == READ_ERROR)
            break;
        if (got == READ_BAD || got == READ_SHORT) {
            if (recover_damage(s, rc, fd, path, &off, &size, why, last_added))
                continue;                       /* off now points at the next good record */
            break;                              /* a torn tail, cut off */
        }
        if (replay_record(s, rc, g, &r, off, path))
            last_added = r.seq;
        off += r.size;
    }
/* LAB(3) solution end */
