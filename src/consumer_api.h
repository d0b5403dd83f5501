/* consumer_api.h — the consumer endpoints of the JetStream API (consumer_api.c):
 * CONSUMER.CREATE|DURABLE.CREATE|INFO|DELETE|NAMES|LIST|MSG.NEXT.
 *
 * INTERFACE
 *   consumer_api_register(js)   add this file's rows to js's $JS.API table (main.c, the
 *                               simulator and the tests call it after jetstream_new)
 */
#ifndef MINIJET_CONSUMER_API_H
#define MINIJET_CONSUMER_API_H

#include "jetstream.h"

void consumer_api_register(JetStream *js);

#endif
