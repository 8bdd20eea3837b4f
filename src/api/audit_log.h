/*
 * audit_log.h - the tamper-evident consent log, for auditors:
 *
 *   GET /v1/sites/{site}/log/checkpoints?cursor=&limit=
 *       public (publishing them is the point): the site's signed
 *       checkpoints, oldest first, JSON, paged; cacheable briefly
 *   GET /v1/sites/{site}/log?cursor=&limit=
 *       server-only (API key): the raw log with its chain values, JSON
 *       lines, paged like the consents export (x-next-cursor)
 *   GET /v1/sites/{site}/log/inclusion?(partition=|visitor=)&id=
 *       server-only (API key): the inclusion proof of one log entry (the
 *       log_id of an access request's history entry) under the first
 *       checkpoint that covers it
 *
 * What they hold and how to check them: docs/api.md, checkpoint.h,
 * logchain.h; ops/verify-log.sh verifies both without consentd's code.
 */
#ifndef CONSENTD_AUDIT_LOG_H
#define CONSENTD_AUDIT_LOG_H

#include "http.h"

#define AUDIT_LOG_DEFAULT_LIMIT 500
#define AUDIT_LOG_CHECKPOINTS_DEFAULT_LIMIT 100
/* The public list changes once per checkpoint interval at most. */
#define AUDIT_LOG_CHECKPOINTS_CACHE "public, max-age=10"

void audit_log_checkpoints(http_request_t *rq);
void audit_log_export(http_request_t *rq);
void audit_log_inclusion(http_request_t *rq);

#endif
