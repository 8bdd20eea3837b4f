/*
 * server.c - h2o set-up, one event loop per worker thread, listeners,
 * reload and graceful shutdown.
 *
 * Each worker owns an h2o context on its own evloop, its own SO_REUSEPORT
 * listener (the kernel spreads connections over them), and its own Redis
 * connection on the same loop. Workers share nothing mutable: the main
 * thread talks to them only through h2o's multithread queue (a new snapshot
 * to use, or stop).
 *
 * Each worker flushes its acceptance counters (counters.h) from a timer
 * every COUNTERS_FLUSH_INTERVAL_MS. Worker 0 also runs the consent log's
 * checkpointer (checkpoint.h) every log.checkpoint_seconds, on its Redis
 * connection, with its current snapshot (sites and signing keys).
 *
 * With metrics.listen configured, each worker also listens on the operator
 * address (plain HTTP, its own h2o host: router.h says what it serves), at
 * most SERVER_OPERATOR_CONNECTIONS_MAX connections per worker, outside the
 * client connection limits.
 *
 * Graceful stop, per worker: accept what is already queued on the listener,
 * close it, ask h2o to stop keep-alive (answers then carry
 * "Connection: close"), and keep running the loop until no request is in
 * flight (after a short grace so that requests already on the wire are
 * read); then flush the counters one last time, so that everything counted
 * before the stop is sent, and wait until no Redis command is pending, or
 * until the deadline. Counts that cannot be sent (Redis down) are retried
 * at each tick until the deadline. Idle keep-alive connections are closed
 * when the process exits.
 */
#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <h2o.h>
#include <h2o/http2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "answer_cache.h"
#include "auth.h"
#include "health.h"
#include "checkpoint.h"
#include "clock.h"
#include "erasure.h"
#include "log.h"
#include "ratelimit.h"
#include "router.h"
#include "stats.h"
#include "store.h"
#include "versions.h"
#include "worker.h"

#define SERVER_LISTEN_BACKLOG 4096
#define SERVER_ACCEPTS_PER_EVENT 32 /* fairness between accepting and serving */
#define SERVER_STOP_POLL_MS 10
#define SERVER_STOP_GRACE_MS 100 /* let requests already on the wire arrive */
/* Descriptors kept for what is not a client connection: listeners, Redis
 * connections (one per cluster node per worker), key and site files. */
#define SERVER_FD_RESERVE 256
#define SERVER_OPERATOR_CONNECTIONS_MAX 64 /* per worker, on the operator listener */

typedef enum { SERVER_MSG_SNAPSHOT, SERVER_MSG_STOP } server_msg_kind_t;

typedef struct server_msg {
    h2o_multithread_message_t super;
    server_msg_kind_t kind;
    snapshot_t *snap;
} server_msg_t;

typedef struct server_worker {
    worker_t w; /* first: h2o_context_t -> worker_t -> server_worker_t */
    int listen_fd;
    int operator_fd; /* -1: no operator listener */
    h2o_socket_t *operator_listener;
    h2o_accept_ctx_t operator_accept_ctx;
    size_t operator_connections;
    pthread_t thread;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t receiver;
    size_t connections;
    size_t max_connections;
    conncount_t *per_client;   /* open connections per peer address; NULL: not limited */
    uint32_t per_client_limit; /* this worker's share of limits.max_connections_per_client */
    int accept_paused;
    uint64_t stop_started_ms;
    h2o_timeout_t stop_timeout;
    h2o_timeout_entry_t stop_entry;
    h2o_timeout_t flush_timeout;
    h2o_timeout_entry_t flush_entry;
    /* Worker 0 only, with log.checkpoint_seconds > 0: the log's checkpointer. */
    checkpointer_t *checkpointer;
    h2o_timeout_t checkpoint_timeout;
    h2o_timeout_entry_t checkpoint_entry;
    /* Worker 0 only: erased bytes leave the disk (erasure.h). */
    erasure_t *erasure;
    h2o_timeout_t erasure_timeout;
    h2o_timeout_entry_t erasure_entry;
    int done;
    int cut_short;
} server_worker_t;

#define SERVER_PUBLISH_WAIT_MS 5000

