/*
 * store_test.c - the consent store against a real redis-server: msgpack
 * records (round trip, hostile input), the function library (put, reads,
 * erasure, reload), TTLs, the log export, and one put = one cluster slot.
 *
 * Starts its own redis-server processes on free loopback ports (a plain one
 * and a single-node cluster) and kills them at exit, even on failure (they
 * also die with this process: PR_SET_PDEATHSIG).
 */
#include "check.h"
#include "seal.h"
#include "store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#define TEST_DEADLINE_MS 5000
#define TEST_RETENTION_DAYS 30
#define TEST_RETENTION_MS ((int64_t)TEST_RETENTION_DAYS * 86400000)
#define TEST_STRINGS_MAX 16384
#define TEST_PAGES_MAX 1000

/* ---- redis-server processes ------------------------------------------------ */

typedef struct test_server {
    pid_t pid;
    uint16_t port;
    char dir[64];
} test_server_t;

static test_server_t plain_server, cluster_server;

static void server_stop(test_server_t *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    if (s->dir[0] != '\0') {
        char path[128];
        snprintf(path, sizeof(path), "%s/nodes.conf", s->dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/dump.rdb", s->dir);
        unlink(path);
        rmdir(s->dir);
        s->dir[0] = '\0';
    }
}

static void servers_stop(void)
{
    server_stop(&plain_server);
    server_stop(&cluster_server);
}

static void on_fatal_signal(int sig)
{
    /* Only async-signal-safe calls: kill, not waitpid loops or stdio. */
    if (plain_server.pid > 0) kill(plain_server.pid, SIGKILL);
    if (cluster_server.pid > 0) kill(cluster_server.pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0) close(fd);
        return 0;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static int port_free(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

static int port_accepts(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0) close(fd);
    return ok;
}

/* Run redis-cli against the server; its output (first cap-1 bytes) in out. */
static int redis_cli(const test_server_t *s, char *out, size_t cap, const char *args)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "redis-cli -p %u %s 2>&1", s->port, args);
    FILE *f = popen(cmd, "r");
    if (f == NULL) return -1;
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    return pclose(f) == 0 ? 0 : -1;
}

static int server_start(test_server_t *s, int cluster)
{
    char port[16], nodes[128];
    snprintf(s->dir, sizeof(s->dir), "/tmp/store_test.XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        s->dir[0] = '\0';
        return -1;
    }
    snprintf(nodes, sizeof(nodes), "%s/nodes.conf", s->dir);
    for (int attempt = 0; attempt < 20 && s->pid == 0; attempt++) {
        s->port = free_port();
        /* A cluster node also listens on port + 10000 (its bus): both must
         * be valid and free, else it exits right after opening the first. */
        if (s->port == 0 ||
            (cluster && (s->port > 65535 - 10000 || !port_free((uint16_t)(s->port + 10000)))))
            continue;
        snprintf(port, sizeof(port), "%u", s->port);
        pid_t pid = fork();
        if (pid < 0) return -1;
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int devnull = open("/dev/null", O_WRONLY);
            if (devnull >= 0) dup2(devnull, STDOUT_FILENO);
            if (cluster)
                execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
                       "--save", "", "--appendonly", "no", "--dir", s->dir, "--cluster-enabled",
                       "yes", "--cluster-config-file", nodes, (char *)NULL);
            else
                execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
                       "--save", "", "--appendonly", "no", "--dir", s->dir, (char *)NULL);
            _exit(127);
        }
        s->pid = pid;
        int up = 0;
        for (int i = 0; i < 500 && !up; i++) {
            if (waitpid(pid, NULL, WNOHANG) == pid) { /* the port was taken meanwhile */
                s->pid = 0;
                break;
            }
            up = port_accepts(s->port);
            if (!up) usleep(10000);
        }
        if (s->pid != 0 && !up) { /* hung */
            server_stop(s);
            return -1;
        }
        char pong[64];
        if (up && (redis_cli(s, pong, sizeof(pong), "PING") != 0 || strstr(pong, "PONG") == NULL)) {
            kill(pid, SIGKILL); /* it opened the port but is not serving: try again */
            waitpid(pid, NULL, 0);
            s->pid = 0;
        }
    }
    if (s->pid == 0) return -1;
    if (cluster) {
        char out[4096];
        if (redis_cli(s, out, sizeof(out), "CLUSTER ADDSLOTSRANGE 0 16383") != 0 ||
            strstr(out, "OK") == NULL) {
            printf("    CLUSTER ADDSLOTSRANGE: %s\n", out);
            return -1;
        }
        for (int i = 0; i < 500; i++) {
            if (redis_cli(s, out, sizeof(out), "CLUSTER INFO") == 0 &&
                strstr(out, "cluster_state:ok") != NULL)
                return 0;
            usleep(10000);
        }
        return -1;
    }
    return 0;
}

/* ---- the event loop and synchronous helpers -------------------------------- */

static h2o_loop_t *loop;

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Run the loop until *flag is set; -1 at the deadline. */
static int loop_until(const int *flag)
{
    int64_t deadline = now_ms() + TEST_DEADLINE_MS;
    while (!*flag) {
        if (now_ms() > deadline) return -1;
        h2o_evloop_run(loop, 10);
    }
    return 0;
}

static void on_state(void *data, redis_t *r, int connected)
{
    if (connected) store_on_connect(r);
}

static redis_t *client_connect(const test_server_t *s)
{
    config_redis_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.url, sizeof(cfg.url), "redis://127.0.0.1:%u", s->port);
    snprintf(cfg.host, sizeof(cfg.host), "127.0.0.1");
    cfg.port = s->port;
    cfg.command_timeout_ms = 2000;
    cfg.connect_timeout_ms = 1000;
    cfg.reconnect_min_ms = 20;
    cfg.reconnect_max_ms = 200;
    cfg.max_pending = 10000;
    redis_t *r = redis_create(loop, &cfg);
    if (r == NULL) return NULL;
    redis_set_state_cb(r, on_state, NULL);
    int64_t deadline = now_ms() + TEST_DEADLINE_MS;
    while (!redis_is_connected(r) && now_ms() < deadline)
        h2o_evloop_run(loop, 10);
    if (!redis_is_connected(r)) {
        redis_destroy(r);
        return NULL;
    }
    return r;
}

/* A deep copy of a reply, kept after the callback. */
typedef struct treply {
    redis_reply_kind_t kind;
    char *str;
    size_t len;
    long long integer;
    struct treply *el;
    size_t n;
} treply_t;

static void treply_copy(treply_t *dst, const redis_reply_t *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->kind = redis_reply_kind(src);
    const char *s = redis_reply_str(src, &dst->len);
    if (s != NULL) {
        dst->str = malloc(dst->len + 1);
        memcpy(dst->str, s, dst->len);
        dst->str[dst->len] = '\0';
    }
    if (dst->kind == REDIS_REPLY_KIND_INTEGER) dst->integer = redis_reply_integer(src);
    if (dst->kind == REDIS_REPLY_KIND_ARRAY) {
        dst->n = redis_reply_count(src);
        dst->el = calloc(dst->n + 1, sizeof(*dst->el));
        for (size_t i = 0; i < dst->n; i++)
            treply_copy(&dst->el[i], redis_reply_at(src, i));
    }
}

static void treply_free(treply_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        treply_free(&t->el[i]);
    free(t->el);
    free(t->str);
    memset(t, 0, sizeof(*t));
}

typedef struct cmd_wait {
    int done;
    treply_t *out;
    char err[128];
} cmd_wait_t;

static void on_cmd(void *data, const redis_reply_t *reply, const redis_error_t *err)
{
    cmd_wait_t *w = data;
    w->done = 1;
    if (err != NULL)
        snprintf(w->err, sizeof(w->err), "%s", err->detail);
    else
        treply_copy(w->out, reply);
}

/* One command, NULL-terminated arguments, waited for. The tag is taken from
 * the first argument holding braces, as store.c does. */
static int cmd(redis_t *r, treply_t *out, ...)
{
    const char *argv[32];
    size_t argvlen[32];
    int argc = 0;
    const char *tag = NULL;
    size_t tag_len = 0;
    va_list ap;
    va_start(ap, out);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 32) {
        argv[argc] = a;
        argvlen[argc] = strlen(a);
        const char *open = strchr(a, '{'), *close = open != NULL ? strchr(open, '}') : NULL;
        if (tag == NULL && close != NULL && close > open + 1) {
            tag = open + 1;
            tag_len = (size_t)(close - open - 1);
        }
        argc++;
    }
    va_end(ap);
    treply_t scratch;
    cmd_wait_t w = {0, out != NULL ? out : &scratch, ""};
    memset(w.out, 0, sizeof(*w.out));
    if (redis_command(r, tag, tag_len, on_cmd, &w, argc, argv, argvlen) != REDIS_OK) return -1;
    if (loop_until(&w.done) != 0 || w.err[0] != '\0') {
        printf("    %s: %s\n", argv[0], w.err[0] != '\0' ? w.err : "no reply");
        return -1;
    }
    if (out == NULL) treply_free(&scratch);
    return 0;
}

/* One command of binary-safe arguments, waited for (tag as cmd takes it). */
static int cmd_argv(redis_t *r, treply_t *out, int argc, const char **argv, const size_t *argvlen)
{
    const char *tag = NULL;
    size_t tag_len = 0;
    for (int i = 0; i < argc && tag == NULL; i++) {
        const char *open = memchr(argv[i], '{', argvlen[i]);
        const char *close =
            open != NULL ? memchr(open, '}', argvlen[i] - (size_t)(open - argv[i])) : NULL;
        if (close != NULL && close > open + 1) {
            tag = open + 1;
            tag_len = (size_t)(close - open - 1);
        }
    }
    cmd_wait_t w = {0, out, ""};
    memset(w.out, 0, sizeof(*w.out));
    if (redis_command(r, tag, tag_len, on_cmd, &w, argc, argv, argvlen) != REDIS_OK) return -1;
    if (loop_until(&w.done) != 0 || w.err[0] != '\0') {
        printf("    %s: %s\n", argv[0], w.err[0] != '\0' ? w.err : "no reply");
        return -1;
    }
    return 0;
}

