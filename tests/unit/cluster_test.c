/*
 * cluster_test.c - the Redis Cluster client of src/redis.c and its durable
 * writes, against real redis-server processes: CRC16 against CLUSTER
 * KEYSLOT, routing by hash tag with no redirect, the function library on
 * every master (and again on one that lost it), -MOVED and -ASK during live
 * slot migrations, -TRYAGAIN and -CLUSTERDOWN retried within the deadline,
 * a killed master, seed nodes, and WAIT after a write (one Redis with and
 * without its replica).
 *
 * A 3-master cluster is formed here with CLUSTER MEET and ADDSLOTSRANGE (no
 * replicas: the failover tests are the HTTP suites'). Every redis-server runs
 * on free loopback ports and is killed at exit, even on failure (atexit,
 * fatal signals, PR_SET_PDEATHSIG).
 */
#include "check.h"
#include "log.h"
#include "redis.h"
#include "store.h"

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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MASTERS 3
#define SERVERS_MAX 6
#define START_MS 5000
#define FORM_MS 15000
#define CONNECT_MS 5000
#define LIVE_MAX 4

static int contract_broken; /* a callback with both or neither of reply and err */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- redis-server processes ------------------------------------------------ */

typedef struct server {
    pid_t pid;
    uint16_t port;
    int cluster;
    char dir[64];
    char id[64]; /* cluster node id */
} server_t;

static server_t servers[SERVERS_MAX];
static server_t *masters[MASTERS];

static void server_kill(server_t *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

static void servers_kill_all(void)
{
    for (int i = 0; i < SERVERS_MAX; i++) {
        server_t *s = &servers[i];
        server_kill(s);
        if (s->dir[0] != '\0') {
            char path[128];
            FMT(path, "%s/nodes.conf", s->dir);
            unlink(path);
            FMT(path, "%s/dump.rdb", s->dir);
            unlink(path);
            rmdir(s->dir);
            s->dir[0] = '\0';
        }
    }
}

static void on_fatal_signal(int sig)
{
    for (int i = 0; i < SERVERS_MAX; i++)
        if (servers[i].pid > 0) kill(servers[i].pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static int port_free(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0) close(fd);
    return ok;
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

static int port_accepts(uint16_t port)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

/* redis-cli -p port <args>: its output in out; 0 when it exited 0. */
static int cli(uint16_t port, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int cli(uint16_t port, char *out, size_t cap, const char *fmt, ...)
{
    char args[1024], cmd[1200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(args)) abort();
    FMT(cmd, "redis-cli -p %u %s 2>&1", port, args);
    FILE *f = popen(cmd, "r");
    if (f == NULL) return -1;
    size_t got = fread(out, 1, cap - 1, f);
    out[got] = '\0';
    return pclose(f) == 0 ? 0 : -1;
}

/* Start s (on its port when it has one, else a fresh one). */
static int server_start(server_t *s)
{
    char port[16], nodes[128];
    if (s->dir[0] == '\0') {
        snprintf(s->dir, sizeof(s->dir), "/tmp/cluster_test.XXXXXX");
        if (mkdtemp(s->dir) == NULL) {
            s->dir[0] = '\0';
            return -1;
        }
    }
    FMT(nodes, "%s/nodes.conf", s->dir);
    int fixed = s->port != 0;
    for (int attempt = 0; attempt < 20; attempt++) {
        if (!fixed) {
            s->port = free_port();
            /* A cluster node also listens on port + 10000 (its bus). */
            if (s->port == 0 || s->port > 65535 - 10000 || !port_free((uint16_t)(s->port + 10000)))
                continue;
        }
        FMT(port, "%u", s->port);
        pid_t pid = fork();
        if (pid < 0) return -1;
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int devnull = open("/dev/null", O_WRONLY);
            if (devnull >= 0) dup2(devnull, STDOUT_FILENO);
            if (s->cluster)
                execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
                       "--save", "", "--appendonly", "no", "--dir", s->dir, "--loglevel", "warning",
                       "--cluster-enabled", "yes", "--cluster-config-file", nodes,
                       "--cluster-node-timeout", "5000", (char *)NULL);
            else
                execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
                       "--save", "", "--appendonly", "no", "--dir", s->dir, "--loglevel", "warning",
                       "--repl-diskless-sync-delay", "0", (char *)NULL);
            _exit(127);
        }
        s->pid = pid;
        for (uint64_t end = mono_ms() + START_MS; mono_ms() < end;) {
            if (waitpid(pid, NULL, WNOHANG) == pid) { /* the port was taken meanwhile */
                s->pid = 0;
                break;
            }
            if (port_accepts(s->port)) {
                char out[64];
                if (cli(s->port, out, sizeof(out), "PING") == 0 && strstr(out, "PONG") != NULL)
                    return 0;
            }
            usleep(10000);
        }
        server_kill(s);
        if (fixed) return -1;
    }
    return -1;
}

static server_t *server_new(int cluster)
{
    for (int i = 0; i < SERVERS_MAX; i++) {
        if (servers[i].pid == 0 && servers[i].port == 0) {
            servers[i].cluster = cluster;
            return server_start(&servers[i]) == 0 ? &servers[i] : NULL;
        }
    }
    return NULL;
}

static int info_has(uint16_t port, const char *section, const char *needle)
{
    char out[8192];
    return cli(port, out, sizeof(out), "INFO %s", section) == 0 && strstr(out, needle) != NULL;
}

static long long info_field(uint16_t port, const char *section, const char *field)
{
    char out[8192];
    if (cli(port, out, sizeof(out), "INFO %s", section) != 0) return -1;
    const char *p = strstr(out, field);
    return p != NULL ? strtoll(p + strlen(field), NULL, 10) : -1;
}

/* Every master says the cluster is ok and knows all 16384 slots. */
static int cluster_ok(void)
{
    for (int i = 0; i < MASTERS; i++) {
        char out[4096];
        if (cli(masters[i]->port, out, sizeof(out), "CLUSTER INFO") != 0 ||
            strstr(out, "cluster_state:ok") == NULL ||
            strstr(out, "cluster_slots_assigned:16384") == NULL ||
            strstr(out, "cluster_known_nodes:3") == NULL)
            return 0;
    }
    return 1;
}

static int cluster_wait_ok(void)
{
    for (uint64_t end = mono_ms() + FORM_MS; mono_ms() < end; usleep(20000))
        if (cluster_ok()) return 0;
    return -1;
}

/* Three masters, slots split in three ranges as redis-cli --cluster would. */
static int cluster_form(void)
{
    char out[256];
    for (int i = 0; i < MASTERS; i++) {
        if ((masters[i] = server_new(1)) == NULL) return -1;
        if (cli(masters[i]->port, out, sizeof(out), "CLUSTER MYID") != 0) return -1;
        out[strcspn(out, "\r\n")] = '\0';
        snprintf(masters[i]->id, sizeof(masters[i]->id), "%.63s", out);
    }
    for (int i = 1; i < MASTERS; i++)
        if (cli(masters[0]->port, out, sizeof(out), "CLUSTER MEET 127.0.0.1 %u",
                masters[i]->port) != 0)
            return -1;
    static const int ranges[MASTERS][2] = {{0, 5460}, {5461, 10922}, {10923, 16383}};
    for (int i = 0; i < MASTERS; i++)
        if (cli(masters[i]->port, out, sizeof(out), "CLUSTER ADDSLOTSRANGE %d %d", ranges[i][0],
                ranges[i][1]) != 0 ||
            strstr(out, "OK") == NULL)
            return -1;
    return cluster_wait_ok();
}

/* The master that serves slot, from CLUSTER NODES ("... <from>-<to> ..."). */
static server_t *owner_of(unsigned slot)
{
    static char out[16384];
    if (cli(masters[0]->port, out, sizeof(out), "CLUSTER NODES") != 0) return NULL;
    for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char id[64];
        if (sscanf(line, "%63s", id) != 1) continue;
        int field = 0;
        for (char *p = line; *p != '\0'; p++) {
            if (*p != ' ') continue;
            field++;
            if (field < 8) continue;
            unsigned a, b;
            int n = sscanf(p + 1, "%u-%u", &a, &b);
            if (n == 1) b = a;
            if (n >= 1 && p[1] != '[' && slot >= a && slot <= b) {
                for (int i = 0; i < MASTERS; i++)
                    if (strcmp(masters[i]->id, id) == 0) return masters[i];
            }
        }
    }
    return NULL;
}