/* Written by server_init() before any thread starts, except the publish
 * acknowledgements (under their mutex). */
static struct {
    const config_t *cfg;
    h2o_globalconf_t globalconf;
    server_worker_t *workers;
    unsigned count;
    pthread_mutex_t ack_mutex;
    pthread_cond_t ack_cond;
    unsigned acks;    /* workers that switched to the snapshot being published */
    unsigned ready;   /* workers whose context and message queue exist (server_start) */
    SSL_CTX *ssl_ctx; /* NULL: plain HTTP */
    /* The h2o hosts of each listener (NULL-terminated, as h2o wants them). */
    h2o_hostconf_t *public_hosts[2];
    h2o_hostconf_t *operator_hosts[2];
} server = {.ack_mutex = PTHREAD_MUTEX_INITIALIZER, .ack_cond = PTHREAD_COND_INITIALIZER};

static void server_accept_start(server_worker_t *sw);

static int server_bind(const char *address, uint16_t port, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    char service[8];
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    snprintf(service, sizeof(service), "%u", port);
    int rc = getaddrinfo(address, service, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", address, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, SERVER_LISTEN_BACKLOG) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%u: %s", address, port, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* TLS when the config names a certificate: TLS 1.2 and later, ALPN
 * "http/1.1" only unless HTTP/2 is turned on (h2o 2.2.5 lacks the HTTP/2
 * rapid-reset fixes: see the README). NULL with err on failure. */
static SSL_CTX *server_tls_create(const config_t *cfg, char *err, size_t errlen)
{
    static const h2o_iovec_t http1_only[] = {{H2O_STRLIT("http/1.1")}, {NULL, 0}};
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "TLS: cannot create a context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    const char *what = NULL, *file = NULL;
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert_file) != 1)
        what = "cannot load the certificate chain", file = cfg->tls_cert_file;
    else if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key_file, SSL_FILETYPE_PEM) != 1)
        what = "cannot load the private key", file = cfg->tls_key_file;
    else if (SSL_CTX_check_private_key(ctx) != 1)
        what = "the private key does not match the certificate", file = cfg->tls_key_file;
    if (what != NULL) {
        char ssl_err[256];
        ERR_error_string_n(ERR_get_error(), ssl_err, sizeof(ssl_err));
        ERR_clear_error();
        snprintf(err, errlen, "tls: %s (%s): %s", what, file, ssl_err);
        SSL_CTX_free(ctx);
        return NULL;
    }
    h2o_ssl_register_alpn_protocols(ctx, cfg->http2 ? h2o_http2_alpn_protocols : http1_only);
    return ctx;
}

/*
 * Every client connection is a file descriptor. Raises the soft open-file
 * limit to what max_connections needs; when the hard limit is lower, serves
 * fewer connections rather than fail accept() with EMFILE (which would leave
 * the listener readable and the worker spinning), and says so.
 */
static size_t server_fit_fd_limit(size_t max_connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return max_connections;
    rlim_t need = (rlim_t)max_connections + SERVER_FD_RESERVE;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        struct rlimit raised = rl;
        raised.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need) return max_connections;
    size_t fit = rl.rlim_cur > 2 * SERVER_FD_RESERVE ? (size_t)(rl.rlim_cur - SERVER_FD_RESERVE)
                                                     : (size_t)(rl.rlim_cur / 2);
    log_msg(LOG_WARN,
            "limits.max_connections is %zu but the open-file limit is %llu (ulimit -n, "
            "systemd LimitNOFILE): serving at most %zu connections; raise the limit to %llu",
            max_connections, (unsigned long long)rl.rlim_cur, fit, (unsigned long long)need);
    return fit;
}