static long long cmd_integer(redis_t *r, ...);

/* ---- records ----------------------------------------------------------------- */

static const char *const test_purposes[] = {"analytics", "ads", "partners"};

static void record_fill(store_record_t *rec, const char *visitor, const char *consent_id,
                        int with_variant)
{
    memset(rec, 0, sizeof(*rec));
    int64_t now = now_ms();
    rec->consent_id = consent_id;
    rec->visitor = visitor;
    rec->issued_at_ms = now;
    rec->expires_at_ms = now + (int64_t)182 * 86400000;
    rec->policy_version = "2026-11";
    rec->texts_hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    rec->source = "banner";
    rec->lang = "fr";
    rec->variant = with_variant ? "b" : NULL;
    /* With a variant, a banner version too: every optional key at once. */
    rec->banner_version =
        with_variant ? "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03" : NULL;
    rec->action = STORE_ACTION_CONSENT;
    /* ...and how it was given, with a GPC signal (without: an older record). */
    rec->control = with_variant ? "custom" : NULL;
    rec->gpc = with_variant;
    rec->proof = "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIn0.eyJzdWIiOiJ2In0.c2lnbmF0dXJl";
    rec->n_decisions = 3;
    for (size_t i = 0; i < 3; i++) {
        rec->purposes[i] = test_purposes[i];
        rec->granted[i] = i != 1;
    }
}

static int str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int record_equal(const store_record_t *a, const store_record_t *b)
{
    if (!str_eq(a->consent_id, b->consent_id) || !str_eq(a->visitor, b->visitor) ||
        a->issued_at_ms != b->issued_at_ms || a->expires_at_ms != b->expires_at_ms ||
        !str_eq(a->policy_version, b->policy_version) || !str_eq(a->texts_hash, b->texts_hash) ||
        !str_eq(a->source, b->source) || !str_eq(a->lang, b->lang) ||
        !str_eq(a->variant, b->variant) || !str_eq(a->banner_version, b->banner_version) ||
        !str_eq(a->action, b->action) || !str_eq(a->control, b->control) || a->gpc != b->gpc ||
        !str_eq(a->tc_string, b->tc_string) || !str_eq(a->proof, b->proof) ||
        a->site_version != b->site_version || !str_eq(a->site_sha256, b->site_sha256) ||
        a->n_decisions != b->n_decisions)
        return 0;
    for (size_t i = 0; i < a->n_decisions; i++)
        if (!str_eq(a->purposes[i], b->purposes[i]) || a->granted[i] != b->granted[i]) return 0;
    return 1;
}

/* Decode from an exact-size heap copy, so that ASan sees any over-read. */
static int decode_exact(const char *buf, size_t len, store_record_t *rec, char *strings, size_t cap)
{
    char *copy = malloc(len > 0 ? len : 1);
    memcpy(copy, buf, len);
    int rc = store_record_decode(copy, len, rec, strings, cap);
    free(copy);
    return rc;
}

static int test_record_round_trip(void)
{
    static char strings[TEST_STRINGS_MAX];
    for (int with_variant = 1; with_variant >= 0; with_variant--) {
        store_record_t rec, out;
        record_fill(&rec, "visitor-round-trip", "cid-0000000000000000001", with_variant);
        rec.log_id = with_variant ? "1700000000000-7" : NULL;
        size_t len;
        char *enc = store_record_encode(&rec, &len);
        CHECK(enc != NULL);
        CHECK(decode_exact(enc, len, &out, strings, sizeof(strings)) == 0);
        CHECK(record_equal(&rec, &out));
        CHECK(str_eq(rec.log_id, out.log_id));
        CHECK(with_variant || (out.variant == NULL && out.banner_version == NULL));
        /* Strings never need more room than the encoded size. */
        CHECK(decode_exact(enc, len, &out, strings, len + 1) == 0);
        CHECK(record_equal(&rec, &out));
        /* ...but a buffer too small is an error, not an overflow. */
        CHECK(decode_exact(enc, len, &out, strings, 16) != 0);
        free(enc);
    }
    /* The encoder refuses what the decoder would refuse. */
    store_record_t rec;
    size_t len;
    record_fill(&rec, "v", "c", 0);
    rec.n_decisions = SITE_MAX_PURPOSES + 1;
    CHECK(store_record_encode(&rec, &len) == NULL);
    record_fill(&rec, "v", "c", 0);
    rec.proof = NULL;
    CHECK(store_record_encode(&rec, &len) == NULL);
    record_fill(&rec, "v", "c", 0);
    rec.purposes[2] = "analytics"; /* twice */
    CHECK(store_record_encode(&rec, &len) == NULL);
    return 0;
}

/* An older record (no how) with how = the msgpack bytes `how` appended. */
static int decode_with_how(const char *how, store_record_t *out, char *strings)
{
    store_record_t rec;
    size_t len, hlen = strlen(how);
    record_fill(&rec, "visitor-how-made", "cid-how-made", 0);
    char *base = store_record_encode(&rec, &len);
    if (base == NULL) return -2;
    char *more = malloc(len + 4 + hlen);
    memcpy(more, base, len);
    more[0] = (char)((unsigned char)base[0] + 1); /* one more key in the fixmap */
    memcpy(more + len, "\xa3how", 4);
    memcpy(more + len + 4, how, hlen);
    int rc = decode_exact(more, len + 4 + hlen, out, strings, TEST_STRINGS_MAX);
    free(more);
    free(base);
    return rc;
}

/* Issue 19, item 4: records from before it hold act "withdraw" and no how;
 * they decode, and show as a withdrawal. how holds the control, the GPC
 * signal, or both. */
static int test_record_action_and_how(void)
{
    static char strings[TEST_STRINGS_MAX];
    store_record_t rec, out;
    size_t len;
    record_fill(&rec, "visitor-legacy", "cid-legacy", 0);
    rec.action = "withdraw"; /* as written before issue 19 */
    char *enc = store_record_encode(&rec, &len);
    CHECK(enc != NULL);
    CHECK(memmem(enc, len, "how", 3) == NULL);
    CHECK(decode_exact(enc, len, &out, strings, sizeof(strings)) == 0);
    CHECK(strcmp(out.action, STORE_ACTION_WITHDRAWAL) == 0);
    CHECK(out.control == NULL && out.gpc == 0);
    free(enc);
    /* Every optional key: 14 keys, a fixmap store.lua can extend with log. */
    record_fill(&rec, "visitor-how", "cid-how", 1);
    rec.action = STORE_ACTION_WITHDRAWAL;
    enc = store_record_encode(&rec, &len);
    CHECK(enc != NULL);
    CHECK((unsigned char)enc[0] == 0x8e);
    CHECK(decode_exact(enc, len, &out, strings, sizeof(strings)) == 0);
    CHECK(strcmp(out.control, "custom") == 0 && out.gpc == 1);
    CHECK(strcmp(out.action, STORE_ACTION_WITHDRAWAL) == 0);
    free(enc);
    rec.gpc = 0;
    enc = store_record_encode(&rec, &len);
    CHECK(enc != NULL && memmem(enc, len, "gpc", 3) == NULL);
    CHECK(decode_exact(enc, len, &out, strings, sizeof(strings)) == 0 && out.gpc == 0);
    free(enc);
    /* A signal from a banner that named no control. */
    rec.gpc = 1;
    rec.control = NULL;
    enc = store_record_encode(&rec, &len);
    CHECK(enc != NULL);
    CHECK(decode_exact(enc, len, &out, strings, sizeof(strings)) == 0);
    CHECK(out.control == NULL && out.gpc == 1);
    free(enc);
    /* A hand-made how, appended to an older record: only the good one reads. */
    CHECK(decode_with_how("\x81\xa3"
                          "ctl\xa3"
                          "api",
                          &out, strings) == 0);
    CHECK(strcmp(out.control, "api") == 0 && out.gpc == 0);
    CHECK(decode_with_how("\x81\xa3gpc\xc3", &out, strings) == 0); /* no ctl */
    CHECK(out.control == NULL && out.gpc == 1);
    CHECK(decode_with_how("\x81\xa3"
                          "ctl\x05",
                          &out, strings) != 0); /* ctl not a str */
    CHECK(decode_with_how("\x82\xa3"
                          "ctl\xa3"
                          "api\xa3gpc\x01",
                          &out, strings) != 0); /* gpc 1 */
    CHECK(decode_with_how("\x82\xa3"
                          "ctl\xa3"
                          "api\xa3"
                          "ctl\xa3"
                          "api",
                          &out, strings) != 0); /* twice */
    CHECK(decode_with_how("\x82\xa3"
                          "ctl\xa3"
                          "api\xa1z\x91\xc0",
                          &out, strings) == 0); /* later key */
    return 0;
}

/* Issue 24, item 4: a TCF site's TC string rides in how (how.tcf), so the
 * record stays a 14-key fixmap store.lua can extend; records without it
 * read as before, and a decoder that predates it skips it (unknown how
 * keys are skipped, as the "later key" case above shows). */
