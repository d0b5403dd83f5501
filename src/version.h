/* version.h — the one place minijet's version strings live.
 *
 *   MINIJET_VERSION      minijet's own release: `minijet-server --version`, the startup log,
 *                        and the "version" the project's client sends in CONNECT
 *   MINIJET_NATS_VERSION the nats-server release whose protocol and fields minijet follows:
 *                        the INFO "version" clients gate features on (spec 6.1), the
 *                        monitor's /varz "version", and the startup log
 */
#ifndef MINIJET_VERSION_H
#define MINIJET_VERSION_H

#define MINIJET_VERSION "0.1.0"
#define MINIJET_NATS_VERSION "2.9.10"

#endif
