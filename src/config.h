/*
 * config.h - the server configuration file and its environment overrides.
 *
 * The file is JSON (see ops/consentd.json for every field with its default).
 * Relative paths in it are resolved against the directory of the file.
 * Environment variables override the file: PORT, REDIS_URL, CONSENTD_THREADS.
 * (CONSENTD_CONFIG names the file itself; main.c reads it.)
 *
 * A config_t is filled once at start-up and then read-only, shared by all
 * threads. Sites are not here: see site.h.
 */
#ifndef CONSENTD_CONFIG_H
#define CONSENTD_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_ERR_MAX 512
#define CONFIG_REDIS_SEEDS_MAX 16 /* seed nodes in a redis+cluster:// URL */
#define CONFIG_WAIT_REPLICAS_MAX 16
#define CONFIG_CHECKPOINT_SECONDS_MAX 86400
#define CONFIG_TCF_LANGUAGES_MAX 48
#define CONFIG_TCF_GVL_URL "https://vendor-list.consensu.org/v3/vendor-list.json"
#define CONFIG_TCF_TRANSLATIONS_URL "https://vendor-list.consensu.org/v3/purposes-{lang}.json"

typedef struct config_redis_node {
    char host[64];  /* numeric address after resolution */
    char name[256]; /* as given (a name is looked up again while running) */
    uint16_t port;
} config_redis_node_t;

typedef struct config_redis {
    char url[512];       /* as given, password masked when logged */
    char host[256];      /* numeric address after resolution, or "" for a unix socket;
                            with a cluster, the first seed's */
    char host_name[256]; /* the host as given (resolve.h keeps its address up to date) */
    uint16_t port;       /* default 6379 */
    int cluster;         /* redis+cluster://: a Redis Cluster, reached through the seeds */
    size_t n_seeds;
    config_redis_node_t seeds[CONFIG_REDIS_SEEDS_MAX];
    char unix_path[256];         /* redis+unix:///path or unix:///path */
    char password[256];          /* "" when none; redis://:pw@host or redis://user:pw@host */
    char username[128];          /* "" when none (Redis 6 ACL user) */
    int db;                      /* /N in the URL, default 0 */
    uint32_t command_timeout_ms; /* each command's deadline; default 1000 */
    uint32_t connect_timeout_ms; /* default 1000 */
    uint32_t reconnect_min_ms;   /* first backoff step; default 50 */
    uint32_t reconnect_max_ms;   /* backoff cap; default 2000 */
    uint32_t max_pending;        /* commands in flight per worker; default 10000 */
    /* Durable writes: a consent is acknowledged only once wait_replicas
     * replicas have it (WAIT, pipelined after the write); 0 = off (default). */
    uint32_t wait_replicas;
    uint32_t wait_timeout_ms; /* WAIT's own timeout; default 200, < command_timeout_ms */
    /* Cluster only, set for redis.read_url: commands go to a replica of each
     * slot's master (READONLY on every connection), never to a master; a
     * -MOVED or -LOADING there fails the command (the caller reads from the
     * masters instead). Never set from a file field. */
    int replica_reads;
} config_redis_t;

/* Worker threads: at most this many, from any source (file, environment,
 * --threads, the core count). metrics.c holds one slot per worker and
 * asserts it has as many. */
#define CONFIG_THREADS_MAX 256