static int test_record_tc_string(void)
{
    static char strings[TEST_STRINGS_MAX];
    store_record_t rec, out;
    size_t len;
    static const char tc[] = "CQSbk4AQSbk4ANwAAAENAwCgAAAAAAAAAAYgACPAAAAA.IDKQA4AAgAKAGQAygAAA";
    record_fill(&rec, "visitor-iab", "cid-iab", 1);
    rec.tc_string = tc;
    char *enc = store_record_encode(&rec, &len);
    CHECK(enc != NULL);
    CHECK((unsigned char)enc[0] == 0x8e); /* still 14 keys: log can be added */
    CHECK(decode_exact(enc, len, &out, strings, sizeof(strings)) == 0);
    CHECK(record_equal(&rec, &out));
    CHECK(out.tc_string != NULL && strcmp(out.tc_string, tc) == 0);
    CHECK(strcmp(out.control, "custom") == 0 && out.gpc == 1);
    free(enc);
    /* Alone in how (no control, no GPC). */
    rec.control = NULL;
    rec.gpc = 0;
    enc = store_record_encode(&rec, &len);
    CHECK(enc != NULL);
    CHECK(decode_exact(enc, len, &out, strings, sizeof(strings)) == 0);
    CHECK(out.control == NULL && out.gpc == 0 && strcmp(out.tc_string, tc) == 0);
    free(enc);
    /* Without one (every non-TCF record): no key, NULL. */
    rec.tc_string = NULL;
    enc = store_record_encode(&rec, &len);
    CHECK(enc != NULL && memmem(enc, len, "tcf", 3) == NULL);
    CHECK(decode_exact(enc, len, &out, strings, sizeof(strings)) == 0 && out.tc_string == NULL);
    free(enc);
    CHECK(decode_with_how("\x81\xa3tcf\xa2"
                          "AB",
                          &out, strings) == 0);
    CHECK(strcmp(out.tc_string, "AB") == 0);
    CHECK(decode_with_how("\x81\xa3tcf\x05", &out, strings) != 0); /* not a str */
    CHECK(decode_with_how("\x82\xa3tcf\xa1"
                          "A\xa3tcf\xa1"
                          "A",
                          &out, strings) != 0); /* twice */
    return 0;
}

/* Issue 22, item 5: the site version that produced a record rides in how
 * (how.sv, how.sd): still a 14-key fixmap; records without them (older
 * ones, or a file's site without sv) read with 0 and NULL. */
static int test_record_site_version(void)
{
    static char strings[TEST_STRINGS_MAX];
    store_record_t rec, out;
    size_t len;
    static const char sd[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    record_fill(&rec, "visitor-sv", "cid-sv", 1);
    rec.site_version = 70000; /* beyond a fixint: a uint32 */
    rec.site_sha256 = sd;
    char *enc = store_record_encode(&rec, &len);
    CHECK(enc != NULL);
    CHECK((unsigned char)enc[0] == 0x8e); /* still 14 keys: log can be added */
    CHECK(decode_exact(enc, len, &out, strings, sizeof(strings)) == 0);
    CHECK(record_equal(&rec, &out));
    CHECK(out.site_version == 70000 && strcmp(out.site_sha256, sd) == 0);
    CHECK(strcmp(out.control, "custom") == 0 && out.gpc == 1);
    free(enc);
    /* A file's site: sd alone, in a how of its own. */
    rec.control = NULL;
    rec.gpc = 0;
    rec.site_version = 0;
    enc = store_record_encode(&rec, &len);
    CHECK(enc != NULL);
    CHECK(decode_exact(enc, len, &out, strings, sizeof(strings)) == 0);
    CHECK(out.site_version == 0 && strcmp(out.site_sha256, sd) == 0 && out.control == NULL);
    free(enc);
    /* An older record: neither. */
    rec.site_sha256 = NULL;
    enc = store_record_encode(&rec, &len);
    CHECK(enc != NULL);
    CHECK(decode_exact(enc, len, &out, strings, sizeof(strings)) == 0);
    CHECK(out.site_version == 0 && out.site_sha256 == NULL);
    free(enc);
    CHECK(decode_with_how("\x81\xa2sv\x07", &out, strings) == 0 && out.site_version == 7);
    CHECK(decode_with_how("\x81\xa2sv\x00", &out, strings) != 0); /* versions start at 1 */
    CHECK(decode_with_how("\x81\xa2sv\xa1"
                          "7",
                          &out, strings) != 0);                             /* not an int */
    CHECK(decode_with_how("\x82\xa2sv\x07\xa2sv\x07", &out, strings) != 0); /* twice */
    return 0;
}

static int test_decode_rejects_truncated(void)
{
    static char strings[TEST_STRINGS_MAX];
    store_record_t rec, out;
    record_fill(&rec, "visitor-truncated", "cid-truncated", 1);
    rec.log_id = "1700000000000-0";
    size_t len;
    char *enc = store_record_encode(&rec, &len);
    CHECK(enc != NULL);
    for (size_t n = 0; n < len; n++) {
        if (decode_exact(enc, n, &out, strings, sizeof(strings)) == 0) {
            printf("    prefix of %zu bytes (of %zu) accepted\n", n, len);
            free(enc);
            return -1;
        }
    }
    CHECK(decode_exact(enc, len, &out, strings, sizeof(strings)) == 0);
    free(enc);
    return 0;
}

static int test_decode_rejects_trailing_bytes(void)
{
    static char strings[TEST_STRINGS_MAX];
    store_record_t rec, out;
    record_fill(&rec, "visitor-trailing", "cid-trailing", 0);
    size_t len;
    char *enc = store_record_encode(&rec, &len);
    CHECK(enc != NULL);
    char *more = malloc(len + 2);
    memcpy(more, enc, len);
    more[len] = '\0';
    more[len + 1] = (char)0xc0;
    CHECK(decode_exact(more, len + 1, &out, strings, sizeof(strings)) != 0);
    CHECK(decode_exact(more, len + 2, &out, strings, sizeof(strings)) != 0);
    /* The same map twice in a row is trailing bytes too. */
    char *twice = malloc(2 * len);
    memcpy(twice, enc, len);
    memcpy(twice + len, enc, len);
    CHECK(decode_exact(twice, 2 * len, &out, strings, sizeof(strings)) != 0);
    free(twice);
    free(more);
    free(enc);
    return 0;
}

/* Hand-made records: every field written as given, one replaced or left out. */
enum { BAD_NONE, BAD_TYPE, BAD_MISSING, BAD_DUPLICATE };
static const char *const field_keys[] = {"id",  "vis",  "iat", "exp", "pv", "th",
                                         "src", "lang", "act", "dec", "jws"};
#define N_FIELD_KEYS (sizeof(field_keys) / sizeof(field_keys[0]))

static void pack_s(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void pack_field(msgpack_packer *pk, size_t f, int wrong, size_t n_decisions)
{
    pack_s(pk, field_keys[f]);
    const char *key = field_keys[f];
    int is_int = strcmp(key, "iat") == 0 || strcmp(key, "exp") == 0;
    int is_dec = strcmp(key, "dec") == 0;
    if (is_int) {
        if (wrong)
            pack_s(pk, "1700000000000");
        else
            msgpack_pack_int64(pk, 1700000000000);
    } else if (is_dec) {
        if (wrong) {
            msgpack_pack_array(pk, 1);
            pack_s(pk, "ads");
        } else {
            msgpack_pack_map(pk, n_decisions);
            for (size_t i = 0; i < n_decisions; i++) {
                char id[32];
                snprintf(id, sizeof(id), "p%zu", i);
                pack_s(pk, id);
                msgpack_pack_true(pk);
            }
        }
    } else if (wrong) {
        msgpack_pack_int(pk, 5);
    } else {
        pack_s(pk, "x");
    }
}

static char *pack_custom(size_t target, int how, size_t n_decisions, size_t *len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t n = N_FIELD_KEYS + (how == BAD_DUPLICATE) - (how == BAD_MISSING);
    msgpack_pack_map(&pk, n);
    for (size_t f = 0; f < N_FIELD_KEYS; f++) {
        if (f == target && how == BAD_MISSING) continue;
        pack_field(&pk, f, f == target && how == BAD_TYPE, n_decisions);
        if (f == target && how == BAD_DUPLICATE) pack_field(&pk, f, 0, n_decisions);
    }
    *len = sb.size;
    return sb.data;
}

static int decode_bytes(const char *bytes, size_t len)
{
    static char strings[TEST_STRINGS_MAX];
    store_record_t out;
    return decode_exact(bytes, len, &out, strings, sizeof(strings));
}

static int test_decode_rejects_wrong_types(void)
{
    size_t len;
    char *b = pack_custom(0, BAD_NONE, 2, &len);
    CHECK(decode_bytes(b, len) == 0); /* the hand-made baseline is valid */
    free(b);
    for (size_t f = 0; f < N_FIELD_KEYS; f++) {
        for (int how = BAD_TYPE; how <= BAD_DUPLICATE; how++) {
            b = pack_custom(f, how, 2, &len);
            if (decode_bytes(b, len) == 0) {
                printf("    field %s, case %d accepted\n", field_keys[f], how);
                free(b);
                return -1;
            }
            free(b);
        }
    }
    /* Top level not a map; a key not a string; negative time; a decision
     * that is not a bool; an empty purpose id; a NUL inside a string. */
    CHECK(decode_bytes("\x91\xa1x", 3) != 0);
    CHECK(decode_bytes("\x81\x01\x02", 3) != 0);
    static const char neg_iat[] = "\x81\xa3iat\xd0\xff";
    CHECK(decode_bytes(neg_iat, sizeof(neg_iat) - 1) != 0);
    b = pack_custom(0, BAD_NONE, 2, &len);
    char *p = memmem(b, len, "\xa2p0\xc3", 4);
    CHECK(p != NULL);
    p[3] = 0x01; /* int 1 instead of true */
    CHECK(decode_bytes(b, len) != 0);
    p[3] = (char)0xc3;
    p[0] = (char)0xa0; /* "" then 'p' '0' shift: broken */
    CHECK(decode_bytes(b, len) != 0);
    p[0] = (char)0xa2;
    p[2] = '\0'; /* "p\0" */
    CHECK(decode_bytes(b, len) != 0);
    free(b);
    /* Unknown keys (a later version's) are skipped, whatever they hold. */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, N_FIELD_KEYS + 1);
    pack_s(&pk, "future");
    msgpack_pack_map(&pk, 2);
    pack_s(&pk, "a");
    msgpack_pack_array(&pk, 3);
    msgpack_pack_double(&pk, 1.5);
    msgpack_pack_nil(&pk);
    msgpack_pack_bin(&pk, 2);
    msgpack_pack_bin_body(&pk, "\x00\x01", 2);
    pack_s(&pk, "b");
    msgpack_pack_int64(&pk, -5);
    for (size_t f = 0; f < N_FIELD_KEYS; f++)
        pack_field(&pk, f, 0, 1);
    CHECK(decode_bytes(sb.data, sb.size) == 0);
    msgpack_sbuffer_destroy(&sb);
    return 0;
}

static int test_decode_rejects_too_many_decisions(void)
{
    size_t len;
    char *b = pack_custom(0, BAD_NONE, SITE_MAX_PURPOSES, &len);
    CHECK(decode_bytes(b, len) == 0);
    free(b);
    b = pack_custom(0, BAD_NONE, SITE_MAX_PURPOSES + 1, &len);
    CHECK(decode_bytes(b, len) != 0);
    free(b);
    b = pack_custom(0, BAD_NONE, 0, &len);
    CHECK(decode_bytes(b, len) == 0); /* no purposes at all is a valid record */
    free(b);
    return 0;
}

static int test_decode_rejects_huge_lengths(void)
{
    /* Headers claiming 4 G elements or bytes, with nothing behind them. */
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {"\xdf\xff\xff\xff\xff", 5},           /* map32 */
        {"\xde\xff\xff", 3},                   /* map16 */
        {"\x81\xa2id\xdb\xff\xff\xff\xff", 9}, /* str32 value */
        {"\x81\xa2id\xda\xff\xff"
         "ab",
         9},                             /* str16 value, short */
        {"\x81\xdb\xff\xff\xff\xff", 6}, /* str32 key */
        {"\x81\xa3"
         "dec\xdf\xff\xff\xff\xff",
         9}, /* map32 decisions */
        {"\x81\xa3"
         "dec\xde\x00\x21",
         7},                                                     /* 33 decisions */
        {"\x81\xa2zz\xdd\xff\xff\xff\xff", 9},                   /* unknown: array32 */
        {"\x81\xa2zz\xdf\xff\xff\xff\xff", 9},                   /* unknown: map32 */
        {"\x81\xa2zz\xc6\xff\xff\xff\xff", 9},                   /* unknown: bin32 */
        {"\x81\xa2zz\xc9\xff\xff\xff\xff\x01", 10},              /* unknown: ext32 */
        {"\x81\xa3iat\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 14}, /* uint64 > INT64_MAX */
        {"\x81\xa2zz\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\xc0", 17}, /* deep */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (decode_bytes(cases[i].bytes, cases[i].len) == 0) {
            printf("    case %zu accepted\n", i);
            return -1;
        }
    }
    return 0;
}

/* A valid record with one more, unknown key holding `value`. */
static int decode_with_unknown(const char *value, size_t vlen)
{
    store_record_t rec;
    record_fill(&rec, "visitor-unknown", "cid-unknown", 0);
    size_t len;
    char *enc = store_record_encode(&rec, &len);
    if (enc == NULL || (enc[0] & 0xf0) != 0x80) return -2;
    char *b = malloc(len + 3 + vlen);
    memcpy(b, enc, len);
    b[0] = (char)(b[0] + 1);
    memcpy(b + len, "\xa2zz", 3);
    memcpy(b + len + 3, value, vlen);
    int rc = decode_bytes(b, len + 3 + vlen);
    free(b);
    free(enc);
    return rc;
}

static int test_decode_bounds_unknown_values(void)
{
    CHECK(decode_with_unknown("\xc0", 1) == 0);
    CHECK(decode_with_unknown("\xc4\x02"
                              "ab",
                              4) == 0);                     /* bin8 */
    CHECK(decode_with_unknown("\x91\x91\x91\xc3", 4) == 0); /* shallow nesting */
    CHECK(decode_with_unknown("\xd8\x01"
                              "0123456789abcdef",
                              18) == 0);                            /* fixext16 */
    CHECK(decode_with_unknown("\xdd\xff\xff\xff\xff", 5) != 0);     /* array32, empty */
    CHECK(decode_with_unknown("\xdf\xff\xff\xff\xff", 5) != 0);     /* map32, empty */
    CHECK(decode_with_unknown("\xc6\xff\xff\xff\xff", 5) != 0);     /* bin32, empty */
    CHECK(decode_with_unknown("\xc9\xff\xff\xff\xff\x01", 6) != 0); /* ext32 */
    CHECK(decode_with_unknown("\xd8\x01"
                              "0123",
                              6) != 0);         /* fixext16, short */
    CHECK(decode_with_unknown("\xc1", 1) != 0); /* never used */
    CHECK(decode_with_unknown("\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\xc0", 13) !=
          0); /* deeper than STORE_SKIP_DEPTH_MAX */
    return 0;
}

/* Random byte flips, insertions and cuts of a valid record: never a crash
 * (ASan watches), and whatever decodes must encode again. */
static int test_decode_survives_random_mutations(void)
{
    static char strings[TEST_STRINGS_MAX];
    store_record_t rec, out;
    record_fill(&rec, "visitor-fuzz", "cid-fuzz", 1);
    rec.log_id = "1700000000000-1";
    size_t len;
    char *enc = store_record_encode(&rec, &len);
    CHECK(enc != NULL);
    unsigned seed = 12345;
    char *buf = malloc(len + 16);
    size_t accepted = 0;
    for (int i = 0; i < 100000; i++) {
        size_t n = len;
        memcpy(buf, enc, len);
        int edits = 1 + rand_r(&seed) % 4;
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t)rand_r(&seed) % n;
            switch (rand_r(&seed) % 3) {
            case 0:
                buf[at] = (char)rand_r(&seed);
                break;
            case 1:
                buf[at] = (char)(0xc0 + rand_r(&seed) % 0x20);
                break;
            default:
                n = at + 1;
                break;
            }
        }
        if (decode_exact(buf, n, &out, strings, sizeof(strings)) == 0) {
            accepted++;
            size_t len2;
            char *again = store_record_encode(&out, &len2);
            CHECK(again != NULL);
            free(again);
        }
    }
    free(buf);
    free(enc);
    printf("    (%zu of 100000 mutants still decode)\n", accepted);
    return 0;
}

