/*
 * useragent.c - device class and browser family from a request's headers
 * (rules and why: useragent.h).
 */
#include "useragent.h"

#include <string.h>

const char *const useragent_device_names[USERAGENT_DEVICES] = {"mobile", "tablet", "desktop"};
const char *const useragent_browser_names[USERAGENT_BROWSERS] = {
    "chrome", "edge", "firefox", "safari", "samsung", "opera", "other"};

/* Does s (len bytes) contain the NUL-terminated token? (memmem: glibc's
 * is vectorised; _GNU_SOURCE is set for every file by CMakeLists.txt.) */
static int useragent_has(const char *s, size_t len, const char *token)
{
    return len > 0 && memmem(s, len, token, strlen(token)) != NULL;
}

/* Does s contain any of the tokens (a NULL-terminated list)? */
static int useragent_any(const char *s, size_t len, const char *const *tokens)
{
    for (; *tokens != NULL; tokens++)
        if (useragent_has(s, len, *tokens)) return 1;
    return 0;
}

static useragent_browser_t useragent_browser(const char *ua, size_t len)
{
    static const char *const edge[] = {"Edg/", "EdgA/", "EdgiOS/", "Edge/", NULL};
    static const char *const samsung[] = {"SamsungBrowser/", NULL};
    static const char *const opera[] = {"OPR/", "OPT/", "OPiOS/", "Opera", NULL};
    static const char *const firefox[] = {"Firefox/", "FxiOS/", NULL};
    static const char *const chrome[] = {"Chrome/", "CriOS/", "Chromium/", NULL};
    if (useragent_any(ua, len, edge)) return USERAGENT_EDGE;
    if (useragent_any(ua, len, samsung)) return USERAGENT_SAMSUNG;
    if (useragent_any(ua, len, opera)) return USERAGENT_OPERA;
    if (useragent_any(ua, len, firefox)) return USERAGENT_FIREFOX;
    if (useragent_any(ua, len, chrome)) return USERAGENT_CHROME;
    if (useragent_has(ua, len, "Safari/") ||
        (useragent_has(ua, len, "AppleWebKit/") && useragent_has(ua, len, "Mobile/")))
        return USERAGENT_SAFARI;
    return USERAGENT_OTHER;
}

useragent_class_t useragent_classify(const char *ua, size_t ua_len, const char *mobile,
                                     size_t mobile_len)
{
    if (ua == NULL) ua_len = 0;
    if (ua_len > USERAGENT_SCAN_MAX) ua_len = USERAGENT_SCAN_MAX;
    useragent_class_t c = {USERAGENT_DESKTOP, useragent_browser(ua, ua_len)};
    static const char *const tablet[] = {"iPad", "Tablet", NULL};
    static const char *const phone[] = {"Mobi", "iPhone", "iPod", NULL};
    int android = useragent_has(ua, ua_len, "Android");
    int is_tablet =
        useragent_any(ua, ua_len, tablet) || (android && !useragent_has(ua, ua_len, "Mobile"));
    int is_phone = !is_tablet && (android || useragent_any(ua, ua_len, phone));
    /* The client hint, when sent, says mobile or not; the User-Agent still
     * tells a tablet (which Chrome reports as not mobile) from a desktop. */
    if (mobile != NULL && mobile_len == 2 && mobile[0] == '?' &&
        (mobile[1] == '1' || mobile[1] == '0')) {
        c.device = mobile[1] == '1' ? USERAGENT_MOBILE
                   : is_tablet      ? USERAGENT_TABLET
                                    : USERAGENT_DESKTOP;
        return c;
    }
    c.device = is_tablet ? USERAGENT_TABLET : is_phone ? USERAGENT_MOBILE : USERAGENT_DESKTOP;
    return c;
}
