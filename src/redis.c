/*
 * redis.c - the hiredis async client on a worker's h2o event loop, for one
 * Redis or a Redis Cluster.
 *
 * hiredis 0.14.1 parses and queues; this file gives it a poller (the adapter
 * below: h2o sockets opened with DONT_READ so that only hiredis reads the fd),
 * timeouts (hiredis has none), reconnection, fail-fast when down, and the
 * cluster client (hiredis 0.14 has none, Debian ships none).
 *
 * Nodes. A redis_node_t is one connection to one server, with its own
 * reconnect schedule. One Redis: exactly one node. A cluster: one node per
 * master (plus the seeds until the first slot map is known), in r->nodes;
 * r->slots maps each of the 16384 slots to the index + 1 of its master's
 * node (0: unknown). The map is read with CLUSTER SLOTS from any ready node:
 * when a node first becomes ready, after a -MOVED (the one slot is patched at
 * once), a -CLUSTERDOWN or a lost master, and every REDIS_REFRESH_MS while a
 * master of the map is not connected (that is how a promoted replica is
 * found). A node that is no longer a master in the map is retired: it takes
 * no new command, closes once its replies are in, and is freed.
 *
 * Lifetimes:
 *  - A node's hiredis context (node->ac) exists from a connect attempt until
 *    hiredis frees it (after an error, or when we call redisAsyncFree); the
 *    adapter's cleanup hook is the one place that learns the context is gone,
 *    whatever the cause: it arms the reconnect timer, or frees a retired node.
 *    A new context is only ever created from that timer (or for a redirect to
 *    a node waiting out its backoff), never from inside hiredis' cleanup.
 *  - A command_t is malloc'd by redis_command and lives until its user
 *    callback has run and hiredis no longer holds it. At any time it is in
 *    exactly one place: in hiredis on one connection (privdata of the
 *    command, and of the WAIT after it for a durable write: the WAIT's reply
 *    is then the last of the pair, where the record moves on), in a node's
 *    `waiting` list (a cluster node still connecting), or in r->retrying (a
 *    -TRYAGAIN/-CLUSTERDOWN backoff). Its deadline (command_timeout_ms) runs
 *    from redis_command across every redirect and retry; if it fires while
 *    hiredis holds the record, the user's callback runs then with the timeout
 *    and the record stays, marked, until the late reply (or the disconnect)
 *    frees it. So the user's callback runs exactly once and the record is
 *    freed exactly once.
 */
#include "redis.h"

/* After redis.h: hiredis #defines REDIS_OK/REDIS_ERR (same values as ours),
 * which would otherwise break our enum. */
#include <hiredis/async.h>

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "resolve.h"

#define REDIS_ERROR_MAX 256
/* Backoff delays are min, 2*min, 4*min ... max: one h2o_timeout_t per step
 * (an h2o 2.2.5 timeout has a fixed duration). 24 steps cover any sane
 * max/min ratio; a larger one is cut short at max. */
#define REDIS_BACKOFF_STEPS_MAX 24
/* A dead peer (host gone, no RST) is noticed by the kernel instead of
 * leaving every command to time out forever: keepalive probes while idle,
 * TCP_USER_TIMEOUT while data is unacknowledged. */
#define REDIS_KEEPALIVE_S 15
#define REDIS_TCP_USER_TIMEOUT_MS 10000

#define REDIS_SLOTS 16384
#define REDIS_HOST_MAX 64       /* a numeric IPv4 or IPv6 address */
#define REDIS_NODE_NAME_MAX 264 /* "host:port", or a unix socket path */
#define REDIS_NODES_MAX 1024    /* connections of one redis_t to a cluster's nodes */
#define REDIS_REDIRECTS_MAX 5   /* -MOVED/-ASK followed per command */
#define REDIS_REFRESH_MS 200    /* between two reads of the slot map */
/* -TRYAGAIN, -CLUSTERDOWN, -LOADING: sent again after these delays, within
 * the command's deadline; one h2o_timeout_t per step. */
static const uint32_t redis_retry_ms[] = {10, 20, 40, 80, 160, 320};
#define REDIS_RETRY_STEPS (sizeof(redis_retry_ms) / sizeof(redis_retry_ms[0]))

typedef struct redis_node redis_node_t;

struct redis_node {
    redis_t *owner;
    unsigned index;            /* in owner->nodes */
    char host[REDIS_HOST_MAX]; /* "" with a unix socket (owner->cfg.unix_path) */
    uint16_t port;
    char name[REDIS_NODE_NAME_MAX];      /* for messages */
    redisAsyncContext *ac;               /* NULL between a lost connection and the next attempt */
    h2o_socket_t *sock;                  /* h2o's wrapper of ac's fd: polls it for hiredis */
    int ready;                           /* connected, AUTH and SELECT done: commands accepted */
    int announced;                       /* the state callback was told connected=1 */
    unsigned handshake_left;             /* AUTH/SELECT replies still awaited */
    int error_set;                       /* last_error already says why the context is going away */
    unsigned backoff_step;               /* index into owner->backoff for the next reconnect */
    h2o_timeout_entry_t connect_entry;   /* in owner->connect_timeout while connecting */
    h2o_timeout_entry_t reconnect_entry; /* in one of owner->backoff while waiting */
    int watch;                           /* resolve.h id of the name host came from, or -1 */
    char last_error[REDIS_ERROR_MAX];    /* "" when ready */
    char logged_error[REDIS_ERROR_MAX];  /* last error logged, to log a streak once */
    /* cluster only */
    int master;             /* a master of the map, or named by a redirect: announced, routed to */
    int mapped;             /* scratch: named by the slot map being applied */
    int retired;            /* no longer a master: no new command, closes when drained */
    size_t sent;            /* records hiredis holds on this connection */
    h2o_linklist_t waiting; /* commands waiting for this connection to be ready */
};

struct redis {
    h2o_loop_t *loop;
    config_redis_t cfg;   /* a copy: the caller's may go before we do */
    redis_node_t **nodes; /* one Redis: nodes[0]; a cluster: NULL holes where nodes were freed */
    size_t n_nodes, cap_nodes;
    size_t inflight;         /* live command records, timed-out ones included: max_pending */
    size_t owed;             /* user callbacks not yet run: redis_pending() */
    unsigned callback_depth; /* > 0 while a user callback runs (see redis_destroy) */
    int destroying;
    h2o_timeout_t command_timeout;
    h2o_timeout_t connect_timeout;
    h2o_timeout_t backoff[REDIS_BACKOFF_STEPS_MAX];
    unsigned backoff_steps;
    redis_state_cb state_cb;
    void *state_data;
    redis_rtt_cb rtt_cb;
    void *rtt_data;
    char *wait_fmt; /* "WAIT n ms", formatted once; NULL when wait_replicas is 0 */
    size_t wait_fmt_len;
    /* cluster only */
    uint16_t *slots;      /* slot -> node index + 1, 0 when unknown */
    uint16_t *slots_next; /* the map being read */
    int map_known;
    size_t unrouted;    /* replica_reads: ranges of the map without a replica (read again soon) */
    int refreshing;     /* a CLUSTER SLOTS is in flight */
    int refresh_again;  /* asked for while one was in flight */
    int refresh_wanted; /* no node was ready to ask: ask the first that is */
    char refresh_host[REDIS_HOST_MAX]; /* the node asked: a "" address in the map is its own */
    h2o_timeout_t refresh_timeout;
    h2o_timeout_entry_t refresh_entry;
    h2o_timeout_t retry[REDIS_RETRY_STEPS];
    h2o_linklist_t retrying;  /* commands waiting out a retry delay */
    redis_node_t *announcing; /* during the state callback: where untagged commands go */
    unsigned rr;              /* round robin over masters for untagged commands */
    char map_error[REDIS_ERROR_MAX];
    char logged_map_error[REDIS_ERROR_MAX];
    char error_buf[REDIS_ERROR_MAX + REDIS_NODE_NAME_MAX + 8];
};

typedef enum {
    COMMAND_NEW = 0,
    COMMAND_SENT,     /* hiredis holds it */
    COMMAND_WAITING,  /* in a node's waiting list */
    COMMAND_RETRYING, /* in r->retrying, its retry_entry linked */
} command_state_t;

/* What a reply asks for; decided when the command's reply comes, done then,
 * or for a durable write when the WAIT's reply comes after it. */
typedef enum {
    ACT_DONE = 0, /* the user gets the reply */
    ACT_FAIL,     /* the user gets an error string */
    ACT_REDIRECT, /* -MOVED / -ASK: send again to another node */
    ACT_RETRY     /* -TRYAGAIN / -CLUSTERDOWN / -LOADING: send again later */
} command_act_t;

