/*
 * useragent.h - the device class and browser family of a request, for the
 * acceptance counters' segments (issue 21, item 4): computed by consentd
 * from the request's headers, so that the banner sends nothing for it.
 *
 * Pure: no I/O, no allocation, no state; any bytes (untrusted, any length,
 * NUL or not) give one of a fixed few classes, so that the counters'
 * cardinality is bounded by construction (USERAGENT_DEVICES x
 * USERAGENT_BROWSERS values, whatever clients send). Only the first
 * USERAGENT_SCAN_MAX bytes of the User-Agent are read.
 *
 * Device: Sec-CH-UA-Mobile when present ("?1": mobile; "?0": not mobile,
 * and the User-Agent tells a tablet from a desktop), else the User-Agent:
 *   tablet   "iPad", "Tablet", or "Android" without "Mobile"
 *   mobile   "Mobi" (Mobile, IEMobile...), "iPhone", "iPod", "Android"
 *   desktop  anything else (an empty or absent User-Agent too; iPadOS
 *            Safari, which sends a Mac's User-Agent, counts as desktop)
 * Browser family, the first that matches, in this order (Chromium-based
 * browsers carry "Chrome/" and Safari's token; Edge, Samsung Internet and
 * Opera say so after them):
 *   edge     "Edg/", "EdgA/", "EdgiOS/", "Edge/"
 *   samsung  "SamsungBrowser/"
 *   opera    "OPR/", "OPT/", "OPiOS/", "Opera"
 *   firefox  "Firefox/", "FxiOS/"
 *   chrome   "Chrome/", "CriOS/", "Chromium/"
 *   safari   "Safari/", or "AppleWebKit/" with "Mobile/" (iOS web views)
 *   other    anything else
 */
#ifndef CONSENTD_USERAGENT_H
#define CONSENTD_USERAGENT_H

#include <stddef.h>

#define USERAGENT_SCAN_MAX 1024 /* bytes of a User-Agent read */

typedef enum {
    USERAGENT_MOBILE,
    USERAGENT_TABLET,
    USERAGENT_DESKTOP,
    USERAGENT_DEVICES
} useragent_device_t;

typedef enum {
    USERAGENT_CHROME,
    USERAGENT_EDGE,
    USERAGENT_FIREFOX,
    USERAGENT_SAFARI,
    USERAGENT_SAMSUNG,
    USERAGENT_OPERA,
    USERAGENT_OTHER,
    USERAGENT_BROWSERS
} useragent_browser_t;

/* "mobile", "tablet", "desktop" and "chrome", "edge", ... "other", in the
 * enums' order: the names the counters and the stats use. */
extern const char *const useragent_device_names[USERAGENT_DEVICES];
extern const char *const useragent_browser_names[USERAGENT_BROWSERS];

typedef struct useragent_class {
    useragent_device_t device;
    useragent_browser_t browser;
} useragent_class_t;

/* The class of a request: ua, ua_len its User-Agent (NULL when absent),
 * mobile, mobile_len its Sec-CH-UA-Mobile (NULL when absent). */
useragent_class_t useragent_classify(const char *ua, size_t ua_len, const char *mobile,
                                     size_t mobile_len);

#endif
