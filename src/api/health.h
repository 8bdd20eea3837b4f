/*
 * health.h - GET /healthz: 200 when this worker's Redis connection answers a
 * PING, 503 with the reason when it does not (never slower than one Redis
 * round trip or the command timeout).
 */
#ifndef CONSENTD_HEALTH_H
#define CONSENTD_HEALTH_H

#include "http.h"

void health_get(http_request_t *rq);

#endif
