/*
 * scans.h - the summaries of the consent scanner's runs (ops/scan.mjs,
 * docs/scanner.md), kept by consentd so that the dashboard can say when a
 * site was last scanned and with what verdict:
 *
 *   POST /v1/sites/{site}/scans          API key: store a summary, 201 with it
 *   GET  /v1/sites/{site}/scans/latest   API key: the newest one (404: none)
 *
 * The body is strict (docs/api.md): an unknown field, a wrong type, a value
 * out of its bounds is a 400 and stores nothing; bodies over
 * SCANS_MAX_BODY are a 413 (router). consentd stores the summary as it
 * writes it back (the fields in a fixed order, plus received_at), the
 * newest STORE_SCANS_KEEP per site (store.h). One Redis call per request.
 *
 * scans_body_check is pure, for the tests; threads: the worker's.
 */
#ifndef CONSENTD_SCANS_H
#define CONSENTD_SCANS_H

#include <stddef.h>

#include "http.h"

#define SCANS_MAX_BODY 16384
#define SCANS_FINDINGS_MAX 20   /* finding lines kept */
#define SCANS_FINDING_MAX 300   /* bytes of one */
#define SCANS_SCANNER_MAX 64    /* bytes of the scanner's name and version */
#define SCANS_COUNT_MAX 1000000 /* each count, and pages */

/* body[0..len): 0 and the stored JSON in *out (malloc'd, *out_len bytes;
 * received_ms as received_at), or -1 with a code and a message (cap bytes)
 * naming the field. */
int scans_body_check(const char *body, size_t len, int64_t received_ms, char **out, size_t *out_len,
                     const char **code, char *message, size_t cap);

void scans_post(http_request_t *rq);
void scans_latest(http_request_t *rq);

#endif
