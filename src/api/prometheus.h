/*
 * prometheus.h - GET /metrics: the Prometheus text exposition of every
 * worker's metrics (rendered by metrics.h).
 */
#ifndef CONSENTD_PROMETHEUS_H
#define CONSENTD_PROMETHEUS_H

#include "http.h"

void prometheus_get(http_request_t *rq);

#endif
