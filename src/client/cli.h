/* cli.h — the `minijet` command-line tool, as logic over the environment (book appendix C).
 *
 * WHAT IT IS
 *   A small `nats`-CLI look-alike for the book's tutorials: pub, sub, req, reply, stream,
 *   consumer, kv, obj and server subcommands. This file is its whole logic; the program
 *   (tools/minijet-cli/main.c) only creates the production world and calls cli_main. Every
 *   connection, timer and file goes through the Env (env.h), so the same logic could run in
 *   the simulator; printing goes to stdout/stderr with stdio.
 *
 * INTERFACE
 *   cli_main(world, argc, argv)   run one command; returns the exit status: 0 ok, 1 failure
 *                                 (one line "minijet: error: ..." on stderr), 2 usage error
 *
 *   The world supplies, besides its Env, a way to run the event loop until asked to stop:
 *   cli.c's pump (kv.h's KvPumpFn) queues the client's bytes, runs the loop, and stops it as
 *   soon as bytes arrive, the connection closes, or the wait is over.
 */
#ifndef MINIJET_CLI_H
#define MINIJET_CLI_H

#include "env.h"

typedef struct CliWorld {
    Env *env;
    void (*run)(Env *env);  /* run the loop until stop() is called (from a handler or timer) */
    void (*stop)(Env *env);
    const char *default_server; /* used without --server; NULL = nats://127.0.0.1:4222 */
} CliWorld;

int cli_main(const CliWorld *world, int argc, char **argv);

#endif
