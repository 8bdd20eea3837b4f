/*
 * checkpoint.c - the consent log's checkpointer (checkpoint.h): a state
 * machine over asynchronous store calls, one site and one partition at a
 * time, so that a run holds at most one Redis call in flight.
 */
#include "checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base64url.h"
#include "clock.h"
#include "log.h"
#include "logchain.h"
#include "store.h"
#include "strbuf.h"

#define CHECKPOINT_ID_MAX 48 /* a stream id, "<u64>-<u64>" */
#define CHECKPOINT_TOKEN_BYTES 16

typedef struct checkpoint_head {
    int set;
    uint64_t n;
    char id[CHECKPOINT_ID_MAX];
    unsigned char h[LOGCHAIN_HASH_BYTES];
} checkpoint_head_t;

struct checkpointer {
    redis_t *r;
    metrics_t *metrics;
    uint32_t interval_ms;
    char *iss;
    char token[2 * CHECKPOINT_TOKEN_BYTES + 1]; /* this node's lease value */
    int busy;
    int stopped;      /* checkpointer_stop: no new call */
    snapshot_t *snap; /* retained during a run */
    size_t site_i;
    const site_t *site;
    unsigned partition;
    checkpoint_head_t heads[STORE_PARTITIONS];
    /* The batch being appended to one partition's chain. */
    size_t n_links;
    store_chain_link_t links[STORE_CHAIN_BATCH_MAX];
    char link_id[STORE_CHAIN_BATCH_MAX][CHECKPOINT_ID_MAX];
    char link_h[STORE_CHAIN_BATCH_MAX][LOGCHAIN_HEX_LEN + 1];
    unsigned char *canon; /* the canonical encoding of one entry, grown as needed */
    size_t canon_cap;
};

static void checkpoint_next_site(checkpointer_t *cp);
static void checkpoint_chain_step(checkpointer_t *cp);

checkpointer_t *checkpointer_create(redis_t *r, metrics_t *metrics, uint32_t interval_ms,
                                    const char *iss)
{
    if (r == NULL || interval_ms == 0) return NULL;
    checkpointer_t *cp = calloc(1, sizeof(*cp));
    if (cp == NULL) return NULL;
    cp->r = r;
    cp->metrics = metrics;
    cp->interval_ms = interval_ms;
    cp->iss = strdup(iss != NULL ? iss : "");
    if (cp->iss == NULL) {
        free(cp);
        return NULL;
    }
    unsigned char t[CHECKPOINT_TOKEN_BYTES];
    randombytes_buf(t, sizeof(t));
    sodium_bin2hex(cp->token, sizeof(cp->token), t, sizeof(t));
    return cp;
}

void checkpointer_destroy(checkpointer_t *cp)
{
    if (cp == NULL) return;
    if (cp->snap != NULL) snapshot_release(cp->snap);
    free(cp->canon);
    free(cp->iss);
    free(cp);
}

int checkpointer_busy(const checkpointer_t *cp)
{
    return cp != NULL && cp->busy;
}

void checkpointer_stop(checkpointer_t *cp)
{
    if (cp != NULL) cp->stopped = 1;
}

void checkpointer_run(checkpointer_t *cp, snapshot_t *snap)
{
    if (cp == NULL || cp->busy || cp->stopped || snap == NULL) return;
    cp->busy = 1;
    cp->snap = snapshot_retain(snap);
    cp->site_i = 0;
    checkpoint_next_site(cp);
}

/* The site's run stopped on an error: count it, go on with the next site. */
static void checkpoint_site_failed(checkpointer_t *cp, const char *what, const char *detail)
{
    if (cp->metrics != NULL) metrics_count(cp->metrics, METRICS_LOG_CHECKPOINT_FAILURES, 1);
    log_msg(LOG_WARN, "checkpoint: site %s: %s: %s", cp->site->id, what, detail);
    cp->site_i++;
    checkpoint_next_site(cp);
}

static void checkpoint_site_done(checkpointer_t *cp)
{
    cp->site_i++;
    checkpoint_next_site(cp);
}

/* ---- 3. the checkpoint ------------------------------------------------------- */

static void checkpoint_put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

