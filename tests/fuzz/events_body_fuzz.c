/*
 * events_body_fuzz.c - the body of POST /v1/sites/{site}/events
 * (events_body_check): untrusted JSON, sent by any browser, checked against
 * the demo site. Invariants: a refusal has a code and a terminated message;
 * an accepted body names a known event type, one of the site's languages
 * (its own string) or none, one of its variants or none, and a valid
 * visitor id or none.
 */
#include <string.h>

#include "consent.h"
#include "events.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16 * 1024) return 0;
    const site_t *site = fuzz_demo_site();
    events_event_t ev;
    events_refusal_t why;
    memset(&why, 0, sizeof(why));
    if (events_body_check((const char *)data, size, site, &ev, &why) != 0) {
        FUZZ_ASSERT(why.code != NULL && why.code[0] != '\0');
        FUZZ_ASSERT(memchr(why.message, '\0', sizeof(why.message)) != NULL);
        return 0;
    }
    FUZZ_ASSERT(ev.metric == COUNTERS_SHOWN || ev.metric == COUNTERS_DISMISSED ||
                ev.metric == COUNTERS_PANEL_OPENED);
    if (ev.lang != NULL) {
        int own = 0;
        for (size_t l = 0; l < site->n_languages; l++)
            own |= ev.lang == site->languages[l];
        FUZZ_ASSERT(own);
    }
    FUZZ_ASSERT(ev.variant == NULL ||
                (ev.variant >= site->variants && ev.variant < site->variants + site->n_variants));
    FUZZ_ASSERT(ev.visitor[0] == '\0' || visitor_id_valid(ev.visitor, strlen(ev.visitor)));
    /* The demo site declares no page groups: a page is never counted. */
    FUZZ_ASSERT(ev.page == -1 || (site->n_page_groups > 0 && ev.page >= 0 &&
                                  (size_t)ev.page <= site->n_page_groups));
    return 0;
}
