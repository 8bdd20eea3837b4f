/*
 * redis_test.c - the Redis adapter (src/redis.c) against real redis-server
 * processes: replies, pipelining, fail-fast while down, command timeouts with late
 * replies, a killed server and the reconnect, max_pending, AUTH/SELECT,
 * destroy with commands in flight, the connect timeout, unix sockets.
 *
 * Each redis-server runs on a free loopback port and is killed at exit, even
 * on failure: atexit, fatal signals, and PR_SET_PDEATHSIG for the cases
 * (ASan's own exit) where neither runs.
 */
#include "check.h"
#include "redis.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_SERVERS_MAX 6
#define TEST_REDIS_MAX 4
#define TEST_START_MS 5000   /* a redis-server must accept within this */
#define TEST_CONNECT_MS 3000 /* the adapter must be ready within this */

static int contract_broken; /* a callback with both or neither of reply and err */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- redis-server processes ---------------------------------------------------- */

typedef struct test_server {
    pid_t pid;
    uint16_t port; /* 0 for a unix-socket-only server */
    char unix_path[108];
    char password[64];
} test_server_t;

static test_server_t servers[TEST_SERVERS_MAX];

static void server_kill(test_server_t *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

static void servers_kill_all(void)
{
    for (int i = 0; i < TEST_SERVERS_MAX; i++) {
        server_kill(&servers[i]);
        if (servers[i].unix_path[0] != '\0') unlink(servers[i].unix_path);
    }
}

static void on_fatal_signal(int sig)
{
    /* Async-signal-safe only: kill, then die of the same signal. */
    for (int i = 0; i < TEST_SERVERS_MAX; i++)
        if (servers[i].pid > 0) kill(servers[i].pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static uint16_t free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static int server_accepts(const test_server_t *s)
{
    int ok;
    if (s->port != 0) {
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons(s->port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        if (fd >= 0) close(fd);
    } else {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", s->unix_path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        if (fd >= 0) close(fd);
    }
    return ok;
}

/* Start (or restart, same port) s. port 0 with a unix_path: unix socket only. */
static int server_start(test_server_t *s)
{
    char port[16];
    snprintf(port, sizeof(port), "%u", s->port);
    const char *argv[32] = {"redis-server", "--port",      port,      "--bind",
                            "127.0.0.1",    "--save",      "",        "--appendonly",
                            "no",           "--daemonize", "no",      "--dir",
                            "/tmp",         "--loglevel",  "warning", "--enable-debug-command",
                            "yes"};
    int argc = 17;
    if (s->password[0] != '\0') {
        argv[argc++] = "--requirepass";
        argv[argc++] = s->password;
    }
    if (s->unix_path[0] != '\0') {
        argv[argc++] = "--unixsocket";
        argv[argc++] = s->unix_path;
    }
    argv[argc] = NULL;

    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, STDOUT_FILENO);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    for (uint64_t end = mono_ms() + TEST_START_MS; mono_ms() < end;) {
        if (waitpid(pid, NULL, WNOHANG) == pid) { /* died: port taken meanwhile? */
            s->pid = 0;
            return -1;
        }
        if (server_accepts(s)) return 0;
        usleep(10000);
    }
    server_kill(s);
    return -1;
}

/* A new server on a fresh free port (retried if the port is taken meanwhile). */
static test_server_t *server_new(const char *password, int unix_only)
{
    for (int i = 0; i < TEST_SERVERS_MAX; i++) {
        test_server_t *s = &servers[i];
        if (s->pid != 0 || s->port != 0 || s->unix_path[0] != '\0') continue;
        snprintf(s->password, sizeof(s->password), "%s", password != NULL ? password : "");
        if (unix_only)
            snprintf(s->unix_path, sizeof(s->unix_path), "/tmp/redis_test.%d.sock", (int)getpid());
        for (int attempt = 0; attempt < 5; attempt++) {
            s->port = unix_only ? 0 : free_port();
            if (server_start(s) == 0) return s;
        }
        return NULL;
    }
    return NULL;
}

/* ---- the event loop, callbacks and helpers ----------------------------------------- */

static h2o_loop_t *loop;

/* Run the loop until cond holds or ms pass; evaluates to cond. */
#define RUN_UNTIL(cond, ms)                                                                        \
    ({                                                                                             \
        uint64_t end_ = mono_ms() + (ms);                                                          \
        while (!(cond) && mono_ms() < end_)                                                        \
            h2o_evloop_run(loop, 10);                                                              \
        (cond);                                                                                    \
    })

static void run_for(uint64_t ms)
{
    for (uint64_t end = mono_ms() + ms; mono_ms() < end;)
        h2o_evloop_run(loop, 10);
}

typedef struct result {
    int calls;
    char err[64]; /* "" when the callback had a reply */
    redis_error_kind_t err_kind;
    redis_reply_kind_t kind;
    char str[512];
    size_t len;
    long long integer;
    size_t count;
    uint64_t at_ms;
} result_t;

static void on_reply(void *data, const redis_reply_t *reply, const redis_error_t *err)
{
    result_t *res = data;
    res->calls++;
    res->at_ms = mono_ms();
    if ((reply == NULL) == (err == NULL)) contract_broken++;
    snprintf(res->err, sizeof(res->err), "%s", err != NULL ? err->detail : "");
    res->err_kind = err != NULL ? err->kind : 0;
    if (reply == NULL) return;
    res->kind = redis_reply_kind(reply);
    size_t len = 0;
    const char *s = redis_reply_str(reply, &len);
    res->len = len;
    if (s != NULL) memcpy(res->str, s, len < sizeof(res->str) - 1 ? len : sizeof(res->str) - 1);
    res->str[len < sizeof(res->str) - 1 ? len : sizeof(res->str) - 1] = '\0';
    res->integer = redis_reply_integer(reply);
    res->count = redis_reply_count(reply);
}

typedef struct state {
    int ups, downs, connected;
} state_t;

static void on_state(void *data, redis_t *r, int connected)
{
    state_t *st = data;
    st->connected = connected;
    if (connected)
        st->ups++;
    else
        st->downs++;
}

static int rtt_count;

static void on_rtt(void *data, uint64_t ns)
{
    rtt_count++;
}

/* redis_t's the case made; the runner destroys what a failed case left. */
static redis_t *live[TEST_REDIS_MAX];

static redis_t *test_redis(const config_redis_t *cfg, state_t *st)
{
    for (int i = 0; i < TEST_REDIS_MAX; i++) {
        if (live[i] == NULL) {
            live[i] = redis_create(loop, cfg);
            if (live[i] != NULL) {
                redis_set_state_cb(live[i], on_state, st);
                redis_set_rtt_cb(live[i], on_rtt, NULL);
            }
            return live[i];
        }
    }
    return NULL;
}

static void test_redis_destroy(redis_t *r)
{
    for (int i = 0; i < TEST_REDIS_MAX; i++)
        if (live[i] == r) live[i] = NULL;
    redis_destroy(r);
}

static config_redis_t test_cfg(const test_server_t *s)
{
    config_redis_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.host, sizeof(cfg.host), "127.0.0.1");
    cfg.port = s != NULL ? s->port : 0;
    cfg.command_timeout_ms = 2000;
    cfg.connect_timeout_ms = 1000;
    cfg.reconnect_min_ms = 20;
    cfg.reconnect_max_ms = 200;
    cfg.max_pending = 100;
    return cfg;
}

/* Send a command of NUL-terminated words (NULL ends the list). */
static int cmd(redis_t *r, result_t *res, ...)
{
    const char *argv[16];
    size_t argvlen[16];
    int argc = 0;
    va_list ap;
    va_start(ap, res);
    for (const char *a; argc < 16 && (a = va_arg(ap, const char *)) != NULL; argc++) {
        argv[argc] = a;
        argvlen[argc] = strlen(a);
    }
    va_end(ap);
    memset(res, 0, sizeof(*res));
    return redis_command(r, NULL, 0, on_reply, res, argc, argv, argvlen);
}

/* Send, wait for the reply; 0 when a reply (not an err) came. */
static int cmd_wait(redis_t *r, result_t *res, const char *a0, const char *a1, const char *a2)
{
    if (cmd(r, res, a0, a1, a2, (const char *)NULL) != REDIS_OK) return -1;
    return RUN_UNTIL(res->calls > 0, 3000) && res->err[0] == '\0' ? 0 : -1;
}

/* ---- cases ----------------------------------------------------------------------------- */

static test_server_t *plain; /* shared by the cases that do not kill it */

static int connect_then_replies_round_trip(void)
{
    state_t st = {0};
    config_redis_t cfg = test_cfg(plain);
    redis_t *r = test_redis(&cfg, &st);
    result_t res;
    CHECK(r != NULL);
    CHECK(RUN_UNTIL(redis_is_connected(r), TEST_CONNECT_MS));
    CHECK(st.ups == 1 && st.connected == 1);
    CHECK(strcmp(redis_last_error(r), "") == 0);

    /* binary safe: a NUL inside the value */
    const char *argv[] = {"SET", "rt:k", "a\0b"};
    const size_t argvlen[] = {3, 4, 3};
    memset(&res, 0, sizeof(res));
    CHECK(redis_command(r, "rt", 2, on_reply, &res, 3, argv, argvlen) == REDIS_OK);
    CHECK(res.calls == 0); /* never from inside redis_command */
    CHECK(RUN_UNTIL(res.calls == 1, 3000));
    CHECK(res.err[0] == '\0' && res.kind == REDIS_REPLY_KIND_STATUS && strcmp(res.str, "OK") == 0);

    CHECK(cmd_wait(r, &res, "GET", "rt:k", NULL) == 0);
    CHECK(res.kind == REDIS_REPLY_KIND_STRING && res.len == 3 && memcmp(res.str, "a\0b", 3) == 0);

    CHECK(cmd_wait(r, &res, "DEL", "rt:n", NULL) == 0);
    CHECK(cmd_wait(r, &res, "INCR", "rt:n", NULL) == 0);
    CHECK(res.kind == REDIS_REPLY_KIND_INTEGER && res.integer == 1);

    CHECK(cmd_wait(r, &res, "INCR", "rt:k", NULL) == 0); /* a Redis error is a reply */
    CHECK(res.kind == REDIS_REPLY_KIND_ERROR && strncmp(res.str, "ERR", 3) == 0);

    CHECK(cmd_wait(r, &res, "GET", "rt:missing", NULL) == 0);
    CHECK(res.kind == REDIS_REPLY_KIND_NIL);

    CHECK(cmd_wait(r, &res, "MGET", "rt:n", "rt:missing") == 0);
    CHECK(res.kind == REDIS_REPLY_KIND_ARRAY && res.count == 2);

    CHECK(rtt_count >= 7);
    CHECK(redis_pending(r) == 0);
    test_redis_destroy(r);
    CHECK(st.downs == 0); /* destroy is not a lost connection */
    return 0;
}

/* A 2 MB pipeline (hiredis writes it in pieces, on write readiness) and a
 * chain of commands each sent from the previous one's callback. */
typedef struct chain {
    redis_t *r;
    int left, errors;
} chain_t;

static void on_chain_reply(void *data, const redis_reply_t *reply, const redis_error_t *err)
{
    chain_t *ch = data;
    static const char *argv[] = {"INCR", "pipe:chain"};
    static const size_t argvlen[] = {4, 10};
    if (err != NULL || redis_reply_kind(reply) != REDIS_REPLY_KIND_INTEGER) ch->errors++;
    if (--ch->left > 0 &&
        redis_command(ch->r, NULL, 0, on_chain_reply, ch, 2, argv, argvlen) != REDIS_OK)
        ch->errors++;
}

static int pipelined_and_chained_commands(void)
{
    enum { N = 2000, VALUE = 1024 };
    static result_t res[N];
    static char value[VALUE];
    state_t st = {0};
    config_redis_t cfg = test_cfg(plain);
    cfg.max_pending = N;
    redis_t *r = test_redis(&cfg, &st);
    CHECK(r != NULL);
    CHECK(RUN_UNTIL(redis_is_connected(r), TEST_CONNECT_MS));
    memset(value, 'x', sizeof(value));
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof(key), "pipe:%d", i);
        const char *argv[] = {"SET", key, value};
        const size_t argvlen[] = {3, strlen(key), sizeof(value)};
        memset(&res[i], 0, sizeof(res[i]));
        CHECK(redis_command(r, NULL, 0, on_reply, &res[i], 3, argv, argvlen) == REDIS_OK);
    }
    CHECK(redis_pending(r) == N);
    CHECK(RUN_UNTIL(redis_pending(r) == 0, 5000));
    for (int i = 0; i < N; i++)
        CHECK(res[i].calls == 1 && res[i].err[0] == '\0' && strcmp(res[i].str, "OK") == 0);

    result_t del;
    CHECK(cmd_wait(r, &del, "DEL", "pipe:chain", NULL) == 0);
    chain_t ch = {r, 100, 0};
    const char *argv[] = {"INCR", "pipe:chain"};
    const size_t argvlen[] = {4, 10};
    CHECK(redis_command(r, NULL, 0, on_chain_reply, &ch, 2, argv, argvlen) == REDIS_OK);
    CHECK(RUN_UNTIL(ch.left == 0, 5000));
    CHECK(ch.errors == 0);
    CHECK(cmd_wait(r, &del, "GET", "pipe:chain", NULL) == 0 && strcmp(del.str, "100") == 0);
    test_redis_destroy(r);
    return 0;
}

