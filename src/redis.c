/*
 * redis.c - the hiredis async client on a worker's h2o event loop.
 *
 * hiredis 0.14.1 parses and queues; this file gives it a poller (the adapter
 * below: h2o sockets opened with DONT_READ so that only hiredis reads the fd),
 * timeouts (hiredis has none), reconnection and fail-fast when down.
 *
 * Lifetimes:
 *  - A redis_node_t is one connection to one server. Its hiredis context
 *    (node->ac) exists from a connect attempt until hiredis frees it (after an
 *    error, or when we call redisAsyncFree); the adapter's cleanup hook is the
 *    one place that learns the context is gone, whatever the cause, and it
 *    arms the reconnect timer. A new context is only ever created from that
 *    timer, never from inside hiredis.
 *  - A command_t is malloc'd by redis_command and handed to hiredis as
 *    privdata; hiredis calls command_on_reply exactly once for it (a reply, or
 *    NULL when the context goes), and that is where it is freed. If the
 *    command's timeout fires first, the user's callback runs then with
 *    "timeout" and the record stays with hiredis, marked, until the late reply
 *    (or the disconnect) frees it. So the user's callback runs exactly once and
 *    the record is freed exactly once.
 */
#include "redis.h"

/* After redis.h: hiredis #defines REDIS_OK/REDIS_ERR (same values as ours),
 * which would otherwise break our enum. */
#include <hiredis/async.h>

#include <assert.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"

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

typedef struct redis_node redis_node_t;

/*
 * One connection to one Redis server, with its own reconnect schedule. Today a
 * redis_t has exactly one; a cluster client would hold one per master.
 */
struct redis_node {
    redis_t *owner;
    redisAsyncContext *ac;               /* NULL between a lost connection and the next attempt */
    h2o_socket_t *sock;                  /* h2o's wrapper of ac's fd: polls it for hiredis */
    int ready;                           /* connected, AUTH and SELECT done: commands accepted */
    int announced;                       /* the state callback was told connected=1 */
    unsigned handshake_left;             /* AUTH/SELECT replies still awaited */
    int error_set;                       /* last_error already says why the context is going away */
    unsigned backoff_step;               /* index into owner->backoff for the next reconnect */
    h2o_timeout_entry_t connect_entry;   /* in owner->connect_timeout while connecting */
    h2o_timeout_entry_t reconnect_entry; /* in one of owner->backoff while waiting */
    char last_error[REDIS_ERROR_MAX];    /* "" when ready */
    char logged_error[REDIS_ERROR_MAX];  /* last error logged, to log a streak once */
};

struct redis {
    h2o_loop_t *loop;
    config_redis_t cfg; /* a copy: the caller's may go before we do */
    redis_node_t node;
    size_t inflight;         /* records hiredis holds, timed-out ones included: max_pending */
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
};

typedef struct command {
    redis_t *r;
    redis_reply_cb cb;
    void *data;
    uint64_t start_ns;
    int timed_out; /* the user heard "timeout"; the late reply only frees this */
    h2o_timeout_entry_t timeout;
} command_t;

static void node_connect(redis_node_t *n);

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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
    const config_redis_t *cfg = &n->owner->cfg;
    if (strcmp(n->logged_error, n->last_error) == 0) {
        log_msg(LOG_DEBUG, "redis: still cannot connect: %s", n->last_error);
        return;
    }
    snprintf(n->logged_error, sizeof(n->logged_error), "%s", n->last_error);
    if (cfg->unix_path[0] != '\0')
        log_msg(LOG_WARN, "redis: cannot connect to %s: %s (retrying)", cfg->unix_path,
                n->last_error);
    else
        log_msg(LOG_WARN, "redis: cannot connect to %s:%u: %s (retrying)", cfg->host,
                (unsigned)cfg->port, n->last_error);
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
    h2o_timeout_link(r->loop, &r->backoff[n->backoff_step], &n->reconnect_entry);
    if (n->backoff_step + 1 < r->backoff_steps) n->backoff_step++;
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
    h2o_timeout_unlink(&n->connect_entry);

    node_note_loss(n, ac);
    n->error_set = 0;
    if (r->destroying) return;
    if (!was_announced) node_log_failure(n);
    node_schedule_reconnect(n);
    if (was_announced && r->state_cb != NULL) {
        r->callback_depth++;
        r->state_cb(r->state_data, r, 0);
        r->callback_depth--;
    }
}

