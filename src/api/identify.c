/*
 * identify.c - POST /v1/sites/{site}/identify (identify.h): two store
 * calls, the visitor's slot then the user's, then the answer.
 */
#include "identify.h"

#include <jansson.h>
#include <string.h>

#include "clock.h"
#include "consent.h"
#include "identify_token.h"
#include "store.h"
#include "strbuf.h"
#include "visitor.h"

/* What the request keeps while Redis answers. */
typedef struct identify_call {
    char user[IDENTIFY_USER_HEX + 1];
    char visitor[VISITOR_ID_MAX + 1];
    int64_t visitor_issued_ms; /* the visitor's own current choice; 0: none */
} identify_call_t;

static void identify_on_user(void *data, const store_record_t *rec, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    identify_call_t *ic = http_pending_state(p);
    if (rq == NULL) {
        http_pending_free(p);
        return;
    }
    if (err != NULL) {
        http_pending_free(p);
        http_storage_error(rq, 0, err);
        return;
    }
    /* The user's choice is for this visitor when another visitor made it
     * after this one's own, on the current policy, and it is still valid
     * (with no visitor, the site's server asking: whenever it is valid). */
    int carry = rec != NULL && rec->expires_at_ms > clock_real_ms() &&
                strcmp(rec->visitor, ic->visitor) != 0 &&
                rec->issued_at_ms > ic->visitor_issued_ms &&
                strcmp(rec->policy_version, rq->site->policy_version) == 0;
    strbuf_t b;
    strbuf_init_pool(&b, &rq->req->pool);
    strbuf_lit(&b, "{\"visitor\":");
    if (ic->visitor[0] != '\0')
        strbuf_json_str(&b, ic->visitor);
    else
        strbuf_lit(&b, "null");
    strbuf_lit(&b, ",\"choice\":");
    if (carry)
        consent_record_json(&b, rec, rq->site->policy_version);
    else
        strbuf_lit(&b, "null");
    strbuf_char(&b, '}');
    if (strbuf_failed(&b))
        http_error(rq, 500, "internal", "the answer could not be built");
    else
        http_send_json_static(rq, 200, b.buf, b.len);
    http_pending_free(p);
}

/* The visitor is linked; rec is its current choice (NULL: none). */
static void identify_on_link(void *data, const store_record_t *rec, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    identify_call_t *ic = http_pending_state(p);
    if (rq == NULL || err != NULL) {
        http_pending_free(p);
        if (rq != NULL) http_storage_error(rq, 0, err);
        return;
    }
    if (rec != NULL && rec->expires_at_ms <= clock_real_ms()) rec = NULL;
    ic->visitor_issued_ms = rec != NULL ? rec->issued_at_ms : 0;
    int rc = store_user_choice(rq->worker->redis, rq->site, ic->user, ic->visitor, rec,
                               identify_on_user, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}

void identify_post(http_request_t *rq)
{
    const site_t *site = rq->site;
    http_caller_t caller = http_caller(rq);
    if (caller != HTTP_CALLER_BROWSER && caller != HTTP_CALLER_SERVER) {
        http_caller_error(rq, caller);
        return;
    }
    if (!site->identify.enabled) {
        http_error(rq, 404, "identify_not_enabled",
                   "this site declares no \"identify\" in its site file");
        return;
    }
    if (!http_body_is_json_or_text(rq)) {
        http_error(rq, 415, "unsupported_media_type",
                   "send the body as application/json (or text/plain)");
        return;
    }
    json_t *root =
        json_loadb(rq->req->entity.base, rq->req->entity.len, JSON_REJECT_DUPLICATES, NULL);
    json_t *token = json_object_get(root, "token"), *visitor = json_object_get(root, "visitor");
    const char *message = NULL, *code = "invalid_body";
    if (root == NULL || !json_is_object(root))
        code = "malformed_json", message = "the body must be a JSON object";
    else if (json_object_size(root) != 1 + (visitor != NULL) || !json_is_string(token))
        message = "the body must be {\"token\": \"<JWS>\", \"visitor\": \"<visitor id>\"}";
    else if (visitor == NULL && caller != HTTP_CALLER_SERVER)
        code = "missing_field",
        message = "visitor is required (only the site's server may leave it out)";
    else if (visitor != NULL &&
             (!json_is_string(visitor) ||
              !visitor_id_valid(json_string_value(visitor), json_string_length(visitor))))
        code = "invalid_visitor", message = "visitor must be 8 to 64 characters of A-Z a-z 0-9 - _";
    if (message != NULL) {
        json_decref(root);
        http_error(rq, 400, code, message);
        return;
    }
    http_pending_t *p = http_pending_new(rq, sizeof(identify_call_t));
    if (p == NULL) {
        json_decref(root);
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    identify_call_t *ic = http_pending_state(p);
    identify_token_status_t st =
        identify_token_verify(site, json_string_value(token), json_string_length(token),
                              clock_real_ms() / 1000, ic->user);
    ic->visitor[0] = '\0';
    if (visitor != NULL)
        memcpy(ic->visitor, json_string_value(visitor), json_string_length(visitor) + 1);
    json_decref(root);
    if (st != IDENTIFY_OK) {
        http_pending_free(p);
        http_error(rq, identify_token_status_http(st), identify_token_status_code(st),
                   identify_token_status_message(st));
        return;
    }
    /* No visitor (the site's server, before it renders the page): the
     * user's choice is only read, nothing is linked. */
    int rc = ic->visitor[0] != '\0' ? store_identify_link(rq->worker->redis, site, ic->visitor,
                                                          ic->user, identify_on_link, p)
                                    : store_user_choice(rq->worker->redis, site, ic->user, NULL,
                                                        NULL, identify_on_user, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}
