/*
 * json_scan_fuzz.c - src/json_scan.c held to jansson's verdict: any input
 * json_scan_parse accepts, json_loadb (JSON_REJECT_DUPLICATES) accepts, and
 * the other way round, except where json_scan has limits of its own (keys
 * of over JSON_SCAN_KEY_MAX bytes, over JSON_SCAN_KEYS_MAX keys open at
 * once), and inputs with a NUL byte, which json_scan refuses and jansson
 * skips. When both accept a top-level object, its members read with
 * json_scan_member are jansson's, in order: the same keys decoded, the same
 * types, the same decoded strings.
 */
#include <jansson.h>
#include <string.h>

#include "fuzz.h"
#include "json_scan.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    return 0;
}

static int same_type(json_scan_type_t t, const json_t *v)
{
    switch (t) {
    case JSON_SCAN_OBJECT:
        return json_is_object(v);
    case JSON_SCAN_ARRAY:
        return json_is_array(v);
    case JSON_SCAN_STRING:
        return json_is_string(v);
    case JSON_SCAN_NUMBER:
        return json_is_number(v);
    case JSON_SCAN_TRUE:
        return json_is_true(v);
    case JSON_SCAN_FALSE:
        return json_is_false(v);
    case JSON_SCAN_NULL:
        return json_is_null(v);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_scan_value_t root;
    const char *err;
    int ours = json_scan_parse(text, size, &root, &err) == 0;
    json_t *theirs = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
    int own_limit = !ours && err != NULL &&
                    (strcmp(err, "a key of the body is too long") == 0 ||
                     strcmp(err, "the body has too many keys") == 0);
    /* jansson 2.14 skips a NUL byte wherever it stands (its reader keeps a
     * NUL-terminated buffer); RFC 8259 allows none, nor does json_scan. */
    int has_nul = memchr(data, 0, size) != NULL;
    if (has_nul) FUZZ_ASSERT(!ours);
    if (!own_limit && !has_nul) FUZZ_ASSERT(ours == (theirs != NULL));
    if (ours) FUZZ_ASSERT(err == NULL && root.len <= size);
    if (ours && theirs != NULL) {
        FUZZ_ASSERT(same_type(root.type, theirs));
        if (root.type == JSON_SCAN_OBJECT) {
            json_scan_value_t key, value;
            size_t pos = 0, n = 0;
            const char *jkey;
            json_t *jvalue;
            void *it = json_object_iter(theirs);
            while (json_scan_member(&root, &pos, &key, &value)) {
                FUZZ_ASSERT(it != NULL);
                jkey = json_object_iter_key(it);
                jvalue = json_object_iter_value(it);
                FUZZ_ASSERT(json_scan_string_is(&key, jkey, strlen(jkey)));
                FUZZ_ASSERT(same_type(value.type, jvalue));
                if (value.type == JSON_SCAN_STRING) {
                    static char buf[1 << 16];
                    ssize_t len = json_scan_string(&value, buf, sizeof(buf));
                    FUZZ_ASSERT(len >= 0 && (size_t)len == json_string_length(jvalue) &&
                                memcmp(buf, json_string_value(jvalue), (size_t)len) == 0);
                }
                it = json_object_iter_next(theirs, it);
                n++;
            }
            FUZZ_ASSERT(it == NULL && n == json_object_size(theirs));
        }
    }
    json_decref(theirs);
    return 0;
}
