/*
 * site_cli.c - consentd site import / export (site_cli.h).
 *
 * One command at a time on a private h2o loop with its own redis_t: each
 * step's callback starts the next one; the loop runs until `done` or the
 * deadline.
 */
#include "site_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "banner_build.h"
#include "gvl.h"
#include "log.h"
#include "redis.h"
#include "site.h"
#include "site_doc.h"
#include "store.h"

#define SITE_CLI_FILE_MAX STORE_SITE_JSON_MAX

typedef struct site_cli {
    redis_t *redis;
    int done, failed, started;
    /* what to do once connected */
    void (*begin)(struct site_cli *cli);
    /* import */
    char **files;
    size_t n_files, at;
    int draft;
    const char *message;
    char who[STORE_SITE_WHO_MAX];
    char id[SITE_ID_MAX + 1];
    char *json; /* canonical, of files[at] */
    size_t len;
    const gvl_t *gvl; /* the newest Global Vendor List of tcf.gvl_dir, or NULL */
    /* export */
    const char *site;
    uint64_t version;
} site_cli_t;

static int cli_usage(void)
{
    fprintf(stderr, "usage: consentd site import [--config FILE] [--draft] [--message TEXT] "
                    "FILE...\n"
                    "       consentd site export [--config FILE] SITE [VERSION]\n");
    return 2;
}

