/* bench/cold-change.c — the first change to an old message after a restart, at the store
 * level (issue 15; COLD CHANGES in src/store_cold.c): a file store on real files, with small
 * segments so that a restart leaves many of them cold.
 *
 *   make build/minijet-cold-bench
 *   build/minijet-cold-bench fill DIR N SEGMENT_BYTES   N messages of 128 B on N/10 subjects
 *                                                       d.0 .. (10 revisions each), sync never
 *   build/minijet-cold-bench run DIR CASE SEGMENT_BYTES open DIR (changing it: run each case
 *                                                       on a fresh copy), make the change twice
 *     CASE delete    store_remove of an old seq (STREAM.MSG.DELETE)
 *          kv        an append to d.7 and the purge that keeps 10 (a KV put over history 10)
 *          maxmsgs   an append and the removal of the oldest (max_msgs)
 *   One line: the open's time, the first change's time (with its flush) and the second's, the
 *   cold segments and loaded entries after. The binary built from an older tree measures the
 *   code before a change (the store's folder format is the same).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "env_real.h"
#include "store.h"
#include "store_index.h"

static double ms(gint64 a, gint64 b) { return (double)(b - a) / 1000.0; }

int main(int argc, char **argv) {
    Env *env = env_real_new();
    StoreConfig cfg = {.name = "B", .dir = argv[2], .sync = STORE_SYNC_NEVER};
    if (strcmp(argv[1], "fill") == 0) {
        uint64_t n = strtoull(argv[3], NULL, 10), keys = n / 10;
        cfg.segment_bytes_max = strtoull(argv[4], NULL, 10);
        Store *s = store_file_open(env, &cfg, NULL);
        char p[128], subj[32];
        memset(p, 'x', sizeof p);
        for (uint64_t i = 0; i < n; i++) {
            int l = snprintf(subj, sizeof subj, "d.%" G_GUINT64_FORMAT, i % keys);
            store_append(s, subj, (size_t)l, NULL, 0, p, sizeof p, (int64_t)i + 1, NULL);
            if (i % 10000 == 0) store_flush(s, NULL);
        }
        store_flush(s, NULL);
        store_close(s);
        return 0;
    }
    cfg.segment_bytes_max = strtoull(argv[4], NULL, 10);
    gint64 t0 = g_get_monotonic_time();
    Store *s = store_file_open(env, &cfg, NULL);
    gint64 t1 = g_get_monotonic_time();
    guint cold = s->cold->len;
    StoreState st;
    store_state(s, &st);
    char p[128];
    memset(p, 'y', sizeof p);
    double first = 0, again = 0;
    for (int k = 0; k < 2; k++) {
        gint64 a = g_get_monotonic_time();
        if (strcmp(argv[3], "delete") == 0) {
            store_remove(s, 2 + 3 * (uint64_t)k, FALSE, NULL);
        } else if (strcmp(argv[3], "kv") == 0) { /* a put over history 10: the key's oldest revision goes */
            const char *key = k ? "d.8" : "d.7";
            store_append(s, key, 3, NULL, 0, p, sizeof p, 1 << 30, NULL);
            StorePurge req = {.filter = key, .keep = 10};
            store_purge(s, &req, NULL);
        } else { /* max_msgs: the oldest goes */
            store_append(s, "d.new", 5, NULL, 0, p, sizeof p, 1 << 30, NULL);
            store_state(s, &st);
            store_remove(s, st.first_seq, FALSE, NULL);
        }
        store_flush(s, NULL);
        gint64 b = g_get_monotonic_time();
        if (k == 0) first = ms(a, b);
        else again = ms(a, b);
    }
    store_state(s, &st);
    printf("%s: open %.1f ms (%u cold segments), first change %.2f ms, again %.2f ms; after: %u cold, %u loaded entries, %" G_GUINT64_FORMAT " msgs\n",
           argv[3], ms(t0, t1), cold, first, again, s->cold->len, s->entries->len, st.msgs);
    store_close(s);
    env_real_free(env);
    return 0;
}
