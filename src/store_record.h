/*
 * store_record.h - one consent record as stored in Redis: its msgpack
 * encoding and decoding. Pure functions, no I/O, any thread.
 *
 * A RECORD is a msgpack map (fixmap: at most 15 keys) with short string
 * keys, so that it explains itself years later. This is part of the
 * on-disk format (the state, history and log of store.c hold these bytes;
 * src/store.lua reads the `log` key and appends it): changing it needs a
 * migration.
 *
 *   id   str   consent id            pv   str   policy version
 *   vis  str   visitor id            th   str   hash of the texts shown (hex)
 *   iat  int   issued at, Unix ms    src  str   banner | form | call_center | api
 *   exp  int   expires at, Unix ms   lang str   language shown
 *   act  str   consent | withdrawal  var  str   banner variant (absent when none)
 *   bv   str   banner version the visitor was shown (64 hex; absent when none:
 *              server-side sources, banners from before versions)
 *   how  map   how the choice was given (GDPR art. 7(1)); absent in records
 *              from before issue 19, and when neither key below applies:
 *                ctl  str   the control used: accept_all | reject_all |
 *                           custom | dismiss | withdraw | api (absent when
 *                           a banner from before issue 19 did not say)
 *                gpc  bool  true: a Global Privacy Control signal came with
 *                           the choice (absent when none)
 *                tcf  str   the IAB TCF TC string encoded for the choice
 *                           (issue 24, item 4; absent but on TCF sites,
 *                           and in records from before it: decoders that
 *                           predate it skip it, as every unknown `how` key)
 *                sv   int   the site's published version in Redis that
 *                           produced the record and its proof (issue 22,
 *                           item 5; absent for a site from a file, and in
 *                           records from before it)
 *                sd   str   SHA-256 (64 hex) of that site version's
 *                           canonical document (site.h doc_sha256; absent
 *                           before issue 22, item 5)
 *   dec  map   purpose id (str) -> granted (bool), at most SITE_MAX_PURPOSES
 *   jws  str   the signed proof (compact JWS) exactly as issued
 *   log  str   history entries only: the id ("ms-seq") of the consent log
 *              entry written with it
 *
 * Records written before issue 19 hold `act` "withdraw" for a withdrawal:
 * the decoder reads it as "withdrawal" (STORE_ACTION_WITHDRAWAL), so old and
 * new withdrawals show and count alike.
 *
 * A record is a fixmap of at most 14 keys, which every optional key but
 * `log` reaches: src/store.lua adds `log` to a history entry by bumping the
 * fixmap count (15 at most). That is why ctl and gpc share one key, `how`:
 * a new top-level key needs a store.lua version that re-encodes.
 *
 * The encoder writes the keys in the order above (id, vis, iat, exp, pv, th,
 * src, lang, var, bv, act, how, dec, jws, log), ints in their smallest msgpack
 * encoding (never negative), strings as msgpack str, booleans as true/false.
 * Every string is at most STORE_RECORD_STRING_MAX bytes, a purpose id at
 * most STORE_RECORD_PURPOSE_ID_MAX, purposes distinct.
 *
 * The decoder skips keys it does not know (a later version may add some; at
 * most STORE_RECORD_KEYS_MAX keys in all, unknown values nested at most
 * STORE_RECORD_SKIP_DEPTH_MAX deep), accepts `var` nil as absent, and
 * rejects everything else that is not exactly this shape: a required key
 * missing (all but var, bv, how, log), a key twice (in how too), a string with a NUL byte or
 * over its bound, a negative or non-integer time, a purpose twice, trailing
 * bytes, truncated input. It reads untrusted bytes (they come from Redis):
 * every count and length is checked against the bytes left before use.
 */
#ifndef CONSENTD_STORE_RECORD_H
#define CONSENTD_STORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "site.h"

#define STORE_RECORD_STRING_MAX 8192   /* bytes in any string of a record */
#define STORE_RECORD_PURPOSE_ID_MAX 64 /* bytes in a purpose id */
#define STORE_RECORD_KEYS_MAX 64       /* keys in a record map, unknown ones included */
#define STORE_RECORD_SKIP_DEPTH_MAX 8  /* nesting of an unknown value skipped */

/* The two actions (act). */
#define STORE_ACTION_CONSENT "consent"
#define STORE_ACTION_WITHDRAWAL "withdrawal"

typedef struct store_record {
    const char *consent_id; /* 22 chars base64url (128 random bits) */
    const char *visitor;    /* 22 chars base64url, or as given by the site */
    int64_t issued_at_ms;
    int64_t expires_at_ms;
    const char *policy_version;
    const char *texts_hash; /* 64 hex */
    const char *source;     /* banner | form | call_center | api */
    const char *lang;
    const char *variant;        /* NULL when none */
    const char *banner_version; /* 64 hex (banner.h), NULL when none */
    const char *action;         /* STORE_ACTION_CONSENT or STORE_ACTION_WITHDRAWAL */
    const char *control;        /* accept_all | reject_all | custom | dismiss | withdraw | api;
                                   NULL when not recorded (older records and banners) */
    int gpc;                    /* 1: a Global Privacy Control signal came with it */
    const char *tc_string;      /* IAB TCF TC string (how.tcf), NULL when none */
    uint64_t site_version;      /* how.sv: the published site version, 0 when none */
    const char *site_sha256;    /* how.sd: 64 hex, NULL when none (older records) */
    const char *proof;          /* the compact JWS, exactly as issued */
    size_t n_decisions;
    const char *purposes[SITE_MAX_PURPOSES];
    unsigned char granted[SITE_MAX_PURPOSES];
    const char *log_id; /* reads only: the consent log entry id ("ms-seq") */
    /* Reads of the consent log only: 1 for a sealed entry whose data key is
     * gone (its visitor was erased, store.c): then only log_id and
     * issued_at_ms (when Redis stored it, from the id) are set. */
    int erased;
} store_record_t;

/* The msgpack encoding of rec, with its `log` key when rec->log_id is set.
 * Returns a malloc'd buffer (caller frees) and its length in *len, or NULL
 * when rec breaks a bound above (never write what could not be read). */
char *store_record_encode(const store_record_t *rec, size_t *len);
/* Parse buf (untrusted) into rec, with its strings copied, NUL-terminated,
 * into the caller's buffer `strings` of `cap` bytes: len + 1 bytes always
 * suffice. Returns 0, or -1 (rec zeroed) on malformed or truncated input or
 * when the strings do not fit. */
int store_record_decode(const char *buf, size_t len, store_record_t *rec, char *strings,
                        size_t cap);

/* Where decoded strings go: a caller's buffer, each string NUL-terminated. */
typedef struct store_record_strings {
    char *p;
    size_t left;
} store_record_strings_t;
/* Copy s (len bytes: at most max, no NUL byte) into out; the copy, or NULL
 * when it breaks a bound or does not fit. */
const char *store_record_strings_copy(store_record_strings_t *out, const char *s, size_t len,
                                      size_t max);
/* s is a string of at most max bytes (not NULL). */
int store_record_string_ok(const char *s, size_t max);

#endif