typedef struct command {
    redis_t *r;
    redis_reply_cb cb;
    void *data;
    int internal; /* ours (the slot map): not in owed, not redirected */
    uint64_t start_ns;
    int timed_out; /* the user heard of the timeout; the record waits for hiredis */
    command_state_t state;
    h2o_timeout_entry_t timeout;
    char *fmt; /* the command, formatted once, sent again on redirects */
    size_t fmt_len;
    int slot;    /* -1: any master */
    int pinned;  /* untagged, sent to r->announcing: its reply callback announces that node too */
    int durable; /* a WAIT follows it */
    int asking;  /* send ASKING first (an -ASK redirect) */
    unsigned redirects, retries;
    h2o_linklist_t link; /* in a node's waiting list or r->retrying */
    h2o_timeout_entry_t retry_entry;
    /* between the reply and the act */
    command_act_t act;
    const redis_error_t *fail; /* ACT_FAIL: the error (one of the static ones below) */
    redisReply *held;          /* durable: a copy of the reply, until WAIT's reply */
    int to_slot, to_ask;       /* ACT_REDIRECT: where */
    char to_host[REDIS_HOST_MAX];
    uint16_t to_port;
} command_t;

/* The errors this file gives (their details are the words the log says). */
static const redis_error_t redis_error_timeout = {REDIS_ERROR_TIMEOUT, "timeout"};
static const redis_error_t redis_error_disconnected = {REDIS_ERROR_UNAVAILABLE, "disconnected"};
static const redis_error_t redis_error_not_replicated = {REDIS_ERROR_NOT_REPLICATED,
                                                         "not replicated"};
static const redis_error_t redis_error_oom = {REDIS_ERROR_BUSY, "out of memory"};
static const redis_error_t redis_error_busy = {REDIS_ERROR_BUSY, "too many commands in flight"};
static const redis_error_t redis_error_args = {REDIS_ERROR_INTERNAL, "bad arguments"};
static const redis_error_t redis_error_replica = {
    REDIS_ERROR_UNAVAILABLE, "the replica cannot answer (MOVED, ASK, LOADING, TRYAGAIN or "
                             "CLUSTERDOWN): read from the masters"};

static void node_connect(redis_node_t *n);
static void node_retire(redis_node_t *n);
static void cluster_refresh(redis_t *r, int now);
static void node_set_name(redis_node_t *n);
static void command_act(command_t *c, const redisReply *live);

unsigned redis_key_slot(const char *tag, size_t len)
{
    /* CRC16-CCITT as XMODEM computes it: polynomial 0x1021, initial value 0,
     * no reflection, no final xor (the Redis Cluster specification's). */
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((unsigned char)tag[i] << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 0x8000) != 0 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc & (REDIS_SLOTS - 1);
}

/* ---- copies of replies (a durable write's reply outlives its callback) ---- */

static void reply_free(redisReply *r)
{
    if (r == NULL) return;
    if (r->type == REDIS_REPLY_ARRAY && r->element != NULL) {
        for (size_t i = 0; i < r->elements; i++)
            reply_free(r->element[i]);
        free(r->element);
    }
    free(r->str);
    free(r);
}

static redisReply *reply_copy(const redisReply *src)
{
    redisReply *r = calloc(1, sizeof(*r));
    if (r == NULL) return NULL;
    r->type = src->type;
    r->integer = src->integer;
    if (src->str != NULL) {
        if ((r->str = malloc(src->len + 1)) == NULL) goto fail;
        memcpy(r->str, src->str, src->len);
        r->str[src->len] = '\0';
        r->len = src->len;
    }
    if (src->type == REDIS_REPLY_ARRAY && src->elements > 0) {
        if ((r->element = calloc(src->elements, sizeof(*r->element))) == NULL) goto fail;
        r->elements = src->elements;
        for (size_t i = 0; i < src->elements; i++)
            if ((r->element[i] = reply_copy(src->element[i])) == NULL) goto fail;
    }
    return r;
fail:
    reply_free(r);
    return NULL;
}

/* ---- node errors and log lines ---------------------------------------------- */

/* hiredis says "Connection refused", "Server closed the connection": make them
 * read like the rest of our messages, but leave "ERR ..." from Redis alone. */
static void node_set_error(redis_node_t *n, const char *prefix, const char *msg)
{
    snprintf(n->last_error, sizeof(n->last_error), "%s%s", prefix, msg);
    if (prefix[0] == '\0' && n->last_error[0] >= 'A' && n->last_error[0] <= 'Z' &&
        n->last_error[1] >= 'a' && n->last_error[1] <= 'z')
        n->last_error[0] = (char)(n->last_error[0] - 'A' + 'a');
    n->error_set = 1;
}

/* The context is going away: keep the reason we already have (a timeout, a
 * failed AUTH), else take hiredis' (copied to c.err before it frees). */
static void node_note_loss(redis_node_t *n, const redisAsyncContext *ac)
{
    if (!n->error_set)
        node_set_error(
            n, "", ac->c.err != 0 && ac->c.errstr[0] != '\0' ? ac->c.errstr : "connection closed");
}

static void node_log_failure(redis_node_t *n)
{
    if (strcmp(n->logged_error, n->last_error) == 0) {
        log_msg(LOG_DEBUG, "redis: still cannot connect to %s: %s", n->name, n->last_error);
        return;
    }
    snprintf(n->logged_error, sizeof(n->logged_error), "%s", n->last_error);
    log_msg(LOG_WARN, "redis: cannot connect to %s: %s (retrying)", n->name, n->last_error);
}

/* ---- commands: records, the user's callback ----------------------------------- */

static void command_free(command_t *c)
{
    c->r->inflight--;
    free(c->fmt);
    reply_free(c->held);
    free(c);
}

/*
 * The end of a command that hiredis no longer holds: run its callback (reply
 * or err) and free it. Callbacks of internal commands are ours: they are not
 * counted as owed.
 */
static void command_finish(command_t *c, const redisReply *reply, const redis_error_t *err)
{
    redis_t *r = c->r;
    redis_reply_cb cb = c->cb;
    void *data = c->data;
    int internal = c->internal;
    redisReply *held = c->held;
    c->held = NULL;
    h2o_timeout_unlink(&c->timeout);
    h2o_timeout_unlink(&c->retry_entry);
    if (h2o_linklist_is_linked(&c->link)) h2o_linklist_unlink(&c->link);
    command_free(c);
    if (err == NULL && reply == NULL) reply = held;
    if (err == NULL && reply == NULL) err = &redis_error_oom;
    if (!internal) r->owed--;
    r->callback_depth++;
    cb(data, err == NULL ? reply : NULL, err);
    r->callback_depth--;
    reply_free(held);
}

/* The deadline: wherever the command is, the user hears of the timeout now. */
static void command_on_timeout(h2o_timeout_entry_t *entry)
{
    command_t *c = H2O_STRUCT_FROM_MEMBER(command_t, timeout, entry);
    redis_t *r = c->r;
    if (c->state != COMMAND_SENT) {
        command_finish(c, NULL, &redis_error_timeout);
        return;
    }
    c->timed_out = 1;
    if (!c->internal) r->owed--;
    r->callback_depth++;
    c->cb(c->data, NULL, &redis_error_timeout);
    r->callback_depth--;
}

static void command_on_asking_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    /* ASKING answers +OK; the command after it says what matters. */
}

static void command_on_reply(redisAsyncContext *ac, void *_reply, void *privdata);
static void command_on_wait_reply(redisAsyncContext *ac, void *_reply, void *privdata);

/*
 * Hand c to node n: into hiredis when n is ready; into n's waiting list when
 * n is a cluster node still connecting. -1 when neither (n is down): c is
 * then untouched.
 */
static int command_send(command_t *c, redis_node_t *n)
{
    redis_t *r = c->r;
    if (n->ready && n->ac != NULL) {
        if (c->asking &&
            redisAsyncCommand(n->ac, command_on_asking_reply, NULL, "ASKING") != REDIS_OK)
            return -1;
        if (redisAsyncFormattedCommand(n->ac, command_on_reply, c, c->fmt, c->fmt_len) != REDIS_OK)
            return -1;
        c->asking = 0;
        c->state = COMMAND_SENT;
        c->act = ACT_DONE;
        n->sent++;
        /* The WAIT right behind it, on the same connection: one round trip.
         * hiredis only fails to queue it for lack of memory; the command is
         * already queued, so its reply then ends as not replicated. */
        if (c->durable && redisAsyncFormattedCommand(n->ac, command_on_wait_reply, c, r->wait_fmt,
                                                     r->wait_fmt_len) != REDIS_OK) {
            c->durable = 0;
            c->act = ACT_FAIL;
            c->fail = &redis_error_not_replicated;
        }
        if (!r->cfg.cluster) { /* nothing is ever sent again */
            free(c->fmt);
            c->fmt = NULL;
        }
        return 0;
    }
    if (r->cfg.cluster && n->ac != NULL && !n->retired) {
        h2o_linklist_insert(&n->waiting, &c->link);
        c->state = COMMAND_WAITING;
        return 0;
    }
    return -1;
}

