/*
 * json.c: the client's JSON helpers over jansson: parse a response body, walk a
 * dotted path into a document, and POST a document. jansson does the JSON;
 * nothing here parses or prints it by hand.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "flare/http_client.h"

int flare_http_reply_json(const flare_http_reply *r, json_t **out, flare_error *err)
{
    *out = NULL;
    if (!r->body || r->body_len == 0)
        return flare_error_set(err, FLARE_EPARSE, 0, "JSON: the response body is empty");
    json_error_t je;
    /* Any value at the top (RFC 8259 §2), not only objects and arrays. */
    json_t *doc = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, &je);
    if (!doc)
        return flare_error_set(err, FLARE_EPARSE, 0, "JSON: %s at line %d column %d", je.text,
                               je.line, je.column);
    *out = doc;
    return 0;
}

json_t *flare_http_json_path(json_t *root, const char *path)
{
    json_t *node = root;
    const char *p = path;
    while (node && p && *p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        char key[256];
        if (len >= sizeof key) return NULL;
        memcpy(key, p, len);
        key[len] = '\0';
        if (json_is_object(node)) {
            node = json_object_get(node, key);
        } else if (json_is_array(node)) {
            char *end;
            unsigned long index = strtoul(key, &end, 10);
            if (len == 0 || *end || key[0] == '-') return NULL;
            node = json_array_get(node, index);
        } else {
            return NULL;
        }
        p = dot ? dot + 1 : NULL;
    }
    return node;
}

int flare_http_client_post_json(flare_http_client *c, const char *url, const json_t *doc,
                                flare_http_reply *reply, flare_error *err)
{
    memset(reply, 0, sizeof *reply);
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    if (!text)
        return flare_error_set(err, doc ? FLARE_ENOMEM : FLARE_EINVAL, 0,
                               "JSON: cannot serialise the document");
    flare_http_request_opts o = {.method = "POST",
                                 .url = url,
                                 .body = text,
                                 .body_len = strlen(text),
                                 .content_type = "application/json"};
    int rc = flare_http_client_request(c, &o, reply, err);
    free(text);
    return rc;
}
