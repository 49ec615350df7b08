/*
 * server_stream.c: deferred responses (flare_response_defer), which a route writes
 * over later loop turns, and request bodies streamed to a route's reader piece by
 * piece, paused and resumed with it. Both live in their connection (its `stream`).
 */
#include "server_conn.h"

#include <stdio.h>
#include <string.h>

/* After the handler returned with flare_response_defer: the connection waits for
 * the stream, with no timer of its own until output blocks. */
void flare_http__conn_begin_stream(conn *c, flare_response *resp)
{
    flare_http_stream *s = &c->stream;
    *s = (flare_http_stream){.c = c,
                             .ops = resp->defer_ops,
                             .data = resp->defer_data,
                             .active = true,
                             .keep_alive = c->req->keep_alive && !c->closing,
                             .http10 = c->req->minor_version == 0,
                             .head_only = c->req->method_id == FLARE_METHOD_HEAD,
                             .in_end = c->start + (c->streaming_body ? c->head_len : c->consumed)};
    flare_http__response_drop_file(resp);
    flare_http__response_reset(resp);
    flare_timer_cancel(flare_reactor_timers(c->srv->reactor), &c->timer);
    c->wait = W_NONE;
}

/* The output queued so far is written; true when the owner was told and may have
 * queued more (or ended the stream). */
bool flare_http__conn_stream_written(conn *c)
{
    flare_timer_cancel(flare_reactor_timers(c->srv->reactor), &c->timer);
    c->wait = W_NONE;
    if (!c->stream.want_writable) return false;
    c->stream.want_writable = false;
    c->stream.ops->writable(&c->stream, c->stream.data);
    return true;
}

/* Runs the connection after a stream call made outside drive(); FLARE_ECLOSED when it
 * closed meanwhile. Inside drive() the loop picks the change up itself. */
static int stream_kick(flare_http_stream *s)
{
    conn *c = s->c;
    if (c->driving) return 0;
    uint32_t generation = c->generation;
    s->in_call = true;
    flare_http__conn_drive(c);
    if (c->generation != generation) return FLARE_ECLOSED;
    s->in_call = false;
    if (s->ended_in_call) {
        s->ended_in_call = false;
        return FLARE_ECLOSED;
    }
    return 0;
}

flare_http_stream *flare_response_defer(flare_response *resp, const flare_http_stream_ops *ops,
                                        void *data)
{
    if (!resp->owner || !ops || !ops->writable || !ops->closed) return NULL;
    resp->defer_ops = ops;
    resp->defer_data = data;
    resp->owner->stream.c = resp->owner;
    return &resp->owner->stream;
}

flare_http_upstream_info *flare_http_stream_upstream(flare_http_stream *s)
{
    return &pending_of(s->c)->upstream;
}

flare_response *flare_http_stream_response(flare_http_stream *s)
{
    flare_response *resp = &s->c->srv->resp;
    flare_http__response_reset(resp);
    return resp;
}

int flare_http_stream_send_head(flare_http_stream *s, int64_t content_length)
{
    conn *c = s->c;
    flare_http_server *srv = c->srv;
    flare_response *resp = &srv->resp;
    if (!s->active || s->head_sent || resp->status < 200) return FLARE_EINVAL;
    bool no_content = flare_http__status_unframed(resp->status); /* 1xx refused above */
    /* A request body still arriving ends the connection at finish: say so now, or a
     * client (a proxy's keep-alive pool) sends its next request into the close. */
    bool closing = !s->keep_alive || resp->close || srv->stopping || c->streaming_body ||
                   c->requests >= srv->cfg.max_keepalive_requests;
    int frame = FLARE_HTTP__FRAME_LENGTH;
    if (no_content) {
        frame = FLARE_HTTP__FRAME_NONE;
    } else if (resp->status == 205) {
        content_length = 0; /* RFC 9110 §15.3.6: no content, framed as such */
    } else if (content_length < 0 && s->http10) {
        frame = FLARE_HTTP__FRAME_NONE; /* RFC 9112 §6.3: the close ends the body */
        closing = true;
    } else if (content_length < 0) {
        frame = FLARE_HTTP__FRAME_CHUNKED;
    }
    flare_http__conn_take_out(c);
    size_t out_begin = c->out.len, head_len = 0;
    int rc = flare_http__response_serialize_head(resp, &c->out, &srv->head_start, frame,
                                                 content_length < 0 ? 0 : (uint64_t)content_length,
                                                 closing, s->http10 && !closing, &head_len);
    if (rc < 0) {
        flare_http_stream_abort(s);
        return rc;
    }
    srv->stats.responses_by_class[resp->status / 100]++;
    if (srv->on_complete)
        flare_http__conn_record(c, resp->status, out_begin, head_len, true,
                                pending_of(c)->view.serial);
    s->head_sent = true;
    s->frame = (uint8_t)frame;
    s->left = content_length < 0 ? 0 : (uint64_t)content_length;
    s->discard = s->head_only || flare_http__status_contentless(resp->status);
    s->close_after = closing;
    return 0; /* written with the first body bytes or at finish: one send, not two */
}