/* ---- the adapter: hiredis' event hooks on an h2o socket ------------------- */

static void adapter_on_readable(h2o_socket_t *sock, const char *err)
{
    /* With DONT_READ h2o reports readiness only (err is always NULL): hiredis
     * reads, and finds any error itself. */
    redis_node_t *n = sock->data;
    redisAsyncHandleRead(n->ac);
}

static void adapter_on_writable(h2o_socket_t *sock, const char *err)
{
    redis_node_t *n = sock->data;
    redisAsyncHandleWrite(n->ac);
}

static void adapter_add_read(void *privdata)
{
    redis_node_t *n = privdata;
    if (!h2o_socket_is_reading(n->sock)) h2o_socket_read_start(n->sock, adapter_on_readable);
}

static void adapter_del_read(void *privdata)
{
    redis_node_t *n = privdata;
    if (h2o_socket_is_reading(n->sock)) h2o_socket_read_stop(n->sock);
}

static void adapter_add_write(void *privdata)
{
    redis_node_t *n = privdata;
    /* h2o asserts if a notification is already armed; one is enough. */
    if (!h2o_socket_is_writing(n->sock)) h2o_socket_notify_write(n->sock, adapter_on_writable);
}

static void adapter_del_write(void *privdata)
{
    /* h2o 2.2.5 cannot cancel a write notification. A spurious one makes
     * hiredis write an empty buffer, which is harmless. */
}

static void node_schedule_reconnect(redis_node_t *n)
{
    redis_t *r = n->owner;
    /* The name may point elsewhere now (a Redis container recreated). */
    if (n->watch >= 0) resolve_again(n->watch);
    h2o_timeout_link(r->loop, &r->backoff[n->backoff_step], &n->reconnect_entry);
    if (n->backoff_step + 1 < r->backoff_steps) n->backoff_step++;
}

/* Commands that waited for a connection that did not come. */
static void node_fail_waiting(redis_node_t *n)
{
    while (!h2o_linklist_is_empty(&n->waiting)) {
        command_t *c = H2O_STRUCT_FROM_MEMBER(command_t, link, n->waiting.next);
        command_finish(c, NULL, &redis_error_disconnected);
    }
}

static void node_free(redis_node_t *n)
{
    redis_t *r = n->owner;
    assert(n->ac == NULL && h2o_linklist_is_empty(&n->waiting));
    h2o_timeout_unlink(&n->reconnect_entry);
    h2o_timeout_unlink(&n->connect_entry);
    if (r->announcing == n) r->announcing = NULL;
    r->nodes[n->index] = NULL;
    free(n);
}

/*
 * hiredis is freeing the context: after a failed connect, an I/O or protocol
 * error, or our own redisAsyncFree. Pending commands have already had their
 * callbacks (with NULL). The context itself is still valid here and freed
 * right after we return.
 */
static void adapter_cleanup(void *privdata)
{
    redis_node_t *n = privdata;
    redis_t *r = n->owner;
    redisAsyncContext *ac = n->ac;
    int was_announced = n->announced;

    /* h2o_socket_close closes the fd; redisFree must not close it again (by
     * then the number may belong to a socket another thread just opened). */
    ac->c.fd = -1;
    h2o_socket_close(n->sock);
    n->sock = NULL;
    n->ac = NULL;
    n->ready = 0;
    n->announced = 0;
    n->handshake_left = 0;
    n->sent = 0;
    h2o_timeout_unlink(&n->connect_entry);

    node_note_loss(n, ac);
    n->error_set = 0;
    if (r->destroying) return;
    if (n->retired) {
        node_free(n);
        return;
    }
    node_fail_waiting(n);
    if (!was_announced) node_log_failure(n);
    node_schedule_reconnect(n);
    if (was_announced && r->state_cb != NULL) {
        r->callback_depth++;
        r->state_cb(r->state_data, r, 0);
        r->callback_depth--;
    }
    /* A master is gone: its replica may be taking over. */
    if (r->cfg.cluster && n->master) cluster_refresh(r, 0);
}

static void node_attach(redis_node_t *n, redisAsyncContext *ac)
{
    int fd = ac->c.fd;

    /* hiredis opens its sockets without close-on-exec. */
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (n->host[0] != '\0') {
        int on = 1, idle = REDIS_KEEPALIVE_S, interval = REDIS_KEEPALIVE_S / 3, count = 3;
        unsigned user_timeout = REDIS_TCP_USER_TIMEOUT_MS;
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
    }
    n->ac = ac;
    n->sock = h2o_evloop_socket_create(n->owner->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    n->sock->data = n;
    ac->data = n;
    ac->ev.data = n;
    ac->ev.addRead = adapter_add_read;
    ac->ev.delRead = adapter_del_read;
    ac->ev.addWrite = adapter_add_write;
    ac->ev.delWrite = adapter_del_write;
    ac->ev.cleanup = adapter_cleanup;
}

/* ---- connecting ------------------------------------------------------------ */

/* Tell the state callback, once per connection, that a master is ready. */
static void node_announce(redis_node_t *n)
{
    redis_t *r = n->owner;
    if (n->announced || !n->ready || !n->master || n->retired) return;
    n->announced = 1;
    if (r->state_cb == NULL) return;
    redis_node_t *outer = r->announcing;
    r->announcing = n;
    r->callback_depth++;
    r->state_cb(r->state_data, r, 1);
    r->callback_depth--;
    r->announcing = outer;
}

static void node_become_ready(redis_node_t *n)
{
    redis_t *r = n->owner;
    h2o_timeout_unlink(&n->connect_entry);
    n->ready = 1;
    n->backoff_step = 0;
    n->last_error[0] = '\0';
    n->logged_error[0] = '\0';
    /* First what the state callback sends (the function library), then the
     * commands that waited for this connection. */
    node_announce(n);
    while (n->ready && !h2o_linklist_is_empty(&n->waiting)) {
        command_t *c = H2O_STRUCT_FROM_MEMBER(command_t, link, n->waiting.next);
        h2o_linklist_unlink(&c->link);
        if (command_send(c, n) != 0) command_finish(c, NULL, &redis_error_disconnected);
    }
    if (r->cfg.cluster && (!r->map_known || r->refresh_wanted)) {
        r->refresh_wanted = 0;
        cluster_refresh(r, 1);
    }
}

/* AUTH and SELECT replies. The connection is ready when the last one is OK. */
static void node_on_handshake_reply(redisAsyncContext *ac, void *_reply, void *privdata,
                                    const char *what)
{
    redis_node_t *n = ac->data;
    redisReply *reply = _reply;
    if (reply == NULL) return; /* the context is going away: adapter_cleanup says why */
    if (reply->type == REDIS_REPLY_ERROR) {
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "%s failed: ", what);
        node_set_error(n, prefix, reply->str);
        /* Inside a hiredis callback this is deferred until we return. */
        redisAsyncFree(ac);
        return;
    }
    if (--n->handshake_left == 0) node_become_ready(n);
}

static void node_on_auth_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    node_on_handshake_reply(ac, reply, privdata, "authentication");
}

static void node_on_select_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    node_on_handshake_reply(ac, reply, privdata, "SELECT");
}

static void node_on_readonly_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    node_on_handshake_reply(ac, reply, privdata, "READONLY");
}

/* A cluster node is ready only when it says the cluster is ok: a node that
 * has just started (Redis keeps it failed for 2 s), or one in a cluster that
 * lost a master, would answer -CLUSTERDOWN to everything. Until then the
 * attempt fails, and is made again after the backoff: commands meanwhile
 * fail fast, as with a server that is down. */
static void node_on_cluster_info_reply(redisAsyncContext *ac, void *_reply, void *privdata)
{
    redis_node_t *n = ac->data;
    redisReply *reply = _reply;
    if (reply == NULL) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        node_set_error(n, "CLUSTER INFO failed: ", reply->str);
        redisAsyncFree(ac);
        return;
    }
    if (reply->type != REDIS_REPLY_STRING || strstr(reply->str, "cluster_state:ok") == NULL) {
        node_set_error(n, "", "the cluster is down (cluster_state is not ok)");
        redisAsyncFree(ac);
        return;
    }
    if (--n->handshake_left == 0) node_become_ready(n);
}