static int commands_while_down_fail_fast(void)
{
    state_t st = {0}, st_dead = {0};
    result_t res;
    config_redis_t cfg = test_cfg(plain);
    redis_t *r = test_redis(&cfg, &st);
    CHECK(r != NULL);
    /* still connecting: fails at once, and the callback never runs */
    CHECK(!redis_is_connected(r));
    CHECK(cmd(r, &res, "PING", (const char *)NULL) == REDIS_E_DOWN);
    CHECK(RUN_UNTIL(redis_is_connected(r), TEST_CONNECT_MS));
    CHECK(res.calls == 0);
    /* refused before the adapter ever sees the command */
    CHECK(cmd(r, &res, (const char *)NULL) == REDIS_E_ARGS);
    CHECK(cmd(r, &res, "subscribe", "ch", (const char *)NULL) == REDIS_E_ARGS);
    CHECK(cmd(r, &res, "MONITOR", (const char *)NULL) == REDIS_E_ARGS);

    /* nothing listens there */
    config_redis_t dead = test_cfg(NULL);
    dead.port = free_port();
    redis_t *d = test_redis(&dead, &st_dead);
    CHECK(d != NULL);
    CHECK(cmd(d, &res, "PING", (const char *)NULL) == REDIS_E_DOWN);
    CHECK(RUN_UNTIL(strcmp(redis_last_error(d), "connection refused") == 0, 2000));
    run_for(300); /* several reconnect attempts */
    CHECK(!redis_is_connected(d) && st_dead.ups == 0 && st_dead.downs == 0);
    CHECK(cmd(d, &res, "PING", (const char *)NULL) == REDIS_E_DOWN);
    run_for(50);
    CHECK(res.calls == 0);
    test_redis_destroy(d);
    test_redis_destroy(r);
    return 0;
}

