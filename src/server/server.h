/*
 * server.h - h2o set-up, worker threads, listeners, reload and shutdown.
 *
 * server_start() starts cfg->threads workers, each with its own event loop,
 * its own SO_REUSEPORT listener and its own Redis connection. Signals are
 * main.c's: it calls server_publish() after a good reload and server_stop()
 * on SIGTERM/SIGINT.
 */
#ifndef CONSENTD_SERVER_H
#define CONSENTD_SERVER_H

#include "config.h"
#include "snapshot.h"

/* Binds the listeners (a port in use is a start-up error) and prepares h2o.
 * Takes over one reference of snap. Returns 0, or -1 with a reason in err. */
int server_init(const config_t *cfg, snapshot_t *snap, char *err, size_t errlen);
/* Starts the worker threads and returns. */
int server_start(void);
/* Every worker switches to snap for new requests; requests in flight finish
 * on the snapshot they started with. Takes over one reference. Returns when
 * every worker has switched (0), or -1 after a few seconds if one has not
 * yet (it will, at its next event). Call from the main thread only. */
int server_publish(snapshot_t *snap);
/* Stop accepting, finish in-flight requests and Redis replies (at most
 * cfg->shutdown_timeout_ms), then join the workers. Returns 0 when every
 * worker drained in time, 1 when the deadline cut some work short. */
int server_stop(void);

#endif