static int set_slot_everywhere(unsigned slot, const server_t *to)
{
    char out[256];
    for (int i = 0; i < MASTERS; i++)
        if (cli(masters[i]->port, out, sizeof(out), "CLUSTER SETSLOT %u NODE %s", slot, to->id) !=
                0 ||
            strstr(out, "OK") == NULL)
            return -1;
    return 0;
}

/* What redis-cli --cluster reshard does for one slot: IMPORTING on the
 * target, MIGRATING on the source, MIGRATE each key (or only `only`, leaving
 * the slot half moved when finish is 0), then NODE everywhere. */
static int migrate_slot(unsigned slot, server_t *from, server_t *to, const char *only, int finish)
{
    char out[4096];
    if (cli(to->port, out, sizeof(out), "CLUSTER SETSLOT %u IMPORTING %s", slot, from->id) != 0 ||
        cli(from->port, out, sizeof(out), "CLUSTER SETSLOT %u MIGRATING %s", slot, to->id) != 0)
        return -1;
    if (only != NULL)
        return cli(from->port, out, sizeof(out), "MIGRATE 127.0.0.1 %u '%s' 0 5000", to->port,
                   only) == 0 &&
                       strstr(out, "OK") != NULL
                   ? 0
                   : -1;
    if (cli(from->port, out, sizeof(out), "CLUSTER GETKEYSINSLOT %u 1000", slot) != 0) return -1;
    char keys[4096];
    keys[0] = '\0';
    for (char *k = strtok(out, "\n"); k != NULL; k = strtok(NULL, "\n")) {
        size_t used = strlen(keys);
        snprintf(keys + used, sizeof(keys) - used, " '%s'", k);
    }
    if (keys[0] != '\0' && cli(from->port, out, sizeof(out),
                               "MIGRATE 127.0.0.1 %u '' 0 5000 KEYS%s", to->port, keys) != 0)
        return -1;
    return finish ? set_slot_everywhere(slot, to) : 0;
}

