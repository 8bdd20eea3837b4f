/*
 * erasure.h - erased bytes leave the disk within a bound: the compaction
 * that follows erasures (crypto-erasure, issue 19; store.c's head).
 *
 * An erasure deletes the visitor's keys and data keys in memory at once, and
 * notes in its partition's compaction marker when it happened (the first one
 * not yet compacted). The bytes it deleted are still in the AOF and in
 * dump.rdb until Redis rewrites them. A timer (erasure_tick, on one worker
 * thread per process) takes the markers that are due, with GETDEL semantics
 * in a function (of many consentd nodes, one takes each), and asks each
 * Redis master that held one to BGREWRITEAOF and then BGSAVE SCHEDULE, once
 * per master per round. A compaction that fails puts its markers back: the
 * next round tries again.
 *
 * THE BOUND. Ticks come every within_s / 4; a marker is due within_s / 2
 * after its erasure: it is taken at the latest 3/4 of within_s after it,
 * leaving a quarter for the rewrite and the snapshot. Default within_s:
 * 4 hours (config: erasure.disk_within_seconds).
 *
 * Threads: an erasure_t belongs to the worker thread whose redis_t it uses;
 * one round at a time (a tick during a round does nothing).
 */
#ifndef CONSENTD_ERASURE_H
#define CONSENTD_ERASURE_H

#include <stdint.h>

#include "redis.h"
#include "site.h"

typedef struct erasure erasure_t;

/* NULL when out of memory. within_s > 0. */
erasure_t *erasure_create(redis_t *r, uint32_t within_s);
/* How often to call erasure_tick, in ms (within_s / 4, at least 100). */
uint64_t erasure_interval_ms(const erasure_t *e);
/* Start a round over every partition of every site in sites (the site ids
 * are copied), unless one is still running. now_ms: Unix ms. */
void erasure_tick(erasure_t *e, const site_set_t *sites, int64_t now_ms);
/* After redis_destroy (which ran every pending callback). */
void erasure_free(erasure_t *e);

#endif