/* Queues the stream's 1xx head (no framing fields: it has no content); the stream is
 * aborted when it cannot be. */
static int queue_1xx_head(flare_http_stream *s, size_t *out_begin, size_t *head_len)
{
    conn *c = s->c;
    flare_http_server *srv = c->srv;
    flare_http__conn_take_out(c);
    *out_begin = c->out.len;
    *head_len = 0;
    int rc = flare_http__response_serialize_head(&srv->resp, &c->out, &srv->head_start,
                                                 FLARE_HTTP__FRAME_NONE, 0, false, false, head_len);
    if (rc < 0) {
        flare_http_stream_abort(s);
        return rc;
    }
    srv->stats.responses_by_class[1]++;
    return 0;
}

int flare_http_stream_send_interim(flare_http_stream *s)
{
    const flare_response *resp = &s->c->srv->resp;
    if (!s->active || s->head_sent || resp->status < 100 || resp->status > 199 ||
        resp->status == 101)
        return FLARE_EINVAL;
    if (s->http10) return 0;
    size_t out_begin, head_len;
    int rc = queue_1xx_head(s, &out_begin, &head_len);
    return rc < 0 ? rc : stream_kick(s);
}

int flare_http_stream_flush(flare_http_stream *s)
{
    if (!s->active) return FLARE_EINVAL;
    return stream_kick(s);
}

int flare_http_stream_write(flare_http_stream *s, const void *data, size_t len)
{
    conn *c = s->c;
    if (!s->active || !s->head_sent) return FLARE_EINVAL;
    if (s->discard || len == 0) return 0;
    if (s->frame == FLARE_HTTP__FRAME_LENGTH) {
        if (len > s->left) {
            flare_http_stream_abort(s); /* more than the head promised would desynchronise */
            return FLARE_EINVAL;
        }
        s->left -= len;
    }
    flare_http__conn_take_out(c);
    size_t queued_before = c->out.len;
    int rc = 0;
    if (s->frame == FLARE_HTTP__FRAME_CHUNKED) {
        char size_line[24]; /* RFC 9112 §7.1: chunk-size in hex, CRLF */
        int n = snprintf(size_line, sizeof size_line, "%zx\r\n", len);
        rc = flare_buf_reserve(&c->out, (size_t)n + len + 2);
        if (rc == 0) {
            flare_buf_append(&c->out, size_line, (size_t)n);
            flare_buf_append(&c->out, data, len);
            flare_buf_append(&c->out, "\r\n", 2);
        }
    } else {
        rc = flare_buf_append(&c->out, data, len);
    }
    if (rc < 0) {
        flare_http_stream_abort(s);
        return rc;
    }
    if (c->log_pending) pending_of(c)->queued += c->out.len - queued_before;
    rc = stream_kick(s);
    if (rc < 0) return rc;
    if (pending_out(c) > c->srv->cfg.output_high_water) {
        s->want_writable = true;
        return 1;
    }
    return 0;
}

int flare_http_stream_finish(flare_http_stream *s)
{
    conn *c = s->c;
    if (!s->active || !s->head_sent) return FLARE_EINVAL;
    if (s->frame == FLARE_HTTP__FRAME_LENGTH && s->left && !s->discard) {
        flare_http_stream_abort(s); /* a short body must not look complete */
        return FLARE_EINVAL;
    }
    flare_http__conn_take_out(c);
    if (s->frame == FLARE_HTTP__FRAME_CHUNKED && !s->discard) {
        if (flare_buf_append(&c->out, "0\r\n\r\n", 5) < 0) {
            flare_http_stream_abort(s);
            return FLARE_ENOMEM;
        }
        if (c->log_pending) pending_of(c)->queued += 5;
    }
    s->active = false;
    /* A body still arriving cannot be skipped reliably: the connection ends. */
    if (s->close_after || c->streaming_body) c->closing = true;
    stream_kick(s); /* the response is complete whatever happens to the connection now */
    return 0;
}

int flare_http_stream_upgrade(flare_http_stream *s, flare_http_upgrade_fn fn, void *data)
{
    conn *c = s->c;
    flare_http_server *srv = c->srv;
    flare_response *resp = &srv->resp;
    if (!s->active || s->head_sent || !fn) return FLARE_EINVAL;
    flare_response_status(resp, 101);
    size_t out_begin, head_len;
    int rc = queue_1xx_head(s, &out_begin, &head_len);
    if (rc < 0) return rc;
    if (srv->on_complete)
        flare_http__conn_record(c, 101, out_begin, head_len, true, pending_of(c)->view.serial);
    s->head_sent = true;
    /* The stream stays active until the hand-over, so a close before it is reported. */
    c->upgrade_fn = fn;
    c->upgrade_data = data;
    if (stream_kick(s) < 0 && c->upgrade_fn) {
        /* Closed inside this call, before the hand-over: report it as promised. */
        c->upgrade_fn = NULL;
        s->ops->closed(s, s->data);
    }
    return 0;
}