static int migrate_rest(unsigned slot, server_t *from, server_t *to)
{
    return migrate_slot(slot, from, to, NULL, 1);
}

/* Sum of errorstat_<kind> over the masters (INFO errorstats). */
static long long error_count(const char *kind)
{
    char field[64];
    FMT(field, "errorstat_%s:count=", kind);
    long long sum = 0;
    for (int i = 0; i < MASTERS; i++) {
        long long v = info_field(masters[i]->port, "errorstats", field);
        if (v > 0) sum += v;
    }
    return sum;
}

/* A tag whose slot a given master serves, different for each i. */
static void tag_on(char *buf, size_t cap, const server_t *m, int i)
{
    for (int k = 0;; k++) {
        snprintf(buf, cap, "t%d-%d", i, k);
        if (owner_of(redis_key_slot(buf, strlen(buf))) == m) return;
    }
}

/* ---- the event loop and the client ---------------------------------------- */

static h2o_loop_t *loop;

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
    char err[64];
    redis_error_kind_t err_kind; /* 0 when the callback had a reply */
    redis_reply_kind_t kind;
    char str[256];
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
    snprintf(res->str, sizeof(res->str), "%.*s", (int)len, s != NULL ? s : "");
    res->integer = redis_reply_integer(reply);
    res->count = redis_reply_count(reply);
}

typedef struct state {
    int ups, downs, with_store;
} state_t;

static void on_state(void *data, redis_t *r, int connected)
{
    state_t *st = data;
    if (connected) {
        st->ups++;
        if (st->with_store) store_on_connect(r);
    } else {
        st->downs++;
    }
}

static redis_t *live[LIVE_MAX];

static redis_t *client(const config_redis_t *cfg, state_t *st)
{
    for (int i = 0; i < LIVE_MAX; i++) {
        if (live[i] == NULL) {
            live[i] = redis_create(loop, cfg);
            if (live[i] != NULL) redis_set_state_cb(live[i], on_state, st);
            return live[i];
        }
    }
    return NULL;
}

static void client_destroy(redis_t *r)
{
    for (int i = 0; i < LIVE_MAX; i++)
        if (live[i] == r) live[i] = NULL;
    redis_destroy(r);
}

static config_redis_t base_cfg(void)
{
    config_redis_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.command_timeout_ms = 3000;
    cfg.connect_timeout_ms = 1000;
    cfg.reconnect_min_ms = 20;
    cfg.reconnect_max_ms = 200;
    cfg.max_pending = 10000;
    cfg.wait_timeout_ms = 100;
    return cfg;
}

/* redis+cluster:// with these seeds. */
static config_redis_t cluster_cfg(int n, server_t *const *seeds)
{
    config_redis_t cfg = base_cfg();
    cfg.cluster = 1;
    for (int i = 0; i < n; i++) {
        snprintf(cfg.seeds[i].host, sizeof(cfg.seeds[i].host), "127.0.0.1");
        cfg.seeds[i].port = seeds[i]->port;
    }
    cfg.n_seeds = (size_t)n;
    snprintf(cfg.host, sizeof(cfg.host), "127.0.0.1");
    cfg.port = seeds[0]->port;
    return cfg;
}

static config_redis_t single_cfg(const server_t *s)
{
    config_redis_t cfg = base_cfg();
    snprintf(cfg.host, sizeof(cfg.host), "127.0.0.1");
    cfg.port = s->port;
    return cfg;
}

/* The tag as store.c passes it: the bytes between the first '{' and the
 * first '}' after it when not empty, else none (then the whole key). */
static void key_tag(const char *key, size_t len, const char **tag, size_t *tag_len)
{
    const char *open = memchr(key, '{', len);
    const char *close = open != NULL ? memchr(open + 1, '}', len - (size_t)(open + 1 - key)) : NULL;
    if (close != NULL && close > open + 1) {
        *tag = open + 1;
        *tag_len = (size_t)(close - open - 1);
    } else {
        *tag = key;
        *tag_len = len;
    }
}

/* Send words (NULL-terminated); the tag is the first key's (argv[1]). */
static int send_words(redis_t *r, result_t *res, int durable, const char *a0, va_list ap)
{
    const char *argv[16] = {a0};
    size_t argvlen[16] = {strlen(a0)};
    int argc = 1;
    for (const char *a; argc < 16 && (a = va_arg(ap, const char *)) != NULL; argc++) {
        argv[argc] = a;
        argvlen[argc] = strlen(a);
    }
    const char *tag = NULL;
    size_t tag_len = 0;
    if (argc > 1) key_tag(argv[1], argvlen[1], &tag, &tag_len);
    memset(res, 0, sizeof(*res));
    /* h2o reads the clock once per loop iteration: after a blocking
     * redis-cli, a deadline would start from a stale time. */
    h2o_evloop_run(loop, 0);
    return (durable ? redis_command_durable : redis_command)(r, tag, tag_len, on_reply, res, argc,
                                                             argv, argvlen);
}

static int cmd(redis_t *r, result_t *res, const char *a0, ...)
{
    va_list ap;
    va_start(ap, a0);
    int rc = send_words(r, res, 0, a0, ap);
    va_end(ap);
    return rc;
}