/* ---- store calls, waited for ----------------------------------------------- */

static redis_t *plain;
static site_t test_site;

typedef struct store_wait {
    int done;
    char err[256];
    /* records as encoded bytes (with their log id), kept after the callback */
    char *current;
    size_t current_len;
    char *items[STORE_LOG_PAGE_MAX];
    size_t item_len[STORE_LOG_PAGE_MAX];
    size_t n;
    size_t n_erased; /* log pages: entries of erased visitors */
    size_t removed;
    char cursor[128];
    int has_cursor;
} store_wait_t;

static void wait_reset(store_wait_t *w)
{
    free(w->current);
    for (size_t i = 0; i < w->n; i++)
        free(w->items[i]);
    memset(w, 0, sizeof(*w));
}

static void wait_err(store_wait_t *w, const redis_error_t *err)
{
    w->done = 1;
    if (err != NULL) snprintf(w->err, sizeof(w->err), "%s", err->detail);
}

static void on_done(void *data, const redis_error_t *err)
{
    wait_err(data, err);
}

static void on_record(void *data, const store_record_t *rec, const redis_error_t *err)
{
    store_wait_t *w = data;
    if (rec != NULL) w->current = store_record_encode(rec, &w->current_len);
    wait_err(w, err);
}

static void on_visitor(void *data, const store_record_t *current, const store_record_t *history,
                       size_t n, const redis_error_t *err)
{
    store_wait_t *w = data;
    if (current != NULL) w->current = store_record_encode(current, &w->current_len);
    for (size_t i = 0; i < n && i < STORE_LOG_PAGE_MAX; i++)
        w->items[w->n++] = store_record_encode(&history[i], &w->item_len[i]);
    wait_err(w, err);
}

static void on_erase(void *data, size_t removed, const redis_error_t *err)
{
    store_wait_t *w = data;
    w->removed = removed;
    wait_err(w, err);
}

static void on_page(void *data, const store_record_t *records, size_t n, const char *next_cursor,
                    const redis_error_t *err)
{
    store_wait_t *w = data;
    for (size_t i = 0; i < n && w->n < STORE_LOG_PAGE_MAX; i++) {
        if (records[i].erased) {
            w->n_erased += records[i].log_id != NULL && records[i].consent_id == NULL &&
                           records[i].issued_at_ms > 0;
            continue;
        }
        w->items[w->n] = store_record_encode(&records[i], &w->item_len[w->n]);
        w->n++;
    }
    if (next_cursor != NULL) {
        w->has_cursor = 1;
        snprintf(w->cursor, sizeof(w->cursor), "%s", next_cursor);
    }
    wait_err(w, err);
}

static int wait_store(store_wait_t *w, int rc)
{
    if (rc != REDIS_OK) {
        printf("    store call refused: %d\n", rc);
        return -1;
    }
    if (loop_until(&w->done) != 0) {
        printf("    no callback before the deadline\n");
        return -1;
    }
    if (w->err[0] != '\0') {
        printf("    store error: %s\n", w->err);
        return -1;
    }
    return 0;
}

static int put_sync(redis_t *r, const store_record_t *rec)
{
    store_wait_t w = {0};
    int rc = wait_store(&w, store_consent_put(r, &test_site, rec, NULL, on_done, &w));
    wait_reset(&w);
    return rc;
}

