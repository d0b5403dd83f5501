/* stream_api.h — the stream endpoints of the JetStream API (stream_api.c): INFO,
 * STREAM.CREATE|UPDATE|INFO|DELETE|PURGE|NAMES|LIST|MSG.GET|MSG.DELETE, DIRECT.GET.
 *
 * INTERFACE
 *   stream_api_register(js)   add this file's rows to js's $JS.API table (main.c, the
 *                             simulator and the tests call it after jetstream_new)
 */
#ifndef MINIJET_STREAM_API_H
#define MINIJET_STREAM_API_H

#include "jetstream.h"

void stream_api_register(JetStream *js);

#endif
