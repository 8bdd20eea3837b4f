/*
 * useragent_fuzz.c - the device class and browser family of any headers
 * (useragent_classify).
 *
 * Input: a flag byte (bit 0: a Sec-CH-UA-Mobile header is sent, its value
 * the next two bytes), then the User-Agent.
 * Invariants: the classes are in range (bounded cardinality whatever is
 * sent); the hint "?1" is mobile, "?0" never mobile and a tablet exactly
 * when the User-Agent alone says tablet; the browser never depends on the
 * hint; bytes past USERAGENT_SCAN_MAX change nothing; a User-Agent that
 * starts with "Edg/" (read whole) is Edge's.
 */
#include <string.h>

#include "fuzz.h"
#include "useragent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 8 * 1024) return 0;
    int hinted = data[0] & 1;
    const char *ua = (const char *)data + 1;
    size_t len = size - 1;
    const char *hint = NULL;
    size_t hint_len = 0;
    if (hinted) {
        if (len < 2) return 0;
        hint = ua;
        hint_len = 2;
        ua += 2;
        len -= 2;
    }
    useragent_class_t c = useragent_classify(ua, len, hint, hint_len);
    FUZZ_ASSERT((unsigned)c.device < USERAGENT_DEVICES);
    FUZZ_ASSERT((unsigned)c.browser < USERAGENT_BROWSERS);
    useragent_class_t bare = useragent_classify(ua, len, NULL, 0);
    FUZZ_ASSERT(bare.browser == c.browser);
    useragent_class_t one = useragent_classify(ua, len, "?1", 2);
    useragent_class_t zero = useragent_classify(ua, len, "?0", 2);
    FUZZ_ASSERT(one.device == USERAGENT_MOBILE);
    FUZZ_ASSERT(zero.device != USERAGENT_MOBILE);
    FUZZ_ASSERT((zero.device == USERAGENT_TABLET) == (bare.device == USERAGENT_TABLET));
    if (len > USERAGENT_SCAN_MAX) {
        useragent_class_t cut = useragent_classify(ua, USERAGENT_SCAN_MAX, hint, hint_len);
        FUZZ_ASSERT(cut.device == c.device && cut.browser == c.browser);
    }
    static char edge[8 * 1024 + 8];
    memcpy(edge, "Edg/", 4);
    memcpy(edge + 4, ua, len);
    FUZZ_ASSERT(useragent_classify(edge, len + 4, NULL, 0).browser == USERAGENT_EDGE);
    return 0;
}
