/*
 * visitor.h - the pseudonymous visitor id: its one definition, its one
 * validator, and its one hash.
 *
 * A visitor id is 8 to VISITOR_ID_MAX characters of [A-Za-z0-9_-]; the ids
 * consentd draws are 22 (128 random bits in base64url). The routes that
 * name one, the request bodies that carry one, the records in Redis and
 * the counters all take this rule, so that an id accepted anywhere fits
 * everywhere. Pure functions, safe from any thread.
 */
#ifndef CONSENTD_VISITOR_H
#define CONSENTD_VISITOR_H

#include <stddef.h>
#include <stdint.h>

#define VISITOR_ID_MIN 8
#define VISITOR_ID_MAX 64 /* characters; a buffer for one is VISITOR_ID_MAX + 1 */

/* 1 when s[0..len) is a visitor id by the rule above. */
int visitor_id_valid(const char *s, size_t len);

/* FNV-1a (32 bit) of the id's bytes. Part of the key layout (the partition
 * of a visitor's keys, store.h) and of the A/B variant a visitor is shown
 * (site.h, and web/banner/ computes the same in the browser): never change
 * it. */
uint32_t visitor_hash32(const char *s, size_t len);

#endif
