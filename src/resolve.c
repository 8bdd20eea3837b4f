/*
 * resolve.c - host names looked up, and kept up to date by one thread.
 */
#include "resolve.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "log.h"

typedef struct {
    char name[256];
    char addr[RESOLVE_ADDR_MAX];
    int wanted;            /* resolve_again since the last lookup */
    uint64_t looked_up_ms; /* monotonic */
} resolve_entry_t;

static struct {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int started;
    size_t n;
    resolve_entry_t entries[RESOLVE_WATCH_MAX];
} watched = {.mutex = PTHREAD_MUTEX_INITIALIZER};

static uint64_t resolve_now_ms(void)
{
    return clock_mono_ns() / 1000000;
}

int resolve_lookup(const char *name, char *out, size_t cap, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve host %s: %s", name, gai_strerror(rc));
        return -1;
    }
    const struct addrinfo *pick = NULL;
    for (const struct addrinfo *a = res; a != NULL && pick == NULL; a = a->ai_next)
        if (a->ai_family == AF_INET) pick = a;
    for (const struct addrinfo *a = res; a != NULL && pick == NULL; a = a->ai_next)
        if (a->ai_family == AF_INET6) pick = a;
    int ok = -1;
    if (pick != NULL) {
        const void *addr = pick->ai_family == AF_INET
                               ? (const void *)&((struct sockaddr_in *)pick->ai_addr)->sin_addr
                               : (const void *)&((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr;
        ok = inet_ntop(pick->ai_family, addr, out, (socklen_t)cap) != NULL ? 0 : -1;
    }
    freeaddrinfo(res);
    if (ok != 0) snprintf(err, errlen, "host %s has no IPv4 or IPv6 address", name);
    return ok;
}

/* The thread: sleeps until a name is wanted, or one is due for its periodic
 * lookup, and looks it up outside the lock. */
static void *resolve_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&watched.mutex);
    for (;;) {
        uint64_t now = resolve_now_ms(), next = now + RESOLVE_REFRESH_MS;
        int due = -1;
        for (size_t i = 0; i < watched.n && due < 0; i++) {
            resolve_entry_t *e = &watched.entries[i];
            uint64_t at = e->looked_up_ms + (e->wanted ? RESOLVE_AGAIN_MIN_MS : RESOLVE_REFRESH_MS);
            if (at <= now)
                due = (int)i;
            else if (at < next)
                next = at;
        }
        if (due < 0) {
            struct timespec until;
            clock_deadline(CLOCK_MONOTONIC, next - now, &until);
            pthread_cond_timedwait(&watched.cond, &watched.mutex, &until);
            continue;
        }
        resolve_entry_t *e = &watched.entries[due];
        char name[sizeof(e->name)], addr[RESOLVE_ADDR_MAX], err[320];
        memcpy(name, e->name, sizeof(name));
        e->wanted = 0;
        e->looked_up_ms = now;
        pthread_mutex_unlock(&watched.mutex);
        int rc = resolve_lookup(name, addr, sizeof(addr), err, sizeof(err));
        pthread_mutex_lock(&watched.mutex);
        if (rc != 0) {
            log_msg(LOG_WARN, "redis: %s (keeping %s)", err, e->addr);
        } else if (strcmp(addr, e->addr) != 0) {
            log_msg(LOG_INFO, "redis: %s now resolves to %s (was %s)", name, addr, e->addr);
            memcpy(e->addr, addr, sizeof(addr));
        }
    }
    return NULL;
}

int resolve_watch(const char *name, const char *addr)
{
    unsigned char buf[sizeof(struct in6_addr)];
    if (name[0] == '\0' || inet_pton(AF_INET, name, buf) == 1 ||
        inet_pton(AF_INET6, name, buf) == 1)
        return -1;
    int id = -1;
    pthread_mutex_lock(&watched.mutex);
    for (size_t i = 0; i < watched.n && id < 0; i++)
        if (strcmp(watched.entries[i].name, name) == 0) id = (int)i;
    if (id < 0 && watched.n < RESOLVE_WATCH_MAX && strlen(name) < sizeof(watched.entries[0].name)) {
        if (!watched.started) {
            pthread_condattr_t attr;
            pthread_condattr_init(&attr);
            pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
            pthread_cond_init(&watched.cond, &attr);
            pthread_condattr_destroy(&attr);
            pthread_t thread;
            if (pthread_create(&thread, NULL, resolve_thread, NULL) == 0) {
                pthread_detach(thread);
                watched.started = 1;
            }
        }
        if (watched.started) {
            resolve_entry_t *e = &watched.entries[watched.n];
            snprintf(e->name, sizeof(e->name), "%s", name);
            snprintf(e->addr, sizeof(e->addr), "%s", addr);
            e->looked_up_ms = resolve_now_ms();
            id = (int)watched.n++;
        }
    }
    pthread_mutex_unlock(&watched.mutex);
    return id;
}

void resolve_current(int id, char *out, size_t cap)
{
    pthread_mutex_lock(&watched.mutex);
    snprintf(out, cap, "%s", watched.entries[id].addr);
    pthread_mutex_unlock(&watched.mutex);
}

void resolve_again(int id)
{
    pthread_mutex_lock(&watched.mutex);
    if (!watched.entries[id].wanted) {
        watched.entries[id].wanted = 1;
        pthread_cond_signal(&watched.cond);
    }
    pthread_mutex_unlock(&watched.mutex);
}