static int command_timeout_then_late_reply_is_freed(void)
{
    state_t st = {0};
    result_t sleep_res, res;
    config_redis_t cfg = test_cfg(plain);
    cfg.command_timeout_ms = 200;
    redis_t *r = test_redis(&cfg, &st);
    CHECK(r != NULL);
    CHECK(RUN_UNTIL(redis_is_connected(r), TEST_CONNECT_MS));

    int rtt_before = rtt_count;
    uint64_t t0 = mono_ms();
    CHECK(cmd(r, &sleep_res, "DEBUG", "SLEEP", "1", (const char *)NULL) == REDIS_OK);
    CHECK(redis_pending(r) == 1);
    CHECK(RUN_UNTIL(sleep_res.calls > 0, 2000));
    uint64_t took = sleep_res.at_ms - t0;
    printf("    timed out after %llu ms\n", (unsigned long long)took);
    CHECK(strcmp(sleep_res.err, "timeout") == 0 && sleep_res.err_kind == REDIS_ERROR_TIMEOUT);
    CHECK(took >= 150 && took <= 900);
    CHECK(redis_pending(r) == 0);

    /* the late reply arrives (counted as a round trip) and only frees the record */
    CHECK(RUN_UNTIL(rtt_count > rtt_before, 3000));
    CHECK(sleep_res.calls == 1);
    CHECK(redis_is_connected(r));
    CHECK(cmd_wait(r, &res, "PING", NULL, NULL) == 0);
    CHECK(res.kind == REDIS_REPLY_KIND_STATUS && strcmp(res.str, "PONG") == 0);
    CHECK(sleep_res.calls == 1);
    test_redis_destroy(r);
    return 0;
}

