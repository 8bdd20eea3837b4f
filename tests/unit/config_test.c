/*
 * config_test.c - the server configuration (src/config.c): built-in defaults,
 * the shipped ops/consentd.json, every kind of bad file (unknown field, wrong
 * type, out of range, JSON syntax), relative paths, the environment
 * overrides (PORT, REDIS_URL, CONSENTD_THREADS) and the Redis URL parser.
 *
 * Fixtures: tests/fixtures/config/. The source tree is found through
 * CONSENTD_SOURCE_DIR (set by ctest), else from this file's path.
 */
#include "check.h"
#include "config.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static char source_dir[PATH_MAX];

static void run(const char *name, int (*fn)(void))
{
    unsetenv("PORT");
    unsetenv("REDIS_URL");
    unsetenv("CONSENTD_THREADS");
    check_run(name, fn);
}

static const char *src_path(char *buf, size_t cap, const char *rel)
{
    int n = snprintf(buf, cap, "%s/%s", source_dir, rel);
    if (n < 0 || (size_t)n >= cap) abort();
    return buf;
}

static const char *fixture(char *buf, size_t cap, const char *name)
{
    int n = snprintf(buf, cap, "%s/tests/fixtures/config/%s", source_dir, name);
    if (n < 0 || (size_t)n >= cap) abort();
    return buf;
}

/* ---- defaults and the shipped file ---------------------------------------- */

static int defaults_are_used_without_a_file(void)
{
    static config_t cfg;
    char err[CONFIG_ERR_MAX], cwd[PATH_MAX], want[PATH_MAX + 16];
    CHECK(config_load(&cfg, NULL, err, sizeof(err)) == 0);
    CHECK_STR(cfg.path, "");
    CHECK_STR(cfg.listen_address, "0.0.0.0");
    CHECK(cfg.port == 8080);
    CHECK(cfg.threads == 0);
    CHECK_STR(cfg.redis.url, "redis://127.0.0.1:6379");
    CHECK_STR(cfg.redis.host, "127.0.0.1");
    CHECK(cfg.redis.port == 6379);
    CHECK_STR(cfg.redis.unix_path, "");
    CHECK_STR(cfg.redis.password, "");
    CHECK(cfg.redis.db == 0);
    CHECK(cfg.redis.command_timeout_ms == 1000);
    CHECK(cfg.redis.connect_timeout_ms == 1000);
    CHECK(cfg.redis.reconnect_min_ms == 50);
    CHECK(cfg.redis.reconnect_max_ms == 2000);
    CHECK(cfg.redis.max_pending == 10000);
    CHECK(cfg.redis.wait_replicas == 0 && cfg.redis.wait_timeout_ms == 200);
    CHECK(cfg.redis.cluster == 0);
    CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
    FMT(want, "%s/sites", strcmp(cwd, "/") == 0 ? "" : cwd);
    CHECK_STR(cfg.sites_dir, want);
    FMT(want, "%s/keys", strcmp(cwd, "/") == 0 ? "" : cwd);
    CHECK_STR(cfg.keys_dir, want);
    CHECK_STR(cfg.public_url, "http://localhost:8080");
    CHECK(cfg.max_body_bytes == 65536);
    CHECK(cfg.max_connections == 10000);
    CHECK(cfg.max_connections_per_client == 1000);
    CHECK(cfg.request_timeout_ms == 10000);
    CHECK(cfg.shutdown_timeout_ms == 10000);
    CHECK(cfg.http2 == 0);
    CHECK(cfg.tls_cert_file[0] == '\0' && cfg.tls_key_file[0] == '\0');
    CHECK(cfg.rl_consents_per_second == 10 && cfg.rl_consents_burst == 50);
    CHECK(cfg.rl_events_per_second == 20 && cfg.rl_events_burst == 100);
    CHECK(cfg.rl_client_header[0] == '\0' && cfg.rl_exempt_loopback == 0);
    CHECK(cfg.rl_visitor_writes_per_minute == 10 && cfg.rl_visitor_writes_per_day == 100);
    CHECK(cfg.log_json == 0);
    CHECK(cfg.log_level == LOG_INFO);
    CHECK(cfg.access_log == 1);
    CHECK(cfg.log_client_ip == 0);
    return 0;
}