/* Send and wait: 0 when a reply (not an err) came. */
static int cmd_wait(redis_t *r, result_t *res, const char *a0, ...)
{
    va_list ap;
    va_start(ap, a0);
    int rc = send_words(r, res, 0, a0, ap);
    va_end(ap);
    if (rc != REDIS_OK) return -1;
    return RUN_UNTIL(res->calls > 0, 5000) && res->err[0] == '\0' ? 0 : -1;
}

static int durable_wait(redis_t *r, result_t *res, const char *a0, ...)
{
    va_list ap;
    va_start(ap, a0);
    int rc = send_words(r, res, 1, a0, ap);
    va_end(ap);
    if (rc != REDIS_OK) return -1;
    return RUN_UNTIL(res->calls > 0, 5000) ? 0 : -1;
}

static redis_t *cluster_client(state_t *st, int command_timeout_ms)
{
    /* Seeded with the second master only: the others come from the map. */
    config_redis_t cfg = cluster_cfg(1, &masters[1]);
    if (command_timeout_ms > 0) cfg.command_timeout_ms = (uint32_t)command_timeout_ms;
    redis_t *r = client(&cfg, st);
    if (r == NULL || !RUN_UNTIL(redis_is_connected(r), CONNECT_MS)) return NULL;
    return r;
}

/* ---- cases -------------------------------------------------------------------- */

static int crc16_matches_cluster_keyslot_for_many_keys(void)
{
    enum { N = 3000 };
    static char keys[N][48];
    static size_t lens[N];
    static result_t res[N];
    static const char *fixed[] = {"123456789",
                                  "{user1000}.following",
                                  "{user1000}.followers",
                                  "foo{}{bar}",
                                  "foo{{bar}}zap",
                                  "foo{bar}{zap}",
                                  "{}",
                                  "a",
                                  "cd:{demo:12}:s:visitor",
                                  "}{",
                                  "{",
                                  "x{y"};
    const size_t n_fixed = sizeof(fixed) / sizeof(fixed[0]);
    state_t st = {0};
    config_redis_t cfg = single_cfg(masters[0]); /* CLUSTER KEYSLOT needs no routing */
    redis_t *r = client(&cfg, &st);
    CHECK(r != NULL && RUN_UNTIL(redis_is_connected(r), CONNECT_MS));
    srand(13);
    for (size_t i = 0; i < N; i++) {
        if (i < n_fixed) {
            lens[i] = strlen(fixed[i]);
            memcpy(keys[i], fixed[i], lens[i]);
        } else {
            lens[i] = 1 + (size_t)rand() % (sizeof(keys[i]) - 1);
            for (size_t j = 0; j < lens[i]; j++) /* any byte, braces often */
                keys[i][j] = rand() % 8 == 0 ? "{}"[rand() % 2] : (char)(rand() % 256);
        }
        const char *argv[] = {"CLUSTER", "KEYSLOT", keys[i]};
        const size_t argvlen[] = {7, 7, lens[i]};
        CHECK(redis_command(r, NULL, 0, on_reply, &res[i], 3, argv, argvlen) == REDIS_OK);
    }
    CHECK(RUN_UNTIL(redis_pending(r) == 0, 10000));
    int mismatches = 0;
    for (size_t i = 0; i < N; i++) {
        const char *tag;
        size_t tag_len;
        key_tag(keys[i], lens[i], &tag, &tag_len);
        CHECK(res[i].calls == 1 && res[i].kind == REDIS_REPLY_KIND_INTEGER);
        if ((long long)redis_key_slot(tag, tag_len) != res[i].integer) {
            if (mismatches++ < 5)
                printf("    key %zu: ours %u, Redis %lld\n", i, redis_key_slot(tag, tag_len),
                       res[i].integer);
        }
    }
    CHECK(mismatches == 0);
    CHECK(redis_key_slot("123456789", 9) == 0x31C3 % 16384); /* the CRC16/XMODEM check value */
    client_destroy(r);
    return 0;
}

static int routes_every_tag_to_its_master_without_redirects(void)
{
    enum { N = 600 };
    static result_t res[N];
    state_t st = {0};
    redis_t *r = cluster_client(&st, 0);
    CHECK(r != NULL);
    CHECK(st.ups == MASTERS); /* one per master, not the seed's extra connection */
    CHECK(strcmp(redis_last_error(r), "") == 0);
    long long moved = error_count("MOVED");
    for (int i = 0; i < N; i++) {
        char key[32], value[32];
        FMT(key, "route:{tag%d}", i);
        FMT(value, "v%d", i);
        const char *argv[] = {"SET", key, value};
        const size_t argvlen[] = {3, strlen(key), strlen(value)};
        CHECK(redis_command(r, key + 7, strlen(key) - 8, on_reply, &res[i], 3, argv, argvlen) ==
              REDIS_OK);
    }
    CHECK(RUN_UNTIL(redis_pending(r) == 0, 10000));
    for (int i = 0; i < N; i++)
        CHECK(res[i].calls == 1 && res[i].err[0] == '\0' && strcmp(res[i].str, "OK") == 0);
    CHECK(error_count("MOVED") == moved); /* each went straight to its master */
    long long total = 0;
    for (int i = 0; i < MASTERS; i++) {
        long long keys = info_field(masters[i]->port, "keyspace", "db0:keys=");
        CHECK(keys > N / 6); /* spread over the three */
        total += keys;
    }
    CHECK(total >= N);
    result_t one;
    CHECK(cmd_wait(r, &one, "GET", "route:{tag42}", NULL) == 0 && strcmp(one.str, "v42") == 0);
    /* untagged: any master */
    CHECK(cmd_wait(r, &one, "PING", NULL) == 0 && strcmp(one.str, "PONG") == 0);
    client_destroy(r);
    return 0;
}