/*
 * TCP (or the unix socket) is up. AUTH, then SELECT (one Redis) or CLUSTER
 * INFO (a cluster) go out pipelined, before any user command can
 * (redis_command refuses until ready), so they apply to all.
 * Never free the context here: hiredis goes on using it after we return.
 */
static void node_on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    redis_node_t *n = ac->data;
    const config_redis_t *cfg = &n->owner->cfg;

    if (status != REDIS_OK) return; /* hiredis frees the context next: adapter_cleanup */

    if (cfg->password[0] != '\0') {
        const char *argv[3] = {"AUTH"};
        size_t argvlen[3] = {4};
        int argc = 1;
        if (cfg->username[0] != '\0') {
            argv[argc] = cfg->username;
            argvlen[argc++] = strlen(cfg->username);
        }
        argv[argc] = cfg->password;
        argvlen[argc++] = strlen(cfg->password);
        /* Counted before it is sent: if hiredis refuses it (it cannot but for
         * lack of memory), no reply ever brings the count to 0, and the
         * connect timeout ends this attempt. */
        n->handshake_left++;
        if (redisAsyncCommandArgv(ac, node_on_auth_reply, NULL, argc, argv, argvlen) != REDIS_OK)
            return;
    }
    if (cfg->db != 0) {
        char db[16];
        const char *argv[2] = {"SELECT", db};
        size_t argvlen[2] = {6, (size_t)snprintf(db, sizeof(db), "%d", cfg->db)};
        n->handshake_left++;
        if (redisAsyncCommandArgv(ac, node_on_select_reply, NULL, 2, argv, argvlen) != REDIS_OK)
            return;
    }
    if (cfg->cluster) {
        n->handshake_left++;
        if (redisAsyncCommand(ac, node_on_cluster_info_reply, NULL, "CLUSTER INFO") != REDIS_OK)
            return;
    }
    /* Replica reads: a replica answers the reads of its master's slots only
     * on a connection that said READONLY (else -MOVED to the master). */
    if (cfg->cluster && cfg->replica_reads) {
        n->handshake_left++;
        if (redisAsyncCommand(ac, node_on_readonly_reply, NULL, "READONLY") != REDIS_OK) return;
    }
    if (n->handshake_left == 0) node_become_ready(n);
}

/* Connect (and handshake) took longer than connect_timeout_ms. Called from the
 * loop, never from inside hiredis, so the free happens now. */
static void node_on_connect_timeout(h2o_timeout_entry_t *entry)
{
    redis_node_t *n = H2O_STRUCT_FROM_MEMBER(redis_node_t, connect_entry, entry);
    node_set_error(n, "", "timeout connecting");
    redisAsyncFree(n->ac); /* -> adapter_cleanup -> reconnect */
}

static void node_on_reconnect_timer(h2o_timeout_entry_t *entry)
{
    redis_node_t *n = H2O_STRUCT_FROM_MEMBER(redis_node_t, reconnect_entry, entry);
    node_connect(n);
}

static void node_connect(redis_node_t *n)
{
    redis_t *r = n->owner;
    redisAsyncContext *ac;

    assert(n->ac == NULL);
    if (n->watch >= 0) {
        char addr[RESOLVE_ADDR_MAX];
        resolve_current(n->watch, addr, sizeof(addr));
        if (strcmp(addr, n->host) != 0) {
            snprintf(n->host, sizeof(n->host), "%s", addr);
            node_set_name(n);
        }
    }
    if (n->host[0] == '\0')
        ac = redisAsyncConnectUnix(r->cfg.unix_path);
    else
        ac = redisAsyncConnect(n->host, n->port);
    if (ac == NULL || ac->err != 0) {
        /* Failed before any I/O (refused at once, no such socket file...):
         * no adapter is attached, so this free closes the fd itself. */
        if (ac == NULL) {
            node_set_error(n, "", "out of memory");
        } else {
            node_set_error(n, "", ac->errstr);
            redisAsyncFree(ac);
        }
        n->error_set = 0;
        node_log_failure(n);
        node_fail_waiting(n);
        node_schedule_reconnect(n);
        return;
    }
    /* The adapter first: setting the connect callback arms a write. */
    node_attach(n, ac);
    redisAsyncSetConnectCallback(ac, node_on_connect);
    h2o_timeout_link(r->loop, &r->connect_timeout, &n->connect_entry);
}

/* A node waiting out its backoff, named by a redirect: try it now. */
static void node_kick(redis_node_t *n)
{
    if (n->ac != NULL || n->retired) return;
    h2o_timeout_unlink(&n->reconnect_entry);
    node_connect(n);
}

static void node_set_name(redis_node_t *n)
{
    if (n->host[0] == '\0')
        snprintf(n->name, sizeof(n->name), "%s", n->owner->cfg.unix_path);
    else if (strchr(n->host, ':') != NULL) /* IPv6 */
        snprintf(n->name, sizeof(n->name), "[%s]:%u", n->host, (unsigned)n->port);
    else
        snprintf(n->name, sizeof(n->name), "%s:%u", n->host, (unsigned)n->port);
}

/* A new node, connecting. host "" (one Redis on a unix socket) uses the
 * configured path. dns_name: the configured name host was resolved from
 * (its address is looked up again when it changes), or NULL. NULL on
 * allocation failure or when the table is full. */
static redis_node_t *node_create(redis_t *r, const char *host, uint16_t port, int master,
                                 const char *dns_name)
{
    size_t i = 0;
    while (i < r->n_nodes && r->nodes[i] != NULL)
        i++;
    if (i == r->n_nodes) {
        if (r->n_nodes == REDIS_NODES_MAX) return NULL;
        if (r->n_nodes == r->cap_nodes) {
            size_t cap = r->cap_nodes == 0 ? 4 : r->cap_nodes * 2;
            redis_node_t **nodes = realloc(r->nodes, cap * sizeof(*nodes));
            if (nodes == NULL) return NULL;
            r->nodes = nodes;
            r->cap_nodes = cap;
        }
        r->nodes[r->n_nodes++] = NULL;
    }
    redis_node_t *n = calloc(1, sizeof(*n));
    if (n == NULL) return NULL;
    n->owner = r;
    n->index = (unsigned)i;
    snprintf(n->host, sizeof(n->host), "%s", host);
    n->port = port;
    node_set_name(n);
    n->watch = dns_name != NULL && host[0] != '\0' ? resolve_watch(dns_name, host) : -1;
    n->master = master;
    n->connect_entry.cb = node_on_connect_timeout;
    n->reconnect_entry.cb = node_on_reconnect_timer;
    h2o_linklist_init_anchor(&n->waiting);
    r->nodes[i] = n;
    node_connect(n);
    return n;
}

/* ---- the cluster: slot map, routing ----------------------------------------- */

static redis_node_t *cluster_find(redis_t *r, const char *host, uint16_t port)
{
    for (size_t i = 0; i < r->n_nodes; i++) {
        redis_node_t *n = r->nodes[i];
        if (n != NULL && !n->retired && n->port == port && strcmp(n->host, host) == 0) return n;
    }
    return NULL;
}

/* The node at host:port, created (as a master) if need be. Only numeric
 * addresses: resolving a name would block the loop. */
static redis_node_t *cluster_node(redis_t *r, const char *host, uint16_t port)
{
    unsigned char addr[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1) return NULL;
    redis_node_t *n = cluster_find(r, host, port);
    if (n == NULL) n = node_create(r, host, port, 1, NULL);
    return n;
}

/* Any ready master, in turn; else any master. */
static redis_node_t *cluster_any_master(redis_t *r)
{
    redis_node_t *fallback = NULL;
    for (size_t k = 0; k < r->n_nodes; k++) {
        redis_node_t *n = r->nodes[(r->rr + k) % r->n_nodes];
        if (n == NULL || n->retired || !n->master) continue;
        if (n->ready) {
            r->rr = (unsigned)((r->rr + k + 1) % r->n_nodes);
            return n;
        }
        if (fallback == NULL) fallback = n;
    }
    return fallback;
}

/* Where a command for slot goes (-1: any master); NULL before the map.
 * Replica reads: a slot without a replica goes nowhere (any other node
 * would answer -MOVED). */
