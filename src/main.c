/*
 * main.c - start-up: flags, configuration, sites, signals, workers.
 *
 * The main thread serves no request: once the workers run, it waits for
 * signals. SIGHUP reloads the sites (blocking file I/O and banner builds
 * happen here, never on a worker's loop); SIGTERM and SIGINT stop the
 * server gracefully.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <h2o/version.h>

#include "banner_build.h"
#include "banner_share.h"
#include "config.h"
#include "gvl.h"
#include "keys.h"
#include "log.h"
#include "server.h"
#include "site.h"
#include "site_cli.h"
#include "site_watch.h"
#include "snapshot.h"
#include "store.h"

#define CONSENTD_VERSION "0.1.0"

static void usage(FILE *out)
{
    fprintf(out, "usage: consentd [--config FILE] [--threads N] [--check-config]\n"
                 "       consentd keygen [--config FILE | --keys DIR] [--activate]\n"
                 "       consentd site import [--config FILE] [--draft] [--message TEXT] FILE...\n"
                 "       consentd site export [--config FILE] SITE [VERSION]\n"
                 "       consentd --version\n"
                 "\n"
                 "  --config FILE    server configuration (default: $CONSENTD_CONFIG, else\n"
                 "                   built-in defaults); environment PORT, REDIS_URL and\n"
                 "                   CONSENTD_THREADS override it\n"
                 "  --threads N      worker threads (default: the number of cores)\n"
                 "  --check-config   validate the configuration and the sites, then exit\n"
                 "\n"
                 "  keygen           create an Ed25519 signing key in the key directory\n"
                 "                   (keys_dir of the configuration, or --keys DIR); the\n"
                 "                   first key is active at once, later ones with --activate\n"
                 "                   (the previous key stays published as long as a proof\n"
                 "                   it signed may be held: twice the longest log retention)\n"
                 "  site import      each FILE (<id>.json, checked as a site file) becomes a new\n"
                 "                   version of site <id> in Redis, published (--draft: its\n"
                 "                   draft); an unchanged file makes no new version\n"
                 "  site export      the published version (or VERSION) of SITE, as JSON\n");
}

/* What the sites in Redis add to the snapshot (site_watch.h): the published
 * documents last applied, kept for SIGHUP's reload; the snapshot in service.
 * Under `mutex`: the watcher's thread and this one (SIGHUP) both build. */
static struct {
    pthread_mutex_t mutex;
    const config_t *cfg;
    snapshot_t *current; /* NULL until the server runs */
    site_doc_t *docs;    /* deep copies */
    size_t n_docs;
    uint64_t docs_set;     /* how many times docs were set: a change while starting */
    banner_share_t *share; /* compressed banners shared through Redis; lives until exit */
} main_sites = {.mutex = PTHREAD_MUTEX_INITIALIZER};

/* Load the sites (the directory's, then Redis' published ones) and keys and
 * build what derives from them, after previous (the snapshot in service,
 * NULL at start-up). NULL with err. Under main_sites.mutex. */
static snapshot_t *main_load_snapshot(const config_t *cfg, const snapshot_t *previous, char *err,
                                      size_t errlen)
{
    /* The IAB Global Vendor List first (issue 24): TCF sites are checked
     * against its newest version. */
    gvl_store_t *gvl = NULL;
    if (cfg->tcf_gvl_dir[0] != '\0' &&
        (gvl = gvl_store_load(cfg->tcf_gvl_dir, err, errlen)) == NULL)
        return NULL;
    size_t shadowed = 0;
    /* A site whose document is the one previous parsed is shared, not parsed
     * again: a publish parses the published site only (issue 22, item 4). */
    site_set_t *sites = site_set_load_after(
        cfg->sites_dir, gvl != NULL ? gvl_store_latest(gvl) : NULL, main_sites.docs,
        main_sites.n_docs, previous != NULL ? previous->sites : NULL, &shadowed, err, errlen);
    if (sites == NULL) {
        gvl_store_free(gvl);
        return NULL;
    }
    if (shadowed > 0)
        log_msg(LOG_INFO,
                "sites: %zu site(s) of %s are published in Redis too: Redis' versions are served",
                shadowed, cfg->sites_dir);
    /* Every site signs with these keys: a retired one stays published as
     * long as any site may hold a proof it signed. */
    uint32_t hold_days = 0;
    for (size_t i = 0; i < site_set_count(sites); i++) {
        uint32_t d = store_proof_hold_days(site_set_at(sites, i));
        if (d > hold_days) hold_days = d;
    }
    key_set_t *keys = key_set_load(cfg->keys_dir, time(NULL), hold_days, err, errlen);
    if (keys == NULL) {
        site_set_release(sites);
        gvl_store_free(gvl);
        return NULL;
    }
    return snapshot_create_shared(sites, keys, gvl, previous, main_sites.share, err, errlen);
}