static int moved_is_followed_and_the_slot_patched(void)
{
    state_t st = {0};
    redis_t *r = cluster_client(&st, 0);
    CHECK(r != NULL);
    char tag[32], key[64];
    tag_on(tag, sizeof(tag), masters[0], 1);
    FMT(key, "moved:{%s}", tag);
    unsigned slot = redis_key_slot(tag, strlen(tag));
    result_t res;
    CHECK(cmd_wait(r, &res, "SET", key, "before", NULL) == 0 && strcmp(res.str, "OK") == 0);
    CHECK(migrate_rest(slot, masters[0], masters[2]) == 0);
    long long moved = error_count("MOVED");
    CHECK(cmd_wait(r, &res, "GET", key, NULL) == 0);
    CHECK_STR(res.str, "before");
    CHECK(error_count("MOVED") == moved + 1);
    CHECK(cmd_wait(r, &res, "SET", key, "after", NULL) == 0 && strcmp(res.str, "OK") == 0);
    CHECK(error_count("MOVED") == moved + 1); /* the map was patched */
    char out[64];
    CHECK(cli(masters[2]->port, out, sizeof(out), "GET '%s'", key) == 0);
    CHECK_HAS(out, "after");
    client_destroy(r);
    return 0;
}

static int ask_and_tryagain_are_followed_during_a_migration(void)
{
    state_t st = {0};
    redis_t *r = cluster_client(&st, 0);
    CHECK(r != NULL);
    char tag[32], k1[64], k2[64], k3[64];
    tag_on(tag, sizeof(tag), masters[0], 2);
    FMT(k1, "ask1:{%s}", tag);
    FMT(k2, "ask2:{%s}", tag);
    FMT(k3, "ask3:{%s}", tag);
    unsigned slot = redis_key_slot(tag, strlen(tag));
    result_t res;
    CHECK(cmd_wait(r, &res, "SET", k1, "one", NULL) == 0);
    CHECK(cmd_wait(r, &res, "SET", k2, "two", NULL) == 0);
    /* Half moved: k1 on the target, k2 still on the source. */
    CHECK(migrate_slot(slot, masters[0], masters[1], k1, 0) == 0);
    long long asks = error_count("ASK");
    CHECK(cmd_wait(r, &res, "GET", k1, NULL) == 0);
    CHECK_STR(res.str, "one");
    CHECK(cmd_wait(r, &res, "GET", k2, NULL) == 0);
    CHECK_STR(res.str, "two");
    CHECK(cmd_wait(r, &res, "SET", k3, "three", NULL) == 0 && strcmp(res.str, "OK") == 0);
    CHECK(error_count("ASK") == asks + 2); /* k1 and k3 */
    char out[64];
    CHECK(cli(masters[1]->port, out, sizeof(out), "ASKING") == 0);

    /* Both keys at once while they are split: -TRYAGAIN, retried after a
     * delay; the migration ends meanwhile (the loop does not run during the
     * redis-cli calls, so no retry is spent), then -MOVED to the target. */
    long long tryagain = error_count("TRYAGAIN");
    CHECK(cmd(r, &res, "MGET", k1, k2, NULL) == REDIS_OK);
    CHECK(RUN_UNTIL(error_count("TRYAGAIN") > tryagain, 2000));
    CHECK(res.calls == 0);
    CHECK(migrate_rest(slot, masters[0], masters[1]) == 0);
    CHECK(RUN_UNTIL(res.calls == 1, 3000));
    if (res.kind != REDIS_REPLY_KIND_ARRAY)
        printf("    MGET: err \"%s\", kind %d, \"%s\"\n", res.err, (int)res.kind, res.str);
    CHECK(res.err[0] == '\0' && res.kind == REDIS_REPLY_KIND_ARRAY && res.count == 2);
    CHECK(cmd_wait(r, &res, "GET", k3, NULL) == 0);
    CHECK_STR(res.str, "three");
    client_destroy(r);
    return 0;
}

/* A slot a case left unserved (-1: none), served again after it by the
 * runner when the case failed half way, so that the next cases find the
 * cluster ok. */
static int unserved_slot = -1;
static server_t *unserved_owner;

static int set_slot_served(unsigned slot, server_t *owner, int served)
{
    char out[256];
    unserved_slot = served ? -1 : (int)slot;
    unserved_owner = owner;
    if (served) return cli(owner->port, out, sizeof(out), "CLUSTER ADDSLOTS %u", slot);
    /* The owner first: else its gossip tells the others it still serves it. */
    if (cli(owner->port, out, sizeof(out), "CLUSTER DELSLOTS %u", slot) != 0) return -1;
    for (int i = 0; i < MASTERS; i++)
        if (masters[i] != owner &&
            cli(masters[i]->port, out, sizeof(out), "CLUSTER DELSLOTS %u", slot) != 0)
            return -1;
    return 0;
}