/* root = SHA-256(0x03 || for each head: u32be(p) || u64be(n) || h). */
static void checkpoint_root(const checkpointer_t *cp, char out[LOGCHAIN_HEX_LEN + 1])
{
    crypto_hash_sha256_state st;
    unsigned char tag = 0x03, buf[12], root[LOGCHAIN_HASH_BYTES];
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &tag, 1);
    for (unsigned p = 0; p < STORE_PARTITIONS; p++) {
        const checkpoint_head_t *h = &cp->heads[p];
        if (!h->set) continue;
        checkpoint_put_u32(buf, p);
        checkpoint_put_u32(buf + 4, (uint32_t)(h->n >> 32));
        checkpoint_put_u32(buf + 8, (uint32_t)h->n);
        crypto_hash_sha256_update(&st, buf, sizeof(buf));
        crypto_hash_sha256_update(&st, h->h, sizeof(h->h));
    }
    crypto_hash_sha256_final(&st, root);
    logchain_hex(root, out);
}

/* The signed checkpoint (checkpoint.h gives the payload), heap; NULL when
 * out of memory. prev: the previous checkpoint's JWS, or NULL. */
static char *checkpoint_sign(const checkpointer_t *cp, const char *prev, size_t prev_len,
                             const char *root, size_t *len)
{
    strbuf_t w;
    char hex[LOGCHAIN_HEX_LEN + 1];
    uint64_t size = 0;
    int64_t now = clock_real_ms();
    strbuf_init_heap(&w);
    strbuf_lit(&w, "{\"typ\":\"consentd-log-checkpoint\",\"iss\":");
    strbuf_json_str(&w, cp->iss);
    strbuf_lit(&w, ",\"site\":");
    strbuf_json_str(&w, cp->site->id);
    strbuf_lit(&w, ",\"iat\":");
    strbuf_i64(&w, now / 1000);
    strbuf_lit(&w, ",\"ts\":");
    strbuf_i64(&w, now);
    for (unsigned p = 0; p < STORE_PARTITIONS; p++)
        if (cp->heads[p].set) size += cp->heads[p].n;
    strbuf_lit(&w, ",\"size\":");
    strbuf_u64(&w, size);
    strbuf_lit(&w, ",\"prev\":");
    if (prev != NULL) {
        unsigned char d[LOGCHAIN_HASH_BYTES];
        crypto_hash_sha256(d, (const unsigned char *)prev, prev_len);
        logchain_hex(d, hex);
        strbuf_char(&w, '"');
        strbuf_str(&w, hex);
        strbuf_char(&w, '"');
    } else {
        strbuf_lit(&w, "null");
    }
    strbuf_lit(&w, ",\"root\":\"");
    strbuf_str(&w, root);
    strbuf_lit(&w, "\",\"heads\":[");
    int first = 1;
    for (unsigned p = 0; p < STORE_PARTITIONS; p++) {
        const checkpoint_head_t *h = &cp->heads[p];
        if (!h->set) continue;
        strbuf_str(&w, first ? "{\"p\":" : ",{\"p\":");
        first = 0;
        strbuf_u64(&w, p);
        strbuf_lit(&w, ",\"n\":");
        strbuf_u64(&w, h->n);
        strbuf_lit(&w, ",\"id\":\"");
        strbuf_str(&w, h->id);
        strbuf_lit(&w, "\",\"h\":\"");
        logchain_hex(h->h, hex);
        strbuf_str(&w, hex);
        strbuf_lit(&w, "\"}");
    }
    strbuf_lit(&w, "]}");
    if (strbuf_failed(&w)) {
        strbuf_free(&w);
        return NULL;
    }
    size_t plen;
    char *payload = strbuf_take(&w, &plen);
    size_t hlen;
    const char *header = key_set_jws_header(cp->snap->keys, &hlen);
    size_t signed_len = hlen + 1 + BASE64URL_LEN(plen);
    size_t total = signed_len + 1 + BASE64URL_LEN(crypto_sign_BYTES);
    char *jws = payload != NULL ? malloc(total + 1) : NULL;
    if (jws == NULL) {
        free(payload);
        return NULL;
    }
    unsigned char sig[crypto_sign_BYTES];
    memcpy(jws, header, hlen);
    jws[hlen] = '.';
    base64url_encode(jws + hlen + 1, (const unsigned char *)payload, plen);
    key_set_sign(cp->snap->keys, (const unsigned char *)jws, signed_len, sig);
    jws[signed_len] = '.';
    base64url_encode(jws + signed_len + 1, sig, sizeof(sig));
    jws[total] = '\0';
    free(payload);
    *len = total;
    return jws;
}