static int shipped_config_loads_with_its_defaults(void)
{
    static config_t cfg;
    char err[CONFIG_ERR_MAX], path[PATH_MAX], real[PATH_MAX], want[PATH_MAX + 32];
    src_path(path, sizeof(path), "ops/consentd.json");
    if (config_load(&cfg, path, err, sizeof(err)) != 0) {
        printf("    %s\n", err);
        return -1;
    }
    CHECK(realpath(source_dir, real) != NULL);
    CHECK(cfg.path[0] == '/');
    CHECK(strstr(cfg.path, "/ops/consentd.json") != NULL);
    CHECK_STR(cfg.listen_address, "0.0.0.0");
    CHECK(cfg.port == 8080);
    CHECK(cfg.threads == 0);
    CHECK_STR(cfg.redis.url, "redis://127.0.0.1:6379");
    CHECK_STR(cfg.redis.host, "127.0.0.1");
    CHECK(cfg.redis.port == 6379);
    FMT(want, "%s/ops/sites", real);
    CHECK_STR(cfg.sites_dir, want);
    FMT(want, "%s/var/keys", real);
    CHECK_STR(cfg.keys_dir, want);
    CHECK_STR(cfg.public_url, "http://localhost:8080");
    CHECK(cfg.max_body_bytes == 65536);
    CHECK(cfg.http2 == 0);
    CHECK(cfg.log_json == 0 && cfg.log_level == LOG_INFO);
    CHECK(cfg.access_log == 1 && cfg.log_client_ip == 0);
    CHECK(cfg.rl_exempt_loopback == 0);
    CHECK(cfg.rl_visitor_writes_per_minute == 10 && cfg.rl_visitor_writes_per_day == 100);
    /* /metrics on its own loopback listener, not the public one */
    CHECK_STR(cfg.metrics_address, "127.0.0.1");
    CHECK(cfg.metrics_port == 8081);
    /* tcf (issue 24): no Global Vendor List store unless set; the IAB's URLs */
    CHECK_STR(cfg.tcf_gvl_dir, "");
    CHECK_STR(cfg.tcf_gvl_url, "https://vendor-list.consensu.org/v3/vendor-list.json");
    CHECK_STR(cfg.tcf_translations_url, "https://vendor-list.consensu.org/v3/purposes-{lang}.json");
    CHECK(cfg.n_tcf_translations == 23);
    CHECK_STR(cfg.tcf_translations[8], "fr");
    return 0;
}

/* The shipped file is the reference: every field must be in it. */
static int shipped_config_lists_every_field(void)
{
    static const char *const fields[] = {"listen.address",
                                         "listen.port",
                                         "threads",
                                         "redis.url",
                                         "redis.read_url",
                                         "redis.command_timeout_ms",
                                         "redis.connect_timeout_ms",
                                         "redis.reconnect_min_ms",
                                         "redis.reconnect_max_ms",
                                         "redis.max_pending",
                                         "redis.wait_replicas",
                                         "redis.wait_timeout_ms",
                                         "sites_dir",
                                         "keys_dir",
                                         "public_url",
                                         "limits.max_body_bytes",
                                         "limits.max_connections",
                                         "limits.max_connections_per_client",
                                         "limits.request_timeout_ms",
                                         "limits.shutdown_timeout_ms",
                                         "http2",
                                         "tls",
                                         "rate_limit.consents_per_second",
                                         "rate_limit.consents_burst",
                                         "rate_limit.events_per_second",
                                         "rate_limit.events_burst",
                                         "rate_limit.client_address_header",
                                         "rate_limit.exempt_loopback",
                                         "rate_limit.visitor_writes_per_minute",
                                         "rate_limit.visitor_writes_per_day",
                                         "log.format",
                                         "log.level",
                                         "log.access_log",
                                         "log.client_ip",
                                         "metrics.listen",
                                         "tcf.gvl_dir",
                                         "tcf.gvl_url",
                                         "tcf.translations_url",
                                         "tcf.translations"};
    char path[PATH_MAX];
    json_error_t jerr;
    json_t *root = json_load_file(src_path(path, sizeof(path), "ops/consentd.json"), 0, &jerr);
    CHECK(root != NULL);
    int missing = 0;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char key[64];
        snprintf(key, sizeof(key), "%s", fields[i]);
        char *dot = strchr(key, '.');
        json_t *v = root;
        if (dot != NULL) {
            *dot = '\0';
            v = json_object_get(v, key);
            v = v != NULL ? json_object_get(v, dot + 1) : NULL;
        } else {
            v = json_object_get(v, key);
        }
        if (v == NULL) {
            printf("    ops/consentd.json lacks %s\n", fields[i]);
            missing++;
        }
    }
    json_decref(root);
    CHECK(missing == 0);
    return 0;
}

/* redis.read_url: its own address, password and db, redis.url's timeouts,
 * no durable writes; none by default. */