static int clusterdown_is_retried_within_the_deadline(void)
{
    state_t st = {0}, st_quick = {0}, st_late = {0};
    /* A deadline far beyond the retries (10 + 20 + ... + 320 = 630 ms), so
     * that a loaded machine still sees them end first. */
    redis_t *r = cluster_client(&st, 5000);
    redis_t *quick = cluster_client(&st_quick, 300); /* a deadline shorter than the retries */
    CHECK(r != NULL && quick != NULL);
    char tag[32], key[64];
    tag_on(tag, sizeof(tag), masters[2], 3);
    FMT(key, "down:{%s}", tag);
    unsigned slot = redis_key_slot(tag, strlen(tag));
    result_t res;
    CHECK(cmd_wait(r, &res, "SET", key, "v", NULL) == 0);

    /* Served again while the command waits between retries: it succeeds. */
    CHECK(set_slot_served(slot, masters[2], 0) == 0);
    long long down = error_count("CLUSTERDOWN");
    char counter[64];
    FMT(counter, "down-n:{%s}", tag);
    CHECK(cmd(r, &res, "INCR", counter, NULL) == REDIS_OK);
    CHECK(RUN_UNTIL(error_count("CLUSTERDOWN") > down, 2000));
    CHECK(res.calls == 0);
    CHECK(set_slot_served(slot, masters[2], 1) == 0);
    CHECK(RUN_UNTIL(res.calls == 1, 3000));
    printf("    served again: answered after the slot came back (%s)\n",
           res.err[0] != '\0' ? res.err : "reply");
    CHECK(res.err[0] == '\0' && res.kind == REDIS_REPLY_KIND_INTEGER);
    CHECK(cluster_wait_ok() == 0);

    /* Never served again: the error after the bounded retries, before the
     * deadline. */
    CHECK(set_slot_served(slot, masters[2], 0) == 0);
    uint64_t t0 = mono_ms();
    CHECK(cmd(r, &res, "GET", key, NULL) == REDIS_OK);
    CHECK(RUN_UNTIL(res.calls == 1, 3000));
    printf("    gave up after %llu ms: kind %d, err \"%s\", \"%s\"\n",
           (unsigned long long)(res.at_ms - t0), (int)res.kind, res.err, res.str);
    CHECK(res.kind == REDIS_REPLY_KIND_ERROR && strncmp(res.str, "CLUSTERDOWN", 11) == 0);
    CHECK(res.at_ms - t0 >= 500 && res.at_ms - t0 < 5000);

    /* A deadline shorter than the retries: "timeout", once. */
    {
        t0 = mono_ms();
        CHECK(cmd(quick, &res, "GET", key, NULL) == REDIS_OK);
        CHECK(RUN_UNTIL(res.calls == 1, 3000));
        CHECK(strcmp(res.err, "timeout") == 0 && res.err_kind == REDIS_ERROR_TIMEOUT);
        CHECK(res.at_ms - t0 >= 250 && res.at_ms - t0 < 2000);
        /* destroy while retrying: no second callback */
        result_t pending;
        CHECK(cmd(quick, &pending, "GET", key, NULL) == REDIS_OK);
        run_for(30);
        client_destroy(quick);
        CHECK(pending.calls == 1 && strcmp(pending.err, "disconnected") == 0 &&
              pending.err_kind == REDIS_ERROR_UNAVAILABLE);
        run_for(700);
        CHECK(res.calls == 1 && pending.calls == 1);
    }

    /* A client that connects while the cluster is down waits for it. */
    config_redis_t cfg = cluster_cfg(1, &masters[0]);
    redis_t *late = client(&cfg, &st_late);
    CHECK(late != NULL);
    CHECK(RUN_UNTIL(strstr(redis_last_error(late), "cluster is down") != NULL, 3000));
    printf("    connecting while down: %s\n", redis_last_error(late));
    CHECK(!redis_is_connected(late) && st_late.ups == 0);
    CHECK(cmd(late, &res, "GET", key, NULL) == REDIS_E_DOWN);
    CHECK(set_slot_served(slot, masters[2], 1) == 0);
    CHECK(RUN_UNTIL(redis_is_connected(late), 5000));
    CHECK(st_late.ups == MASTERS);
    CHECK(cmd_wait(late, &res, "GET", key, NULL) == 0 && strcmp(res.str, "v") == 0);
    client_destroy(late);
    client_destroy(r);
    CHECK(cluster_wait_ok() == 0);
    return 0;
}

typedef struct put {
    int done;
    char err[128];
} put_t;

static void on_put(void *data, const redis_error_t *err)
{
    put_t *p = data;
    p->done = 1;
    snprintf(p->err, sizeof(p->err), "%s", err != NULL ? err->detail : "");
}

