/*
 * checkpoint.h - the consent log's checkpointer: extends each partition's
 * hash chain (logchain.h) and signs checkpoints of the chains' heads.
 *
 * Threads: one checkpointer per process, created, run and destroyed on one
 * worker's event loop (server.c: worker 0), using that worker's redis_t. It
 * runs every log.checkpoint_seconds; a run visits the sites one by one:
 *
 *  1. the lease: SET cd:{<site>:log}:lease <token> NX PX (a little less
 *     than the interval). Another node holds it: this node skips the site
 *     until the next interval. So of many nodes, about one does the work.
 *  2. for each of the STORE_PARTITIONS partitions: read the chain's head and
 *     the log entries after it (one FCALL_RO), hash them (SHA-256, here, in
 *     C: Redis' Lua has none), append the links with a compare-and-set on
 *     the chain's last id. The values are deterministic, and the CAS means
 *     two nodes whose leases overlapped never write two chains: the loser
 *     stops the site's run.
 *  3. when any head differs from the last checkpoint's (root, below): sign a
 *     checkpoint, a compact JWS (EdDSA, the proof keys, `kid` in the header,
 *     keys.h), payload, members in this order:
 *       {"typ":"consentd-log-checkpoint","iss":<public_url>,"site":<id>,
 *        "iat":<s>,"ts":<ms>,"size":<sum of n>,"prev":<hex SHA-256 of the
 *        previous checkpoint's JWS, or null>,"root":<hex>,
 *        "heads":[{"p":<partition>,"n":<n>,"id":<log id>,"h":<hex>},...]}
 *     heads lists the non-empty partitions in order; root = SHA-256(0x03 ||
 *     for each head: u32be(p) || u64be(n) || h). It is appended to
 *     cd:{<site>:log}:checkpoints with a compare-and-set on the last
 *     checkpoint's id: the checkpoints form one linear sequence (each names
 *     its predecessor's hash), even when a lease expired mid-way.
 *
 * The window: an entry is chained and covered by a signed checkpoint within
 * about one interval of its write (two when a run fails). Until then it is
 * in the log but not yet tamper-evident; docs/operations.md says so.
 *
 * Errors are logged and counted (metrics: consentd_log_checkpoint_failures_total);
 * the next interval tries again.
 */
#ifndef CONSENTD_CHECKPOINT_H
#define CONSENTD_CHECKPOINT_H

#include <h2o.h>

#include "metrics.h"
#include "redis.h"
#include "snapshot.h"

typedef struct checkpointer checkpointer_t;

/* interval_ms > 0. iss: the server's public URL (copied). NULL when out of
 * memory. */
checkpointer_t *checkpointer_create(redis_t *r, metrics_t *metrics, uint32_t interval_ms,
                                    const char *iss);
/* One run over snap's sites (retained until the run ends); a tick while a
 * run is still going is skipped. Call on the loop thread of r. */
void checkpointer_run(checkpointer_t *cp, snapshot_t *snap);
/* No new Redis call from now on: a run ends at its next step (its pending
 * call's callback). Call before redis_destroy, which fails every pending
 * call. */
void checkpointer_stop(checkpointer_t *cp);
/* 1 while a run is going (its Redis calls pending). */
int checkpointer_busy(const checkpointer_t *cp);
/* Only when not busy (after redis_destroy failed every pending call, it is
 * not). */
void checkpointer_destroy(checkpointer_t *cp);

#endif