static int read_url_takes_the_main_timeouts(void)
{
    static config_t cfg;
    char err[CONFIG_ERR_MAX], path[PATH_MAX];
    if (config_load(&cfg, fixture(path, sizeof(path), "good_read_url.json"), err, sizeof(err)) !=
        0) {
        printf("    %s\n", err);
        return 1;
    }
    CHECK_STR(cfg.redis_read.host, "127.0.0.1");
    CHECK(cfg.redis_read.port == 6380 && cfg.redis_read.db == 2);
    CHECK_STR(cfg.redis_read.password, "secret");
    CHECK(cfg.redis_read.command_timeout_ms == 700 && cfg.redis.command_timeout_ms == 700);
    CHECK(cfg.redis_read.wait_replicas == 0 && cfg.redis.wait_replicas == 1);
    CHECK(cfg.redis.port == 6379 && !cfg.redis_read.cluster && !cfg.redis_read.replica_reads);
    CHECK(config_load(&cfg, fixture(path, sizeof(path), "good_minimal.json"), err, sizeof(err)) ==
          0);
    CHECK(cfg.redis_read.url[0] == '\0');
    /* A cluster's nodes: its replicas are read (redis.c: READONLY). */
    if (config_load(&cfg, fixture(path, sizeof(path), "good_read_url_cluster.json"), err,
                    sizeof(err)) != 0) {
        printf("    %s\n", err);
        return 1;
    }
    CHECK(cfg.redis_read.cluster && cfg.redis_read.replica_reads && cfg.redis_read.n_seeds == 3);
    CHECK(!cfg.redis.replica_reads && cfg.redis.n_seeds == 2);
    CHECK(cfg.redis_read.wait_replicas == 0 && cfg.redis.wait_replicas == 1);
    return 0;
}

static int minimal_file_takes_the_defaults(void)
{
    static config_t cfg;
    char err[CONFIG_ERR_MAX], path[PATH_MAX], real[PATH_MAX], want[PATH_MAX + 64];
    CHECK(config_load(&cfg, fixture(path, sizeof(path), "good_minimal.json"), err, sizeof(err)) ==
          0);
    CHECK(realpath(source_dir, real) != NULL);
    FMT(want, "%s/tests/fixtures/config/sites", real);
    CHECK_STR(cfg.sites_dir, want);
    FMT(want, "%s/tests/fixtures/config/keys", real);
    CHECK_STR(cfg.keys_dir, want);
    CHECK(cfg.port == 8080 && cfg.redis.command_timeout_ms == 1000 && cfg.access_log == 1);
    CHECK(cfg.metrics_port == 0); /* no operator listener unless asked */
    return 0;
}

static int relative_paths_resolve_against_the_file_directory(void)
{
    static config_t cfg;
    char err[CONFIG_ERR_MAX], path[PATH_MAX], real[PATH_MAX], want[PATH_MAX + 64];
    if (config_load(&cfg, fixture(path, sizeof(path), "good_paths.json"), err, sizeof(err)) != 0) {
        printf("    %s\n", err);
        return -1;
    }
    CHECK(realpath(source_dir, real) != NULL);
    FMT(want, "%s/tests/fixtures/sites/good", real);
    CHECK_STR(cfg.sites_dir, want);
    CHECK_STR(cfg.keys_dir, "/tmp/k");
    CHECK_STR(cfg.public_url, "https://consent.example.com");
    CHECK(cfg.threads == 3);
    CHECK(cfg.log_json == 1 && cfg.log_level == LOG_WARN && cfg.log_client_ip == 1);
    return 0;
}

/* ---- bad files ------------------------------------------------------------- */

typedef struct bad_case {
    const char *file;
    const char *field;  /* "<file>: <field>: " must be in the message; NULL: no field */
    const char *reason; /* and this */
} bad_case_t;