/* Which Global Vendor List is in service, for the operator (and the tests). */
static void main_log_gvl(const snapshot_t *snap)
{
    if (snap->gvl == NULL) return;
    const gvl_t *g = gvl_store_latest(snap->gvl);
    log_msg(LOG_INFO,
            "IAB Global Vendor List version %u (%s, %zu vendors, %zu translation(s)) from %s; "
            "%zu version(s) archived",
            g->vendor_list_version, g->last_updated, g->n_vendors,
            gvl_store_translation_count(snap->gvl), gvl_store_dir(snap->gvl),
            gvl_store_version_count(snap->gvl));
}

static void main_docs_free(site_doc_t *docs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)docs[i].id);
        free((char *)docs[i].json);
    }
    free(docs);
}

/* The watcher's callback (its thread): keep the documents, and once the
 * server runs, build and swap a snapshot with them. A snapshot that does not
 * build (a document this node refuses) keeps the previous one. */
static int main_sites_apply(void *data, const site_doc_t *docs, size_t n)
{
    (void)data;
    site_doc_t *copy = calloc(n ? n : 1, sizeof(*copy));
    for (size_t i = 0; copy != NULL && i < n; i++) {
        copy[i] = docs[i];
        copy[i].id = strdup(docs[i].id);
        char *json = malloc(docs[i].len + 1);
        if (json != NULL) memcpy(json, docs[i].json, docs[i].len + 1);
        copy[i].json = json;
        if (copy[i].id == NULL || json == NULL) {
            main_docs_free(copy, i + 1);
            copy = NULL;
        }
    }
    if (copy == NULL) return -1;
    pthread_mutex_lock(&main_sites.mutex);
    site_doc_t *old = main_sites.docs;
    size_t n_old = main_sites.n_docs;
    main_sites.docs = copy;
    main_sites.n_docs = n;
    main_sites.docs_set++;
    int rc = 0;
    if (main_sites.current != NULL) {
        char err[CONFIG_ERR_MAX + SITE_ERR_MAX + KEYS_ERR_MAX];
        snapshot_t *next = main_load_snapshot(main_sites.cfg, main_sites.current, err, sizeof(err));
        if (next == NULL) {
            log_msg(LOG_ERROR, "sites: a published site is refused, keeping the previous sites: %s",
                    err);
            main_sites.docs = old;
            main_sites.n_docs = n_old;
            old = copy;
            n_old = n;
            rc = -1;
        } else {
            snapshot_release(main_sites.current);
            main_sites.current = snapshot_retain(next);
            if (server_publish(next) != 0)
                log_msg(LOG_WARN, "sites: some workers have not switched yet (busy loop?)");
            size_t known = 0; /* created and not yet published, or deleted */
            for (size_t i = 0; i < n; i++)
                known += docs[i].not_served != 0;
            log_msg(LOG_INFO,
                    "sites: serving %zu published site(s) from Redis (banners rebuilt: %zu of "
                    "%zu, sites parsed: %zu); %zu more known, not served",
                    n - known, banner_set_rebuilt(next->banners), site_set_count(next->sites),
                    site_set_parsed(next->sites), known);
        }
    }
    pthread_mutex_unlock(&main_sites.mutex);
    main_docs_free(old, n_old);
    return rc;
}