static redis_node_t *cluster_route(redis_t *r, int slot)
{
    if (!r->map_known) return NULL;
    if (slot >= 0 && r->slots[slot] != 0) {
        redis_node_t *n = r->nodes[r->slots[slot] - 1];
        if (n != NULL) return n;
    }
    if (slot >= 0 && r->cfg.replica_reads) return NULL;
    return cluster_any_master(r);
}

/* A master (replica reads: a replica) of the map is not ready, or a range
 * has no replica: the map is read again until it is whole. */
static int cluster_degraded(redis_t *r)
{
    if (r->unrouted > 0) return 1;
    for (size_t i = 0; i < r->n_nodes; i++) {
        redis_node_t *n = r->nodes[i];
        if (n != NULL && !n->retired && n->master && !n->ready) return 1;
    }
    return 0;
}

static void cluster_map_error(redis_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void cluster_map_error(redis_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->map_error, sizeof(r->map_error), fmt, ap);
    va_end(ap);
    if (strcmp(r->map_error, r->logged_map_error) != 0) {
        snprintf(r->logged_map_error, sizeof(r->logged_map_error), "%s", r->map_error);
        log_msg(LOG_WARN, "redis: %s (retrying)", r->map_error);
    }
}

/* One node entry of CLUSTER SLOTS ([ip, port, id, ...]) as an address. */
static int cluster_slots_address(redis_t *r, const redisReply *e, char *host, uint16_t *port)
{
    if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_INTEGER ||
        e->element[1]->integer <= 0 || e->element[1]->integer > 65535 ||
        e->element[0]->len >= REDIS_HOST_MAX)
        return -1;
    /* "" is the address we asked (a node that does not know its own). */
    if (e->element[0]->len == 0)
        snprintf(host, REDIS_HOST_MAX, "%s", r->refresh_host);
    else
        memcpy(host, e->element[0]->str, e->element[0]->len + 1);
    *port = (uint16_t)e->element[1]->integer;
    return 0;
}

/*
 * A CLUSTER SLOTS reply: [[start, end, master, replica...], ...], each node
 * [ip, port, id, ...]. Applied whole: every master gets its node (created,
 * connecting, when new), the slot table is replaced, and nodes that are no
 * longer masters are retired. -1 (and the old map stays) when it is not a
 * usable map.
 *
 * With replica_reads (redis.read_url on a cluster) the node a range routes
 * to is its first replica instead, and a range without one (none
 * configured, or Redis no longer lists it: failed) routes nowhere, so that
 * its reads fail at once and the caller reads from the masters. In this
 * file such a replica then plays the part a master plays elsewhere (the
 * "master" flag means: a node the map routes to).
 */
static int cluster_apply_map(redis_t *r, const redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
        cluster_map_error(r, "the cluster has no slot assigned yet (CLUSTER SLOTS is empty)");
        return -1;
    }
    for (size_t i = 0; i < r->n_nodes; i++)
        if (r->nodes[i] != NULL) r->nodes[i]->mapped = 0;
    memset(r->slots_next, 0, REDIS_SLOTS * sizeof(*r->slots_next));
    size_t unrouted = 0;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *range = reply->element[i];
        char host[REDIS_HOST_MAX];
        uint16_t port;
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
            range->element[0]->type != REDIS_REPLY_INTEGER ||
            range->element[1]->type != REDIS_REPLY_INTEGER || range->element[0]->integer < 0 ||
            range->element[1]->integer >= REDIS_SLOTS ||
            range->element[0]->integer > range->element[1]->integer ||
            cluster_slots_address(r, range->element[2], host, &port) != 0 ||
            (r->cfg.replica_reads && range->elements > 3 &&
             cluster_slots_address(r, range->element[3], host, &port) != 0)) {
            cluster_map_error(r, "unexpected CLUSTER SLOTS reply from %s", r->refresh_host);
            return -1;
        }
        if (r->cfg.replica_reads && range->elements <= 3) { /* no replica: unrouted */
            unrouted++;
            continue;
        }
        redis_node_t *n = cluster_find(r, host, port);
        if (n == NULL && (n = cluster_node(r, host, port)) != NULL && r->map_known)
            log_msg(LOG_INFO, "redis: %s serves slots now (a new %s)", n->name,
                    r->cfg.replica_reads ? "replica" : "master");
        if (n == NULL) {
            cluster_map_error(r,
                              "cannot use master %s:%u (not a numeric address, or more than "
                              "%d nodes)",
                              host, (unsigned)port, REDIS_NODES_MAX);
            return -1;
        }
        n->mapped = 1;
        for (long long s = range->element[0]->integer; s <= range->element[1]->integer; s++)
            r->slots_next[s] = (uint16_t)(n->index + 1);
    }
    memcpy(r->slots, r->slots_next, REDIS_SLOTS * sizeof(*r->slots));
    r->unrouted = unrouted;
    if (!r->map_known || log_enabled(LOG_DEBUG))
        log_msg(r->map_known ? LOG_DEBUG : LOG_INFO, "redis: cluster slot map from %s: %zu ranges",
                r->refresh_host, reply->elements);
    r->map_known = 1;
    r->map_error[0] = '\0';
    r->logged_map_error[0] = '\0';
    /* Retire what is no longer a master (by index: a retired node may be
     * freed at once), then announce the masters that were seeds. */
    for (size_t i = 0; i < r->n_nodes; i++) {
        redis_node_t *n = r->nodes[i];
        if (n != NULL && !n->retired && !n->mapped) node_retire(n);
    }
    for (size_t i = 0; i < r->n_nodes; i++) {
        redis_node_t *n = r->nodes[i];
        if (n != NULL && !n->retired && n->mapped) {
            n->master = 1;
            node_announce(n);
        }
    }
    return 0;
}

static void cluster_on_slots(void *data, const redis_reply_t *reply, const redis_error_t *err)
{
    redis_t *r = data;
    r->refreshing = 0;
    if (r->destroying) return;
    if (err != NULL)
        cluster_map_error(r, "reading the slot map from %s: %s", r->refresh_host, err->detail);
    else if (reply->type == REDIS_REPLY_ERROR)
        cluster_map_error(r, "reading the slot map from %s: %s", r->refresh_host, reply->str);
    else
        cluster_apply_map(r, reply);
    if (r->refresh_again || !r->map_known || cluster_degraded(r)) {
        r->refresh_again = 0;
        cluster_refresh(r, 0);
    }
}

/* Seeds that have no node: connect to them (the map is read from the first
 * that is ready). */
static void cluster_add_seeds(redis_t *r)
{
    for (size_t i = 0; i < r->cfg.n_seeds; i++)
        if (cluster_find(r, r->cfg.seeds[i].host, r->cfg.seeds[i].port) == NULL)
            node_create(r, r->cfg.seeds[i].host, r->cfg.seeds[i].port, 0, r->cfg.seeds[i].name);
}

static command_t *command_new(redis_t *r, redis_reply_cb cb, void *data, int argc,
                              const char **argv, const size_t *argvlen);

/* Read the slot map: now, or within REDIS_REFRESH_MS (at most one read in
 * flight, at most one every REDIS_REFRESH_MS after the first). */
static void cluster_refresh(redis_t *r, int now)
{
    if (r->destroying) return;
    if (r->refreshing) {
        r->refresh_again = 1;
        return;
    }
    if (!now) {
        if (!h2o_timeout_is_linked(&r->refresh_entry))
            h2o_timeout_link(r->loop, &r->refresh_timeout, &r->refresh_entry);
        return;
    }
    h2o_timeout_unlink(&r->refresh_entry);
    /* Ask a ready master, in turn, else any ready node (a seed). */
    redis_node_t *ask = NULL;
    for (size_t k = 0; k < r->n_nodes; k++) {
        redis_node_t *n = r->nodes[(r->rr + k) % r->n_nodes];
        if (n == NULL || n->retired || !n->ready) continue;
        if (ask == NULL || (n->master && !ask->master)) ask = n;
        if (ask->master) break;
    }
    if (ask == NULL) {
        r->refresh_wanted = 1;
        cluster_add_seeds(r);
        return;
    }
    r->rr++;
    static const char *argv[] = {"CLUSTER", "SLOTS"};
    static const size_t argvlen[] = {7, 5};
    command_t *c = command_new(r, cluster_on_slots, r, 2, argv, argvlen);
    if (c == NULL) {
        cluster_refresh(r, 0);
        return;
    }
    c->internal = 1;
    if (command_send(c, ask) != 0) {
        command_free(c);
        cluster_refresh(r, 0);
        return;
    }
    snprintf(r->refresh_host, sizeof(r->refresh_host), "%s", ask->host);
    h2o_timeout_link(r->loop, &r->command_timeout, &c->timeout);
    r->refreshing = 1;
}