static const bad_case_t bad_cases[] = {
    {"bad_unknown_field.json", "listen.prot", "unknown field"},
    {"bad_unknown_top_field.json", "thread", "unknown field"},
    {"bad_threads_type.json", "threads", "must be an integer from 0 to 256"},
    {"bad_threads_range.json", "threads", "must be an integer from 0 to 256"},
    {"bad_command_timeout.json", "redis.command_timeout_ms", "must be an integer from 1 to 60000"},
    {"bad_port_range.json", "listen.port", "must be an integer from 1 to 65535"},
    {"bad_port_real.json", "listen.port", "must be an integer from 1 to 65535"},
    {"bad_log_format.json", "log.format", "must be \"text\" or \"json\""},
    {"bad_log_level.json", "log.level", "must be one of debug, info, warn, error"},
    {"bad_http2_type.json", "http2", "must be true or false"},
    {"bad_rate_burst.json", "rate_limit.consents_burst", "must be an integer from 1 to 1000000"},
    {"bad_rate_header.json", "rate_limit.client_address_header", "\"x-forwarded-for\""},
    {"bad_rate_unknown.json", "rate_limit.per_minute", "unknown field"},
    {"bad_rate_visitor_minute.json", "rate_limit.visitor_writes_per_minute",
     "must be an integer from 0 to 1000000"},
    {"bad_rate_visitor_day.json", "rate_limit.visitor_writes_per_day",
     "must be an integer from 0 to 1000000"},
    {"bad_tls_type.json", "tls", "must be an object"},
    {"bad_tls_key_missing.json", "tls.key_file", "is required"},
    {"bad_access_log_type.json", "log.access_log", "must be true or false"},
    {"bad_redis_tls.json", "redis.url", "not supported yet"},
    {"bad_redis_scheme.json", "redis.url", "must be redis://"},
    {"bad_reconnect_order.json", "redis.reconnect_min_ms", "must not be larger than"},
    {"bad_listen_type.json", "listen", "must be an object"},
    {"bad_metrics_listen_type.json", "metrics.listen", "must be null or an object"},
    {"bad_metrics_port_same.json", "metrics.listen.port",
     "must differ from the public port (8080)"},
    {"bad_metrics_port_missing.json", "metrics.listen.port", "is required"},
    {"bad_metrics_unknown_field.json", "metrics.listen.prot", "unknown field"},
    {"bad_sites_dir_empty.json", "sites_dir", "must not be empty"},
    {"bad_public_url.json", "public_url", "http:// or https://"},
    {"bad_max_body.json", "limits.max_body_bytes", "must be an integer from 1 to"},
    {"bad_shutdown_timeout.json", "limits.shutdown_timeout_ms", "from 1 to 60000"},
    {"bad_max_per_client.json", "limits.max_connections_per_client",
     "must be an integer from 0 to"},
    {"bad_max_pending.json", "redis.max_pending", "must be an integer from 1 to"},
    {"bad_wait_replicas.json", "redis.wait_replicas", "must be an integer from 0 to 16"},
    {"bad_wait_timeout.json", "redis.wait_timeout_ms", "smaller than redis.command_timeout_ms"},
    {"bad_redis_cluster_db.json", "redis.url", "only database 0"},
    {"bad_read_url_cluster.json", "redis.read_url",
     "redis+cluster:// needs a redis+cluster:// redis.url (one Redis: name its replica, "
     "redis://host:port)"},
    {"bad_read_url_scheme.json", "redis.read_url", "must be redis://"},
    {"bad_read_url_beside_cluster.json", "redis.read_url",
     "redis.url is a cluster: name its nodes (redis+cluster://host:port,...), whose replicas are "
     "then read"},
    {"bad_syntax.json", NULL, "line 3, column"},
    {"bad_duplicate_key.json", NULL, "line 3"},
    {"bad_not_object.json", NULL, "must be a JSON object"},
};

static int bad_files_are_refused_naming_file_field_and_reason(void)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        static config_t cfg;
        const bad_case_t *c = &bad_cases[i];
        char err[CONFIG_ERR_MAX], path[PATH_MAX], want[PATH_MAX + 128];
        memset(err, 0, sizeof(err));
        fixture(path, sizeof(path), c->file);
        if (config_load(&cfg, path, err, sizeof(err)) == 0) {
            printf("    %s: accepted\n", c->file);
            bad++;
            continue;
        }
        if (c->field != NULL)
            FMT(want, "%s: %s: ", path, c->field);
        else
            FMT(want, "%s: ", path);
        if (strncmp(err, want, strlen(want)) != 0 || strstr(err, c->reason) == NULL) {
            printf("    %s: got \"%s\", expected \"%s...%s\"\n", c->file, err, want, c->reason);
            bad++;
        }
    }
    CHECK(bad == 0);
    return 0;
}

static int unknown_field_message_lists_the_known_fields(void)
{
    static config_t cfg;
    char err[CONFIG_ERR_MAX], path[PATH_MAX];
    CHECK(config_load(&cfg, fixture(path, sizeof(path), "bad_unknown_field.json"), err,
                      sizeof(err)) != 0);
    CHECK_HAS(err, "address, port");
    return 0;
}

static int missing_file_is_refused_naming_it(void)
{
    static config_t cfg;
    char err[CONFIG_ERR_MAX];
    CHECK(config_load(&cfg, "/nonexistent/dir/absent.json", err, sizeof(err)) != 0);
    CHECK_HAS(err, "/nonexistent/dir/absent.json: ");
    CHECK_HAS(err, "No such file");
    return 0;
}

