/*
 * site_doc.h - a site document (the JSON of a site file) as text: its
 * canonical form, the diff of two versions, and the policy bump rule
 * (issue 22, item 1: sites live in Redis, versioned and published).
 *
 * Pure functions over bytes (jansson), no I/O: the api and main.c call them
 * on any thread. Validation is not here: site.h (site_set_load_doc) is the
 * one place that says whether a document is a valid site. Every char *
 * returned is malloc'd, NUL-terminated, and the caller frees it.
 */
#ifndef CONSENTD_SITE_DOC_H
#define CONSENTD_SITE_DOC_H

#include <stddef.h>
#include <stdint.h>

/* The document canonicalised: keys sorted, no white space, the strings as
 * jansson writes them (UTF-8). Two documents that mean the same are equal
 * byte for byte, so that an unchanged file makes no new version. NULL when
 * json is not a JSON object (site_set_load_doc says why). */
char *site_doc_canonical(const char *json, size_t len, size_t *out_len);
/* The jansson flags of that form, for a caller that holds the parsed
 * document already (site.c: a proof's doc_sha256). */
#define SITE_DOC_CANONICAL_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)

/* THE POLICY BUMP RULE. A change a visitor must be asked about again is a
 * change of the purposes (added, removed, renamed), of a purpose's legal
 * basis, recipients, or texts (name, description, in any language). 1 when
 * a and b differ there, 0 when not, -1 when one is not a JSON object. Other
 * fields (origins, lifetimes, variants, the banner's own UI strings) do not
 * change what the visitor agreed to. */
int site_doc_policy_changed(const char *a, size_t alen, const char *b, size_t blen);

/* The canonical document with policy_version bumped for the publish of
 * version `version`: "<base>+v<version>", where base is the old value
 * without a "+v<digits>" suffix (cut between UTF-8 characters so that the
 * whole fits 64 bytes). NULL when json is not an object with a string
 * policy_version. */
char *site_doc_bump_policy(const char *json, size_t len, uint64_t version, size_t *out_len);

/* {"added": [paths], "removed": [paths], "changed": [{"path", "from", "to"}]}
 * from a to b, paths in the site file's field notation
 * ("purposes[1].texts.fr.name"); an object's members by name, an array's
 * items by index (an item beyond the shorter array is added or removed).
 * NULL when one is not JSON. */
char *site_doc_diff(const char *a, size_t alen, const char *b, size_t blen);

#endif
