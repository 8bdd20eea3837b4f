/*
 * prometheus.c - GET /metrics, answered by any worker: the sum of every
 * worker's metrics, never cached.
 */
#include "prometheus.h"

#include <stdlib.h>

#include "metrics.h"

void prometheus_get(http_request_t *rq)
{
    size_t len;
    char *text = metrics_render(&len);
    if (text == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    http_header(rq, "cache-control", H2O_STRLIT("no-store"));
    http_send_copy(rq, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}