static int directory_as_config_file_is_refused(void)
{
    static config_t cfg;
    char err[CONFIG_ERR_MAX], path[PATH_MAX];
    CHECK(config_load(&cfg, fixture(path, sizeof(path), ""), err, sizeof(err)) != 0);
    CHECK_HAS(err, "tests/fixtures/config/: ");
    return 0;
}

/* ---- the environment ------------------------------------------------------- */

static int environment_overrides_the_file(void)
{
    static config_t cfg;
    char err[CONFIG_ERR_MAX], path[PATH_MAX];
    setenv("PORT", "9091", 1);
    setenv("REDIS_URL", "redis://:pw@127.0.0.1:6390/2", 1);
    setenv("CONSENTD_THREADS", "5", 1);
    if (config_load(&cfg, src_path(path, sizeof(path), "ops/consentd.json"), err, sizeof(err)) !=
        0) {
        printf("    %s\n", err);
        return -1;
    }
    CHECK(cfg.port == 9091);
    CHECK(cfg.threads == 5);
    CHECK_STR(cfg.redis.url, "redis://:pw@127.0.0.1:6390/2");
    CHECK_STR(cfg.redis.host, "127.0.0.1");
    CHECK(cfg.redis.port == 6390);
    CHECK(cfg.redis.db == 2);
    CHECK_STR(cfg.redis.password, "pw");
    /* public_url is null in the shipped file: it follows the port */
    CHECK_STR(cfg.public_url, "http://localhost:9091");
    /* the file's other Redis settings stay */
    CHECK(cfg.redis.command_timeout_ms == 1000);
    return 0;
}

static int environment_overrides_the_defaults_without_a_file(void)
{
    static config_t cfg;
    char err[CONFIG_ERR_MAX];
    setenv("PORT", "1", 1);
    setenv("CONSENTD_THREADS", "0", 1);
    CHECK(config_load(&cfg, NULL, err, sizeof(err)) == 0);
    CHECK(cfg.port == 1 && cfg.threads == 0);
    setenv("PORT", "65535", 1);
    setenv("CONSENTD_THREADS", "256", 1);
    CHECK(config_load(&cfg, NULL, err, sizeof(err)) == 0);
    CHECK(cfg.port == 65535 && cfg.threads == 256);
    return 0;
}

static int empty_environment_variables_are_ignored(void)
{
    static config_t cfg;
    char err[CONFIG_ERR_MAX];
    setenv("PORT", "", 1);
    setenv("REDIS_URL", "", 1);
    setenv("CONSENTD_THREADS", "", 1);
    CHECK(config_load(&cfg, NULL, err, sizeof(err)) == 0);
    CHECK(cfg.port == 8080 && cfg.threads == 0);
    CHECK_STR(cfg.redis.url, "redis://127.0.0.1:6379");
    return 0;
}