static int main_keygen(int argc, char **argv)
{
    static config_t cfg;
    const char *config_path = getenv("CONSENTD_CONFIG"), *dir = NULL;
    int activate = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--activate") == 0)
            activate = 1;
        else if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[++i];
        else {
            usage(stderr);
            return 2;
        }
    }
    char err[CONFIG_ERR_MAX + KEYS_ERR_MAX], kid[KEYS_KID_MAX + 1];
    if (dir == NULL) {
        if (config_load(&cfg, config_path != NULL && config_path[0] ? config_path : NULL, err,
                        sizeof(err)) != 0) {
            fprintf(stderr, "consentd: invalid configuration: %s\n", err);
            return 1;
        }
        dir = cfg.keys_dir;
    }
    if (keys_generate(dir, activate, time(NULL), kid, err, sizeof(err)) != 0) {
        fprintf(stderr, "consentd keygen: %s\n", err);
        return 1;
    }
    printf("consentd keygen: created key %s in %s\n", kid, dir);
    return 0;
}

/* consentd site import|export ...: the config's --config taken out of the
 * arguments, the rest to site_cli_main. */
static int main_site(int argc, char **argv)
{
    static config_t cfg;
    const char *config_path = getenv("CONSENTD_CONFIG");
    char **rest = calloc((size_t)argc + 1, sizeof(*rest));
    int n = 0;
    if (rest == NULL) return 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[++i];
        else
            rest[n++] = argv[i];
    }
    char err[CONFIG_ERR_MAX];
    if (config_load(&cfg, config_path != NULL && config_path[0] ? config_path : NULL, err,
                    sizeof(err)) != 0) {
        fprintf(stderr, "consentd: invalid configuration: %s\n", err);
        free(rest);
        return 1;
    }
    log_setup(cfg.log_json, (log_level_t)cfg.log_level);
    int rc = site_cli_main(&cfg, n, rest);
    free(rest);
    return rc;
}