int server_init(const config_t *cfg, snapshot_t *snap, char *err, size_t errlen)
{
    server.cfg = cfg;
    server.count = cfg->threads;
    server.workers = calloc(server.count, sizeof(server_worker_t));
    if (server.workers == NULL) {
        snprintf(err, errlen, "out of memory");
        snapshot_release(snap);
        return -1;
    }

    h2o_config_init(&server.globalconf);
    server.globalconf.server_name = h2o_iovec_init(H2O_STRLIT("consentd"));
    server.globalconf.max_request_entity_size = cfg->max_body_bytes;
    server.globalconf.http1.req_timeout = cfg->request_timeout_ms;
    /* h2o 2.2.5 lacks the HTTP/2 rapid-reset fixes: no h2c upgrade unless asked. */
    server.globalconf.http1.upgrade_to_http2 = cfg->http2;
    h2o_hostconf_t *host =
        h2o_config_register_host(&server.globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    server.public_hosts[0] = host;
    if (cfg->metrics_port != 0) {
        server.operator_hosts[0] = h2o_config_register_host(
            &server.globalconf, h2o_iovec_init(H2O_STRLIT("operator")), 65535);
        router_init_split(host, server.operator_hosts[0], cfg->max_body_bytes);
    } else {
        router_init(host, cfg->max_body_bytes);
    }
    if (cfg->tls_cert_file[0] != '\0' &&
        (server.ssl_ctx = server_tls_create(cfg, err, errlen)) == NULL) {
        snapshot_release(snap);
        return -1;
    }

    size_t max_connections = server_fit_fd_limit(cfg->max_connections);
    for (unsigned i = 0; i < server.count; i++) {
        server_worker_t *sw = &server.workers[i];
        sw->w.id = i;
        sw->w.cfg = cfg;
        sw->w.snap = i == 0 ? snap : snapshot_retain(snap);
        sw->w.workers = server.count;
        __atomic_add_fetch(&snap->serving, 1, __ATOMIC_RELEASE);
        sw->max_connections = max_connections / server.count;
        if (sw->max_connections == 0) sw->max_connections = 1;
        if ((sw->w.metrics = metrics_create()) == NULL) {
            snprintf(err, errlen, "out of memory for the metrics of worker %u", i);
            return -1;
        }
        sw->operator_fd = -1;
        if ((sw->listen_fd = server_bind(cfg->listen_address, cfg->port, err, errlen)) < 0)
            return -1;
        if (cfg->metrics_port != 0 &&
            (sw->operator_fd = server_bind(cfg->metrics_address, cfg->metrics_port, err, errlen)) <
                0)
            return -1;
    }
    return 0;
}

/* The worker this thread runs: close callbacks carry the connection's
 * per-client key, not the worker. */
static __thread server_worker_t *server_self;
_Static_assert(sizeof(void *) >= sizeof(uint64_t), "a per-client key travels as a pointer");

/* data: the per-client key of the connection (NULL: not counted). */
static void server_on_conn_close(void *data)
{
    server_worker_t *sw = server_self;
    if (data != NULL) conncount_close(sw->per_client, (uint64_t)(uintptr_t)data);
    sw->connections--;
    if (sw->accept_paused && !sw->w.stopping) server_accept_start(sw);
}

/* 1 when the peer of sock already holds its share of connections (the
 * connection is then closed unanswered); else *key counts this one. A
 * loopback peer is not limited while rate_limit.exempt_loopback is on (off
 * by default: the demo tools and benchmarks turn it on). */
static int server_over_per_client(server_worker_t *sw, h2o_socket_t *sock, uint64_t *key)
{
    struct sockaddr_storage ss;
    socklen_t sl = h2o_socket_getpeername(sock, (struct sockaddr *)&ss);
    unsigned char peer[16];
    int loopback;
    size_t len = ratelimit_peer_key(&ss, sl, peer, &loopback);
    if (len == 0 || (loopback && server.cfg->rl_exempt_loopback)) return 0;
    return conncount_open(sw->per_client, peer, len, sw->per_client_limit, key) != 0;
}

static void server_on_accept(h2o_socket_t *listener, const char *err)
{
    server_worker_t *sw = listener->data;
    if (err != NULL) return;
    for (int i = 0; i < SERVER_ACCEPTS_PER_EVENT || sw->w.stopping; i++) {
        if (sw->connections >= sw->max_connections && !sw->w.stopping) {
            /* At the cap: leave the rest in the kernel queue until one closes. */
            h2o_socket_read_stop(listener);
            sw->accept_paused = 1;
            return;
        }
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) return;
        uint64_t key = 0;
        if (sw->per_client != NULL && !sw->w.stopping && server_over_per_client(sw, sock, &key)) {
            metrics_count(sw->w.metrics, METRICS_CONNECTIONS_REFUSED, 1);
            h2o_socket_close(sock);
            continue;
        }
        sw->connections++;
        sock->on_close.cb = server_on_conn_close;
        sock->on_close.data = (void *)(uintptr_t)key;
        h2o_accept(&sw->w.accept_ctx, sock);
    }
}