void flare_http_stream_abort(flare_http_stream *s)
{
    if (!s->active) return;
    s->active = false;
    s->c->closing = true;
    s->c->upgrade_fn = NULL; /* a 101 still queued is not followed by a hand-over */
    /* RFC 9112 §6.3: a body delimited by the close must not end with one when cut. */
    if (s->head_sent && s->frame == FLARE_HTTP__FRAME_NONE && !s->discard) s->c->reset_close = true;
    stream_kick(s);
}

/*
 * A streamed body broke its framing or the route's limit. Before the owner sent a
 * head the client gets the status (Connection: close) and the owner learns that its
 * stream ended, from `closed` or, when its own call ran this, from that call's
 * FLARE_ECLOSED; after the head only closing the connection can say it.
 */
int flare_http__conn_body_failed(conn *c, int status)
{
    flare_http_stream *s = &c->stream;
    if (s->head_sent || !s->active) return SB_FAILED;
    s->active = false;
    c->streaming_body = false;
    if (s->in_call)
        s->ended_in_call = true;
    else
        s->ops->closed(s, s->data);
    flare_http__conn_fail(c, status);
    return SB_MORE; /* the loop writes the answer, then lingers and closes */
}

/* Hands the body bytes buffered in the block to the reader. */
static int feed_body(conn *c)
{
    flare_http_stream *s = &c->stream;
    char *p = c->in + c->start;
    size_t len = c->in_len - c->start, after = 0;
    bool done;
    if (!c->chunked) {
        if (len > c->body_left) len = (size_t)c->body_left;
        c->body_left -= len;
        c->start += len;
        done = c->body_left == 0;
    } else {
        ssize_t rc = flare_http_decode_chunked(&pending_of(c)->dec, p, &len);
        if (rc == FLARE_EPARSE) return flare_http__conn_body_failed(c, 400); /* RFC 9112 §7.1 */
        if (rc == FLARE_ELIMIT)
            return flare_http__conn_body_failed(c, 413); /* a chunk over the limit */
        c->body_len += len;
        if (c->body_len > c->body_limit)
            return flare_http__conn_body_failed(c, 413); /* the route's limit */
        done = rc >= 0;
        after = done ? (size_t)rc : 0;
    }
    int pause = len ? s->body_ops->data(s, p, len, s->body_data) : 0;
    if (c->chunked) {
        /* The payload was decoded in place; what follows the body (the next request)
         * moves up behind the bytes already handed over. */
        memmove(p, p + len, after);
        c->in_len = c->start + after;
    }
    if (pause == 1) s->body_paused = true;
    if (done) {
        c->streaming_body = false;
        c->phase = PH_HEAD;
        c->last_len = 0;
        c->head_deadline_ms = 0;
        c->wait = W_NONE;
        if (s->active) s->body_ops->end(s, s->body_data);
    }
    return SB_MORE;
}

/* Reads and delivers the streamed body while its reader wants it. */
int flare_http__conn_stream_body(conn *c)
{
    flare_http_stream *s = &c->stream;
    if (!c->streaming_body || !s->body_ops || s->body_paused) return SB_WAIT;
    if (c->in_len > c->start) return feed_body(c);
    /* The next piece goes behind the head, which the request's report still shows. */
    c->start = c->in_len = c->stream.in_end < c->in_cap ? c->stream.in_end : 0;
    if (!c->may_read) {
        flare_http__conn_wait_input(c); /* the body timer: a client that stops sending is closed */
        return SB_WAIT;
    }
    ssize_t n = flare_http__conn_read_some(c);
    if (n == FLARE_EAGAIN) {
        c->may_read = false;
        flare_http__conn_wait_input(c);
        return SB_WAIT;
    }
    if (n < 0 && n != FLARE_ENOMEM) c->client_gone = true; /* it left mid-body */
    return n < 0 ? SB_FAILED : SB_MORE;
}

int flare_http_stream_read_body(flare_http_stream *s, const flare_http_body_ops *ops, void *data)
{
    if (!s->active || !s->c->streaming_body || !ops || !ops->data || !ops->end) return FLARE_EINVAL;
    s->body_ops = ops;
    s->body_data = data;
    s->body_paused = false;
    return stream_kick(s);
}

int flare_http_stream_body_resume(flare_http_stream *s)
{
    if (!s->active) return FLARE_EINVAL;
    if (!s->body_paused) return 0;
    s->body_paused = false;
    return stream_kick(s);
}