int main(int argc, char **argv)
{
    static config_t cfg;
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"threads", required_argument, NULL, 't'},
        {"check-config", no_argument, NULL, 'k'}, {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    if (argc > 1 && strcmp(argv[1], "keygen") == 0) return main_keygen(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "site") == 0) return main_site(argc - 1, argv + 1);
    const char *config_path = getenv("CONSENTD_CONFIG");
    long threads = -1;
    int check_only = 0, opt;
    while ((opt = getopt_long(argc, argv, "c:t:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 't': {
            char *end;
            errno = 0;
            threads = strtol(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || threads < 1 || threads > CONFIG_THREADS_MAX) {
                fprintf(stderr, "consentd: --threads: must be an integer from 1 to %d\n",
                        CONFIG_THREADS_MAX);
                return 2;
            }
            break;
        }
        case 'k':
            check_only = 1;
            break;
        case 'v':
            printf("consentd %s (h2o %s)\n", CONSENTD_VERSION, H2O_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    char err[CONFIG_ERR_MAX + SITE_ERR_MAX + KEYS_ERR_MAX];
    if (config_load(&cfg, config_path != NULL && config_path[0] ? config_path : NULL, err,
                    sizeof(err)) != 0) {
        fprintf(stderr, "consentd: invalid configuration: %s\n", err);
        return 1;
    }
    if (threads > 0) cfg.threads = (unsigned)threads;
    if (cfg.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        cfg.threads = n > 0 ? (unsigned)(n < CONFIG_THREADS_MAX ? n : CONFIG_THREADS_MAX) : 1;
    }
    log_setup(cfg.log_json, (log_level_t)cfg.log_level);

    /* Signals are taken by this thread only, with sigwait(); workers and the
     * sites' watcher (which inherit this mask) never see them. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The sites published in Redis, followed from now on (not for a check
     * of the files alone). Redis down: the directory's sites meanwhile. */
    site_watch_t *watch = NULL;
    main_sites.cfg = &cfg;
    /* Compressed banners built once for the fleet (issue 22, item 4): its
     * connection opens meanwhile; until it is up, each banner is compressed
     * here, as before. */
    if (!check_only) main_sites.share = banner_share_start(&cfg);
    if (!check_only && (watch = site_watch_start(&cfg, main_sites_apply, NULL)) != NULL &&
        !site_watch_wait_first(watch, cfg.redis.connect_timeout_ms + cfg.redis.command_timeout_ms))
        log_msg(LOG_WARN,
                "sites: Redis did not answer in time: serving the sites of %s until it "
                "does",
                cfg.sites_dir);
    pthread_mutex_lock(&main_sites.mutex);
    snapshot_t *snap = main_load_snapshot(&cfg, NULL, err, sizeof(err));
    uint64_t docs_built = main_sites.docs_set;
    pthread_mutex_unlock(&main_sites.mutex);
    if (snap == NULL) {
        fprintf(stderr, "consentd: cannot start: %s\n", err);
        site_watch_stop(watch);
        main_docs_free(main_sites.docs, main_sites.n_docs);
        return 1;
    }
    size_t site_count = site_set_count(snap->sites);
    main_log_gvl(snap);
    if (check_only) {
        printf("consentd: configuration OK (%s), %zu site(s) in %s\n",
               cfg.path[0] ? cfg.path : "built-in defaults", site_count, cfg.sites_dir);
        snapshot_release(snap);
        return 0;
    }

    /* The snapshot in service, kept for the next reload to build after. */
    snapshot_t *current = snapshot_retain(snap);
    if (server_init(&cfg, snap, err, sizeof(err)) != 0) {
        fprintf(stderr, "consentd: %s\n", err);
        site_watch_stop(watch);
        snapshot_release(current);
        return 1;
    }
    if (server_start() != 0) return 1;
    pthread_mutex_lock(&main_sites.mutex);
    main_sites.current = current;
    int missed = main_sites.docs_set != docs_built; /* published while starting */
    pthread_mutex_unlock(&main_sites.mutex);
    if (missed) raise(SIGHUP); /* taken below, by sigwait: a reload with them */
    log_msg(LOG_INFO, "consentd %s listening on http://%s:%u (%u threads, %s, %zu site(s))",
            CONSENTD_VERSION, cfg.listen_address, cfg.port, cfg.threads,
            cfg.http2 ? "HTTP/1.1 and h2c" : "HTTP/1.1", site_count);

    for (;;) {
        int sig;
        if (sigwait(&signals, &sig) != 0) continue;
        if (sig == SIGHUP) {
            pthread_mutex_lock(&main_sites.mutex);
            current = main_sites.current;
            snapshot_t *next = main_load_snapshot(&cfg, current, err, sizeof(err));
            if (next == NULL) {
                pthread_mutex_unlock(&main_sites.mutex);
                log_msg(LOG_ERROR, "reload failed, keeping the previous sites: %s", err);
                continue;
            }
            snapshot_release(current);
            main_sites.current = current = snapshot_retain(next);
            size_t n = site_set_count(next->sites), rebuilt = banner_set_rebuilt(next->banners);
            if (server_publish(next) != 0)
                log_msg(LOG_WARN, "reload: some workers have not switched yet (busy loop?)");
            log_msg(LOG_INFO,
                    "reloaded: %zu site(s) from %s and the keys in %s (banners rebuilt: %zu, "
                    "sites parsed: %zu)",
                    n, cfg.sites_dir, cfg.keys_dir, rebuilt, site_set_parsed(next->sites));
            main_log_gvl(next);
            pthread_mutex_unlock(&main_sites.mutex);
            continue;
        }
        log_msg(LOG_INFO, "%s received: stopping (deadline %u ms)",
                sig == SIGTERM ? "SIGTERM" : "SIGINT", cfg.shutdown_timeout_ms);
        site_watch_stop(watch); /* no swap during the stop */
        banner_share_stop(main_sites.share);
        int cut_short = server_stop();
        snapshot_release(main_sites.current);
        main_docs_free(main_sites.docs, main_sites.n_docs);
        log_msg(cut_short ? LOG_WARN : LOG_INFO, "stopped%s",
                cut_short ? " (deadline reached, some requests were cut short)" : "");
        return 0;
    }
}