static void cluster_on_refresh_timer(h2o_timeout_entry_t *entry)
{
    redis_t *r = H2O_STRUCT_FROM_MEMBER(redis_t, refresh_entry, entry);
    cluster_refresh(r, 1);
}

/*
 * A node that is no longer a master in the map: commands waiting for it go
 * where the map now says; it takes no new command, and closes when hiredis
 * holds no more of ours on it (their replies are redirects, followed).
 */
static void node_retire(redis_node_t *n)
{
    redis_t *r = n->owner;
    if (n->master) log_msg(LOG_INFO, "redis: %s serves no slot any more", n->name);
    n->retired = 1;
    n->master = 0;
    h2o_timeout_unlink(&n->reconnect_entry);
    while (!h2o_linklist_is_empty(&n->waiting)) {
        command_t *c = H2O_STRUCT_FROM_MEMBER(command_t, link, n->waiting.next);
        h2o_linklist_unlink(&c->link);
        redis_node_t *to = cluster_route(r, c->slot);
        if (to == NULL || to == n || command_send(c, to) != 0)
            command_finish(c, NULL, &redis_error_disconnected);
    }
    if (n->ac == NULL)
        node_free(n);
    else if (n->sent == 0)
        redisAsyncFree(n->ac); /* -> adapter_cleanup -> node_free (deferred inside its callback) */
}

/* ---- commands: replies, redirects, retries -------------------------------- */

/* "MOVED 3999 127.0.0.1:6381" / "ASK 3999 [::1]:6381" into c's to_*. */
static int command_parse_redirect(command_t *c, const char *s, size_t len)
{
    char buf[REDIS_HOST_MAX + 64];
    if (len >= sizeof(buf)) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *sp = strchr(buf, ' ');
    char *addr = sp != NULL ? strchr(sp + 1, ' ') : NULL;
    char *colon = addr != NULL ? strrchr(addr + 1, ':') : NULL;
    if (colon == NULL) return -1;
    *colon = '\0';
    char *end;
    long slot = strtol(sp + 1, &end, 10);
    long port = strtol(colon + 1, NULL, 10);
    if (end != addr || slot < 0 || slot >= REDIS_SLOTS || port <= 0 || port > 65535) return -1;
    char *host = addr + 1;
    size_t hlen = strlen(host);
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        host[hlen - 1] = '\0';
        host++;
    }
    if (host[0] == '\0' || strlen(host) >= REDIS_HOST_MAX) return -1;
    snprintf(c->to_host, sizeof(c->to_host), "%s", host);
    c->to_port = (uint16_t)port;
    c->to_slot = (int)slot;
    return 0;
}

static int reply_error_is(const redisReply *reply, const char *prefix)
{
    size_t n = strlen(prefix);
    return reply->len >= n && memcmp(reply->str, prefix, n) == 0 &&
           (reply->len == n || reply->str[n] == ' ');
}

/* What the command's own reply asks for. */
static command_act_t command_decide(command_t *c, const redisReply *reply)
{
    redis_t *r = c->r;
    if (reply == NULL) {
        c->fail = &redis_error_disconnected;
        return ACT_FAIL;
    }
    if (!r->cfg.cluster || c->internal || reply->type != REDIS_REPLY_ERROR || reply->str == NULL)
        return ACT_DONE;
    int ask = reply_error_is(reply, "ASK");
    if (r->cfg.replica_reads &&
        (ask || reply_error_is(reply, "MOVED") || reply_error_is(reply, "TRYAGAIN") ||
         reply_error_is(reply, "CLUSTERDOWN") || reply_error_is(reply, "LOADING"))) {
        /* A replica that no longer serves the slot (a failover made it a
         * master, or the slot moved), or cannot serve now: the caller reads
         * from the masters, and the map is read again. */
        if (log_enabled(LOG_DEBUG))
            log_msg(LOG_DEBUG, "redis: replica read: %.*s", (int)reply->len, reply->str);
        cluster_refresh(r, 0);
        c->fail = &redis_error_replica;
        return ACT_FAIL;
    }
    if (ask || reply_error_is(reply, "MOVED")) {
        if (c->redirects >= REDIS_REDIRECTS_MAX ||
            command_parse_redirect(c, reply->str, reply->len) != 0)
            return ACT_DONE;
        c->redirects++;
        c->to_ask = ask;
        if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, "redis: %.*s", (int)reply->len, reply->str);
        return ACT_REDIRECT;
    }
    if (reply_error_is(reply, "TRYAGAIN") || reply_error_is(reply, "CLUSTERDOWN") ||
        reply_error_is(reply, "LOADING")) {
        if (c->retries >= REDIS_RETRY_STEPS) return ACT_DONE;
        if (log_enabled(LOG_DEBUG))
            log_msg(LOG_DEBUG, "redis: %.*s (retry %u in %u ms)", (int)reply->len, reply->str,
                    c->retries + 1, redis_retry_ms[c->retries]);
        if (reply_error_is(reply, "CLUSTERDOWN")) cluster_refresh(r, 0);
        return ACT_RETRY;
    }
    return ACT_DONE;
}

/* Send c again after its next retry delay (the map may have changed). */
static void command_retry_later(command_t *c)
{
    redis_t *r = c->r;
    c->state = COMMAND_RETRYING;
    h2o_linklist_insert(&r->retrying, &c->link);
    h2o_timeout_link(r->loop, &r->retry[c->retries++], &c->retry_entry);
}

static void command_on_retry_timer(h2o_timeout_entry_t *entry)
{
    command_t *c = H2O_STRUCT_FROM_MEMBER(command_t, retry_entry, entry);
    redis_t *r = c->r;
    h2o_linklist_unlink(&c->link);
    c->state = COMMAND_NEW;
    redis_node_t *n = cluster_route(r, c->slot);
    if (n != NULL && command_send(c, n) == 0) return;
    /* Its master is down (a failover under way?): wait more, within bounds. */
    if (c->retries < REDIS_RETRY_STEPS) {
        command_retry_later(c);
        return;
    }
    command_finish(c, NULL, &redis_error_disconnected);
}

/* Carry out c->act. live: the reply when still inside its callback, else
 * NULL (c->held then has it). */
static void command_act(command_t *c, const redisReply *live)
{
    redis_t *r = c->r;
    const redisReply *reply = live != NULL ? live : c->held;
    c->state = COMMAND_NEW;
    if (r->destroying && c->act != ACT_DONE) {
        command_finish(c, NULL, c->act == ACT_FAIL ? c->fail : &redis_error_disconnected);
        return;
    }
    switch (c->act) {
    case ACT_DONE:
        command_finish(c, live, NULL);
        return;
    case ACT_FAIL:
        command_finish(c, NULL, c->fail);
        return;
    case ACT_RETRY:
        command_retry_later(c);
        return;
    case ACT_REDIRECT: {
        redis_node_t *n = cluster_node(r, c->to_host, c->to_port);
        if (n == NULL) { /* say what Redis said */
            command_finish(c, reply, NULL);
            return;
        }
        /* A node that redirects to another names a master. */
        if (!n->master) {
            n->master = 1;
            node_announce(n);
        }
        if (!c->to_ask) {
            /* -MOVED: the slot has a new owner for good. Patch the map now,
             * read the whole of it soon (more slots moved, surely). */
            r->slots[c->to_slot] = (uint16_t)(n->index + 1);
            cluster_refresh(r, 0);
        }
        c->asking = c->to_ask;
        if (!n->ready) node_kick(n);
        if (command_send(c, n) != 0) command_finish(c, NULL, &redis_error_disconnected);
        return;
    }
    }
}

static void node_sent_one_less(redis_node_t *n)
{
    n->sent--;
    /* A retired node closes once drained (deferred while inside its own
     * callback: hiredis frees after we return). */
    if (n->retired && n->sent == 0 && n->ac != NULL) redisAsyncFree(n->ac);
}