static void checkpoint_on_added(void *data, const char *id, const redis_error_t *err)
{
    checkpointer_t *cp = data;
    if (err != NULL) {
        checkpoint_site_failed(cp, "appending the checkpoint", err->detail);
        return;
    }
    if (id == NULL) {
        log_msg(LOG_INFO, "checkpoint: site %s: another node appended a checkpoint first",
                cp->site->id);
    } else {
        if (cp->metrics != NULL) metrics_count(cp->metrics, METRICS_LOG_CHECKPOINTS, 1);
        log_msg(LOG_DEBUG, "checkpoint: site %s: checkpoint %s", cp->site->id, id);
    }
    checkpoint_site_done(cp);
}

static void checkpoint_on_last(void *data, const store_checkpoint_t *cps, size_t n,
                               const char *next_cursor, const redis_error_t *err)
{
    checkpointer_t *cp = data;
    char root[LOGCHAIN_HEX_LEN + 1];
    if (err != NULL) {
        checkpoint_site_failed(cp, "reading the last checkpoint", err->detail);
        return;
    }
    int any = 0;
    for (unsigned p = 0; p < STORE_PARTITIONS && !any; p++)
        any = cp->heads[p].set;
    checkpoint_root(cp, root);
    if (!any || (n > 0 && strcmp(cps[0].root, root) == 0)) {
        checkpoint_site_done(cp); /* nothing new since the last checkpoint */
        return;
    }
    size_t len;
    char *jws =
        checkpoint_sign(cp, n > 0 ? cps[0].jws : NULL, n > 0 ? cps[0].jws_len : 0, root, &len);
    if (jws == NULL) {
        checkpoint_site_failed(cp, "signing", "out of memory");
        return;
    }
    int rc = store_checkpoint_add(cp->r, cp->site->id, n > 0 ? cps[0].id : NULL, jws, len, root,
                                  (int64_t)cp->site->log_retention_days * 86400000,
                                  checkpoint_on_added, cp);
    free(jws);
    if (rc != REDIS_OK)
        checkpoint_site_failed(cp, "appending the checkpoint", redis_error_of_rc(rc)->detail);
}

/* ---- 2. the chains --------------------------------------------------------- */

static void checkpoint_on_appended(void *data, long long appended, const redis_error_t *err)
{
    checkpointer_t *cp = data;
    if (err != NULL) {
        checkpoint_site_failed(cp, "extending a chain", err->detail);
        return;
    }
    if (appended < 0) {
        /* Another node extended it meanwhile (its lease expired mid-way, or
         * ours): it goes on with this site. */
        log_msg(LOG_INFO, "checkpoint: site %s: partition %u: another node extended the chain",
                cp->site->id, cp->partition);
        checkpoint_site_done(cp);
        return;
    }
    const store_chain_link_t *last = &cp->links[cp->n_links - 1];
    checkpoint_head_t *h = &cp->heads[cp->partition];
    h->set = 1;
    h->n = last->n;
    snprintf(h->id, sizeof(h->id), "%s", last->id);
    logchain_unhex(last->h, LOGCHAIN_HEX_LEN, h->h);
    /* A full batch: there may be more in this partition. */
    if (cp->n_links < STORE_CHAIN_BATCH_MAX) cp->partition++;
    checkpoint_chain_step(cp);
}

/* The n of an entry: its field n when it has one (store.c writes it), else
 * the one after prev. */
static uint64_t checkpoint_entry_n(const store_log_entry_t *e, uint64_t prev)
{
    for (size_t f = 0; f + 1 < e->n_fields; f += 2) {
        const logchain_bytes_t *name = &e->fields[f], *v = &e->fields[f + 1];
        if (name->len == 1 && name->p[0] == 'n' && v->len > 0 && v->len < 20) {
            uint64_t n = 0;
            size_t i;
            for (i = 0; i < v->len && v->p[i] >= '0' && v->p[i] <= '9'; i++)
                n = n * 10 + (uint64_t)(v->p[i] - '0');
            if (i == v->len) return n;
        }
    }
    return prev + 1;
}

