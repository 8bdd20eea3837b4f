/*
 * redis.h - the one module that talks to Redis.
 *
 * One redis_t per worker thread: a hiredis async connection driven by that
 * thread's h2o event loop (the adapter is in redis.c), so no thread ever
 * waits on Redis. Nothing but redis.c includes hiredis: replies are read
 * through the accessors below.
 *
 * Every command names the hash tag of the keys it touches (the bytes between
 * '{' and '}' in its keys), or NULL for a command that touches no key. With
 * one Redis (redis://, unix://) every command goes to it. With a Redis
 * Cluster (redis+cluster://host:port,...) the tag picks the master that owns
 * its slot (CRC16 of the tag mod 16384, as the cluster specification says);
 * a command without a tag goes to any master. Redirects (-MOVED, -ASK),
 * -TRYAGAIN, -CLUSTERDOWN and -LOADING, slot map changes and failovers are
 * handled here, within each command's deadline: nothing above this module
 * knows whether it talks to one Redis or to a cluster.
 *
 * Replica reads (config_redis_t.replica_reads: redis.read_url on a cluster):
 * the same client, but the tag picks a replica of the master that owns its
 * slot (the first CLUSTER SLOTS lists), on a connection that said READONLY;
 * a slot without a live replica routes nowhere (REDIS_E_DOWN), and a
 * replica's -MOVED, -ASK, -LOADING, -TRYAGAIN or -CLUSTERDOWN fails the
 * command (REDIS_ERROR_UNAVAILABLE) instead of being followed or retried:
 * the caller reads from the masters (store.c's fallback), at once.
 *
 * Guarantees:
 *  - every command gets its callback exactly once, with a reply or with an
 *    error (redis_error_t): REDIS_ERROR_TIMEOUT after
 *    config_redis_t.command_timeout_ms (which covers a cluster's whole
 *    redirect chain), REDIS_ERROR_UNAVAILABLE when the connection dropped
 *    before the reply, REDIS_ERROR_NOT_REPLICATED (durable writes only, see
 *    redis_command_durable);
 *  - while disconnected, redis_command() fails at once (REDIS_E_DOWN) and
 *    the callback is NOT called: the caller answers 503 immediately (with a
 *    cluster: while the slot map is unknown, or the master of the command's
 *    slot is down);
 *  - at most max_pending commands in flight per redis_t (REDIS_E_BUSY);
 *  - after a disconnect it reconnects by itself with exponential backoff
 *    from reconnect_min_ms to reconnect_max_ms; a cluster client also reads
 *    the slot map again, and follows a promoted replica.
 */
#ifndef CONSENTD_REDIS_H
#define CONSENTD_REDIS_H

#include <stddef.h>
#include <stdint.h>
#include <h2o.h>
#include "config.h"

typedef struct redis redis_t;
typedef struct redisReply redis_reply_t; /* opaque: hiredis' reply, read with the accessors */

enum {
    REDIS_OK = 0,
    REDIS_E_DOWN = -1, /* not connected: fail fast */
    REDIS_E_BUSY = -2, /* too many commands in flight */
    REDIS_E_ARGS = -3  /* bad arguments (argc 0, ...) */
};

typedef enum {
    REDIS_REPLY_KIND_NIL = 0,
    REDIS_REPLY_KIND_STRING, /* bulk string */
    REDIS_REPLY_KIND_STATUS, /* +OK */
    REDIS_REPLY_KIND_ERROR,  /* -ERR ...: a Redis error is a reply, not an err */
    REDIS_REPLY_KIND_INTEGER,
    REDIS_REPLY_KIND_ARRAY
} redis_reply_kind_t;

/*
 * Why a command failed: a kind, which decides the answer (one place maps
 * each to an HTTP status, error code and log line: http_storage_error), and
 * a detail for the log. Errors are values; nothing compares their text.
 */
typedef enum {
    REDIS_ERROR_TIMEOUT = 1,    /* no reply within command_timeout_ms */
    REDIS_ERROR_UNAVAILABLE,    /* not connected, the connection lost before the reply, or
                                 * Redis cannot serve now: -LOADING, -BUSY, -MASTERDOWN,
                                 * -READONLY, and a cluster's -TRYAGAIN, -CLUSTERDOWN,
                                 * -MOVED, -ASK past their retries and redirects */
    REDIS_ERROR_NOT_REPLICATED, /* a durable write that fewer than wait_replicas acknowledged
                                 * within wait_timeout_ms (it may be on the master alone) */
    REDIS_ERROR_BUSY,           /* too many commands in flight (max_pending), or out of memory */
    REDIS_ERROR_REPLY,          /* Redis refused the command (-ERR, -WRONGTYPE, -NOPERM, -OOM,
                                 * ...), or its reply is not the shape the caller expects */
    REDIS_ERROR_INTERNAL,       /* the command could not be made (bad arguments: a bug) */
    REDIS_ERROR_LIMITED         /* not an outage: the server-side function refused a write
                                 * over a limit and wrote nothing (store.h: the visitor's
                                 * write limit); retry_after_ms says when to come back */
} redis_error_kind_t;