/* The command's own reply (exactly once per send). */
static void command_on_reply(redisAsyncContext *ac, void *_reply, void *privdata)
{
    command_t *c = privdata;
    redis_t *r = c->r;
    redisReply *reply = _reply;
    redis_node_t *n = ac->data;

    if (reply == NULL) {
        /* The context is going: refuse commands from now on, and say why
         * already, for a caller that asks from this callback. */
        n->ready = 0;
        node_note_loss(n, ac);
    }
    if (reply != NULL && r->rtt_cb != NULL && !c->internal) /* late replies too: the slow ones */
        r->rtt_cb(r->rtt_data, clock_mono_ns() - c->start_ns);
    if (c->durable) {
        /* The WAIT's reply comes next, on this connection: decide now (the
         * reply dies with this callback), act then. A failure decided at
         * send time stands. */
        if (c->act == ACT_DONE) {
            reply_free(c->held);
            c->held = NULL;
            c->act = c->timed_out ? ACT_DONE : command_decide(c, reply);
            if (reply != NULL && !c->timed_out && c->act != ACT_FAIL &&
                (c->held = reply_copy(reply)) == NULL) {
                c->act = ACT_FAIL;
                c->fail = &redis_error_oom;
            }
        }
        return;
    }
    node_sent_one_less(n);
    if (c->timed_out) {
        command_free(c);
        return;
    }
    if (c->act == ACT_DONE) c->act = command_decide(c, reply);
    if (c->pinned && reply != NULL && c->act == ACT_DONE && n->ready && !n->retired) {
        /* A command sent from the state callback to a node that has just
         * become ready: what its callback sends without a tag goes there
         * too (store.c: the library version, then FUNCTION LOAD). */
        redis_node_t *outer = r->announcing;
        r->announcing = n;
        command_act(c, reply);
        r->announcing = outer;
        return;
    }
    command_act(c, reply);
}

/* The WAIT's reply, after the command's: the last of the pair. */
static void command_on_wait_reply(redisAsyncContext *ac, void *_reply, void *privdata)
{
    command_t *c = privdata;
    redis_t *r = c->r;
    redisReply *reply = _reply;
    redis_node_t *n = ac->data;

    if (reply == NULL) {
        n->ready = 0;
        node_note_loss(n, ac);
    }
    node_sent_one_less(n);
    if (c->timed_out) {
        command_free(c);
        return;
    }
    /* A write that Redis refused wrote nothing: its error needs no replica. */
    if (c->act == ACT_DONE && c->held != NULL && c->held->type != REDIS_REPLY_ERROR) {
        if (reply == NULL) {
            c->act = ACT_FAIL;
            c->fail = &redis_error_disconnected;
        } else if (reply->type != REDIS_REPLY_INTEGER ||
                   reply->integer < (long long)r->cfg.wait_replicas) {
            c->act = ACT_FAIL;
            c->fail = &redis_error_not_replicated;
        }
    }
    command_act(c, NULL);
}

