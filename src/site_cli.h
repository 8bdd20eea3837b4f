/*
 * site_cli.h - `consentd site import` and `consentd site export` (issue 22,
 * item 1: files stay a way in, for teams that keep their sites in git).
 *
 *   consentd site import [--draft] [--message TEXT] FILE...
 *       each FILE (<id>.json, validated as a site file, with the same
 *       "<file>: <field>: <reason>" messages) becomes a new version of site
 *       <id>, published (announced to every node); with --draft, the site's
 *       draft instead. An unchanged file makes no new version (and does not
 *       undo a roll back): importing at every start is idempotent.
 *   consentd site export SITE [VERSION]
 *       the published version (or VERSION) as JSON on stdout.
 *
 * Both reach Redis as the server does, with the configuration's redis.url
 * (its user and password), through store.h on a private event loop: start-up
 * code, never on a worker. Exit 0 done, 1 refused or failed (a message on
 * stderr), 2 usage.
 */
#ifndef CONSENTD_SITE_CLI_H
#define CONSENTD_SITE_CLI_H

#include "config.h"

#define SITE_CLI_TIMEOUT_MS 10000 /* the whole command, Redis included */

/* argv[0] is "import" or "export". */
int site_cli_main(const config_t *cfg, int argc, char **argv);

#endif
