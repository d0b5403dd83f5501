/* env_real.h — the production world: the environment (env.h) on a real Linux machine.
 *
 * WHAT IT IS
 *   One single-threaded epoll event loop that owns a listening socket, every client socket,
 *   the timers, and the files the broker opens. It implements every op of `EnvOps` for real:
 *   CLOCK_MONOTONIC / CLOCK_REALTIME, a binary-heap timer queue, nonblocking TCP with
 *   per-connection outbound buffers flushed once per loop turn, POSIX files with fsync, a
 *   seeded xoshiro256** generator, and nats-server-style log lines on stderr.
 *
 * INTERFACE
 *   env_real_new()                     a world with no listener yet (seeded from getrandom)
 *   env_real_listen(env, host, port)   bind + listen (port 0 = the kernel picks one)
 *   env_real_bind(env, host, port)     bind only: the port is ours (and known) but connects
 *                                      are refused until env_real_listen_start (main.c opens
 *                                      the client port once JetStream is restored)
 *   env_real_port(env)                 the port actually bound (after an ephemeral listen)
 *   env_real_listen_handlers(env, host, port, &handlers, core, error)
 *                                      a second listener (the HTTP monitor) whose connections
 *                                      go to `handlers`/`core` instead of the env's; returns
 *                                      the port bound, 0 with `error` set on failure
 *   env_real_set_debug(env, on)        let ENV_LOG_DEBUG lines through (the -D flag)
 *   env_real_run(env)                  run turns until env_real_stop(); returns 0
 *   env_real_stop(env)                 ask run() to return; async-signal-safe, any thread
 *   env_real_stats(env)                loop counters (turns, syscalls) for benchmarks and tests
 *   env_real_free(env)                 close every socket and file-less state; no handler runs
 *
 * INVARIANTS (beyond env.h's)
 *   - Everything except env_real_stop() is called from the loop's thread.
 *   - The core's handlers must be installed (env_set_handlers) before env_real_run().
 *   - Bytes handed to on_bytes live in one shared buffer: valid only during the call.
 *   - Connection ids are unique across every listener and outbound connect: one counter.
 *     EnvOps (send, close, pending) work on any of them; only the handlers differ.
 */
#ifndef MINIJET_ENV_REAL_H
#define MINIJET_ENV_REAL_H

#include <glib.h>
#include <stdint.h>

#include "env.h"

typedef struct EnvRealStats {
    uint64_t turns;         /* loop turns (one epoll_wait each) */
    uint64_t reads;         /* read() calls that returned bytes */
    uint64_t writes;        /* write() calls on client sockets */
    uint64_t bytes_in, bytes_out;
    uint64_t accepts;       /* connections accepted */
    uint64_t closes;        /* on_closed delivered */
    uint64_t timers_fired;
    uint64_t early_flushes; /* flushes done inside conn_send (buffer past the threshold) */
    uint64_t lingers;       /* closes by the core that drained the peer (lingering close) */
} EnvRealStats;

Env *env_real_new(void);
gboolean env_real_listen(Env *env, const char *host, int port, GError **error);
gboolean env_real_bind(Env *env, const char *host, int port, GError **error);
gboolean env_real_listen_start(Env *env, GError **error);
int env_real_port(Env *env);
int env_real_listen_handlers(Env *env, const char *host, int port, const EnvHandlers *handlers,
                             void *core, GError **error);
void env_real_set_debug(Env *env, gboolean on);
int env_real_run(Env *env);
void env_real_stop(Env *env);
const EnvRealStats *env_real_stats(Env *env);
void env_real_free(Env *env);

#endif