/* Decode bytes kept by a wait into rec (strings in buf). */
static int kept(const char *bytes, size_t len, store_record_t *rec, char *buf, size_t cap)
{
    return bytes != NULL && store_record_decode(bytes, len, rec, buf, cap) == 0 ? 0 : -1;
}

static long long cmd_integer(redis_t *r, ...)
{
    /* Only used with up to 3 arguments. */
    va_list ap;
    va_start(ap, r);
    const char *a0 = va_arg(ap, const char *);
    const char *a1 = a0 != NULL ? va_arg(ap, const char *) : NULL;
    const char *a2 = a1 != NULL ? va_arg(ap, const char *) : NULL;
    va_end(ap);
    treply_t t;
    if (cmd(r, &t, a0, a1, a2, (char *)NULL) != 0) return -1000000;
    long long v = t.kind == REDIS_REPLY_KIND_INTEGER  ? t.integer
                  : t.kind == REDIS_REPLY_KIND_STRING ? atoll(t.str)
                                                      : -1000001;
    treply_free(&t);
    return v;
}

static void key_of(char *out, size_t cap, const char *kind, const char *visitor)
{
    unsigned p = store_partition(visitor, strlen(visitor));
    if (strcmp(kind, "log") == 0 || strcmp(kind, "erasures") == 0)
        snprintf(out, cap, "cd:{%s:%u}:%s", test_site.id, p, kind);
    else
        snprintf(out, cap, "cd:{%s:%u}:%s:%s", test_site.id, p, kind, visitor);
}

static int test_put_then_get(void)
{
    static char buf[TEST_STRINGS_MAX];
    store_record_t rec, out;
    record_fill(&rec, "visitor-put-get", "cid-put-get", 1);
    CHECK(put_sync(plain, &rec) == 0);
    store_wait_t w = {0};
    CHECK(wait_store(&w, store_consent_get(plain, &test_site, rec.visitor, on_record, &w)) == 0);
    CHECK(kept(w.current, w.current_len, &out, buf, sizeof(buf)) == 0);
    CHECK(record_equal(&rec, &out));
    CHECK(out.log_id == NULL); /* the state has none; history entries do */
    wait_reset(&w);
    /* Nobody: no record, no error. */
    CHECK(wait_store(&w, store_consent_get(plain, &test_site, "visitor-nobody", on_record, &w)) ==
          0);
    CHECK(w.current == NULL);
    wait_reset(&w);
    return 0;
}

static int test_ttls(void)
{
    store_record_t rec;
    char key[256];
    record_fill(&rec, "visitor-ttl", "cid-ttl", 0);
    CHECK(put_sync(plain, &rec) == 0);
    int64_t now = now_ms();
    key_of(key, sizeof(key), "s", rec.visitor);
    long long state = cmd_integer(plain, "PTTL", key, NULL);
    CHECK(llabs(state - (rec.expires_at_ms - now)) < 5000);
    key_of(key, sizeof(key), "h", rec.visitor);
    long long history = cmd_integer(plain, "PTTL", key, NULL);
    CHECK(llabs(history - TEST_RETENTION_MS) < 5000);
    key_of(key, sizeof(key), "log", rec.visitor);
    long long log = cmd_integer(plain, "PTTL", key, NULL);
    CHECK(llabs(log - TEST_RETENTION_MS) < 5000);
    /* A record that already expired leaves no state behind (and is logged). */
    record_fill(&rec, "visitor-ttl", "cid-ttl-expired", 0);
    rec.expires_at_ms = now - 1000;
    CHECK(put_sync(plain, &rec) == 0);
    key_of(key, sizeof(key), "s", rec.visitor);
    CHECK(cmd_integer(plain, "EXISTS", key, NULL) == 0);
    return 0;
}

static int test_two_puts_history(void)
{
    static char buf[TEST_STRINGS_MAX], buf2[TEST_STRINGS_MAX];
    const char *visitor = "visitor-history";
    store_record_t first, second, out, h0, h1;
    record_fill(&first, visitor, "cid-history-1", 0);
    record_fill(&second, visitor, "cid-history-2", 1);
    second.action = STORE_ACTION_WITHDRAWAL;
    second.issued_at_ms += 1;
    CHECK(put_sync(plain, &first) == 0);
    CHECK(put_sync(plain, &second) == 0);
    store_wait_t w = {0};
    CHECK(wait_store(&w, store_visitor_get(plain, &test_site, visitor, on_visitor, &w)) == 0);
    CHECK(kept(w.current, w.current_len, &out, buf, sizeof(buf)) == 0);
    CHECK(record_equal(&out, &second));
    CHECK(w.n == 2);
    CHECK(kept(w.items[0], w.item_len[0], &h0, buf, sizeof(buf)) == 0);
    CHECK(kept(w.items[1], w.item_len[1], &h1, buf2, sizeof(buf2)) == 0);
    CHECK(record_equal(&h0, &second)); /* newest first */
    CHECK(record_equal(&h1, &first));
    CHECK(h0.log_id != NULL && h1.log_id != NULL);
    CHECK(strcmp(h0.log_id, h1.log_id) != 0);
    /* Each history entry names its log entry, which holds the visitor's
     * pseudonym p and the sealed record c; the data key that opens it is
     * the field of that entry id in the visitor's data keys k:<p>; then n, its
     * place in the partition (the hash chain's gap detector; version 6). */
    char log_key[256], p_key[256], pseudonym[64];
    key_of(log_key, sizeof(log_key), "log", visitor);
    key_of(p_key, sizeof(p_key), "p", visitor);
    treply_t tp;
    CHECK(cmd(plain, &tp, "GET", p_key, NULL) == 0 && tp.kind == REDIS_REPLY_KIND_STRING &&
          tp.len == 2 * STORE_PSEUDONYM_BYTES);
    snprintf(pseudonym, sizeof(pseudonym), "%s", tp.str);
    treply_free(&tp);
    const store_record_t *hs[] = {&h0, &h1};
    long long ns[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        treply_t t, k;
        CHECK(cmd(plain, &t, "XRANGE", log_key, hs[i]->log_id, hs[i]->log_id, NULL) == 0);
        CHECK(t.kind == REDIS_REPLY_KIND_ARRAY && t.n == 1);
        treply_t *fields = &t.el[0].el[1];
        CHECK(fields->n == 6);
        CHECK(strcmp(fields->el[0].str, "p") == 0 && strcmp(fields->el[1].str, pseudonym) == 0);
        CHECK(strcmp(fields->el[2].str, "c") == 0);
        CHECK(strcmp(fields->el[4].str, "n") == 0);
        ns[i] = atoll(fields->el[5].str);
        CHECK(memmem(fields->el[3].str, fields->el[3].len, visitor, strlen(visitor)) == NULL);
        char k_key[256];
        snprintf(k_key, sizeof(k_key), "cd:{%s:%u}:k:%s", test_site.id,
                 store_partition(visitor, strlen(visitor)), pseudonym);
        CHECK(cmd(plain, &k, "HGET", k_key, hs[i]->log_id, NULL) == 0 &&
              k.kind == REDIS_REPLY_KIND_STRING && k.len == SEAL_KEY_BYTES);
        static char sbuf[TEST_STRINGS_MAX];
        static unsigned char plain_buf[TEST_STRINGS_MAX];
        size_t plain_len;
        store_record_t logged;
        CHECK(seal_open(test_site.id, store_partition(visitor, strlen(visitor)),
                        (const unsigned char *)k.str, (const unsigned char *)fields->el[3].str,
                        fields->el[3].len, plain_buf, sizeof(plain_buf), &plain_len) == 0);
        CHECK(store_record_decode((const char *)plain_buf, plain_len, &logged, sbuf,
                                  sizeof(sbuf)) == 0);
        CHECK(record_equal(&logged, hs[i]));
        treply_free(&k);
        treply_free(&t);
    }
    CHECK(ns[1] >= 1 && ns[0] == ns[1] + 1); /* the newer write is the next n */
    wait_reset(&w);
    return 0;
}

/* A visitor id other than `visitor` in the same partition. */
static void same_partition_visitor(char *out, size_t cap, const char *visitor)
{
    unsigned p = store_partition(visitor, strlen(visitor));
    for (int i = 0;; i++) {
        snprintf(out, cap, "neighbour-%d", i);
        if (store_partition(out, strlen(out)) == p && strcmp(out, visitor) != 0) return;
    }
}

/* 1 when the visitor id appears anywhere in the database: key names, string
 * values, list items, hash fields, stream entries. */
