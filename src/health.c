/*
 * health.c - GET /healthz.
 */
#include "health.h"

#include <stdio.h>
#include <string.h>

#include "json.h"

static void health_unavailable(http_request_t *rq, const char *reason)
{
    char body[512], esc[300];
    json_escape(esc, sizeof(esc), reason, strlen(reason));
    int n = snprintf(body, sizeof(body),
                     "{\"status\":\"unavailable\",\"checks\":{\"redis\":{\"ok\":false,"
                     "\"error\":\"%s\"}}}",
                     esc);
    http_header(rq, "retry-after", H2O_STRLIT("1"));
    http_send_json(rq, 503, body, (size_t)n);
}

static void health_on_pong(void *data, const redis_reply_t *reply, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    if (rq != NULL) {
        size_t len;
        const char *s = reply != NULL ? redis_reply_str(reply, &len) : NULL;
        if (err != NULL) {
            rq->worker->metrics.redis_errors++;
            health_unavailable(rq, err->detail);
        } else if (redis_reply_kind(reply) != REDIS_REPLY_KIND_STATUS || len != 4 ||
                   memcmp(s, "PONG", 4) != 0) {
            health_unavailable(rq, s != NULL && redis_reply_kind(reply) == REDIS_REPLY_KIND_ERROR
                                       ? s
                                       : "unexpected reply to PING");
        } else {
            static const char ok[] = "{\"status\":\"ok\",\"checks\":{\"redis\":{\"ok\":true}}}";
            http_send_json(rq, 200, ok, sizeof(ok) - 1);
        }
    }
    http_pending_free(p);
}

void health_get(http_request_t *rq)
{
    redis_t *redis = rq->worker->redis;
    if (!redis_is_connected(redis)) {
        const char *why = redis_last_error(redis);
        char reason[300];
        snprintf(reason, sizeof(reason), "not connected%s%s", why[0] ? ": " : "", why);
        health_unavailable(rq, reason);
        return;
    }
    http_pending_t *p = http_pending_new(rq, 0);
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    static const char *argv[] = {"PING"};
    static const size_t argvlen[] = {4};
    int rc = redis_command(redis, NULL, 0, health_on_pong, p, 1, argv, argvlen);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        health_unavailable(rq,
                           rc == REDIS_E_BUSY ? "too many commands in flight" : "not connected");
    }
}