typedef struct config {
    char path[PATH_MAX];     /* the file read, "" for built-in defaults */
    char listen_address[64]; /* default "0.0.0.0" */
    uint16_t port;           /* default 8080; env PORT */
    unsigned threads;        /* 0 = number of cores; env CONSENTD_THREADS, flag --threads */
    config_redis_t redis;    /* env REDIS_URL */
    /* redis.read_url: a replica of redis for the stats and the exports
     * (docs/scaling.md), its timeouts redis's; url "" when none. */
    config_redis_t redis_read;
    char sites_dir[PATH_MAX]; /* default "sites" beside the file */
    char keys_dir[PATH_MAX];  /* default "keys" beside the file */
    char public_url[256];  /* how browsers reach us, for printed URLs; default http://localhost:PORT
                            */
    size_t max_body_bytes; /* h2o's hard cap on any request body; default 65536 */
    uint32_t max_connections;            /* per process; default 10000 */
    uint32_t max_connections_per_client; /* per peer address (IPv6 /64); 0 = off; default 1000 */
    uint32_t request_timeout_ms;         /* idle/header timeout of a connection; default 10000 */
    uint32_t shutdown_timeout_ms;        /* graceful shutdown deadline; default 10000 */
    /* "metrics": {"listen": {"address", "port"}}: the operator listener
     * (plain HTTP: /metrics, and /healthz with the reason in words); /metrics
     * is then not served on the public listener. {"listen": null} (the
     * built-in default) = none: /metrics on the public listener. */
    char metrics_address[64];     /* default "127.0.0.1" when "listen" is given */
    uint16_t metrics_port;        /* 0 = no operator listener */
    int http2;                    /* default 0: see README, h2o 2.2.5 lacks rapid-reset fixes */
    char tls_cert_file[PATH_MAX]; /* "tls": {"cert_file", "key_file"}: PEM; "" = plain HTTP */
    char tls_key_file[PATH_MAX];
    /* "rate_limit": per client address and worker thread, a token bucket of
     * <per_second> tokens a second holding at most <burst>; 0 per second = off. */
    uint32_t rl_consents_per_second; /* consent writes and withdrawals; default 10 */
    uint32_t rl_consents_burst;      /* default 50 */
    uint32_t rl_events_per_second;   /* banner events; default 20 */
    uint32_t rl_events_burst;        /* default 100 */
    char rl_client_header[64];       /* "" = the peer address; "x-forwarded-for": its last hop */
    int rl_exempt_loopback;          /* default 0; 1: a loopback peer (the demo tools, a bench)
                                        is not limited. Off by default: behind a proxy on this
                                        host that forwards no address, every client is a
                                        loopback peer and would escape every limit */
    int log_json;                    /* "log": {"format": "text"|"json"} */
    int log_level;                   /* log_level_t */
    int access_log;                  /* default 1 */
    int log_client_ip;               /* default 0: no raw IP in logs unless turned on */
    /* "rate_limit" too: per visitor id, whoever writes (banner or API key),
     * counted in Redis inside the write's FCALL (exact across nodes and
     * workers), in fixed windows of a minute and of a day from the visitor's
     * first write in each; 0 = off. Over either: 429 too_many_writes,
     * nothing written. */
    uint32_t rl_visitor_writes_per_minute; /* default 10 */
    uint32_t rl_visitor_writes_per_day;    /* default 100 */
    /* "erasure": {"disk_within_seconds"}: after an erasure, its bytes leave
     * the Redis AOF and dump.rdb within this bound (erasure.h): consentd asks
     * the master to rewrite them. */
    uint32_t erasure_disk_within_s; /* default CONFIG_ERASURE_DISK_WITHIN_DEFAULT_S */
    /* "stats": {"cache_seconds", "cache_closed_seconds"}: how long a worker
     * thread answers an identical stats query from memory, for a range that
     * ends today or yesterday (counts may still arrive: default 5) and for
     * one that ended before (default 300); 0 = not at all. */
    uint32_t stats_cache_ms;
    uint32_t stats_cache_closed_ms;
    /* "log": {"checkpoint_seconds"}: how often the consent log's hash chains
     * are extended and a signed checkpoint made (checkpoint.h); 0 = never
     * (this node takes no part). Default 60. */
    uint32_t log_checkpoint_seconds;
    /* "tcf" (issue 24, item 2): the IAB TCF Global Vendor List store.
     * gvl_dir "" (the default, or null) = no TCF: a site with a "tcf" block
     * does not load. gvl_url and translations_url are read by
     * ops/gvl-update.sh only (consentd never downloads); translations_url
     * holds "{lang}", replaced by each of translations. */
    char tcf_gvl_dir[PATH_MAX];
    char tcf_gvl_url[512];          /* default CONFIG_TCF_GVL_URL */
    char tcf_translations_url[512]; /* default CONFIG_TCF_TRANSLATIONS_URL */
    char tcf_translations[CONFIG_TCF_LANGUAGES_MAX][8];
    size_t n_tcf_translations; /* default: the EU languages the IAB translates */
    /* "admin": {"operator_key_sha256": "<64 hex>"}: the SHA-256 of the
     * operator key, which manages the keys of every site (apikey.h,
     * APIKEY_OPERATOR_SCOPES); absent or null = no operator key. */
    uint8_t operator_key_sha256[32];
    int operator_key_set;
} config_t;

#define CONFIG_ERASURE_DISK_WITHIN_DEFAULT_S (4 * 3600) /* 4 hours */
#define CONFIG_ERASURE_DISK_WITHIN_MAX_S (7 * 86400)

/* Fill cfg with built-in defaults, read the file at path (NULL: defaults only),
 * then apply the environment overrides. Returns 0, or -1 with a message in
 * err that names the file, the field and the reason, e.g.
 * "ops/consentd.json: redis.command_timeout_ms: must be an integer from 1 to 60000". */
int config_load(config_t *cfg, const char *path, char *err, size_t errlen);

/* Parse redis://[[user]:password@]host[:port][/db], rediss is refused,
 * redis+cluster://[[user]:password@]host[:port][,host[:port]...] (seed nodes
 * of a Redis Cluster), unix:///path[?db=N]. Resolves a host name to a numeric address once, here
 * (never on the event loop). Fields other than the URL parts are untouched. */
int config_redis_url_parse(config_redis_t *out, const char *url, char *err, size_t errlen);

#endif