static int every_master_gets_the_library_and_gets_it_again(void)
{
    static const char *langs[] = {"fr"};
    site_t site;
    memset(&site, 0, sizeof(site));
    site.id = "demo";
    site.languages = langs;
    site.n_languages = 1;
    site.policy_version = "2026-11";
    site.choice_lifetime_days = SITE_CHOICE_LIFETIME_DEFAULT_DAYS;
    site.log_retention_days = 30;
    char out[8192];
    for (int i = 0; i < MASTERS; i++)
        CHECK(cli(masters[i]->port, out, sizeof(out), "FUNCTION FLUSH") == 0);
    state_t st = {.with_store = 1};
    redis_t *r = cluster_client(&st, 0);
    CHECK(r != NULL);
    CHECK(st.ups == MASTERS);
    for (int i = 0; i < MASTERS; i++) {
        CHECK(RUN_UNTIL(
            cli(masters[i]->port, out, sizeof(out), "FUNCTION LIST LIBRARYNAME consentd") == 0 &&
                strstr(out, "consentd_put") != NULL,
            3000));
    }
    /* One master loses it: the next write there loads it again. */
    CHECK(cli(masters[1]->port, out, sizeof(out), "FUNCTION FLUSH") == 0);
    int written[MASTERS] = {0};
    for (int v = 0; v < 200; v++) {
        char visitor[32], cid[32];
        FMT(visitor, "visitor-%04d", v);
        FMT(cid, "cid-%04d", v);
        store_record_t rec;
        memset(&rec, 0, sizeof(rec));
        rec.consent_id = cid;
        rec.visitor = visitor;
        rec.issued_at_ms = 1;
        rec.expires_at_ms = (int64_t)time(NULL) * 1000 + 86400000;
        rec.policy_version = "2026-11";
        rec.texts_hash = "00";
        rec.source = "banner";
        rec.lang = "fr";
        rec.action = "consent";
        rec.proof = "x.y.z";
        put_t p = {0};
        CHECK(store_consent_put(r, &site, &rec, NULL, on_put, &p) == REDIS_OK);
        CHECK(RUN_UNTIL(p.done, 3000));
        if (p.err[0] != '\0') printf("    %s: %s\n", visitor, p.err);
        CHECK(p.err[0] == '\0');
        char tag[64];
        FMT(tag, "demo:%u", store_partition(visitor, strlen(visitor)));
        server_t *m = owner_of(redis_key_slot(tag, strlen(tag)));
        for (int i = 0; i < MASTERS; i++)
            if (m == masters[i]) written[i]++;
    }
    for (int i = 0; i < MASTERS; i++)
        CHECK(written[i] > 0);
    CHECK(cli(masters[1]->port, out, sizeof(out), "FUNCTION LIST LIBRARYNAME consentd") == 0);
    CHECK_HAS(out, "consentd_put");
    client_destroy(r);
    return 0;
}

static int a_killed_master_fails_its_slots_fast_and_comes_back(void)
{
    state_t st = {0};
    redis_t *r = cluster_client(&st, 0);
    CHECK(r != NULL);
    char t0[32], t2[32], k0[64], k2[64];
    tag_on(t0, sizeof(t0), masters[0], 4);
    tag_on(t2, sizeof(t2), masters[2], 4);
    FMT(k0, "kill:{%s}", t0);
    FMT(k2, "kill:{%s}", t2);
    result_t res;
    CHECK(cmd_wait(r, &res, "SET", k2, "v", NULL) == 0);
    server_kill(masters[2]);
    CHECK(RUN_UNTIL(st.downs == 1, 3000));
    CHECK(!redis_is_connected(r));
    char port[16];
    FMT(port, ":%u", masters[2]->port);
    printf("    down: %s\n", redis_last_error(r));
    CHECK_HAS(redis_last_error(r), port);
    CHECK(cmd(r, &res, "GET", k2, NULL) == REDIS_E_DOWN);    /* fail fast, no callback */
    CHECK(cmd_wait(r, &res, "SET", k0, "still", NULL) == 0); /* the others serve */
    CHECK(server_start(masters[2]) == 0);                    /* same port, same nodes.conf */
    CHECK(RUN_UNTIL(redis_is_connected(r), 5000));
    CHECK(st.ups == MASTERS + 1);
    CHECK(cluster_wait_ok() == 0);
    CHECK(cmd_wait(r, &res, "SET", k2, "again", NULL) == 0 && strcmp(res.str, "OK") == 0);
    client_destroy(r);
    return 0;
}

static int seeds_dead_or_not_a_cluster(void)
{
    /* A dead seed first, a good one second. */
    state_t st = {0};
    server_t dead = {.port = free_port()};
    server_t *seeds[] = {&dead, masters[2]};
    config_redis_t cfg = cluster_cfg(2, seeds);
    redis_t *r = client(&cfg, &st);
    CHECK(r != NULL && RUN_UNTIL(redis_is_connected(r), CONNECT_MS));
    result_t res;
    CHECK(cmd_wait(r, &res, "SET", "seed:{a}", "1", NULL) == 0);
    client_destroy(r);

    /* A plain Redis named as a cluster: never connected, and says why. */
    server_t *plain = server_new(0);
    CHECK(plain != NULL);
    server_t *only[] = {plain};
    cfg = cluster_cfg(1, only);
    r = client(&cfg, &st);
    CHECK(r != NULL);
    CHECK(RUN_UNTIL(strstr(redis_last_error(r), "cluster support disabled") != NULL, 3000));
    printf("    %s\n", redis_last_error(r));
    CHECK(!redis_is_connected(r));
    CHECK(cmd(r, &res, "GET", "k", NULL) == REDIS_E_DOWN);
    client_destroy(r);
    server_kill(plain);
    return 0;
}

