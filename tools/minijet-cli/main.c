/* tools/minijet-cli/main.c — the `minijet` program: the production world around src/client/cli.c.
 *
 * Thin on purpose: create the epoll world (env_real.h), hand it to cli_main with the two
 * functions that run and stop its loop and the $NATS_URL default, free it, exit with
 * cli_main's status. Everything the tool does is in src/client/cli.c, which reaches the OS only
 * through the Env.
 */
#include <glib.h>
#include <stdlib.h>

#include "client/cli.h"
#include "env_real.h"

static void run_loop(Env *env) { env_real_run(env); }
static void stop_loop(Env *env) { env_real_stop(env); }

int main(int argc, char **argv) {
    Env *env = env_real_new();
    /* Like the `nats` CLI: $NATS_URL names the server when --server is not given. */
    CliWorld world = {.env = env, .run = run_loop, .stop = stop_loop, .default_server = g_getenv("NATS_URL")};
    int rc = cli_main(&world, argc, argv);
    env_real_free(env);
    return rc;
}