static int killed_server_fails_inflight_and_reconnects(void)
{
    state_t st = {0};
    result_t inflight[4], res;
    test_server_t *s = server_new(NULL, 0);
    CHECK(s != NULL);
    config_redis_t cfg = test_cfg(s);
    cfg.command_timeout_ms = 5000;
    redis_t *r = test_redis(&cfg, &st);
    CHECK(r != NULL);
    CHECK(RUN_UNTIL(redis_is_connected(r), TEST_CONNECT_MS));

    /* a sleep keeps the three GETs behind it unanswered */
    CHECK(cmd(r, &inflight[0], "DEBUG", "SLEEP", "3", (const char *)NULL) == REDIS_OK);
    for (int i = 1; i < 4; i++)
        CHECK(cmd(r, &inflight[i], "GET", "k", (const char *)NULL) == REDIS_OK);
    run_for(200);
    for (int i = 0; i < 4; i++)
        CHECK(inflight[i].calls == 0);

    server_kill(s);
    CHECK(RUN_UNTIL(st.downs == 1, 2000));
    for (int i = 0; i < 4; i++)
        CHECK(inflight[i].calls == 1 && strcmp(inflight[i].err, "disconnected") == 0 &&
              inflight[i].err_kind == REDIS_ERROR_UNAVAILABLE);
    CHECK(st.connected == 0 && !redis_is_connected(r));
    CHECK(redis_pending(r) == 0);
    CHECK(cmd(r, &res, "PING", (const char *)NULL) == REDIS_E_DOWN);
    printf("    after the kill: %s\n", redis_last_error(r));
    CHECK(redis_last_error(r)[0] != '\0');
    run_for(300); /* a few refused attempts while it is down */
    CHECK(strcmp(redis_last_error(r), "connection refused") == 0);

    uint64_t t0 = mono_ms();
    CHECK(server_start(s) == 0);
    CHECK(RUN_UNTIL(st.ups == 2, 5000));
    printf("    reconnected %llu ms after the restart\n", (unsigned long long)(mono_ms() - t0));
    CHECK(st.connected == 1 && st.downs == 1);
    CHECK(cmd_wait(r, &res, "PING", NULL, NULL) == 0);
    CHECK(strcmp(res.str, "PONG") == 0);
    for (int i = 0; i < 4; i++)
        CHECK(inflight[i].calls == 1);
    test_redis_destroy(r);
    server_kill(s);
    return 0;
}

