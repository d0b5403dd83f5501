/* test_env.h — the unit tests' world: an implementation of env.h with manual time,
 * in-memory connections whose output the test reads, and the simulator's in-memory disk
 * (sim/sim_disk.c) that can lose unsynced writes, tear the last write, flip bits and fail
 * an fsync. No sockets, no sleeps.
 *
 *   TestEnv *te = test_env_new(seed);        te->env is the Env to hand to the core
 *   test_env_advance(te, ns)                 move time forward, firing due timers in order
 *   EnvConn c = test_env_connect(te)         a new client connection (calls on_accept)
 *   test_env_client_send(te, c, "PING\r\n")  bytes from the client (calls on_bytes)
 *   char *out = test_env_client_take(te, c)  everything the server sent c since last take
 *   test_env_client_close(te, c)             the client hangs up (calls on_closed)
 *   test_env_is_closed(te, c)                did the server close c?
 *   test_env_set_pending(te, c, bytes)       pretend the kernel is not draining c (slow consumer)
 *   test_env_is_read_paused(te, c)           is the core applying back-pressure to c?
 *   test_env_crash_disk(te, mode)            a power cut: unsynced writes are lost/torn/kept
 *   test_env_flip_bit(te, path, offset, bit) corrupt a durable byte
 *   env_listen / env_conn_connect            listeners reachable from every TestEnv in the
 *                                            process (two servers routed in one test);
 *   test_env_pump()                          deliver accepts, bytes and closes between them
 *                                            until nothing moves
 *   test_env_fail_syncs(te, path, code, n)   the next n fsyncs fail (EIO / ENOSPC)
 *   test_env_fail_accepts(te, n)             the next n accepts of the client port fail with
 *                                            EMFILE: connections wait, the port backs off
 */
#ifndef MINIJET_TEST_ENV_H
#define MINIJET_TEST_ENV_H

#include <glib.h>

#include "env.h"

typedef struct TestEnv TestEnv;
struct TestEnv {
    Env env;
    /* private state follows in test_env.c */
};

typedef enum {
    TEST_CRASH_LOSE_ALL_UNSYNCED, /* every write since the last fsync of its file is lost */
    TEST_CRASH_KEEP_SOME,         /* a seeded random prefix of unsynced writes survives */
    TEST_CRASH_TEAR_LAST,         /* like KEEP_SOME, and the last surviving write is cut short */
} TestCrashMode;

TestEnv *test_env_new(uint64_t seed);
void test_env_free(TestEnv *te);
void test_env_advance(TestEnv *te, int64_t ns);
int64_t test_env_now(TestEnv *te);

EnvConn test_env_connect(TestEnv *te);
void test_env_client_send(TestEnv *te, EnvConn c, const char *bytes);
void test_env_client_send_len(TestEnv *te, EnvConn c, const void *bytes, size_t len);
char *test_env_client_take(TestEnv *te, EnvConn c); /* g_free it; "" when nothing */
void test_env_client_close(TestEnv *te, EnvConn c);
gboolean test_env_is_closed(TestEnv *te, EnvConn c);
void test_env_set_pending(TestEnv *te, EnvConn c, size_t bytes);
/* Did the core stop reading c (env_conn_read_pause)? Client bytes sent meanwhile are held
 * and delivered, in order, at the first advance or client action after it resumes. */
gboolean test_env_is_read_paused(TestEnv *te, EnvConn c);

void test_env_crash_disk(TestEnv *te, TestCrashMode mode);
void test_env_flip_bit(TestEnv *te, const char *path, uint64_t offset, int bit);
void test_env_set_disk_full(TestEnv *te, gboolean full); /* writes fail with ENOSPC */
/* The process's open-file limit as env_files_max reports it (default TEST_ENV_FILES_MAX,
 * small, so that the stores' file budget evicts in every test); enforce: opens past it fail
 * with G_FILE_ERROR_MFILE (EMFILE). test_env_open_files: descriptors open now. */
#define TEST_ENV_FILES_MAX 32
void test_env_set_files_max(TestEnv *te, int64_t max, gboolean enforce);
guint test_env_open_files(TestEnv *te);
void test_env_pump(void);
/* The next `count` fsyncs of a file whose path contains `path` (NULL = any) fail with `code`
 * (G_FILE_ERROR_IO or G_FILE_ERROR_NOSPC) and lose part of its unsynced writes (fsyncgate:
 * the fsync after them succeeds). */
void test_env_fail_syncs(TestEnv *te, const char *path, int code, unsigned count);
/* The next `count` attempts to accept a client connection fail with EMFILE. The world then
 * does what env_real.c does (env.c ACCEPT BACK-OFF): it pauses the port on a timer, and
 * test_env_connect's connections wait in a backlog (their bytes held) until accepted. */
void test_env_fail_accepts(TestEnv *te, unsigned count);
gboolean test_env_is_accepted(TestEnv *te, EnvConn c); /* on_accept delivered? */
/* Log lines the core wrote, newline-separated; g_free it. */
char *test_env_take_log(TestEnv *te);

#endif
