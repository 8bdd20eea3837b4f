/*
 * useragent_test.c - the device class and browser family of real
 * User-Agent strings (as the browsers send them), with and without the
 * Sec-CH-UA-Mobile client hint, and of bytes that are no User-Agent.
 */
#include <string.h>

#include "check.h"
#include "useragent.h"

static useragent_class_t of(const char *ua, const char *mobile)
{
    return useragent_classify(ua, ua != NULL ? strlen(ua) : 0, mobile,
                              mobile != NULL ? strlen(mobile) : 0);
}

#define CHECK_CLASS(ua, mobile, want_device, want_browser)                                         \
    do {                                                                                           \
        useragent_class_t c_ = of((ua), (mobile));                                                 \
        CHECK_STR(useragent_device_names[c_.device], want_device);                                 \
        CHECK_STR(useragent_browser_names[c_.browser], want_browser);                              \
    } while (0)

static int real_user_agents_are_classified(void)
{
    CHECK_CLASS("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/124.0.0.0 Safari/537.36",
                NULL, "desktop", "chrome");
    CHECK_CLASS("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
                NULL, "desktop", "edge");
    CHECK_CLASS("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", NULL,
                "desktop", "firefox");
    CHECK_CLASS("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, "
                "like Gecko) Version/17.4 Safari/605.1.15",
                NULL, "desktop", "safari");
    CHECK_CLASS("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
                NULL, "mobile", "safari");
    CHECK_CLASS("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
                "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
                NULL, "tablet", "safari");
    CHECK_CLASS("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                "(KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
                NULL, "mobile", "chrome");
    CHECK_CLASS("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                "(KHTML, like Gecko) FxiOS/125.0 Mobile/15E148 Safari/605.1.15",
                NULL, "mobile", "firefox");
    CHECK_CLASS("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                "(KHTML, like Gecko) Mobile/15E148",
                NULL, "mobile", "safari"); /* an in-app web view */
    CHECK_CLASS("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/124.0.0.0 Mobile Safari/537.36",
                NULL, "mobile", "chrome");
    CHECK_CLASS("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/124.0.0.0 Safari/537.36",
                NULL, "tablet", "chrome"); /* Android without "Mobile" */
    CHECK_CLASS("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, "
                "like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
                NULL, "mobile", "samsung");
    CHECK_CLASS("Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0", NULL,
                "mobile", "firefox");
    CHECK_CLASS("Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0", NULL,
                "tablet", "firefox");
    CHECK_CLASS("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/124.0.0.0 Mobile Safari/537.36 EdgA/124.0.2478.64",
                NULL, "mobile", "edge");
    CHECK_CLASS("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/124.0.0.0 Safari/537.36 OPR/109.0.0.0",
                NULL, "desktop", "opera");
    CHECK_CLASS("Opera/9.80 (Windows NT 6.1) Presto/2.12.388 Version/12.18", NULL, "desktop",
                "opera");
    CHECK_CLASS("curl/8.5.0", NULL, "desktop", "other");
    CHECK_CLASS("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", NULL,
                "desktop", "other");
    return 0;
}

static int the_client_hint_says_mobile_or_not(void)
{
    const char *android_tablet = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, "
                                 "like Gecko) Chrome/124.0.0.0 Safari/537.36";
    const char *desktop = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                          "Chrome/124.0.0.0 Safari/537.36";
    CHECK_CLASS(desktop, "?1", "mobile", "chrome"); /* the hint wins */
    CHECK_CLASS(android_tablet, "?1", "mobile", "chrome");
    CHECK_CLASS(android_tablet, "?0", "tablet", "chrome"); /* not mobile: the UA tells a tablet */
    CHECK_CLASS("Mozilla/5.0 (Linux; Android 10; K) Chrome/124.0.0.0 Mobile Safari/537.36", "?0",
                "desktop", "chrome"); /* "?0" is never mobile ("request desktop site") */
    CHECK_CLASS(desktop, "?0", "desktop", "chrome");
    /* A hint that is not a structured boolean is ignored: the UA decides. */
    CHECK_CLASS(android_tablet, "1", "tablet", "chrome");
    CHECK_CLASS(android_tablet, "?10", "tablet", "chrome");
    CHECK_CLASS(android_tablet, "", "tablet", "chrome");
    return 0;
}

static int no_user_agent_is_a_desktop_of_another_browser(void)
{
    CHECK_CLASS(NULL, NULL, "desktop", "other");
    CHECK_CLASS("", NULL, "desktop", "other");
    CHECK_CLASS(NULL, "?1", "mobile", "other");
    /* Bytes with NULs: read by length, not up to the first NUL. */
    useragent_class_t c = useragent_classify("x\0iPhone Firefox/1", 18, NULL, 0);
    CHECK(c.device == USERAGENT_MOBILE && c.browser == USERAGENT_FIREFOX);
    return 0;
}

static int only_the_first_bytes_are_read(void)
{
    static char ua[USERAGENT_SCAN_MAX + 64];
    memset(ua, 'a', sizeof(ua));
    memcpy(ua + USERAGENT_SCAN_MAX - 6, "iPhone", 6);   /* within: read */
    memcpy(ua + USERAGENT_SCAN_MAX + 8, "Firefox/", 8); /* beyond: not read */
    useragent_class_t c = useragent_classify(ua, sizeof(ua), NULL, 0);
    CHECK(c.device == USERAGENT_MOBILE && c.browser == USERAGENT_OTHER);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    RUN(real_user_agents_are_classified);
    RUN(the_client_hint_says_mobile_or_not);
    RUN(no_user_agent_is_a_desktop_of_another_browser);
    RUN(only_the_first_bytes_are_read);
    return check_summary();
}