static void server_on_operator_close(void *data)
{
    (void)data;
    server_self->operator_connections--;
}

/* The operator listener: few connections (Prometheus, a probe); beyond
 * SERVER_OPERATOR_CONNECTIONS_MAX, closed at once. */
static void server_on_operator_accept(h2o_socket_t *listener, const char *err)
{
    server_worker_t *sw = listener->data;
    if (err != NULL) return;
    for (int i = 0; i < SERVER_ACCEPTS_PER_EVENT; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL) return;
        if (sw->operator_connections >= SERVER_OPERATOR_CONNECTIONS_MAX || sw->w.stopping) {
            h2o_socket_close(sock);
            continue;
        }
        sw->operator_connections++;
        sock->on_close.cb = server_on_operator_close;
        sock->on_close.data = NULL;
        h2o_accept(&sw->operator_accept_ctx, sock);
    }
}

static void server_accept_start(server_worker_t *sw)
{
    sw->accept_paused = 0;
    h2o_socket_read_start(sw->w.listener, server_on_accept);
}

static void server_on_redis_state(void *data, redis_t *r, int connected)
{
    worker_t *w = data;
    metrics_gauge_set(w->metrics, METRICS_REDIS_CONNECTED, (uint64_t)redis_is_connected(r));
    if (connected) {
        log_msg(LOG_INFO, "worker %u: connected to Redis", w->id);
        store_on_connect(r);
    }
    if (!connected)
        log_msg(LOG_WARN, "worker %u: Redis connection lost: %s", w->id, redis_last_error(r));
}

/* The replica of redis.read_url: no library to load there (it comes from
 * the primary by replication). */
static void server_on_redis_read_state(void *data, redis_t *r, int connected)
{
    worker_t *w = data;
    metrics_gauge_set(w->metrics, METRICS_REDIS_READ_CONNECTED, (uint64_t)redis_is_connected(r));
    if (connected)
        log_msg(LOG_INFO, "worker %u: connected to the Redis replica (redis.read_url)", w->id);
    else
        log_msg(LOG_WARN,
                "worker %u: Redis replica connection lost: %s (stats read from the primary)", w->id,
                redis_last_error(r));
}

static void server_on_redis_rtt(void *data, uint64_t ns)
{
    worker_t *w = data;
    metrics_observe_redis(w->metrics, ns);
}

static uint64_t server_now_ms(server_worker_t *sw)
{
    return h2o_now(sw->w.ctx.loop);
}

static void server_on_flush_tick(h2o_timeout_entry_t *entry)
{
    server_worker_t *sw = H2O_STRUCT_FROM_MEMBER(server_worker_t, flush_entry, entry);
    counters_flush(sw->w.counters);
    h2o_timeout_link(sw->w.ctx.loop, &sw->flush_timeout, &sw->flush_entry);
}

static void server_on_checkpoint_tick(h2o_timeout_entry_t *entry)
{
    server_worker_t *sw = H2O_STRUCT_FROM_MEMBER(server_worker_t, checkpoint_entry, entry);
    if (!sw->w.stopping) checkpointer_run(sw->checkpointer, sw->w.snap);
    h2o_timeout_link(sw->w.ctx.loop, &sw->checkpoint_timeout, &sw->checkpoint_entry);
}

/* Polled during a stop: is this worker drained, or out of time? */
static void server_on_erasure_tick(h2o_timeout_entry_t *entry)
{
    server_worker_t *sw = H2O_STRUCT_FROM_MEMBER(server_worker_t, erasure_entry, entry);
    erasure_tick(sw->erasure, sw->w.snap->sites, clock_real_ms());
    h2o_timeout_link(sw->w.ctx.loop, &sw->erasure_timeout, &sw->erasure_entry);
}