/* Commands after which replies no longer pair one-to-one with commands. */
static int command_changes_mode(const char *name, size_t len)
{
    static const char *const refused[] = {"SUBSCRIBE",   "PSUBSCRIBE",   "SSUBSCRIBE",
                                          "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
                                          "MONITOR"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (len == strlen(refused[i]) && strncasecmp(name, refused[i], len) == 0) return 1;
    return 0;
}

/* Decimal digits of v into p (no NUL); returns the end. */
static char *resp_digits(char *p, size_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

/* The command as RESP (an array of bulk strings) in one malloc'd buffer,
 * written by hand: hiredis' redisFormatCommandArgv spends a sprintf per
 * argument, the largest libc cost of a consent write (issue 18, item 14).
 * Returns the length, or -1 (out of memory). */
static long resp_format_argv(char **out, int argc, const char **argv, const size_t *argvlen)
{
    size_t len = 1 + 20 + 2;
    for (int i = 0; i < argc; i++)
        len += 1 + 20 + 2 + argvlen[i] + 2;
    char *buf = malloc(len), *p = buf;
    if (buf == NULL) return -1;
    *p++ = '*';
    p = resp_digits(p, (size_t)argc);
    *p++ = '\r', *p++ = '\n';
    for (int i = 0; i < argc; i++) {
        *p++ = '$';
        p = resp_digits(p, argvlen[i]);
        *p++ = '\r', *p++ = '\n';
        memcpy(p, argv[i], argvlen[i]);
        p += argvlen[i];
        *p++ = '\r', *p++ = '\n';
    }
    *out = buf;
    return p - buf;
}

static command_t *command_new(redis_t *r, redis_reply_cb cb, void *data, int argc,
                              const char **argv, const size_t *argvlen)
{
    command_t *c = calloc(1, sizeof(*c));
    if (c == NULL) return NULL;
    long len = resp_format_argv(&c->fmt, argc, argv, argvlen);
    if (len < 0) {
        free(c);
        return NULL;
    }
    c->fmt_len = (size_t)len;
    c->r = r;
    c->cb = cb;
    c->data = data;
    c->slot = -1;
    c->start_ns = clock_mono_ns();
    c->timeout.cb = command_on_timeout;
    c->retry_entry.cb = command_on_retry_timer;
    r->inflight++;
    return c;
}

static int redis_send(redis_t *r, const char *tag, size_t tag_len, int durable, redis_reply_cb cb,
                      void *data, int argc, const char **argv, const size_t *argvlen)
{
    if (cb == NULL || argc <= 0 || argv == NULL || argvlen == NULL ||
        command_changes_mode(argv[0], argvlen[0]))
        return REDIS_E_ARGS;
    if (r->destroying) return REDIS_E_DOWN;
    redis_node_t *n;
    int slot = -1;
    if (!r->cfg.cluster) {
        n = r->nodes[0];
        if (!n->ready) return REDIS_E_DOWN;
    } else {
        if (tag != NULL && tag_len > 0) slot = (int)redis_key_slot(tag, tag_len);
        if (slot < 0 && r->announcing != NULL)
            n = r->announcing;
        else
            n = cluster_route(r, slot);
        /* Fail fast when its master is down; wait (within the deadline) for
         * one that is connecting: a new master just read from the map. */
        if (n == NULL || (!n->ready && n->ac == NULL)) return REDIS_E_DOWN;
    }
    if (r->inflight >= r->cfg.max_pending) return REDIS_E_BUSY;

    command_t *c = command_new(r, cb, data, argc, argv, argvlen);
    if (c == NULL) return REDIS_E_BUSY;
    c->slot = slot;
    c->pinned = slot < 0 && r->announcing != NULL;
    c->durable = durable && r->wait_fmt != NULL;
    /* hiredis only appends to its buffer and arms a write here: no callback
     * can run from inside this call. */
    if (command_send(c, n) != 0) {
        command_free(c);
        return REDIS_E_DOWN;
    }
    h2o_timeout_link(r->loop, &r->command_timeout, &c->timeout);
    r->owed++;
    return REDIS_OK;
}

int redis_command(redis_t *r, const char *tag, size_t tag_len, redis_reply_cb cb, void *data,
                  int argc, const char **argv, const size_t *argvlen)
{
    return redis_send(r, tag, tag_len, 0, cb, data, argc, argv, argvlen);
}

int redis_command_durable(redis_t *r, const char *tag, size_t tag_len, redis_reply_cb cb,
                          void *data, int argc, const char **argv, const size_t *argvlen)
{
    return redis_send(r, tag, tag_len, 1, cb, data, argc, argv, argvlen);
}

/* ---- lifetime and state ------------------------------------------------------ */

redis_t *redis_create(h2o_loop_t *loop, const config_redis_t *cfg)
{
    redis_t *r = calloc(1, sizeof(*r));
    if (r == NULL) return NULL;
    r->loop = loop;
    r->cfg = *cfg;
    if (r->cfg.command_timeout_ms == 0) r->cfg.command_timeout_ms = 1;
    if (r->cfg.connect_timeout_ms == 0) r->cfg.connect_timeout_ms = 1;
    if (r->cfg.reconnect_min_ms == 0) r->cfg.reconnect_min_ms = 1;
    if (r->cfg.reconnect_max_ms < r->cfg.reconnect_min_ms)
        r->cfg.reconnect_max_ms = r->cfg.reconnect_min_ms;
    if (r->cfg.cluster && r->cfg.n_seeds == 0) r->cfg.cluster = 0;
    h2o_linklist_init_anchor(&r->retrying);

    if (r->cfg.wait_replicas > 0) {
        char n[16], ms[16];
        const char *argv[] = {"WAIT", n, ms};
        size_t argvlen[] = {4, (size_t)snprintf(n, sizeof(n), "%u", r->cfg.wait_replicas),
                            (size_t)snprintf(ms, sizeof(ms), "%u", r->cfg.wait_timeout_ms)};
        int len = redisFormatCommandArgv(&r->wait_fmt, 3, argv, argvlen);
        if (len < 0 || r->wait_fmt == NULL) {
            free(r);
            return NULL;
        }
        r->wait_fmt_len = (size_t)len;
    }
    if (r->cfg.cluster) {
        r->slots = calloc(REDIS_SLOTS, sizeof(*r->slots));
        r->slots_next = calloc(REDIS_SLOTS, sizeof(*r->slots_next));
        if (r->slots == NULL || r->slots_next == NULL) {
            free(r->slots);
            free(r->slots_next);
            free(r->wait_fmt);
            free(r);
            return NULL;
        }
    }

    h2o_timeout_init(loop, &r->command_timeout, r->cfg.command_timeout_ms);
    h2o_timeout_init(loop, &r->connect_timeout, r->cfg.connect_timeout_ms);
    uint64_t delay = r->cfg.reconnect_min_ms;
    while (r->backoff_steps < REDIS_BACKOFF_STEPS_MAX) {
        if (r->backoff_steps == REDIS_BACKOFF_STEPS_MAX - 1 || delay > r->cfg.reconnect_max_ms)
            delay = r->cfg.reconnect_max_ms;
        h2o_timeout_init(loop, &r->backoff[r->backoff_steps++], delay);
        if (delay >= r->cfg.reconnect_max_ms) break;
        delay *= 2;
    }
    h2o_timeout_init(loop, &r->refresh_timeout, REDIS_REFRESH_MS);
    r->refresh_entry.cb = cluster_on_refresh_timer;
    for (size_t i = 0; i < REDIS_RETRY_STEPS; i++)
        h2o_timeout_init(loop, &r->retry[i], redis_retry_ms[i]);

    if (r->cfg.cluster) {
        cluster_add_seeds(r);
    } else if (node_create(r, r->cfg.unix_path[0] != '\0' ? "" : r->cfg.host, r->cfg.port, 1,
                           r->cfg.host_name) == NULL) {
        redis_destroy(r);
        return NULL;
    }
    return r;
}

void redis_set_state_cb(redis_t *r, redis_state_cb cb, void *data)
{
    r->state_cb = cb;
    r->state_data = data;
}

void redis_set_rtt_cb(redis_t *r, redis_rtt_cb cb, void *data)
{
    r->rtt_cb = cb;
    r->rtt_data = data;
}

void redis_destroy(redis_t *r)
{
    if (r == NULL) return;
    /* From inside one of our callbacks, hiredis would defer the free and then
     * call back into the freed redis_t. */
    assert(r->callback_depth == 0);
    r->destroying = 1;
    h2o_timeout_unlink(&r->refresh_entry);
    while (!h2o_linklist_is_empty(&r->retrying)) {
        command_t *c = H2O_STRUCT_FROM_MEMBER(command_t, link, r->retrying.next);
        command_finish(c, NULL, &redis_error_disconnected);
    }
    for (size_t i = 0; i < r->n_nodes; i++) {
        redis_node_t *n = r->nodes[i];
        if (n == NULL) continue;
        node_fail_waiting(n);
        n->ready = 0;
        h2o_timeout_unlink(&n->reconnect_entry);
        h2o_timeout_unlink(&n->connect_entry);
        /* Runs every pending command's callback with NULL (unavailable, or
         * a plain free for timed-out ones), then adapter_cleanup closes the
         * socket. */
        if (n->ac != NULL) redisAsyncFree(n->ac);
    }
    for (size_t i = 0; i < r->n_nodes; i++)
        free(r->nodes[i]);
    assert(r->inflight == 0 && r->owed == 0);

    h2o_timeout_dispose(r->loop, &r->command_timeout);
    h2o_timeout_dispose(r->loop, &r->connect_timeout);
    for (unsigned i = 0; i < r->backoff_steps; i++)
        h2o_timeout_dispose(r->loop, &r->backoff[i]);
    h2o_timeout_dispose(r->loop, &r->refresh_timeout);
    for (size_t i = 0; i < REDIS_RETRY_STEPS; i++)
        h2o_timeout_dispose(r->loop, &r->retry[i]);
    free(r->nodes);
    free(r->slots);
    free(r->slots_next);
    free(r->wait_fmt);
    free(r);
}

int redis_server_of(redis_t *r, const char *tag, size_t len)
{
    if (!r->cfg.cluster) return 0;
    redis_node_t *n = cluster_route(r, tag != NULL && len > 0 ? (int)redis_key_slot(tag, len) : -1);
    return n != NULL ? (int)n->index : -1;
}

int redis_is_connected(const redis_t *r)
{
    if (!r->cfg.cluster) return r->nodes[0]->ready;
    if (!r->map_known || r->unrouted > 0) return 0;
    int masters = 0;
    for (size_t i = 0; i < r->n_nodes; i++) {
        const redis_node_t *n = r->nodes[i];
        if (n == NULL || n->retired || !n->master) continue;
        if (!n->ready) return 0;
        masters++;
    }
    return masters > 0;
}

const char *redis_last_error(redis_t *r)
{
    if (!r->cfg.cluster) return r->nodes[0]->ready ? "" : r->nodes[0]->last_error;
    if (redis_is_connected(r)) return "";
    if (!r->map_known && r->map_error[0] != '\0') return r->map_error;
    for (size_t i = 0; i < r->n_nodes; i++) {
        const redis_node_t *n = r->nodes[i];
        if (n == NULL || n->retired || n->ready || (r->map_known && !n->master)) continue;
        snprintf(r->error_buf, sizeof(r->error_buf), "%s: %s", n->name,
                 n->last_error[0] != '\0' ? n->last_error : "connecting");
        return r->error_buf;
    }
    return r->map_known ? "no master connected" : "reading the cluster slot map";
}

size_t redis_pending(const redis_t *r)
{
    return r->owed;
}

/* ---- replies ----------------------------------------------------------------- */

/* ---- errors ------------------------------------------------------------------- */

const redis_error_t *redis_error_of_rc(int rc)
{
    switch (rc) {
    case REDIS_E_DOWN:
        return &redis_error_disconnected;
    case REDIS_E_BUSY:
        return &redis_error_busy;
    default:
        return &redis_error_args;
    }
}

redis_error_t redis_error_of_reply(const redis_reply_t *reply, char *buf, size_t cap)
{
    /* Refusals that say "not now": the same command succeeds later (a
     * cluster's redirects and retries are over when one reaches here). */
    static const char *const passing[] = {"LOADING",  "BUSY",     "MASTERDOWN",
                                          "READONLY", "TRYAGAIN", "CLUSTERDOWN",
                                          "MOVED",    "ASK",      "NOREPLICAS"};
    redis_error_t e = {REDIS_ERROR_REPLY, "Redis error"};
    size_t len =
        reply != NULL && reply->type == REDIS_REPLY_ERROR && reply->str != NULL ? reply->len : 0;
    if (len == 0 || cap == 0) return e;
    snprintf(buf, cap, "%.*s", (int)(len < cap ? len : cap - 1), reply->str);
    e.detail = buf;
    for (size_t i = 0; i < sizeof(passing) / sizeof(passing[0]); i++)
        if (reply_error_is(reply, passing[i])) e.kind = REDIS_ERROR_UNAVAILABLE;
    return e;
}

redis_reply_kind_t redis_reply_kind(const redis_reply_t *reply)
{
    switch (reply != NULL ? reply->type : REDIS_REPLY_NIL) {
    case REDIS_REPLY_STRING:
        return REDIS_REPLY_KIND_STRING;
    case REDIS_REPLY_STATUS:
        return REDIS_REPLY_KIND_STATUS;
    case REDIS_REPLY_ERROR:
        return REDIS_REPLY_KIND_ERROR;
    case REDIS_REPLY_INTEGER:
        return REDIS_REPLY_KIND_INTEGER;
    case REDIS_REPLY_ARRAY:
        return REDIS_REPLY_KIND_ARRAY;
    default:
        return REDIS_REPLY_KIND_NIL;
    }
}

const char *redis_reply_str(const redis_reply_t *reply, size_t *len)
{
    switch (redis_reply_kind(reply)) {
    case REDIS_REPLY_KIND_STRING:
    case REDIS_REPLY_KIND_STATUS:
    case REDIS_REPLY_KIND_ERROR:
        *len = reply->len;
        return reply->str;
    default:
        *len = 0;
        return NULL;
    }
}

long long redis_reply_integer(const redis_reply_t *reply)
{
    return redis_reply_kind(reply) == REDIS_REPLY_KIND_INTEGER ? reply->integer : 0;
}

size_t redis_reply_count(const redis_reply_t *reply)
{
    return redis_reply_kind(reply) == REDIS_REPLY_KIND_ARRAY ? reply->elements : 0;
}

const redis_reply_t *redis_reply_at(const redis_reply_t *reply, size_t i)
{
    if (redis_reply_kind(reply) != REDIS_REPLY_KIND_ARRAY || i >= reply->elements) return NULL;
    return reply->element[i];
}