static int durable_write_waits_for_the_replica(void)
{
    server_t *master = server_new(0);
    CHECK(master != NULL);
    state_t st = {0};
    config_redis_t cfg = single_cfg(master);
    cfg.wait_replicas = 1;
    /* Long enough for a loaded machine (CI runs everything at once) to get
     * the replica's acknowledgement in time. */
    cfg.wait_timeout_ms = 1000;
    redis_t *r = client(&cfg, &st);
    CHECK(r != NULL && RUN_UNTIL(redis_is_connected(r), CONNECT_MS));
    result_t res;

    /* No replica: refused after wait_timeout_ms; the master has it, alone. */
    uint64_t t0 = mono_ms();
    CHECK(durable_wait(r, &res, "SET", "durable:k", "alone", NULL) == 0);
    printf("    without a replica: \"%s\" after %llu ms\n", res.err,
           (unsigned long long)(res.at_ms - t0));
    CHECK(strcmp(res.err, "not replicated") == 0 && res.err_kind == REDIS_ERROR_NOT_REPLICATED);
    CHECK(res.at_ms - t0 >= 990 && res.at_ms - t0 < 5000);
    /* A refused write wrote nothing: its error comes at once. */
    CHECK(durable_wait(r, &res, "INCR", "durable:k", NULL) == 0);
    CHECK(res.err[0] == '\0' && res.kind == REDIS_REPLY_KIND_ERROR);
    /* Plain commands do not wait. */
    CHECK(cmd_wait(r, &res, "SET", "durable:plain", "x", NULL) == 0 && strcmp(res.str, "OK") == 0);

    /* With a replica: acknowledged, and the replica has it when we hear so. */
    server_t *replica = server_new(0);
    CHECK(replica != NULL);
    char out[256];
    CHECK(cli(replica->port, out, sizeof(out), "REPLICAOF 127.0.0.1 %u", master->port) == 0);
    CHECK(RUN_UNTIL(info_has(master->port, "replication", "state=online"), 5000));
    for (int i = 0; i < 20; i++) {
        char value[32];
        FMT(value, "v%d", i);
        CHECK(durable_wait(r, &res, "SET", "durable:k", value, NULL) == 0);
        CHECK(res.err[0] == '\0' && strcmp(res.str, "OK") == 0);
        CHECK(cli(replica->port, out, sizeof(out), "GET durable:k") == 0);
        CHECK_HAS(out, value);
    }
    client_destroy(r);
    server_kill(replica);
    server_kill(master);
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
    for (int i = 0; i < LIVE_MAX; i++) { /* what a failed case left */
        if (live[i] != NULL) {
            redis_destroy(live[i]);
            live[i] = NULL;
        }
    }
    if (unserved_slot >= 0 && (set_slot_served((unsigned)unserved_slot, unserved_owner, 1) != 0 ||
                               cluster_wait_ok() != 0))
        printf("    could not serve slot %d again: the next cases may fail\n", unserved_slot);
    printf("%s %s\n", rc == 0 ? "ok  " : "FAIL", name);
    fflush(stdout);
    if (rc == 0)
        passed++;
    else
        failed++;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    atexit(servers_kill_all);
    int fatal[] = {SIGINT, SIGTERM, SIGHUP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        signal(fatal[i], on_fatal_signal);

    if (getenv("CLUSTER_TEST_DEBUG") != NULL) log_setup(0, LOG_DEBUG);
    uint64_t t0 = mono_ms();
    loop = h2o_evloop_create();
    if (cluster_form() != 0) {
        printf("FAIL cannot form a 3-master cluster\n0 passed, 1 failed\n");
        return 1;
    }
    printf("    cluster formed in %.1f s\n", (double)(mono_ms() - t0) / 1000);

    run_case("crc16_matches_cluster_keyslot_for_many_keys",
             crc16_matches_cluster_keyslot_for_many_keys);
    run_case("routes_every_tag_to_its_master_without_redirects",
             routes_every_tag_to_its_master_without_redirects);
    run_case("moved_is_followed_and_the_slot_patched", moved_is_followed_and_the_slot_patched);
    run_case("ask_and_tryagain_are_followed_during_a_migration",
             ask_and_tryagain_are_followed_during_a_migration);
    run_case("clusterdown_is_retried_within_the_deadline",
             clusterdown_is_retried_within_the_deadline);
    run_case("every_master_gets_the_library_and_gets_it_again",
             every_master_gets_the_library_and_gets_it_again);
    run_case("a_killed_master_fails_its_slots_fast_and_comes_back",
             a_killed_master_fails_its_slots_fast_and_comes_back);
    run_case("seeds_dead_or_not_a_cluster", seeds_dead_or_not_a_cluster);
    run_case("durable_write_waits_for_the_replica", durable_write_waits_for_the_replica);

    servers_kill_all();
    h2o_evloop_run(loop, 0);
    h2o_evloop_destroy(loop);
    printf("    (%.1f s)\n", (double)(mono_ms() - t0) / 1000);
    return check_summary();
}