static void server_on_stop_tick(h2o_timeout_entry_t *entry)
{
    server_worker_t *sw = H2O_STRUCT_FROM_MEMBER(server_worker_t, stop_entry, entry);
    uint64_t elapsed = server_now_ms(sw) - sw->stop_started_ms;
    if (sw->w.inflight == 0 && (sw->connections == 0 || elapsed >= SERVER_STOP_GRACE_MS)) {
        /* No request left: the final flush (again if a late request counted
         * more, or while Redis is down), then wait for every reply. */
        if (counters_pending(sw->w.counters) > 0) counters_flush(sw->w.counters);
        if (counters_pending(sw->w.counters) == 0 && redis_pending(sw->w.redis) == 0) {
            sw->done = 1;
            return;
        }
    }
    if (elapsed >= server.cfg->shutdown_timeout_ms) {
        log_msg(LOG_WARN,
                "worker %u: shutdown deadline reached with %llu requests in flight, %zu Redis "
                "commands pending and %llu counts not sent",
                sw->w.id, (unsigned long long)sw->w.inflight, redis_pending(sw->w.redis),
                (unsigned long long)counters_pending(sw->w.counters));
        sw->cut_short = 1;
        sw->done = 1;
        return;
    }
    h2o_timeout_link(sw->w.ctx.loop, &sw->stop_timeout, &sw->stop_entry);
}

static void server_begin_stop(server_worker_t *sw)
{
    if (sw->w.stopping) return;
    sw->w.stopping = 1;
    /* Serve what the kernel already accepted for us, then stop listening. */
    server_on_accept(sw->w.listener, NULL);
    h2o_socket_read_stop(sw->w.listener);
    h2o_socket_close(sw->w.listener);
    sw->w.listener = NULL;
    if (sw->operator_listener != NULL) {
        h2o_socket_read_stop(sw->operator_listener);
        h2o_socket_close(sw->operator_listener);
        sw->operator_listener = NULL;
    }
    h2o_context_request_shutdown(&sw->w.ctx);
    sw->stop_started_ms = server_now_ms(sw);
    sw->stop_entry.cb = server_on_stop_tick;
    h2o_timeout_link(sw->w.ctx.loop, &sw->stop_timeout, &sw->stop_entry);
}

static void server_on_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    server_worker_t *sw = H2O_STRUCT_FROM_MEMBER(server_worker_t, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        server_msg_t *msg = H2O_STRUCT_FROM_MEMBER(server_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&msg->super.link);
        if (msg->kind == SERVER_MSG_SNAPSHOT) {
            snapshot_release(sw->w.snap);
            sw->w.snap = msg->snap;
            __atomic_add_fetch(&sw->w.snap->serving, 1, __ATOMIC_RELEASE);
            pthread_mutex_lock(&server.ack_mutex);
            server.acks++;
            pthread_cond_signal(&server.ack_cond);
            pthread_mutex_unlock(&server.ack_mutex);
        } else {
            server_begin_stop(sw);
        }
        free(msg);
    }
}