static void cli_fail(site_cli_t *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cli_fail(site_cli_t *cli, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("consentd site: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    cli->failed = 1;
    cli->done = 1;
}

/* The store's JSON answer; NULL after cli_fail. */
static json_t *cli_reply(site_cli_t *cli, const char *js, size_t len, const redis_error_t *err)
{
    if (err != NULL) {
        cli_fail(cli, "Redis: %s", err->detail != NULL ? err->detail : "error");
        return NULL;
    }
    json_t *r = js != NULL ? json_loadb(js, len, 0, NULL) : NULL;
    if (!json_is_object(r)) {
        json_decref(r);
        cli_fail(cli, "unexpected answer from Redis");
    }
    return r;
}

static uint64_t cli_uint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

/* ---- import ------------------------------------------------------------------- */

static void cli_import_next(site_cli_t *cli);

static void cli_on_announced(void *data, const char *js, size_t len, const redis_error_t *err)
{
    site_cli_t *cli = data;
    json_t *r = cli_reply(cli, js, len, err);
    if (r == NULL) return;
    json_decref(r);
    cli->at++;
    cli_import_next(cli);
}

static void cli_on_committed(void *data, const char *js, size_t len, const redis_error_t *err)
{
    site_cli_t *cli = data;
    json_t *r = cli_reply(cli, js, len, err);
    if (r == NULL) return;
    uint64_t version = cli_uint(r, "version"), published = cli_uint(r, "published");
    int created = json_is_true(json_object_get(r, "created"));
    json_decref(r);
    printf("%s: site %s version %" PRIu64 " (%s), published version %" PRIu64 "\n",
           cli->files[cli->at], cli->id, version, created ? "new" : "unchanged", published);
    if (published == 0) {
        cli->at++;
        cli_import_next(cli);
        return;
    }
    int rc = store_sites_announce(cli->redis, cli->id, published, cli_on_announced, cli);
    if (rc != REDIS_OK) cli_fail(cli, "Redis: %s", redis_error_of_rc(rc)->detail);
}

static void cli_on_draft_put(void *data, const char *js, size_t len, const redis_error_t *err)
{
    site_cli_t *cli = data;
    json_t *r = cli_reply(cli, js, len, err);
    if (r == NULL) return;
    if (json_is_true(json_object_get(r, "conflict"))) {
        json_decref(r);
        cli_fail(cli, "%s: the draft of site %s changed meanwhile: import again",
                 cli->files[cli->at], cli->id);
        return;
    }
    printf("%s: site %s draft revision %" PRIu64 "\n", cli->files[cli->at], cli->id,
           cli_uint(r, "revision"));
    json_decref(r);
    cli->at++;
    cli_import_next(cli);
}

static void cli_on_draft(void *data, const char *js, size_t len, const redis_error_t *err)
{
    site_cli_t *cli = data;
    json_t *r = cli_reply(cli, js, len, err);
    if (r == NULL) return;
    uint64_t rev = cli_uint(r, "revision");
    json_decref(r);
    int rc = store_site_draft_put(cli->redis, cli->id, cli->json, cli->len, cli->who, rev,
                                  cli_on_draft_put, cli);
    if (rc != REDIS_OK) cli_fail(cli, "Redis: %s", redis_error_of_rc(rc)->detail);
}

/* Read and validate FILE as the sites directory does. */
static int cli_read(site_cli_t *cli, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        cli_fail(cli, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(SITE_CLI_FILE_MAX + 1);
    size_t n = buf != NULL ? fread(buf, 1, SITE_CLI_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n > SITE_CLI_FILE_MAX) {
        free(buf);
        cli_fail(cli, "%s: larger than %d bytes", path, SITE_CLI_FILE_MAX);
        return -1;
    }
    char err[SITE_ERR_MAX];
    site_set_t *set = site_set_load_one_gvl(path, buf, n, cli->gvl, err, sizeof(err));
    if (set == NULL) {
        free(buf);
        cli_fail(cli, "%s", err);
        return -1;
    }
    if (banner_site_check(site_set_at(set, 0), err, sizeof(err)) != 0) {
        site_set_release(set);
        free(buf);
        cli_fail(cli, "%s", err);
        return -1;
    }
    snprintf(cli->id, sizeof(cli->id), "%s", site_set_at(set, 0)->id);
    site_set_release(set);
    free(cli->json);
    cli->json = site_doc_canonical(buf, n, &cli->len);
    free(buf);
    if (cli->json == NULL) {
        cli_fail(cli, "out of memory");
        return -1;
    }
    return 0;
}

static void cli_import_next(site_cli_t *cli)
{
    if (cli->at == cli->n_files) {
        cli->done = 1;
        return;
    }
    const char *path = cli->files[cli->at];
    if (cli_read(cli, path) != 0) return;
    char message[STORE_SITE_MESSAGE_MAX + 1];
    const char *base = strrchr(path, '/');
    snprintf(message, sizeof(message), "%s", cli->message != NULL ? cli->message : "");
    if (cli->message == NULL)
        snprintf(message, sizeof(message), "import of %s", base != NULL ? base + 1 : path);
    int rc = cli->draft
                 ? store_site_draft_get(cli->redis, cli->id, cli_on_draft, cli)
                 : store_site_commit(cli->redis, cli->id, cli->json, cli->len, cli->who, message, 0,
                                     STORE_SITE_PUBLISH_NEW, -1, cli_on_committed, cli);
    if (rc != REDIS_OK) cli_fail(cli, "Redis: %s", redis_error_of_rc(rc)->detail);
}

static void cli_import_begin(site_cli_t *cli)
{
    cli_import_next(cli);
}

/* ---- export -------------------------------------------------------------------- */

static void cli_on_export(void *data, const char *js, size_t len, const redis_error_t *err)
{
    site_cli_t *cli = data;
    json_t *r = cli_reply(cli, js, len, err);
    if (r == NULL) return;
    const json_t *doc = json_object_get(r, "json");
    json_t *site = json_is_string(doc) ? json_loads(json_string_value(doc), 0, NULL) : NULL;
    if (site == NULL) {
        if (cli->version == 0)
            cli_fail(cli, "site %s has no published version in Redis", cli->site);
        else
            cli_fail(cli, "site %s has no version %" PRIu64 " in Redis", cli->site, cli->version);
    } else {
        json_dumpf(site, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
        cli->done = 1;
    }
    json_decref(site);
    json_decref(r);
}

static void cli_export_begin(site_cli_t *cli)
{
    int rc = store_site_version_get(cli->redis, cli->site, cli->version, cli_on_export, cli);
    if (rc != REDIS_OK) cli_fail(cli, "Redis: %s", redis_error_of_rc(rc)->detail);
}

/* ---- the loop -------------------------------------------------------------------- */

static void cli_on_redis(void *data, redis_t *r, int connected)
{
    site_cli_t *cli = data;
    if (!connected) return;
    store_on_connect(r);
    if (!cli->started) {
        cli->started = 1;
        cli->begin(cli);
    }
}

static int cli_run(const config_t *cfg, site_cli_t *cli)
{
    h2o_evloop_t *loop = h2o_evloop_create();
    cli->redis = redis_create(loop, &cfg->redis);
    if (cli->redis == NULL) {
        fprintf(stderr, "consentd site: out of memory\n");
        h2o_evloop_destroy(loop);
        return 1;
    }
    redis_set_state_cb(cli->redis, cli_on_redis, cli);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!cli->done) {
        h2o_evloop_run(loop, 50);
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >
            SITE_CLI_TIMEOUT_MS) {
            const char *why = redis_last_error(cli->redis);
            cli_fail(cli, "Redis (%s) did not answer within %d ms%s%s", cfg->redis.url,
                     SITE_CLI_TIMEOUT_MS, why[0] ? ": " : "", why);
        }
    }
    /* What store_on_connect sent (the library's check) ends before the
     * connection does: no "disconnected" in the log of a command that worked. */
    for (int i = 0; i < 20 && redis_pending(cli->redis) > 0; i++)
        h2o_evloop_run(loop, 50);
    redis_destroy(cli->redis);
    h2o_evloop_destroy(loop);
    free(cli->json);
    return cli->failed ? 1 : 0;
}

int site_cli_main(const config_t *cfg, int argc, char **argv)
{
    site_cli_t cli = {0};
    if (argc < 1) return cli_usage();
    const char *user = getenv("USER");
    if (strcmp(argv[0], "import") == 0) {
        int i = 1;
        for (; i < argc && argv[i][0] == '-'; i++) {
            if (strcmp(argv[i], "--draft") == 0)
                cli.draft = 1;
            else if (strcmp(argv[i], "--message") == 0 && i + 1 < argc &&
                     strlen(argv[i + 1]) <= STORE_SITE_MESSAGE_MAX)
                cli.message = argv[++i];
            else
                return cli_usage();
        }
        if (i == argc) return cli_usage();
        cli.files = argv + i;
        cli.n_files = (size_t)(argc - i);
        snprintf(cli.who, sizeof(cli.who), "consentd site import (%.64s)",
                 user != NULL && user[0] ? user : "unknown user");
        /* Checked as the server checks its files: a "tcf" block against
         * the newest Global Vendor List of tcf.gvl_dir. */
        gvl_store_t *gvls = NULL;
        char gerr[SITE_ERR_MAX];
        if (cfg->tcf_gvl_dir[0] != '\0' &&
            (gvls = gvl_store_load(cfg->tcf_gvl_dir, gerr, sizeof(gerr))) == NULL) {
            fprintf(stderr, "consentd site: %s\n", gerr);
            return 1;
        }
        cli.gvl = gvls != NULL ? gvl_store_latest(gvls) : NULL;
        /* Every file checked before Redis is asked anything: one invalid
         * file imports none. */
        int rc = 0;
        for (size_t f = 0; f < cli.n_files && rc == 0; f++)
            rc = cli_read(&cli, cli.files[f]);
        if (rc == 0) {
            cli.begin = cli_import_begin;
            rc = cli_run(cfg, &cli);
        } else {
            free(cli.json);
            rc = 1;
        }
        gvl_store_free(gvls);
        return rc;
    }
    if (strcmp(argv[0], "export") == 0) {
        if (argc < 2 || argc > 3) return cli_usage();
        cli.site = argv[1];
        if (strlen(cli.site) == 0 || strlen(cli.site) > SITE_ID_MAX) return cli_usage();
        if (argc == 3) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(argv[2], &end, 10);
            if (errno != 0 || *end != '\0' || v == 0) return cli_usage();
            cli.version = v;
        }
        cli.begin = cli_export_begin;
        return cli_run(cfg, &cli);
    }
    return cli_usage();
}
