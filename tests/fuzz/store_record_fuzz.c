/*
 * store_record_fuzz.c - msgpack records read back from Redis
 * (store_record_decode), and the JSON answer built from them
 * (consent_record_json), which every read route sends.
 *
 * Invariants: decoding never reads past the input nor writes past the
 * strings buffer; a decoded record has every required field; it encodes
 * again, and that encoding decodes to the same record; its JSON answer is
 * NUL-terminated within its buffer.
 */
#include <jansson.h>
#include <string.h>

#include "consent.h"
#include "fuzz.h"
#include "store_record.h"

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024) return 0;
    /* Exactly as large as the store's callers make it: input length + 1. */
    char *strings = malloc(size + 1);
    store_record_t rec;
    if (store_record_decode((const char *)data, size, &rec, strings, size + 1) != 0) {
        free(strings);
        return 0;
    }
    FUZZ_ASSERT(rec.consent_id != NULL && rec.visitor != NULL && rec.policy_version != NULL &&
                rec.texts_hash != NULL && rec.source != NULL && rec.lang != NULL &&
                rec.action != NULL && rec.proof != NULL);
    FUZZ_ASSERT(rec.issued_at_ms >= 0 && rec.expires_at_ms >= 0);
    FUZZ_ASSERT(rec.n_decisions <= SITE_MAX_PURPOSES);

    size_t len;
    char *enc = store_record_encode(&rec, &len);
    FUZZ_ASSERT(enc != NULL);
    char *strings2 = malloc(len + 1);
    store_record_t back;
    FUZZ_ASSERT(store_record_decode(enc, len, &back, strings2, len + 1) == 0);
    FUZZ_ASSERT(same_str(rec.consent_id, back.consent_id) && same_str(rec.visitor, back.visitor) &&
                same_str(rec.policy_version, back.policy_version) &&
                same_str(rec.texts_hash, back.texts_hash) && same_str(rec.source, back.source) &&
                same_str(rec.lang, back.lang) && same_str(rec.variant, back.variant) &&
                same_str(rec.action, back.action) && same_str(rec.proof, back.proof) &&
                same_str(rec.log_id, back.log_id) && same_str(rec.control, back.control) &&
                rec.gpc == back.gpc && rec.site_version == back.site_version &&
                same_str(rec.site_sha256, back.site_sha256));
    /* The legacy name of a withdrawal never comes out of the decoder. */
    FUZZ_ASSERT(strcmp(rec.action, "withdraw") != 0 && (rec.gpc == 0 || rec.gpc == 1));
    FUZZ_ASSERT(rec.issued_at_ms == back.issued_at_ms && rec.expires_at_ms == back.expires_at_ms);
    FUZZ_ASSERT(rec.n_decisions == back.n_decisions);
    for (size_t i = 0; i < rec.n_decisions; i++)
        FUZZ_ASSERT(same_str(rec.purposes[i], back.purposes[i]) &&
                    rec.granted[i] == back.granted[i]);

    /* Its JSON answer is whole and valid JSON, whatever the strings hold
     * (a fixed buffer used to cut it silently). */
    strbuf_t json;
    strbuf_init_heap(&json);
    consent_record_json(&json, &rec, "2026-01-01");
    FUZZ_ASSERT(!strbuf_failed(&json) && json.len == strlen(json.buf));
    json_t *parsed = json_loadb(json.buf, json.len, 0, NULL);
    FUZZ_ASSERT(parsed != NULL && json_is_object(parsed));
    FUZZ_ASSERT(json_object_get(parsed, "proof") != NULL);
    json_decref(parsed);
    strbuf_free(&json);

    free(strings2);
    free(enc);
    free(strings);
    return 0;
}