static void *server_worker_main(void *arg)
{
    server_worker_t *sw = arg;
    worker_t *w = &sw->w;
    /* The loop, the context and the message queue are made on this thread:
     * h2o's evloop sockets take their buffers from the creating thread's
     * recycle lists (thread-local, unlocked). A queue made on the main
     * thread made every worker read its messages into buffers of the main
     * thread's list, at once on a reload: buffers handed to two threads. */
    h2o_context_init(&w->ctx, h2o_evloop_create(), &server.globalconf);
    sw->queue = h2o_multithread_create_queue(w->ctx.loop);
    h2o_multithread_register_receiver(sw->queue, &sw->receiver, server_on_message);
    pthread_mutex_lock(&server.ack_mutex);
    server.ready++;
    pthread_cond_broadcast(&server.ack_cond);
    pthread_mutex_unlock(&server.ack_mutex);
    h2o_loop_t *loop = w->ctx.loop;
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = server.public_hosts;
    w->accept_ctx.ssl_ctx = server.ssl_ctx;
    sw->operator_accept_ctx.ctx = &w->ctx;
    sw->operator_accept_ctx.hosts = server.operator_hosts;
    h2o_timeout_init(loop, &sw->stop_timeout, SERVER_STOP_POLL_MS);

    server_self = sw;
    w->ratelimit = ratelimit_create(RATELIMIT_SLOTS);
    if (w->ratelimit == NULL)
        log_msg(LOG_WARN, "worker %u: out of memory for the rate limiter: not limiting", w->id);
    if (server.cfg->max_connections_per_client != 0) {
        /* A client's connections spread over the workers (SO_REUSEPORT
         * hashes each one): each takes its share, rounded up. */
        sw->per_client_limit =
            (server.cfg->max_connections_per_client + server.count - 1) / server.count;
        sw->per_client = conncount_create(sw->max_connections);
        if (sw->per_client == NULL)
            log_msg(LOG_WARN, "worker %u: out of memory for the connection counts: not limiting",
                    w->id);
    }
    w->redis = redis_create(loop, &server.cfg->redis);
    redis_set_state_cb(w->redis, server_on_redis_state, w);
    redis_set_rtt_cb(w->redis, server_on_redis_rtt, w);
    if (server.cfg->redis_read.url[0] != '\0') {
        w->redis_read = redis_create(loop, &server.cfg->redis_read);
        if (w->redis_read != NULL) redis_set_state_cb(w->redis_read, server_on_redis_read_state, w);
    }
    w->health = health_create(w);
    if (w->health == NULL)
        log_msg(LOG_ERROR, "worker %u: out of memory: /healthz answers 500", w->id);
    w->versions = versions_cache_create(w);
    w->stats_cache = answer_cache_create(STATS_CACHE_BYTES);
    w->auth = http_auth_cache_create();
    if (w->versions == NULL)
        log_msg(LOG_ERROR, "worker %u: out of memory: banner-versions.json answers 500", w->id);
    w->counters = counters_create(w->redis, w->metrics);
    if (w->counters == NULL)
        log_msg(LOG_ERROR, "worker %u: out of memory: acceptance counts are not kept", w->id);
    h2o_timeout_init(loop, &w->wait_timeout, WORKER_WAIT_POLL_MS);
    h2o_timeout_init(loop, &sw->flush_timeout, COUNTERS_FLUSH_INTERVAL_MS);
    sw->flush_entry.cb = server_on_flush_tick;
    h2o_timeout_link(loop, &sw->flush_timeout, &sw->flush_entry);
    if (w->id == 0 && server.cfg->log_checkpoint_seconds > 0) {
        uint32_t ms = server.cfg->log_checkpoint_seconds * 1000;
        sw->checkpointer = checkpointer_create(w->redis, w->metrics, ms, server.cfg->public_url);
        if (sw->checkpointer == NULL)
            log_msg(LOG_ERROR, "worker %u: out of memory: no log checkpoints from this node",
                    w->id);
        h2o_timeout_init(loop, &sw->checkpoint_timeout, ms);
        sw->checkpoint_entry.cb = server_on_checkpoint_tick;
        if (sw->checkpointer != NULL)
            h2o_timeout_link(loop, &sw->checkpoint_timeout, &sw->checkpoint_entry);
    }
    if (w->id == 0) {
        /* One per process: the markers in Redis make many nodes compact once. */
        sw->erasure = erasure_create(w->redis, server.cfg->erasure_disk_within_s);
        if (sw->erasure == NULL)
            log_msg(LOG_ERROR, "worker 0: out of memory: erased bytes are not compacted on disk");
        else {
            h2o_timeout_init(loop, &sw->erasure_timeout, erasure_interval_ms(sw->erasure));
            sw->erasure_entry.cb = server_on_erasure_tick;
            h2o_timeout_link(loop, &sw->erasure_timeout, &sw->erasure_entry);
        }
    }

    w->listener = h2o_evloop_socket_create(loop, sw->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    w->listener->data = sw;
    server_accept_start(sw);
    if (sw->operator_fd >= 0) {
        sw->operator_listener =
            h2o_evloop_socket_create(loop, sw->operator_fd, H2O_SOCKET_FLAG_DONT_READ);
        sw->operator_listener->data = sw;
        h2o_socket_read_start(sw->operator_listener, server_on_operator_accept);
    }

    while (!sw->done)
        h2o_evloop_run(loop, INT32_MAX);

    /* Pending Redis callbacks run now (with "disconnected") and free their
     * records; connections still open are closed by the process exit. The
     * counters go after Redis: its callbacks still count into them. */
    h2o_timeout_unlink(&sw->flush_entry);
    if (sw->checkpointer != NULL) {
        h2o_timeout_unlink(&sw->checkpoint_entry);
        checkpointer_stop(sw->checkpointer);
    }
    if (sw->erasure != NULL) h2o_timeout_unlink(&sw->erasure_entry);
    /* The replica first: its pending stats calls fall back to the primary,
     * which then answers them with "disconnected". */
    if (w->redis_read != NULL) redis_destroy(w->redis_read);
    w->redis_read = NULL;
    redis_destroy(w->redis);
    w->redis = NULL;
    erasure_free(sw->erasure);
    sw->erasure = NULL;
    health_free(w->health);
    w->health = NULL;
    versions_cache_free(w->versions);
    answer_cache_free(w->stats_cache);
    http_auth_cache_free(w->auth);
    w->versions = NULL;
    ratelimit_free(w->ratelimit);
    w->ratelimit = NULL;
    /* Connections still open keep their keys: no close callback runs now. */
    conncount_free(sw->per_client);
    sw->per_client = NULL;
    counters_destroy(w->counters);
    w->counters = NULL;
    checkpointer_destroy(sw->checkpointer); /* not busy: redis_destroy ended its run */
    sw->checkpointer = NULL;
    return NULL;
}

int server_start(void)
{
    unsigned started = 0;
    for (; started < server.count; started++) {
        server_worker_t *sw = &server.workers[started];
        if (pthread_create(&sw->thread, NULL, server_worker_main, sw) != 0) {
            log_msg(LOG_ERROR, "cannot start worker thread %u: %s", started, strerror(errno));
            break;
        }
    }
    /* Each thread makes its loop, context and message queue first: wait for
     * them, so that server_publish() and server_stop() can be called at any
     * time after this returns. */
    pthread_mutex_lock(&server.ack_mutex);
    while (server.ready < started)
        pthread_cond_wait(&server.ack_cond, &server.ack_mutex);
    pthread_mutex_unlock(&server.ack_mutex);
    return started == server.count ? 0 : -1;
}

static void server_send(server_worker_t *sw, server_msg_kind_t kind, snapshot_t *snap)
{
    server_msg_t *msg = calloc(1, sizeof(*msg));
    if (msg == NULL) {
        log_msg(LOG_ERROR, "out of memory sending a message to worker %u", sw->w.id);
        if (snap != NULL) snapshot_release(snap);
        return;
    }
    msg->kind = kind;
    msg->snap = snap;
    h2o_multithread_send_message(&sw->receiver, &msg->super);
}

int server_publish(snapshot_t *snap)
{
    pthread_mutex_lock(&server.ack_mutex);
    server.acks = 0;
    pthread_mutex_unlock(&server.ack_mutex);
    for (unsigned i = 0; i < server.count; i++)
        server_send(&server.workers[i], SERVER_MSG_SNAPSHOT, snapshot_retain(snap));
    snapshot_release(snap);

    /* Wait until every worker serves the new snapshot, so that "reloaded"
     * means every new request sees it. A worker switches between two
     * events of its loop: this takes microseconds unless one is stuck. */
    struct timespec deadline;
    clock_deadline(CLOCK_REALTIME, SERVER_PUBLISH_WAIT_MS, &deadline);
    int rc = 0;
    pthread_mutex_lock(&server.ack_mutex);
    while (server.acks < server.count && rc == 0)
        rc = pthread_cond_timedwait(&server.ack_cond, &server.ack_mutex, &deadline);
    int all = server.acks >= server.count;
    pthread_mutex_unlock(&server.ack_mutex);
    return all ? 0 : -1;
}

int server_stop(void)
{
    int cut_short = 0;
    for (unsigned i = 0; i < server.count; i++)
        server_send(&server.workers[i], SERVER_MSG_STOP, NULL);
    for (unsigned i = 0; i < server.count; i++) {
        pthread_join(server.workers[i].thread, NULL);
        cut_short |= server.workers[i].cut_short;
    }
    return cut_short;
}