static int found_anywhere(redis_t *r, const char *needle, int report)
{
    char cursor[32] = "0";
    size_t nlen = strlen(needle);
    do {
        treply_t scan;
        if (cmd(r, &scan, "SCAN", cursor, "COUNT", "1000", NULL) != 0) return 1;
        snprintf(cursor, sizeof(cursor), "%s", scan.el[0].str);
        for (size_t i = 0; i < scan.el[1].n; i++) {
            const char *key = scan.el[1].el[i].str;
            if (strstr(key, needle) != NULL) {
                treply_free(&scan);
                return 1;
            }
            treply_t type, v;
            cmd(r, &type, "TYPE", key, NULL);
            const char *ty = type.str != NULL ? type.str : "";
            int rc = -1;
            if (strcmp(ty, "string") == 0)
                rc = cmd(r, &v, "GET", key, NULL);
            else if (strcmp(ty, "list") == 0)
                rc = cmd(r, &v, "LRANGE", key, "0", "-1", NULL);
            else if (strcmp(ty, "stream") == 0)
                rc = cmd(r, &v, "XRANGE", key, "-", "+", NULL);
            else if (strcmp(ty, "hash") == 0)
                rc = cmd(r, &v, "HGETALL", key, NULL);
            else if (strcmp(ty, "set") == 0)
                rc = cmd(r, &v, "SMEMBERS", key, NULL);
            else if (strcmp(ty, "zset") == 0)
                rc = cmd(r, &v, "ZRANGE", key, "0", "-1", NULL);
            treply_free(&type);
            if (rc != 0) continue;
            /* Walk the reply tree for the bytes. */
            treply_t *stack[4096];
            size_t top = 0;
            int hit = 0;
            stack[top++] = &v;
            while (top > 0 && !hit) {
                treply_t *t = stack[--top];
                if (t->str != NULL && memmem(t->str, t->len, needle, nlen) != NULL) hit = 1;
                for (size_t j = 0; j < t->n && top < 4096; j++)
                    stack[top++] = &t->el[j];
            }
            treply_free(&v);
            if (hit) {
                if (report) printf("    found in %s\n", key);
                treply_free(&scan);
                return 1;
            }
        }
        treply_free(&scan);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

static int test_erase(void)
{
    static char buf[TEST_STRINGS_MAX];
    const char *visitor = "visitor-to-erase";
    char other[64], key[256];
    same_partition_visitor(other, sizeof(other), visitor);
    store_record_t a1, a2, b1, out;
    record_fill(&a1, visitor, "cid-erase-1", 0);
    record_fill(&a2, visitor, "cid-erase-2", 1);
    record_fill(&b1, other, "cid-erase-other", 0);
    CHECK(put_sync(plain, &a1) == 0);
    CHECK(put_sync(plain, &b1) == 0);
    CHECK(put_sync(plain, &a2) == 0);
    CHECK(found_anywhere(plain, visitor, 0));
    key_of(key, sizeof(key), "erasures", visitor);
    long long erasures = cmd_integer(plain, "GET", key, NULL);
    if (erasures < 0) erasures = 0; /* none yet: GET answers nil */

    store_wait_t w = {0};
    CHECK(wait_store(&w, store_visitor_erase(plain, &test_site, visitor, on_erase, &w)) == 0);
    CHECK(w.removed == 4); /* 2 log entries, state, history */
    wait_reset(&w);

    CHECK(cmd_integer(plain, "GET", key, NULL) == erasures + 1);
    long long erasures_ttl = cmd_integer(plain, "PTTL", key, NULL);
    CHECK(llabs(erasures_ttl - TEST_RETENTION_MS) < 5000);
    CHECK(!found_anywhere(plain, visitor, 1));
    /* Reads find nothing. */
    CHECK(wait_store(&w, store_visitor_get(plain, &test_site, visitor, on_visitor, &w)) == 0);
    CHECK(w.current == NULL && w.n == 0);
    wait_reset(&w);
    /* The neighbour in the same log partition is untouched. */
    CHECK(wait_store(&w, store_visitor_get(plain, &test_site, other, on_visitor, &w)) == 0);
    CHECK(kept(w.current, w.current_len, &out, buf, sizeof(buf)) == 0);
    CHECK(record_equal(&out, &b1));
    CHECK(w.n == 1);
    CHECK(kept(w.items[0], w.item_len[0], &out, buf, sizeof(buf)) == 0);
    char log_key[256];
    key_of(log_key, sizeof(log_key), "log", other);
    treply_t t;
    CHECK(cmd(plain, &t, "XRANGE", log_key, out.log_id, out.log_id, NULL) == 0);
    CHECK(t.n == 1);
    treply_free(&t);
    wait_reset(&w);
    /* Erasing nobody is not an error. */
    CHECK(wait_store(&w, store_visitor_erase(plain, &test_site, visitor, on_erase, &w)) == 0);
    CHECK(w.removed == 0);
    wait_reset(&w);
    return 0;
}

/* Every page until the end; consent ids counted in seen[]. */
static int log_all(int64_t from, int64_t to, size_t limit, char ids[][32], size_t *n_ids,
                   size_t cap)
{
    static char buf[TEST_STRINGS_MAX];
    char cursor[128];
    int has_cursor = 0;
    *n_ids = 0;
    for (int page = 0; page < TEST_PAGES_MAX; page++) {
        store_wait_t *w = calloc(1, sizeof(*w));
        int rc = wait_store(w, store_log_page(plain, &test_site, has_cursor ? cursor : NULL, from,
                                              to, limit, on_page, w));
        if (rc != 0 || w->n > limit) {
            wait_reset(w);
            free(w);
            return -1;
        }
        for (size_t i = 0; i < w->n; i++) {
            store_record_t rec;
            if (kept(w->items[i], w->item_len[i], &rec, buf, sizeof(buf)) != 0 ||
                rec.log_id == NULL || *n_ids >= cap) {
                wait_reset(w);
                free(w);
                return -1;
            }
            snprintf(ids[(*n_ids)++], 32, "%s", rec.consent_id);
        }
        has_cursor = w->has_cursor;
        snprintf(cursor, sizeof(cursor), "%s", w->cursor);
        wait_reset(w);
        free(w);
        if (!has_cursor) return 0;
    }
    return -1;
}

static int count_id(char ids[][32], size_t n, const char *id)
{
    int c = 0;
    for (size_t i = 0; i < n; i++)
        c += strcmp(ids[i], id) == 0;
    return c;
}

static int64_t redis_time_ms(redis_t *r)
{
    treply_t t;
    if (cmd(r, &t, "TIME", NULL) != 0) return -1;
    int64_t ms = atoll(t.el[0].str) * 1000 + atoll(t.el[1].str) / 1000;
    treply_free(&t);
    return ms;
}

#define LOG_BATCH 20

static int test_log_pages(void)
{
    static char ids[4 * LOG_BATCH][32];
    char visitors[2 * LOG_BATCH][32], cids[2 * LOG_BATCH][32];
    size_t n;
    CHECK(cmd(plain, NULL, "FLUSHALL", NULL) == 0);
    store_record_t rec;
    for (int i = 0; i < 2 * LOG_BATCH; i++) {
        snprintf(visitors[i], sizeof(visitors[i]), "visitor-log-%d", i);
        snprintf(cids[i], sizeof(cids[i]), "cid-log-%d", i);
    }
    for (int i = 0; i < LOG_BATCH; i++) {
        record_fill(&rec, visitors[i], cids[i], i % 2);
        CHECK(put_sync(plain, &rec) == 0);
    }
    int64_t middle = redis_time_ms(plain);
    while (redis_time_ms(plain) <= middle + 1)
        usleep(1000);
    for (int i = LOG_BATCH; i < 2 * LOG_BATCH; i++) {
        record_fill(&rec, visitors[i], cids[i], i % 2);
        CHECK(put_sync(plain, &rec) == 0);
    }
    /* An entry no record can be read from: skipped (and logged), not fatal. */
    CHECK(cmd(plain, NULL, "XADD", "cd:{demo:5}:log", "*", "v", "x", "r", "garbage", NULL) == 0);
    unsigned partitions_used = 0;
    uint64_t mask = 0;
    for (int i = 0; i < 2 * LOG_BATCH; i++)
        mask |= 1ull << store_partition(visitors[i], strlen(visitors[i]));
    for (unsigned p = 0; p < 64; p++)
        partitions_used += (mask >> p) & 1;
    CHECK(partitions_used > 5); /* the pages really cross partitions */

    size_t limits[] = {1, 3, 7, 1000};
    for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
        CHECK(log_all(0, INT64_MAX, limits[l], ids, &n, 4 * LOG_BATCH) == 0);
        CHECK(n == 2 * LOG_BATCH);
        for (int i = 0; i < 2 * LOG_BATCH; i++)
            CHECK(count_id(ids, n, cids[i]) == 1);
    }
    /* The time filter: up to the middle, then after it. */
    CHECK(log_all(0, middle, 3, ids, &n, 4 * LOG_BATCH) == 0);
    CHECK(n == LOG_BATCH);
    for (int i = 0; i < LOG_BATCH; i++)
        CHECK(count_id(ids, n, cids[i]) == 1);
    CHECK(log_all(middle + 1, INT64_MAX, 4, ids, &n, 4 * LOG_BATCH) == 0);
    CHECK(n == LOG_BATCH);
    for (int i = LOG_BATCH; i < 2 * LOG_BATCH; i++)
        CHECK(count_id(ids, n, cids[i]) == 1);
    /* Cursors from outside are checked. */
    store_wait_t w = {0};
    CHECK(store_log_page(plain, &test_site, "64-0-0", 0, 10, 5, on_page, &w) == REDIS_E_ARGS);
    CHECK(store_log_page(plain, &test_site, "1-x-0", 0, 10, 5, on_page, &w) == REDIS_E_ARGS);
    CHECK(store_log_page(plain, &test_site, "1-2", 0, 10, 5, on_page, &w) == REDIS_E_ARGS);
    CHECK(store_log_page(plain, &test_site, "1-2-3-", 0, 10, 5, on_page, &w) == REDIS_E_ARGS);
    CHECK(store_log_page(plain, &test_site, "", 0, 10, 5, on_page, &w) == REDIS_E_ARGS);
    CHECK(store_log_page(plain, &test_site, NULL, 10, 0, 5, on_page, &w) == REDIS_E_ARGS);
    CHECK(store_log_page(plain, &test_site, NULL, 0, 10, 0, on_page, &w) == REDIS_E_ARGS);
    return 0;
}

static int test_function_reload(void)
{
    static char buf[TEST_STRINGS_MAX];
    store_record_t rec, out;
    record_fill(&rec, "visitor-reload", "cid-reload", 0);
    CHECK(cmd(plain, NULL, "FUNCTION", "DELETE", "consentd", NULL) == 0);
    CHECK(put_sync(plain, &rec) == 0);
    treply_t t;
    CHECK(cmd(plain, &t, "FUNCTION", "LIST", "LIBRARYNAME", "consentd", NULL) == 0);
    CHECK(t.kind == REDIS_REPLY_KIND_ARRAY && t.n == 1);
    treply_free(&t);
    /* Reads through the library too. */
    CHECK(cmd(plain, NULL, "FUNCTION", "FLUSH", NULL) == 0);
    store_wait_t w = {0};
    CHECK(wait_store(&w, store_visitor_get(plain, &test_site, rec.visitor, on_visitor, &w)) == 0);
    CHECK(kept(w.current, w.current_len, &out, buf, sizeof(buf)) == 0);
    CHECK(record_equal(&out, &rec) && w.n == 1);
    wait_reset(&w);
    CHECK(cmd(plain, NULL, "FUNCTION", "DELETE", "consentd", NULL) == 0);
    CHECK(wait_store(&w, store_visitor_erase(plain, &test_site, rec.visitor, on_erase, &w)) == 0);
    CHECK(w.removed == 4); /* state, history, pseudonym, data keys */
    wait_reset(&w);
    return 0;
}

/* How many records of the log export (partition of visitor, whole range)
 * carry consent id cid; the erased entries counted in w->n_erased. */
static int log_count(store_wait_t *w, const char *cid)
{
    static char buf[TEST_STRINGS_MAX];
    if (wait_store(w, store_log_page(plain, &test_site, NULL, 0, INT64_MAX / 2, STORE_LOG_PAGE_MAX,
                                     on_page, w)) != 0)
        return -1;
    int found = 0;
    for (size_t i = 0; i < w->n; i++) {
        store_record_t rec;
        if (w->items[i] != NULL &&
            store_record_decode(w->items[i], w->item_len[i], &rec, buf, sizeof(buf)) == 0 &&
            strcmp(rec.consent_id, cid) == 0)
            found++;
    }
    return found;
}

/* A state that expires (the choice's lifetime) leaves its proof readable
 * in the log: the data keys live as the history, not as the state. */
static int test_expired_state_keeps_its_log_entry_readable(void)
{
    const char *visitor = "visitor-expiring";
    char key[256];
    store_record_t rec;
    record_fill(&rec, visitor, "cid-expiring", 0);
    rec.expires_at_ms = now_ms() + 200;
    CHECK(put_sync(plain, &rec) == 0);
    key_of(key, sizeof(key), "s", visitor);
    for (int i = 0; i < 200 && cmd_integer(plain, "EXISTS", key, NULL) == 1; i++)
        usleep(10000);
    CHECK(cmd_integer(plain, "EXISTS", key, NULL) == 0);
    key_of(key, sizeof(key), "p", visitor);
    CHECK(cmd_integer(plain, "PTTL", key, NULL) >
          (long long)TEST_RETENTION_DAYS * 86400000 - 60000);
    store_wait_t w = {0};
    CHECK(log_count(&w, "cid-expiring") == 1);
    wait_reset(&w);
    return 0;
}

/* Nodes of library versions 1-4 still call consentd_put with the old
 * arguments during a rolling upgrade: their entries are legacy {v, r}, the
 * export reads them, and erasure deletes them (XDEL) as well as the sealed
 * entries' keys. */
static int test_legacy_callers_and_erasure(void)
{
    const char *visitor = "visitor-legacy";
    char s_key[256], h_key[256], log_key[256], x_key[256], wm_key[256], wd_key[256];
    key_of(s_key, sizeof(s_key), "s", visitor);
    key_of(h_key, sizeof(h_key), "h", visitor);
    key_of(log_key, sizeof(log_key), "log", visitor);
    key_of(x_key, sizeof(x_key), "x", visitor);
    key_of(wm_key, sizeof(wm_key), "wm", visitor);
    key_of(wd_key, sizeof(wd_key), "wd", visitor);
    store_record_t rec;
    record_fill(&rec, visitor, "cid-legacy-old", 0);
    size_t len;
    char *enc = store_record_encode(&rec, &len);
    CHECK(enc != NULL);
    char exp[32], ret[32];
    snprintf(exp, sizeof(exp), "%" PRId64, rec.expires_at_ms);
    snprintf(ret, sizeof(ret), "%lld", (long long)TEST_RETENTION_DAYS * 86400000);
    /* A version 3/4 node's call (binary-safe: the record as one argument). */
    const char *argv[] = {"FCALL", "consentd_put", "6", s_key, h_key, log_key, x_key, wm_key,
                          wd_key,  visitor,        enc, exp,   ret,   "200",   "0",   "0"};
    size_t argvlen[16];
    for (int i = 0; i < 16; i++)
        argvlen[i] = i == 10 ? len : strlen(argv[i]);
    treply_t t;
    int rc = cmd_argv(plain, &t, 16, argv, argvlen);
    free(enc);
    CHECK(rc == 0 && t.kind == REDIS_REPLY_KIND_STRING);
    char legacy_id[64];
    snprintf(legacy_id, sizeof(legacy_id), "%s", t.str);
    treply_free(&t);
    CHECK(cmd(plain, &t, "XRANGE", log_key, legacy_id, legacy_id, NULL) == 0 && t.n == 1 &&
          strcmp(t.el[0].el[1].el[0].str, "v") == 0);
    treply_free(&t);
    record_fill(&rec, visitor, "cid-legacy-new", 0);
    CHECK(put_sync(plain, &rec) == 0);
    store_wait_t w = {0};
    CHECK(log_count(&w, "cid-legacy-old") == 1);
    wait_reset(&w);
    CHECK(log_count(&w, "cid-legacy-new") == 1);
    size_t erased_before = w.n_erased;
    wait_reset(&w);
    CHECK(wait_store(&w, store_visitor_erase(plain, &test_site, visitor, on_erase, &w)) == 0);
    /* The legacy entry, state, history, pseudonym, data keys. */
    CHECK(w.removed == 5);
    wait_reset(&w);
    CHECK(!found_anywhere(plain, visitor, 1));
    CHECK(cmd(plain, &t, "XRANGE", log_key, legacy_id, legacy_id, NULL) == 0 && t.n == 0);
    treply_free(&t);
    CHECK(log_count(&w, "cid-legacy-old") == 0);
    wait_reset(&w);
    CHECK(log_count(&w, "cid-legacy-new") == 0);
    CHECK(w.n_erased == erased_before + 1); /* the sealed one stays, as erased */
    wait_reset(&w);
    return 0;
}

static int test_history_is_bounded(void)
{
    const char *visitor = "visitor-busy";
    char key[256], cid[32];
    store_record_t rec;
    for (int i = 0; i < STORE_HISTORY_MAX + 5; i++) {
        snprintf(cid, sizeof(cid), "cid-busy-%d", i);
        record_fill(&rec, visitor, cid, 0);
        CHECK(put_sync(plain, &rec) == 0);
    }
    key_of(key, sizeof(key), "h", visitor);
    CHECK(cmd_integer(plain, "LLEN", key, NULL) == STORE_HISTORY_MAX);
    /* The log keeps every entry (evidence: trimmed by its retention only);
     * the 5 the history no longer names are named by the index, oldest last
     * (erasure needs it). */
    key_of(key, sizeof(key), "x", visitor);
    CHECK(cmd_integer(plain, "LLEN", key, NULL) == 5);
    char pseudonym[64];
    treply_t t;
    key_of(key, sizeof(key), "p", visitor);
    CHECK(cmd(plain, &t, "GET", key, NULL) == 0 && t.kind == REDIS_REPLY_KIND_STRING);
    snprintf(pseudonym, sizeof(pseudonym), "%s", t.str);
    treply_free(&t);
    key_of(key, sizeof(key), "log", visitor);
    CHECK(cmd(plain, &t, "XRANGE", key, "-", "+", NULL) == 0);
    size_t mine = 0;
    for (size_t i = 0; i < t.n; i++)
        mine += strcmp(t.el[i].el[1].el[1].str, pseudonym) == 0;
    treply_free(&t);
    CHECK(mine == STORE_HISTORY_MAX + 5);
    store_wait_t w = {0};
    CHECK(wait_store(&w, store_visitor_erase(plain, &test_site, visitor, on_erase, &w)) == 0);
    /* State, history, index, pseudonym, data keys: the sealed entries stay. */
    CHECK(w.removed == 5);
    wait_reset(&w);
    CHECK(!found_anywhere(plain, visitor, 1));
    /* No key names the pseudonym any more: nothing opens its entries. */
    char k_key[256];
    snprintf(k_key, sizeof(k_key), "cd:{%s:%u}:k:%s", test_site.id,
             store_partition(visitor, strlen(visitor)), pseudonym);
    CHECK(cmd_integer(plain, "EXISTS", k_key, NULL) == 0);
    CHECK(cmd(plain, &t, "XRANGE", key, "-", "+", NULL) == 0);
    mine = 0;
    for (size_t i = 0; i < t.n; i++)
        mine += strcmp(t.el[i].el[1].el[1].str, pseudonym) == 0;
    treply_free(&t);
    CHECK(mine == STORE_HISTORY_MAX + 5);
    return 0;
}

/* A node of library version 1 (rolling upgrade) calls consentd_put and
 * consentd_erase without the keys version 2 and 3 added: the log keeps every
 * entry, the index named from the history key names the one that left the
 * history, and erasure leaves nothing. */
static int test_version_1_calls_keep_the_invariant(void)
{
    const char *visitor = "visitor-old-node";
    char s[256], h[256], log[256], x[256], er[256];
    key_of(s, sizeof(s), "s", visitor);
    key_of(h, sizeof(h), "h", visitor);
    key_of(log, sizeof(log), "log", visitor);
    key_of(x, sizeof(x), "x", visitor);
    key_of(er, sizeof(er), "erasures", visitor);
    /* history_max 1: the second put pushes the first out of the history. */
    for (int i = 0; i < 2; i++)
        CHECK(cmd(plain, NULL, "FCALL", "consentd_put", "3", s, h, log, visitor,
                  "\x81\xa1"
                  "a\x01",
                  "9999999999999", "86400000", "1", NULL) == 0);
    CHECK(cmd_integer(plain, "LLEN", h, NULL) == 1);
    CHECK(cmd_integer(plain, "LLEN", x, NULL) == 1);
    CHECK(cmd_integer(plain, "XLEN", log, NULL) >= 2);
    treply_t t;
    CHECK(cmd(plain, &t, "FCALL", "consentd_erase", "4", s, h, log, er, "86400000", NULL) == 0);
    long long removed = t.kind == REDIS_REPLY_KIND_INTEGER ? t.integer : -1;
    treply_free(&t);
    CHECK(removed == 5); /* two log entries; state, history, index */
    CHECK(!found_anywhere(plain, visitor, 1));
    return 0;
}

static int test_bad_arguments(void)
{
    store_record_t rec;
    store_wait_t w = {0};
    record_fill(&rec, "", "cid", 0);
    CHECK(store_consent_put(plain, &test_site, &rec, NULL, on_done, &w) == REDIS_E_ARGS);
    record_fill(&rec, "visitor-ok", "cid", 0);
    rec.texts_hash = NULL;
    CHECK(store_consent_put(plain, &test_site, &rec, NULL, on_done, &w) == REDIS_E_ARGS);
    char long_visitor[300];
    memset(long_visitor, 'a', sizeof(long_visitor) - 1);
    long_visitor[sizeof(long_visitor) - 1] = '\0';
    CHECK(store_consent_get(plain, &test_site, long_visitor, on_record, &w) == REDIS_E_ARGS);
    site_t bad = test_site;
    bad.id = "a{b}";
    CHECK(store_consent_get(plain, &bad, "visitor-ok", on_record, &w) == REDIS_E_ARGS);
    CHECK(w.done == 0);
    return 0;
}

static int test_down_fails_fast(void)
{
    /* A connection that never comes up: calls fail at once, the callback never
     * runs and nothing leaks (LSan checks at exit). */
    config_redis_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    uint16_t port = free_port();
    snprintf(cfg.url, sizeof(cfg.url), "redis://127.0.0.1:%u", port);
    snprintf(cfg.host, sizeof(cfg.host), "127.0.0.1");
    cfg.port = port;
    cfg.command_timeout_ms = 1000;
    cfg.connect_timeout_ms = 1000;
    cfg.reconnect_min_ms = 1000;
    cfg.reconnect_max_ms = 1000;
    cfg.max_pending = 10;
    redis_t *down = redis_create(loop, &cfg);
    CHECK(down != NULL);
    h2o_evloop_run(loop, 10);
    store_record_t rec;
    store_wait_t w = {0};
    record_fill(&rec, "visitor-down", "cid-down", 0);
    int rc1 = store_consent_put(down, &test_site, &rec, NULL, on_done, &w);
    int rc2 = store_visitor_get(down, &test_site, "visitor-down", on_visitor, &w);
    int rc3 = store_log_page(down, &test_site, NULL, 0, INT64_MAX, 10, on_page, &w);
    int rc4 = store_visitor_erase(down, &test_site, "visitor-down", on_erase, &w);
    int rc5 = store_consent_get(down, &test_site, "visitor-down", on_record, &w);
    redis_destroy(down);
    CHECK(rc1 == REDIS_E_DOWN && rc2 == REDIS_E_DOWN && rc3 == REDIS_E_DOWN &&
          rc4 == REDIS_E_DOWN && rc5 == REDIS_E_DOWN);
    CHECK(w.done == 0);
    return 0;
}

static int test_cluster_one_slot(void)
{
    if (server_start(&cluster_server, 1) != 0) {
        printf("    the cluster-enabled redis-server did not start\n");
        return -1;
    }
    redis_t *c = client_connect(&cluster_server);
    CHECK(c != NULL);
    store_record_t rec;
    record_fill(&rec, "visitor-cluster", "cid-cluster", 1);
    int rc = put_sync(c, &rec);
    record_fill(&rec, "visitor-cluster", "cid-cluster-2", 0);
    rc |= put_sync(c, &rec);
    store_wait_t w = {0};
    rc |= wait_store(&w, store_visitor_get(c, &test_site, rec.visitor, on_visitor, &w));
    size_t n_history = w.n;
    wait_reset(&w);
    treply_t scan;
    rc |= cmd(c, &scan, "SCAN", "0", "COUNT", "1000", NULL);
    long long slot = -1;
    /* state, history, log, pseudonym, data keys, the partition's log sequence */
    int same = rc == 0 && scan.el[1].n == 6;
    for (size_t i = 0; rc == 0 && i < scan.el[1].n; i++) {
        long long s = cmd_integer(c, "CLUSTER", "KEYSLOT", scan.el[1].el[i].str);
        if (slot == -1) slot = s;
        same = same && s == slot && s >= 0;
    }
    if (rc == 0) treply_free(&scan);
    int erc = wait_store(&w, store_visitor_erase(c, &test_site, rec.visitor, on_erase, &w));
    size_t removed = w.removed;
    wait_reset(&w);
    redis_destroy(c);
    server_stop(&cluster_server);
    CHECK(rc == 0);
    CHECK(n_history == 2);
    CHECK(same);
    CHECK(erc == 0 && removed == 4);
    return 0;
}

/* The export cursor comes from the client: only "<p>-<ms>-<seq>" with p a
 * partition, each part decimal digits that fit. */
static int test_cursor_parse(void)
{
    store_cursor_t at;
    CHECK(store_cursor_parse("0-0-0", &at) == 0 && at.partition == 0 && at.ms == 0 && at.seq == 0);
    CHECK(store_cursor_parse("63-1700000000000-5", &at) == 0);
    CHECK(at.partition == 63 && at.ms == 1700000000000ULL && at.seq == 5);
    CHECK(store_cursor_parse("1-18446744073709551615-0", &at) == 0 && at.ms == UINT64_MAX);
    static const char *const bad[] = {"",
                                      "64-0-0",
                                      "1-2",
                                      "1-2-3-4",
                                      "1-2-3x",
                                      "-1-2-3",
                                      "1--2-3",
                                      "1- 2-3",
                                      " 1-2-3",
                                      "+1-2-3",
                                      "1-2-18446744073709551615",
                                      "1-18446744073709551616-0",
                                      "1-000000000000000000001-0",
                                      "a-b-c",
                                      "1-2-3\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (store_cursor_parse(bad[i], &at) != -1) {
            printf("    accepted \"%s\"\n", bad[i]);
            return -1;
        }
    }
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    atexit(servers_stop);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGINT, on_fatal_signal);
    signal(SIGABRT, on_fatal_signal);
    signal(SIGSEGV, on_fatal_signal);
    signal(SIGPIPE, SIG_IGN);

    static const char *langs[] = {"fr"};
    test_site.id = "demo";
    test_site.languages = langs;
    test_site.n_languages = 1;
    test_site.policy_version = "2026-11";
    test_site.choice_lifetime_days = SITE_CHOICE_LIFETIME_DEFAULT_DAYS;
    test_site.log_retention_days = TEST_RETENTION_DAYS;

    check_run("record_round_trip_keeps_every_field", test_record_round_trip);
    check_run("record_reads_legacy_withdraw_and_how_it_was_given", test_record_action_and_how);
    check_run("record_keeps_the_tcf_tc_string_in_how", test_record_tc_string);
    check_run("record_keeps_the_site_version_in_how", test_record_site_version);
    check_run("decode_rejects_every_truncated_prefix", test_decode_rejects_truncated);
    check_run("decode_rejects_trailing_bytes", test_decode_rejects_trailing_bytes);
    check_run("decode_rejects_wrong_types_missing_and_duplicate_keys",
              test_decode_rejects_wrong_types);
    check_run("decode_rejects_too_many_decisions", test_decode_rejects_too_many_decisions);
    check_run("decode_rejects_huge_lengths_and_counts", test_decode_rejects_huge_lengths);
    check_run("decode_skips_unknown_keys_within_bounds", test_decode_bounds_unknown_values);
    check_run("decode_survives_random_mutations", test_decode_survives_random_mutations);
    check_run("export_cursor_parse_takes_only_well_formed_cursors", test_cursor_parse);

    loop = h2o_evloop_create();
    if (server_start(&plain_server, 0) != 0 || (plain = client_connect(&plain_server)) == NULL) {
        printf("FAIL redis_server_starts\n");
        failed++;
    } else {
        check_run("put_then_get_returns_the_same_record", test_put_then_get);
        check_run("state_ttl_is_the_lifetime_history_and_log_the_retention", test_ttls);
        check_run("two_puts_make_two_history_entries_newest_first_with_log_ids",
                  test_two_puts_history);
        check_run("erase_removes_every_trace_and_spares_the_neighbour", test_erase);
        check_run("history_is_bounded_and_the_log_keeps_every_entry", test_history_is_bounded);
        check_run("version_1_calls_keep_the_log_and_erase_it_all",
                  test_version_1_calls_keep_the_invariant);
        check_run("expired_state_keeps_its_log_entry_readable",
                  test_expired_state_keeps_its_log_entry_readable);
        check_run("legacy_callers_write_legacy_entries_and_erasure_takes_both",
                  test_legacy_callers_and_erasure);
        check_run("log_pages_cross_partitions_once_each_with_time_filter", test_log_pages);
        check_run("put_reloads_a_missing_function_library", test_function_reload);
        check_run("bad_arguments_are_refused", test_bad_arguments);
        check_run("calls_fail_fast_while_redis_is_down", test_down_fails_fast);
        check_run("one_put_touches_one_cluster_slot", test_cluster_one_slot);
        redis_destroy(plain);
    }
    servers_stop();
    h2o_evloop_destroy(loop);
    return check_summary();
}
