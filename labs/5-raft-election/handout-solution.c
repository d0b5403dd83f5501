/* Lab 5, handout solution: handle_vote_request() as a careful student writes it from
 * labs/5-raft-election/README.md alone ("What to implement", the definition of a live
 * leader, the hints). labs-check grades it in a fresh starter: it must score 100. */

/* LAB(5) solution: src/raft.c */
    bool grant;
    if (m->type == RAFT_MSG_PRE_VOTE) {
        /* a PreVote changes no state */
        bool leader_alive = r->role == RAFT_LEADER ||
                            (r->leader != 0 && r->election_elapsed < r->cfg.election_ticks);
        grant = m->term > r->term && !leader_alive && log_up_to_date(r, m->log_term, m->index);
        RaftMsg *resp = emit(r, RAFT_MSG_PRE_VOTE_RESP, m->from);
        resp->term = grant ? m->term : r->term;
        resp->reject = !grant;
        return;
    }
    grant = (r->vote == 0 || r->vote == m->from) && log_up_to_date(r, m->log_term, m->index);
    if (grant) {
        r->vote = m->from;          /* recorded before the reply (the Ready contract) */
        reset_election_timer(r);    /* only on a grant */
    }
    RaftMsg *resp = emit(r, RAFT_MSG_VOTE_RESP, m->from);
    resp->term = r->term;
    resp->reject = !grant;
/* LAB(5) solution end */
