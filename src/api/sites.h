/*
 * sites.h - the operator's routes over the sites themselves (issue 22,
 * item 2): list, create, delete. The operator key alone calls them (auth.h:
 * a route of no site, or AUTH_OPERATOR).
 *
 *   GET    /v1/sites          every site this node serves and every site of
 *     ?q=&limit=&cursor=      the Redis registry, sorted by id, a page at a
 *                             time: {"sites": [{"id", "published": n|null,
 *                             "draft_revision": n|0, "source":
 *                             "redis"|"file"|"both", "served": bool}],
 *                             "total": n, "next_cursor": id|null}
 *   POST   /v1/sites          {"id", "site"?, "origins"?}: a new site in Redis,
 *                             version 1 and its draft, NOT published;
 *                             201 {"id", "version": 1, "draft_revision": 1}
 *   DELETE /v1/sites/{site}   the site stops being served on every node;
 *                             200 {"id", "deleted": true}
 *
 * List: the ids holding q (part of an id), after cursor (the previous
 * page's next_cursor, its last id), at most limit (1 to
 * SITES_LIST_MAX_LIMIT, default SITES_LIST_DEFAULT_LIMIT); total counts the
 * ids holding q on every page. Only the page's sites cost a Redis call each
 * (their draft revision): a node of 10,000 sites answers a page of 100 with
 * 101 calls, pipelined. 400 invalid_limit, invalid_q, invalid_cursor.
 *
 * Create: "site" is validated as a draft (the source "site <id> draft 1";
 * its id must be the id); without it, a starter document (sites_starter():
 * one necessary and one consent purpose in English, the banner's own
 * texts, the body's "origins", which must hold at least one origin, as a
 * site file's). 409 site_exists when the id is a site of this node (a file
 * of its sites directory, or a site of Redis) or has a version or a draft in
 * Redis; 400 invalid_field for an id that is no site file name.
 *
 * Delete writes nothing of the site but its registry mark: -<version>, the
 * version published (else the newest), through the announcement path of a
 * publish (store_sites_mark: HSET + PUBLISH), so every node stops serving it
 * within a second and keeps knowing it: its versions, draft, keys, consents
 * and log stay, and the routes of its configuration, keys and evidence keep
 * answering (router.c serves a visitor's routes only for a served site).
 * Publishing a version again brings it back. A site of the sites directory
 * is 409 site_from_file: remove the file first.
 *
 * Create and delete answer once every worker of this node serves the change
 * (snapshot_t.serving; polled every WORKER_WAIT_POLL_MS, at most
 * SITES_WAIT_MS; the other nodes within the same second, as a publish), so
 * that the console's next call to the same node finds the site as it left it.
 */
#ifndef CONSENTD_API_SITES_H
#define CONSENTD_API_SITES_H

#include "http.h"

#define SITES_WAIT_MS 3000 /* longer than the watcher's fallback read (SITE_WATCH_POLL_MS) */
#define SITES_MAX_BODY (256 * 1024)
#define SITES_LIST_DEFAULT_LIMIT 100
#define SITES_LIST_MAX_LIMIT 1000

void sites_list(http_request_t *rq);
void sites_create(http_request_t *rq);
void sites_delete(http_request_t *rq);

#endif