static int max_pending_returns_busy(void)
{
    state_t st = {0};
    result_t res[6];
    config_redis_t cfg = test_cfg(plain);
    cfg.max_pending = 4;
    redis_t *r = test_redis(&cfg, &st);
    CHECK(r != NULL);
    CHECK(RUN_UNTIL(redis_is_connected(r), TEST_CONNECT_MS));
    for (int i = 0; i < 4; i++)
        CHECK(cmd(r, &res[i], "PING", (const char *)NULL) == REDIS_OK);
    CHECK(redis_pending(r) == 4);
    CHECK(cmd(r, &res[4], "PING", (const char *)NULL) == REDIS_E_BUSY);
    CHECK(RUN_UNTIL(res[0].calls + res[1].calls + res[2].calls + res[3].calls == 4, 3000));
    for (int i = 0; i < 4; i++)
        CHECK(res[i].calls == 1 && res[i].err[0] == '\0');
    CHECK(res[4].calls == 0);
    CHECK(cmd_wait(r, &res[5], "PING", NULL, NULL) == 0); /* room again */
    test_redis_destroy(r);
    return 0;
}

static int auth_and_select_then_wrong_password_is_refused(void)
{
    state_t st = {0}, st_acl = {0}, st_bad = {0};
    result_t res;
    test_server_t *s = server_new("s3cret pw", 0);
    CHECK(s != NULL);

    config_redis_t cfg = test_cfg(s);
    snprintf(cfg.password, sizeof(cfg.password), "s3cret pw");
    cfg.db = 2;
    redis_t *r = test_redis(&cfg, &st);
    CHECK(r != NULL);
    CHECK(RUN_UNTIL(redis_is_connected(r), TEST_CONNECT_MS));
    CHECK(cmd_wait(r, &res, "CLIENT", "INFO", NULL) == 0);
    CHECK(strstr(res.str, " db=2 ") != NULL);
    CHECK(cmd_wait(r, &res, "SET", "auth:k", "v") == 0 && strcmp(res.str, "OK") == 0);
    CHECK(cmd_wait(r, &res, "GET", "auth:k", NULL) == 0 && strcmp(res.str, "v") == 0);

    config_redis_t acl = cfg; /* the Redis 6 form: AUTH user password */
    snprintf(acl.username, sizeof(acl.username), "default");
    acl.db = 0;
    redis_t *a = test_redis(&acl, &st_acl);
    CHECK(a != NULL);
    CHECK(RUN_UNTIL(redis_is_connected(a), TEST_CONNECT_MS));
    CHECK(cmd_wait(a, &res, "GET", "auth:k", NULL) == 0 && res.kind == REDIS_REPLY_KIND_NIL);

    config_redis_t bad = cfg;
    snprintf(bad.password, sizeof(bad.password), "wrong");
    redis_t *b = test_redis(&bad, &st_bad);
    CHECK(b != NULL);
    CHECK(RUN_UNTIL(strstr(redis_last_error(b), "authentication") != NULL, 2000));
    printf("    wrong password: %s\n", redis_last_error(b));
    run_for(200); /* it keeps trying, and keeps failing */
    CHECK(!redis_is_connected(b) && st_bad.ups == 0);
    CHECK(strstr(redis_last_error(b), "authentication failed") != NULL);
    CHECK(cmd(b, &res, "PING", (const char *)NULL) == REDIS_E_DOWN);

    test_redis_destroy(b);
    test_redis_destroy(a);
    test_redis_destroy(r);
    server_kill(s);
    return 0;
}

