/*
 * log.c - one line per event on stderr, text or JSON, one write(2) per line.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "strbuf.h"

#define LOG_LINE_MAX 2048

/* Set once in main() before any thread starts; read-only afterwards. */
static int log_json_format;
static log_level_t log_min_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(int json, log_level_t level)
{
    log_json_format = json;
    log_min_level = level;
}

int log_enabled(log_level_t level)
{
    return level >= log_min_level;
}

int log_is_json(void)
{
    return log_json_format;
}

int log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (strcmp(name, level_names[i]) == 0) return (int)i;
    return -1;
}

static void log_write(const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, buf, len);
        if (n <= 0) return;
        buf += n;
        len -= (size_t)n;
    }
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    if (!log_enabled(level)) return;
    /* A JSON line may escape every byte of msg in 6: room for that. */
    char msg[LOG_LINE_MAX], buf[LOG_LINE_MAX * 6 + 128], ts[CLOCK_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t mlen = (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1; /* cut: one line */
    size_t tl = clock_format(clock_real_ms(), CLOCK_ISO_MS, ts);
    strbuf_t line;
    strbuf_init_fixed(&line, buf, sizeof(buf));
    if (log_json_format) {
        strbuf_lit(&line, "{\"ts\":\"");
        strbuf_put(&line, ts, tl);
        strbuf_lit(&line, "\",\"level\":\"");
        strbuf_str(&line, level_names[level]);
        strbuf_lit(&line, "\",\"msg\":");
        strbuf_json(&line, msg, mlen);
        strbuf_lit(&line, "}\n");
    } else {
        strbuf_put(&line, ts, tl);
        strbuf_char(&line, ' ');
        strbuf_str(&line, level_names[level]);
        strbuf_char(&line, ' ');
        strbuf_put(&line, msg, mlen);
        strbuf_char(&line, '\n');
    }
    if (!strbuf_failed(&line)) log_write(line.buf, line.len); /* cannot fail: bounded above */
}

void log_raw(const char *line, size_t len)
{
    char buf[LOG_LINE_MAX];
    if (len >= sizeof(buf)) len = sizeof(buf) - 1;
    memcpy(buf, line, len);
    buf[len] = '\n';
    log_write(buf, len + 1);
}
