/*
 * log.h - process-wide logging: one line per event, text or JSON.
 *
 * Lines go to stderr (the service manager collects them). Formatting happens
 * in a stack buffer and leaves in a single write(2), so lines from different
 * worker threads never interleave. No client IP address is ever passed here
 * unless the operator turned `log.client_ip` on (see router.c), and no
 * visitor id ever: the access log shows paths through router_log_target().
 */
#ifndef CONSENTD_LOG_H
#define CONSENTD_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

/* Called once by main() before threads start; defaults: text, LOG_INFO. */
void log_setup(int json, log_level_t level);
int log_enabled(log_level_t level);
void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A pre-formatted access-log line (already JSON or text, without newline). */
void log_raw(const char *line, size_t len);
int log_is_json(void);
/* "debug" | "info" | "warn" | "error" -> level; -1 when unknown. */
int log_level_parse(const char *name);

#endif