static void checkpoint_on_pending(void *data, const store_chain_head_t *head,
                                  const store_log_entry_t *entries, size_t n,
                                  const redis_error_t *err)
{
    checkpointer_t *cp = data;
    if (err != NULL) {
        checkpoint_site_failed(cp, "reading a chain", err->detail);
        return;
    }
    checkpoint_head_t *h = &cp->heads[cp->partition];
    unsigned char prev[LOGCHAIN_HASH_BYTES];
    uint64_t prev_n = 0;
    memset(h, 0, sizeof(*h));
    if (head->id != NULL) {
        if (logchain_unhex(head->h, strlen(head->h), prev) != 0) {
            checkpoint_site_failed(cp, "reading a chain", "a chain value is not 64 hex");
            return;
        }
        h->set = 1;
        h->n = prev_n = head->n;
        snprintf(h->id, sizeof(h->id), "%s", head->id);
        memcpy(h->h, prev, sizeof(prev));
    } else {
        logchain_start(cp->site->id, cp->partition, prev);
    }
    if (n == 0) {
        cp->partition++;
        checkpoint_chain_step(cp);
        return;
    }
    if (n > STORE_CHAIN_BATCH_MAX) n = STORE_CHAIN_BATCH_MAX;
    for (size_t i = 0; i < n; i++) {
        const store_log_entry_t *e = &entries[i];
        size_t len = logchain_canonical_len(e->id, e->id_len, e->fields, e->n_fields);
        if (len == 0 || e->id_len >= CHECKPOINT_ID_MAX) {
            checkpoint_site_failed(cp, "hashing", "a log entry too large");
            return;
        }
        if (len > cp->canon_cap) {
            unsigned char *b = realloc(cp->canon, len);
            if (b == NULL) {
                checkpoint_site_failed(cp, "hashing", "out of memory");
                return;
            }
            cp->canon = b;
            cp->canon_cap = len;
        }
        unsigned char leaf[LOGCHAIN_HASH_BYTES];
        logchain_canonical(e->id, e->id_len, e->fields, e->n_fields, cp->canon, cp->canon_cap);
        logchain_leaf(cp->canon, len, leaf);
        logchain_next(prev, leaf, prev);
        prev_n = checkpoint_entry_n(e, prev_n);
        memcpy(cp->link_id[i], e->id, e->id_len);
        cp->link_id[i][e->id_len] = '\0';
        logchain_hex(prev, cp->link_h[i]);
        cp->links[i] = (store_chain_link_t){cp->link_id[i], prev_n, cp->link_h[i]};
    }
    cp->n_links = n;
    int rc = store_chain_append(cp->r, cp->site->id, cp->partition, head->id,
                                (int64_t)cp->site->log_retention_days * 86400000, cp->links, n,
                                checkpoint_on_appended, cp);
    if (rc != REDIS_OK)
        checkpoint_site_failed(cp, "extending a chain", redis_error_of_rc(rc)->detail);
}

static void checkpoint_chain_step(checkpointer_t *cp)
{
    int rc;
    if (cp->partition >= STORE_PARTITIONS) {
        rc = store_checkpoint_last(cp->r, cp->site->id, checkpoint_on_last, cp);
        if (rc != REDIS_OK)
            checkpoint_site_failed(cp, "reading the last checkpoint",
                                   redis_error_of_rc(rc)->detail);
        return;
    }
    rc = store_chain_pending(cp->r, cp->site->id, cp->partition, STORE_CHAIN_BATCH_MAX,
                             checkpoint_on_pending, cp);
    if (rc != REDIS_OK)
        checkpoint_site_failed(cp, "reading a chain", redis_error_of_rc(rc)->detail);
}

/* ---- 1. the lease, site by site ------------------------------------------- */

static void checkpoint_on_lease(void *data, int found, const redis_error_t *err)
{
    checkpointer_t *cp = data;
    if (err != NULL) {
        checkpoint_site_failed(cp, "taking the lease", err->detail);
        return;
    }
    if (!found) { /* another node does this site in this interval */
        checkpoint_site_done(cp);
        return;
    }
    memset(cp->heads, 0, sizeof(cp->heads));
    cp->partition = 0;
    checkpoint_chain_step(cp);
}

static void checkpoint_next_site(checkpointer_t *cp)
{
    const site_set_t *sites = cp->snap->sites;
    while (!cp->stopped && cp->site_i < site_set_count(sites)) {
        cp->site = site_set_at(sites, cp->site_i);
        if (cp->site->log_retention_days == 0) {
            cp->site_i++;
            continue;
        }
        /* Held a little less than the interval: free again at the next tick. */
        int64_t ttl = cp->interval_ms - cp->interval_ms / 10;
        int rc = store_checkpoint_lease(cp->r, cp->site->id, cp->token, ttl > 0 ? ttl : 1,
                                        checkpoint_on_lease, cp);
        if (rc == REDIS_OK) return;
        if (cp->metrics != NULL) metrics_count(cp->metrics, METRICS_LOG_CHECKPOINT_FAILURES, 1);
        log_msg(LOG_WARN, "checkpoint: site %s: taking the lease: %s", cp->site->id,
                redis_error_of_rc(rc)->detail);
        cp->site_i++;
    }
    /* The run is over. */
    snapshot_release(cp->snap);
    cp->snap = NULL;
    cp->busy = 0;
}