static int destroy_fails_pending_commands(void)
{
    state_t st = {0};
    result_t res[4];
    config_redis_t cfg = test_cfg(plain);
    cfg.command_timeout_ms = 100;
    redis_t *r = test_redis(&cfg, &st);
    CHECK(r != NULL);
    CHECK(RUN_UNTIL(redis_is_connected(r), TEST_CONNECT_MS));
    /* res[0] times out, its record stays with hiredis until the destroy */
    CHECK(cmd(r, &res[0], "DEBUG", "SLEEP", "0.5", (const char *)NULL) == REDIS_OK);
    CHECK(RUN_UNTIL(res[0].calls == 1, 1000));
    CHECK(strcmp(res[0].err, "timeout") == 0 && res[0].err_kind == REDIS_ERROR_TIMEOUT);
    for (int i = 1; i < 4; i++)
        CHECK(cmd(r, &res[i], "GET", "k", (const char *)NULL) == REDIS_OK);
    run_for(20);
    CHECK(res[1].calls == 0);
    test_redis_destroy(r);
    CHECK(res[0].calls == 1);
    for (int i = 1; i < 4; i++)
        CHECK(res[i].calls == 1 && strcmp(res[i].err, "disconnected") == 0 &&
              res[i].err_kind == REDIS_ERROR_UNAVAILABLE);
    CHECK(st.downs == 0);
    return 0;
}