static int bad_environment_values_are_refused_naming_the_variable(void)
{
    static const struct {
        const char *name, *value, *want;
    } cases[] = {
        {"PORT", "0", "environment PORT: must be an integer from 1 to 65535"},
        {"PORT", "65536", "environment PORT: must be an integer from 1 to 65535"},
        {"PORT", "80a", "environment PORT: must be an integer from 1 to 65535"},
        {"PORT", "-1", "environment PORT: must be an integer from 1 to 65535"},
        {"PORT", " 80", "environment PORT: must be an integer from 1 to 65535"},
        {"CONSENTD_THREADS", "257",
         "environment CONSENTD_THREADS: must be an integer from 0 to 256"},
        {"CONSENTD_THREADS", "many",
         "environment CONSENTD_THREADS: must be an integer from 0 to 256"},
        {"REDIS_URL", "rediss://127.0.0.1:6380",
         "environment REDIS_URL: rediss:// (TLS to Redis) is not supported yet"},
        {"REDIS_URL", "127.0.0.1:6379", "environment REDIS_URL: must be redis://"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        static config_t cfg;
        char err[CONFIG_ERR_MAX] = "";
        unsetenv("PORT");
        unsetenv("REDIS_URL");
        unsetenv("CONSENTD_THREADS");
        setenv(cases[i].name, cases[i].value, 1);
        if (config_load(&cfg, NULL, err, sizeof(err)) == 0 ||
            strncmp(err, cases[i].want, strlen(cases[i].want)) != 0) {
            printf("    %s=\"%s\": got \"%s\", expected \"%s\"\n", cases[i].name, cases[i].value,
                   err, cases[i].want);
            bad++;
        }
    }
    CHECK(bad == 0);
    return 0;
}

/* The file's URL is resolved only if it is the one used, so REDIS_URL can
 * replace a host that only exists elsewhere (a compose service name). */
static int redis_url_env_replaces_a_file_host_that_does_not_resolve(void)
{
    static config_t cfg;
    char err[CONFIG_ERR_MAX], path[PATH_MAX];
    fixture(path, sizeof(path), "good_unresolvable_redis.json");
    CHECK(config_load(&cfg, path, err, sizeof(err)) != 0);
    CHECK_HAS(err,
              "good_unresolvable_redis.json: redis.url: cannot resolve host no-such-host.invalid");
    setenv("REDIS_URL", "redis://127.0.0.1:6391", 1);
    if (config_load(&cfg, path, err, sizeof(err)) != 0) {
        printf("    %s\n", err);
        return -1;
    }
    CHECK(cfg.redis.port == 6391);
    return 0;
}

static int a_bad_file_redis_url_is_refused_even_when_the_environment_replaces_it(void)
{
    static config_t cfg;
    char err[CONFIG_ERR_MAX], path[PATH_MAX];
    setenv("REDIS_URL", "redis://127.0.0.1:6391", 1);
    CHECK(config_load(&cfg, fixture(path, sizeof(path), "bad_redis_tls.json"), err, sizeof(err)) !=
          0);
    CHECK_HAS(err, "bad_redis_tls.json: redis.url: ");
    return 0;
}

/* ---- Redis URLs ------------------------------------------------------------ */

static int redis_url(config_redis_t *r, const char *url, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    r->command_timeout_ms = 1234;
    r->max_pending = 77;
    return config_redis_url_parse(r, url, err, errlen);
}

static int redis_url_host_and_port(void)
{
    config_redis_t r;
    char err[CONFIG_ERR_MAX];
    CHECK(redis_url(&r, "redis://127.0.0.1:6380", err, sizeof(err)) == 0);
    CHECK_STR(r.url, "redis://127.0.0.1:6380");
    CHECK_STR(r.host, "127.0.0.1");
    CHECK(r.port == 6380);
    CHECK(r.db == 0);
    CHECK_STR(r.password, "");
    CHECK_STR(r.username, "");
    CHECK_STR(r.unix_path, "");
    /* fields other than the URL's are left alone */
    CHECK(r.command_timeout_ms == 1234 && r.max_pending == 77);
    CHECK(redis_url(&r, "redis://10.1.2.3", err, sizeof(err)) == 0);
    CHECK_STR(r.host, "10.1.2.3");
    CHECK(r.port == 6379);
    CHECK(redis_url(&r, "REDIS://127.0.0.1:1/", err, sizeof(err)) == 0);
    CHECK(r.port == 1 && r.db == 0);
    CHECK(redis_url(&r, "redis://[::1]:6381/1", err, sizeof(err)) == 0);
    CHECK_STR(r.host, "::1");
    CHECK(r.port == 6381 && r.db == 1);
    return 0;
}

static int redis_url_password_user_and_db(void)
{
    config_redis_t r;
    char err[CONFIG_ERR_MAX];
    CHECK(redis_url(&r, "redis://:s3cret@127.0.0.1", err, sizeof(err)) == 0);
    CHECK_STR(r.password, "s3cret");
    CHECK_STR(r.username, "");
    CHECK(r.port == 6379);
    CHECK(redis_url(&r, "redis://alice:s%40c:ret@127.0.0.1:6379/3", err, sizeof(err)) == 0);
    CHECK_STR(r.username, "alice");
    CHECK_STR(r.password, "s@c:ret");
    CHECK(r.db == 3);
    /* an unescaped '@' in the password: the last one ends the user info */
    CHECK(redis_url(&r, "redis://:p@ss@127.0.0.1/15", err, sizeof(err)) == 0);
    CHECK_STR(r.password, "p@ss");
    CHECK_STR(r.host, "127.0.0.1");
    CHECK(r.db == 15);
    /* no colon: the whole user info is the password, as redis-cli reads it */
    CHECK(redis_url(&r, "redis://justpw@127.0.0.1", err, sizeof(err)) == 0);
    CHECK_STR(r.password, "justpw");
    CHECK_STR(r.username, "");
    return 0;
}

static int redis_url_unix_socket(void)
{
    config_redis_t r;
    char err[CONFIG_ERR_MAX];
    CHECK(redis_url(&r, "unix:///tmp/redis.sock?db=2", err, sizeof(err)) == 0);
    CHECK_STR(r.unix_path, "/tmp/redis.sock");
    CHECK_STR(r.host, "");
    CHECK(r.port == 0);
    CHECK(r.db == 2);
    CHECK(redis_url(&r, "redis+unix:///run/redis/redis-server.sock", err, sizeof(err)) == 0);
    CHECK_STR(r.unix_path, "/run/redis/redis-server.sock");
    CHECK(r.db == 0);
    CHECK(redis_url(&r, "unix:///tmp/r.sock?password=a%26b&db=1", err, sizeof(err)) == 0);
    CHECK_STR(r.password, "a&b");
    CHECK(r.db == 1);
    return 0;
}

static int redis_url_cluster_seeds_user_and_password(void)
{
    config_redis_t r;
    char err[CONFIG_ERR_MAX];
    CHECK(redis_url(&r, "redis+cluster://127.0.0.1:7000", err, sizeof(err)) == 0);
    CHECK(r.cluster == 1 && r.n_seeds == 1);
    CHECK_STR(r.seeds[0].host, "127.0.0.1");
    CHECK(r.seeds[0].port == 7000);
    CHECK_STR(r.host, "127.0.0.1"); /* the first seed, for messages */
    CHECK(r.port == 7000 && r.db == 0);
    CHECK(redis_url(&r, "REDIS+CLUSTER://alice:s%40c@10.0.0.1:7001,10.0.0.2,[::1]:7003/", err,
                    sizeof(err)) == 0);
    CHECK(r.cluster == 1 && r.n_seeds == 3);
    CHECK_STR(r.username, "alice");
    CHECK_STR(r.password, "s@c");
    CHECK_STR(r.seeds[0].host, "10.0.0.1");
    CHECK(r.seeds[0].port == 7001);
    CHECK_STR(r.seeds[1].host, "10.0.0.2");
    CHECK(r.seeds[1].port == 6379);
    CHECK_STR(r.seeds[2].host, "::1");
    CHECK(r.seeds[2].port == 7003);
    CHECK(redis_url(&r, "redis+cluster://localhost:7000/0", err, sizeof(err)) == 0);
    CHECK(strcmp(r.seeds[0].host, "127.0.0.1") == 0 || strcmp(r.seeds[0].host, "::1") == 0);
    /* back to one Redis: nothing of the cluster stays */
    CHECK(redis_url(&r, "redis://127.0.0.1:6380", err, sizeof(err)) == 0);
    CHECK(r.cluster == 0 && r.n_seeds == 0);
    return 0;
}

static int redis_url_rediss_is_refused_saying_tls_is_not_supported(void)
{
    config_redis_t r;
    char err[CONFIG_ERR_MAX];
    CHECK(redis_url(&r, "rediss://127.0.0.1:6380", err, sizeof(err)) != 0);
    CHECK_HAS(err, "TLS");
    CHECK_HAS(err, "not supported");
    return 0;
}

static int redis_url_garbage_is_refused_with_a_reason(void)
{
    static const struct {
        const char *url, *reason;
    } cases[] = {
        {"", "empty"},
        {"http://127.0.0.1:6379", "must be redis://"},
        {"127.0.0.1:6379", "must be redis://"},
        {"redis://", "host is missing"},
        {"redis://:6379", "host is missing"},
        {"redis://127.0.0.1:0", "port"},
        {"redis://127.0.0.1:65536", "port"},
        {"redis://127.0.0.1:63a", "port"},
        {"redis://127.0.0.1/abc", "database"},
        {"redis://127.0.0.1/65536", "database"},
        {"redis://127.0.0.1/?db=1", "query"},
        {"redis://user:@127.0.0.1", "password is empty"},
        {"redis://:%zz@127.0.0.1", "escaped"},
        {"redis://127.0.0.1 :6379", "spaces"},
        {"redis://[::1", "']'"},
        {"redis://[nothex]:1", "IPv6"},
        {"redis://ho$t:6379", "host name"},
        {"unix://relative/path.sock", "absolute path"},
        {"unix:///tmp/r.sock?db=x", "db"},
        {"unix:///tmp/r.sock?timeout=1", "unknown query parameter"},
        {"redis+cluster://", "host is missing"},
        {"redis+cluster://127.0.0.1:7000,", "host is missing"},
        {"redis+cluster://127.0.0.1:7000,,127.0.0.1:7001", "host is missing"},
        {"redis+cluster://127.0.0.1:70000", "port"},
        {"redis+cluster://127.0.0.1:7000/1", "only database 0"},
        {"redis+cluster://127.0.0.1:7000?x=1", "query"},
        {"redis+cluster://:@127.0.0.1:7000", "password is empty"},
        {"redis+cluster://1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,1.1.1.8,"
         "1.1.1.9,1.1.1.10,1.1.1.11,1.1.1.12,1.1.1.13,1.1.1.14,1.1.1.15,1.1.1.16,1.1.1.17",
         "at most 16 seed nodes"},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        config_redis_t r;
        char err[CONFIG_ERR_MAX] = "";
        memset(&r, 0x5a, sizeof(r));
        config_redis_t before = r;
        if (config_redis_url_parse(&r, cases[i].url, err, sizeof(err)) == 0 ||
            strstr(err, cases[i].reason) == NULL) {
            printf("    \"%s\": got \"%s\", expected a reason with \"%s\"\n", cases[i].url, err,
                   cases[i].reason);
            bad++;
        } else if (memcmp(&r, &before, sizeof(r)) != 0) {
            printf("    \"%s\": a refused URL changed the output\n", cases[i].url);
            bad++;
        }
    }
    CHECK(bad == 0);
    return 0;
}

static int redis_url_password_never_appears_in_errors(void)
{
    config_redis_t r;
    char err[CONFIG_ERR_MAX];
    CHECK(redis_url(&r, "redis://:topsecret@127.0.0.1:99999", err, sizeof(err)) != 0);
    CHECK(strstr(err, "topsecret") == NULL);
    return 0;
}

static int redis_url_localhost_is_resolved_to_a_numeric_address(void)
{
    config_redis_t r;
    char err[CONFIG_ERR_MAX];
    if (redis_url(&r, "redis://localhost:6379", err, sizeof(err)) != 0) {
        printf("    %s\n", err);
        return -1;
    }
    CHECK(strcmp(r.host, "127.0.0.1") == 0 || strcmp(r.host, "::1") == 0);
    CHECK_STR(r.url, "redis://localhost:6379");
    return 0;
}

static int redis_url_unknown_host_is_refused_naming_it(void)
{
    config_redis_t r;
    char err[CONFIG_ERR_MAX];
    CHECK(redis_url(&r, "redis://no-such-host.invalid:6379", err, sizeof(err)) != 0);
    CHECK_HAS(err, "cannot resolve host no-such-host.invalid");
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    check_source_dir(source_dir, sizeof(source_dir));
    run("defaults_are_used_without_a_file", defaults_are_used_without_a_file);
    run("shipped_config_loads_with_its_defaults", shipped_config_loads_with_its_defaults);
    run("shipped_config_lists_every_field", shipped_config_lists_every_field);
    run("minimal_file_takes_the_defaults", minimal_file_takes_the_defaults);
    run("relative_paths_resolve_against_the_file_directory",
        relative_paths_resolve_against_the_file_directory);
    run("bad_files_are_refused_naming_file_field_and_reason",
        bad_files_are_refused_naming_file_field_and_reason);
    run("unknown_field_message_lists_the_known_fields",
        unknown_field_message_lists_the_known_fields);
    run("missing_file_is_refused_naming_it", missing_file_is_refused_naming_it);
    run("directory_as_config_file_is_refused", directory_as_config_file_is_refused);
    run("environment_overrides_the_file", environment_overrides_the_file);
    run("environment_overrides_the_defaults_without_a_file",
        environment_overrides_the_defaults_without_a_file);
    run("empty_environment_variables_are_ignored", empty_environment_variables_are_ignored);
    run("bad_environment_values_are_refused_naming_the_variable",
        bad_environment_values_are_refused_naming_the_variable);
    run("redis_url_env_replaces_a_file_host_that_does_not_resolve",
        redis_url_env_replaces_a_file_host_that_does_not_resolve);
    run("a_bad_file_redis_url_is_refused_even_when_the_environment_replaces_it",
        a_bad_file_redis_url_is_refused_even_when_the_environment_replaces_it);
    run("read_url_takes_the_main_timeouts", read_url_takes_the_main_timeouts);
    run("redis_url_host_and_port", redis_url_host_and_port);
    run("redis_url_password_user_and_db", redis_url_password_user_and_db);
    run("redis_url_unix_socket", redis_url_unix_socket);
    run("redis_url_cluster_seeds_user_and_password", redis_url_cluster_seeds_user_and_password);
    run("redis_url_rediss_is_refused_saying_tls_is_not_supported",
        redis_url_rediss_is_refused_saying_tls_is_not_supported);
    run("redis_url_garbage_is_refused_with_a_reason", redis_url_garbage_is_refused_with_a_reason);
    run("redis_url_password_never_appears_in_errors", redis_url_password_never_appears_in_errors);
    run("redis_url_localhost_is_resolved_to_a_numeric_address",
        redis_url_localhost_is_resolved_to_a_numeric_address);
    run("redis_url_unknown_host_is_refused_naming_it", redis_url_unknown_host_is_refused_naming_it);
    return check_summary();
}
