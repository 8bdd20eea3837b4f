/*
 * resolve.h - host names looked up, and kept up to date.
 *
 * consentd connects to Redis by numeric address: a lookup in the event loop
 * would block every request of the worker. But a name's address can change
 * while consentd runs (a Redis container recreated, a failover done in DNS).
 * A name is watched: one background thread looks it up again when a
 * connection to it failed (resolve_again) and every RESOLVE_REFRESH_MS, and
 * the workers take the latest address (resolve_current) without waiting on
 * DNS. Numeric addresses are never watched.
 */
#ifndef CONSENTD_RESOLVE_H
#define CONSENTD_RESOLVE_H

#include <stddef.h>

#define RESOLVE_ADDR_MAX 64      /* a numeric IPv4 or IPv6 address, NUL included */
#define RESOLVE_WATCH_MAX 32     /* names watched per process */
#define RESOLVE_REFRESH_MS 30000 /* looked up again at least this often */
#define RESOLVE_AGAIN_MIN_MS 500 /* and at most this often when asked */

/* Look name up now (blocking; at start-up): its numeric address into out,
 * IPv4 first when it has both (Redis is often bound to 127.0.0.1 only while
 * "localhost" may come as ::1 first). 0, or -1 with a message in err. */
int resolve_lookup(const char *name, char *out, size_t cap, char *err, size_t errlen);

/* Watch name, whose address is addr now: returns its id (the same for the
 * same name), or -1 when name is a numeric address or the table is full
 * (then addr is used as it is). Starts the thread on first use. */
int resolve_watch(const char *name, const char *addr);

/* The latest address of a watched name into out. */
void resolve_current(int id, char *out, size_t cap);

/* A connection to it failed: look it up again soon (never waits). */
void resolve_again(int id);

#endif