static int connect_timeout_covers_a_silent_server(void)
{
    state_t st = {0};
    /* A listener that never answers: the kernel completes TCP connections
     * into its backlog, so only the AUTH reply is missing. */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    CHECK(fd >= 0);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        CHECK(!"listen");
    }
    config_redis_t cfg = test_cfg(NULL);
    cfg.port = ntohs(a.sin_port);
    snprintf(cfg.password, sizeof(cfg.password), "pw");
    cfg.connect_timeout_ms = 200;
    redis_t *r = test_redis(&cfg, &st);
    int ok = r != NULL && RUN_UNTIL(strcmp(redis_last_error(r), "timeout connecting") == 0, 2000);
    uint64_t t0 = mono_ms();
    int attempts = 0;
    /* then it tries again */
    while (ok && mono_ms() - t0 < 1500 && attempts < 3) {
        h2o_evloop_run(loop, 10);
        int c = accept(fd, NULL, NULL);
        if (c >= 0) {
            attempts++;
            close(c);
        }
    }
    close(fd);
    CHECK(ok);
    CHECK(attempts >= 2);
    CHECK(!redis_is_connected(r) && st.ups == 0);
    test_redis_destroy(r);
    return 0;
}

static int unix_socket_connects(void)
{
    state_t st = {0};
    result_t res;
    test_server_t *s = server_new(NULL, 1);
    CHECK(s != NULL);
    config_redis_t cfg = test_cfg(NULL);
    cfg.host[0] = '\0';
    snprintf(cfg.unix_path, sizeof(cfg.unix_path), "%s", s->unix_path);
    redis_t *r = test_redis(&cfg, &st);
    CHECK(r != NULL);
    CHECK(RUN_UNTIL(redis_is_connected(r), TEST_CONNECT_MS));
    CHECK(cmd_wait(r, &res, "PING", NULL, NULL) == 0 && strcmp(res.str, "PONG") == 0);
    test_redis_destroy(r);
    server_kill(s);
    return 0;
}

/* ---- runner ------------------------------------------------------------------------------ */

static void run_case(const char *name, int (*fn)(void))
{
    int broken_before = contract_broken;
    int rc = fn();
    if (contract_broken != broken_before) {
        printf("    a callback had both or neither of reply and err\n");
        rc = -1;
    }
    for (int i = 0; i < TEST_REDIS_MAX; i++) { /* what a failed case left */
        if (live[i] != NULL) {
            redis_destroy(live[i]);
            live[i] = NULL;
        }
    }
    if (rc == 0) {
        passed++;
        printf("ok   %s\n", name);
    } else {
        failed++;
        printf("FAIL %s\n", name);
    }
    fflush(stdout);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    atexit(servers_kill_all);
    int fatal[] = {SIGINT, SIGTERM, SIGHUP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        signal(fatal[i], on_fatal_signal);

    uint64_t t0 = mono_ms();
    loop = h2o_evloop_create();
    plain = server_new(NULL, 0);
    if (plain == NULL) {
        printf("FAIL cannot start redis-server\n0 passed, 1 failed\n");
        return 1;
    }

    run_case("connect_then_replies_round_trip", connect_then_replies_round_trip);
    run_case("pipelined_and_chained_commands", pipelined_and_chained_commands);
    run_case("commands_while_down_fail_fast", commands_while_down_fail_fast);
    run_case("command_timeout_then_late_reply_is_freed", command_timeout_then_late_reply_is_freed);
    run_case("killed_server_fails_inflight_and_reconnects",
             killed_server_fails_inflight_and_reconnects);
    run_case("max_pending_returns_busy", max_pending_returns_busy);
    run_case("auth_and_select_then_wrong_password_is_refused",
             auth_and_select_then_wrong_password_is_refused);
    run_case("destroy_fails_pending_commands", destroy_fails_pending_commands);
    run_case("connect_timeout_covers_a_silent_server", connect_timeout_covers_a_silent_server);
    run_case("unix_socket_connects", unix_socket_connects);

    servers_kill_all();
    h2o_evloop_run(loop, 0); /* let h2o free the sockets we closed */
    h2o_evloop_destroy(loop);
    printf("    (%.1f s)\n", (double)(mono_ms() - t0) / 1000);
    return check_summary();
}