static void node_attach(redis_node_t *n, redisAsyncContext *ac)
{
    int fd = ac->c.fd;

    /* hiredis opens its sockets without close-on-exec. */
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (n->owner->cfg.unix_path[0] == '\0') {
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

static void node_become_ready(redis_node_t *n)
{
    redis_t *r = n->owner;
    h2o_timeout_unlink(&n->connect_entry);
    n->ready = 1;
    n->announced = 1;
    n->backoff_step = 0;
    n->last_error[0] = '\0';
    n->logged_error[0] = '\0';
    if (r->state_cb != NULL) {
        r->callback_depth++;
        r->state_cb(r->state_data, r, 1);
        r->callback_depth--;
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

/*
 * TCP (or the unix socket) is up. AUTH and SELECT go out pipelined, before any
 * user command can (redis_command refuses until ready), so they apply to all.
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
    const config_redis_t *cfg = &r->cfg;
    redisAsyncContext *ac;

    assert(n->ac == NULL);
    if (cfg->unix_path[0] != '\0')
        ac = redisAsyncConnectUnix(cfg->unix_path);
    else
        ac = redisAsyncConnect(cfg->host, cfg->port);
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
        node_schedule_reconnect(n);
        return;
    }
    /* The adapter first: setting the connect callback arms a write. */
    node_attach(n, ac);
    redisAsyncSetConnectCallback(ac, node_on_connect);
    h2o_timeout_link(r->loop, &r->connect_timeout, &n->connect_entry);
}

/* ---- commands -------------------------------------------------------------- */

/* Exactly once per command hiredis accepted. */
static void command_on_reply(redisAsyncContext *ac, void *_reply, void *privdata)
{
    command_t *c = privdata;
    redis_t *r = c->r;
    redisReply *reply = _reply;
    redis_reply_cb cb = c->cb;
    void *data = c->data;

    r->inflight--;
    if (reply == NULL) {
        /* The context is going: refuse commands from now on, and say why
         * already, for a caller that asks from this callback. */
        redis_node_t *n = ac->data;
        n->ready = 0;
        node_note_loss(n, ac);
    }
    if (reply != NULL && r->rtt_cb != NULL) /* late replies too: they are the slow ones */
        r->rtt_cb(r->rtt_data, now_ns() - c->start_ns);
    if (c->timed_out) {
        free(c);
        return;
    }
    h2o_timeout_unlink(&c->timeout);
    free(c);
    r->owed--;
    r->callback_depth++;
    cb(data, reply, reply == NULL ? "disconnected" : NULL);
    r->callback_depth--;
}

static void command_on_timeout(h2o_timeout_entry_t *entry)
{
    command_t *c = H2O_STRUCT_FROM_MEMBER(command_t, timeout, entry);
    redis_t *r = c->r;
    c->timed_out = 1;
    r->owed--;
    r->callback_depth++;
    c->cb(c->data, NULL, "timeout");
    r->callback_depth--;
}

/*
 * Pick the connection that serves keys with this hash tag. Today there is one.
 * Cluster support goes here: CRC16(tag) mod 16384 gives the slot, a slot table
 * (from CLUSTER SLOTS, refreshed on MOVED) gives the node, one redis_node_t
 * per master; MOVED/ASK replies would then be handled in command_on_reply by
 * sending the command again to the node they name.
 */
static redis_node_t *route(redis_t *r, const char *tag, size_t tag_len)
{
    return &r->node;
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

int redis_command(redis_t *r, const char *tag, size_t tag_len, redis_reply_cb cb, void *data,
                  int argc, const char **argv, const size_t *argvlen)
{
    if (cb == NULL || argc <= 0 || argv == NULL || argvlen == NULL ||
        command_changes_mode(argv[0], argvlen[0]))
        return REDIS_E_ARGS;
    redis_node_t *n = route(r, tag, tag_len);
    if (!n->ready) return REDIS_E_DOWN;
    if (r->inflight >= r->cfg.max_pending) return REDIS_E_BUSY;

    command_t *c = malloc(sizeof(*c));
    if (c == NULL) return REDIS_E_BUSY;
    memset(c, 0, sizeof(*c));
    c->r = r;
    c->cb = cb;
    c->data = data;
    c->start_ns = now_ns();
    c->timeout.cb = command_on_timeout;
    /* hiredis only appends to its buffer and arms a write here: no callback
     * can run from inside this call. REDIS_ERR means it will never call us. */
    if (redisAsyncCommandArgv(n->ac, command_on_reply, c, argc, argv, argvlen) != REDIS_OK) {
        free(c);
        return REDIS_E_DOWN;
    }
    h2o_timeout_link(r->loop, &r->command_timeout, &c->timeout);
    r->inflight++;
    r->owed++;
    return REDIS_OK;
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

    redis_node_t *n = &r->node;
    n->owner = r;
    n->connect_entry.cb = node_on_connect_timeout;
    n->reconnect_entry.cb = node_on_reconnect_timer;
    node_connect(n);
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
    redis_node_t *n = &r->node;
    n->ready = 0;
    h2o_timeout_unlink(&n->reconnect_entry);
    h2o_timeout_unlink(&n->connect_entry);
    /* Runs every pending command's callback with NULL ("disconnected", or a
     * plain free for timed-out ones), then adapter_cleanup closes the socket. */
    if (n->ac != NULL) redisAsyncFree(n->ac);
    assert(r->inflight == 0 && r->owed == 0);

    h2o_timeout_dispose(r->loop, &r->command_timeout);
    h2o_timeout_dispose(r->loop, &r->connect_timeout);
    for (unsigned i = 0; i < r->backoff_steps; i++)
        h2o_timeout_dispose(r->loop, &r->backoff[i]);
    free(r);
}

int redis_is_connected(const redis_t *r)
{
    return r->node.ready;
}

const char *redis_last_error(const redis_t *r)
{
    return r->node.ready ? "" : r->node.last_error;
}

size_t redis_pending(const redis_t *r)
{
    return r->owed;
}

/* ---- replies ----------------------------------------------------------------- */

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
