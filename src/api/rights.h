/*
 * rights.h - data-subject rights and audit, for the site's server (API key):
 *
 *   GET    /v1/sites/{site}/visitors/{visitor}  access: everything held, history included
 *   DELETE /v1/sites/{site}/visitors/{visitor}  erasure: all of it, log entries included
 *   GET    /v1/sites/{site}/consents?from=&to=&limit=&cursor=
 *                                               audit export, JSON lines, paged
 */
#ifndef CONSENTD_RIGHTS_H
#define CONSENTD_RIGHTS_H

#include "http.h"

#define RIGHTS_EXPORT_DEFAULT_LIMIT 500

void rights_access(http_request_t *rq);
void rights_erase(http_request_t *rq);
void rights_export(http_request_t *rq);

#endif