typedef struct redis_error {
    redis_error_kind_t kind;
    const char *detail;     /* "timeout", "disconnected", Redis' error text...: for the log; valid
                             * during the callback */
    int64_t retry_after_ms; /* REDIS_ERROR_LIMITED: > 0; else 0 */
} redis_error_t;

/* The error of a REDIS_E_* code (REDIS_E_DOWN: unavailable, REDIS_E_BUSY:
 * busy, REDIS_E_ARGS: internal); static. */
const redis_error_t *redis_error_of_rc(int rc);
/* An error reply (REDIS_REPLY_KIND_ERROR) as an error: kind UNAVAILABLE for
 * the refusals that pass (see above), REPLY for the others; detail: its text
 * copied into buf (cap bytes). */
redis_error_t redis_error_of_reply(const redis_reply_t *reply, char *buf, size_t cap);

/* reply is NULL exactly when err is not NULL. The reply is valid only during
 * the callback. */
typedef void (*redis_reply_cb)(void *data, const redis_reply_t *reply, const redis_error_t *err);
/* Called on the loop thread each time a connection becomes ready (after
 * AUTH/SELECT), e.g. to load server-side functions, and when it is lost.
 * With a cluster, once per master connection: a command without a tag sent
 * from inside this callback (connected = 1) goes to the connection that has
 * just become ready, so that every master gets what is sent there; so does
 * a command without a tag sent from the reply callback of such a command
 * (a conversation with that master: ask, then act on the answer). */
typedef void (*redis_state_cb)(void *data, redis_t *r, int connected);

/* Create the connection object for this loop and start connecting. It never
 * fails for network reasons (it retries); NULL only on allocation failure. */
redis_t *redis_create(h2o_loop_t *loop, const config_redis_t *cfg);
/* Optional; at most one. */
void redis_set_state_cb(redis_t *r, redis_state_cb cb, void *data);
/* Fails every pending command as unavailable (callbacks run), closes,
 * frees. Call on the loop thread. */
void redis_destroy(redis_t *r);

/* Send one command. tag/tag_len: the hash tag of its keys, NULL/0 for none.
 * argv/argvlen as in hiredis (binary safe). Returns REDIS_OK (cb will run
 * once, later, never from inside this call) or a REDIS_E_* code (cb will
 * never run). */
int redis_command(redis_t *r, const char *tag, size_t tag_len, redis_reply_cb cb, void *data,
                  int argc, const char **argv, const size_t *argvlen);
/* The same, for a write that must outlive a failover. With
 * config_redis_t.wait_replicas 0 it is exactly redis_command. Otherwise
 * `WAIT wait_replicas wait_timeout_ms` follows the command on the same
 * connection (pipelined: one round trip), and a reply that is not an error
 * reaches cb only once that many replicas acknowledged the write; fewer
 * within wait_timeout_ms gives REDIS_ERROR_NOT_REPLICATED (the write may be
 * on the master alone: the client retries). */
int redis_command_durable(redis_t *r, const char *tag, size_t tag_len, redis_reply_cb cb,
                          void *data, int argc, const char **argv, const size_t *argvlen);

/* The Redis Cluster slot of a hash tag: CRC16 (XMODEM) of its bytes mod
 * 16384. Exposed for tests. */
unsigned redis_key_slot(const char *tag, size_t len);

/* One Redis: connected. A cluster: the slot map is known and every master
 * in it is connected. */
/* Which server a command with this tag goes to now: a small integer, the
 * same for two tags one master serves (0 with one Redis), -1 while unknown
 * (a cluster's slot map not read yet). For callers that send a command once
 * per server, not once per tag (erasure's compaction on disk). */
int redis_server_of(redis_t *r, const char *tag, size_t len);
int redis_is_connected(const redis_t *r);
/* Why the last connect or the connection failed ("connection refused", ...;
 * with a cluster, prefixed by the node's address), "" when connected. Valid
 * until the next call or loop iteration. */
const char *redis_last_error(redis_t *r);
size_t redis_pending(const redis_t *r);
/* Sum of round-trip times: observed by metrics through this hook, called on
 * the loop thread with each reply's round trip in nanoseconds. */
typedef void (*redis_rtt_cb)(void *data, uint64_t ns);
void redis_set_rtt_cb(redis_t *r, redis_rtt_cb cb, void *data);

redis_reply_kind_t redis_reply_kind(const redis_reply_t *reply);
/* STRING, STATUS, ERROR: the bytes; others: NULL with *len = 0. */
const char *redis_reply_str(const redis_reply_t *reply, size_t *len);
long long redis_reply_integer(const redis_reply_t *reply);
size_t redis_reply_count(const redis_reply_t *reply);                      /* ARRAY */
const redis_reply_t *redis_reply_at(const redis_reply_t *reply, size_t i); /* ARRAY */

#endif
