/*
 * ws.h: WebSocket (RFC 6455) and permessage-deflate (RFC 7692) for libflare.
 * The pieces are separable: a stateless frame codec, SIMD masking, an
 * incremental UTF-8 validator, a message assembler (flare_ws_parser) that
 * enforces every receive rule and names the close code to send, server-side
 * handshake checks over a parsed HTTP request, zlib compression, a blocking
 * client, and non-blocking server connections on the reactor, entered from an
 * HTTP handler with flare_ws_upgrade. Nothing here allocates per frame; buffers
 * are per connection.
 */
#ifndef FLARE_WS_H
#define FLARE_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "flare/error.h"
#include "flare/http.h"
#include "flare/http_parser.h"
#include "flare/net.h"
#include "flare/runtime.h"
#include "flare/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Largest frame header: 2 bytes, 8 of extended length, 4 of mask key. */
#define FLARE_WS_MAX_HEADER 14
/** Largest control frame payload (RFC 6455 §5.5). */
#define FLARE_WS_MAX_CONTROL 125
/** Message size limit used when a limit field is 0 (16 MiB). */
#define FLARE_WS_DEFAULT_MAX_MESSAGE (16u << 20)
/** The only protocol version (RFC 6455 §4.1), as sent in Sec-WebSocket-Version. */
#define FLARE_WS_VERSION "13"
/** The GUID appended to the key to form Sec-WebSocket-Accept (RFC 6455 §1.3). */
#define FLARE_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/** Length of a Sec-WebSocket-Key value (base64 of 16 bytes). */
#define FLARE_WS_KEY_LEN 24
/** Length of a Sec-WebSocket-Accept value (base64 of a SHA-1). */
#define FLARE_WS_ACCEPT_LEN 28
/** Capacity of the negotiated Sec-WebSocket-Extensions response value, with NUL. */
#define FLARE_WS_EXTENSIONS_MAX 160

/** Frame opcodes (RFC 6455 §5.2); 3-7 and 11-15 are reserved. */
typedef enum flare_ws_opcode {
    FLARE_WS_OP_CONTINUATION = 0x0,
    FLARE_WS_OP_TEXT = 0x1,
    FLARE_WS_OP_BINARY = 0x2,
    FLARE_WS_OP_CLOSE = 0x8,
    FLARE_WS_OP_PING = 0x9,
    FLARE_WS_OP_PONG = 0xa,
} flare_ws_opcode;

/** RSV1: the permessage-deflate "compressed" bit (RFC 7692 §6). */
#define FLARE_WS_RSV1 0x4
/** RSV2 (no extension defines it). */
#define FLARE_WS_RSV2 0x2
/** RSV3 (no extension defines it). */
#define FLARE_WS_RSV3 0x1

/** Close status codes (RFC 6455 §7.4.1). */
enum {
    FLARE_WS_CLOSE_NORMAL = 1000,
    FLARE_WS_CLOSE_GOING_AWAY = 1001,
    FLARE_WS_CLOSE_PROTOCOL_ERROR = 1002,
    FLARE_WS_CLOSE_UNSUPPORTED_DATA = 1003,
    FLARE_WS_CLOSE_NO_STATUS = 1005, /**< never sent: "the close frame had no code" */
    FLARE_WS_CLOSE_ABNORMAL = 1006,  /**< never sent: "closed without a close frame" */
    FLARE_WS_CLOSE_INVALID_DATA = 1007,
    FLARE_WS_CLOSE_POLICY = 1008,
    FLARE_WS_CLOSE_TOO_BIG = 1009,
    FLARE_WS_CLOSE_MANDATORY_EXT = 1010,
    FLARE_WS_CLOSE_INTERNAL_ERROR = 1011,
};

/* ----------------------------------------------------------------- frames */

/** A decoded frame header. */
typedef struct flare_ws_frame_header {
    uint64_t payload_len;
    uint8_t opcode; /**< flare_ws_opcode */
    uint8_t rsv;    /**< FLARE_WS_RSV1/2/3 bits */
    bool fin;
    bool masked;
    uint8_t mask[4];    /**< the key when masked */
    uint8_t header_len; /**< 2..14 */
} flare_ws_frame_header;

/**
 * Decodes the frame header at buf[0..len). Returns the header length (2..14),
 * FLARE_EINCOMPLETE when more bytes are needed (call again with more; nothing is
 * kept between calls), or FLARE_EPROTO, to be answered with close code 1002: a
 * reserved opcode, a control frame that is fragmented or over 125 bytes, a 64-bit
 * length with the top bit set, or a length not in its minimal encoding. RSV bits
 * and masking depend on the connection: flare_ws_parser checks them.
 */
ssize_t flare_ws_frame_decode(const void *buf, size_t len, flare_ws_frame_header *h);
/**
 * Writes a frame header to out (room for FLARE_WS_MAX_HEADER) and returns its
 * length. `mask` NULL means unmasked (server frames). The payload is not touched.
 */
size_t flare_ws_frame_header_encode(uint8_t out[FLARE_WS_MAX_HEADER], uint8_t opcode, bool fin,
                                    uint8_t rsv, uint64_t payload_len, const uint8_t *mask);
/**
 * Appends one frame to out: header, then payload masked with `mask` (NULL: copied
 * as is). FLARE_EINVAL for a control frame that breaks §5.5; FLARE_ENOMEM.
 */
int flare_ws_frame_encode(flare_buf *out, uint8_t opcode, bool fin, uint8_t rsv,
                          const void *payload, size_t len, const uint8_t *mask);
/** True for close codes that may be sent (RFC 6455 §7.4): 1000-1003, 1007-1014, 3000-4999. */
bool flare_ws_close_code_valid(unsigned code);
/**
 * Builds a close payload: the code (big-endian), then the reason cut to 123 bytes
 * at a UTF-8 boundary. Code 0 builds an empty payload. Returns its length (<= 125).
 */
size_t flare_ws_close_payload(uint8_t out[FLARE_WS_MAX_CONTROL], unsigned code, const char *reason,
                              size_t reason_len);
/**
 * Reads a received close payload (RFC 6455 §5.5.1, §7.1.6): an empty payload
 * gives 1005 and an empty reason; FLARE_EPROTO (answer 1002) for a 1-byte payload,
 * a code flare_ws_close_code_valid refuses, or a reason that is not UTF-8.
 * The reason is a slice of p.
 */
int flare_ws_close_parse(const void *p, size_t len, uint16_t *code, const char **reason,
                         size_t *reason_len);

/* ---------------------------------------------------------------- masking */

/** Masking implementations. */
typedef enum flare_ws_simd {
    FLARE_WS_SIMD_SCALAR = 0,
    FLARE_WS_SIMD_SSE2,
    FLARE_WS_SIMD_AVX2,
    FLARE_WS_SIMD_AVX512, /**< AVX512F + AVX512BW */
} flare_ws_simd;

/**
 * XORs p[0..len) in place with the mask key (RFC 6455 §5.3), the first byte with
 * key[phase & 3]. Returns the phase for the byte after, so a payload that arrives
 * in pieces is unmasked by passing each call's result to the next.
 */
unsigned flare_ws_mask(void *p, size_t len, const uint8_t key[4], unsigned phase);
/** flare_ws_mask from src into dst; dst may equal src, but must not otherwise overlap it. */
unsigned flare_ws_mask_copy(void *dst, const void *src, size_t len, const uint8_t key[4],
                            unsigned phase);
/** The masking path in use (chosen at first use by CPU detection unless forced). */
flare_ws_simd flare_ws_simd_active(void);
/** Forces a path (tests, benchmarks); FLARE_EUNSUPPORTED if the CPU or build lacks it. */
int flare_ws_simd_force(flare_ws_simd path);
/** Name of a path ("scalar", "sse2", "avx2", "avx512"). */
const char *flare_ws_simd_name(flare_ws_simd path);

/* ------------------------------------------------------------------ UTF-8 */

/** Incremental UTF-8 validator state (RFC 3629); zero it (or call reset) to start. */
typedef struct flare_ws_utf8 {
    uint8_t need;   /**< continuation bytes still expected */
    uint8_t lo, hi; /**< allowed range of the next continuation byte */
    bool invalid;   /**< sticky: the text can no longer become valid */
} flare_ws_utf8;

/** Starts a new text. */
void flare_ws_utf8_reset(flare_ws_utf8 *v);
/**
 * Validates the next len bytes; a code point may straddle calls. Returns false as
 * soon as the bytes so far cannot begin any valid text (overlong forms, surrogates,
 * > U+10FFFF, stray continuation bytes), and from then on.
 */
bool flare_ws_utf8_feed(flare_ws_utf8 *v, const void *p, size_t len);
/** True when everything fed so far is valid and ends on a whole code point. */
bool flare_ws_utf8_complete(const flare_ws_utf8 *v);
/** Validates one whole string. */
bool flare_ws_utf8_valid(const void *p, size_t len);

/* ------------------------------------------------------ permessage-deflate */

/** permessage-deflate parameters in force on a connection (RFC 7692 §7.1). */
typedef struct flare_ws_deflate_params {
    bool server_no_context_takeover; /**< the server resets its compressor after each message */
    bool client_no_context_takeover; /**< the client resets its compressor after each message */
    uint8_t server_max_window_bits;  /**< window the server compresses with, 8..15; 0 = 15 */
    uint8_t client_max_window_bits;  /**< window the client compresses with, 8..15; 0 = 15 */
} flare_ws_deflate_params;

/** One side's compressor and decompressor (zlib raw deflate), created lazily. */
typedef struct flare_ws_deflate flare_ws_deflate;

/**
 * Creates the compression state of one endpoint: `server` selects which half of
 * params is ours. `level` is zlib's (-1 default, 1 fastest .. 9 best). Our own
 * window must be 9..15: zlib cannot write raw deflate with an 8-bit window, so
 * that is FLARE_EUNSUPPORTED (the handshake never agrees to it). The caller owns
 * the result and frees it with flare_ws_deflate_free.
 */
int flare_ws_deflate_new(flare_ws_deflate **out, const flare_ws_deflate_params *params, bool server,
                         int level, flare_error *err);
/** Frees the state (NULL is fine). */
void flare_ws_deflate_free(flare_ws_deflate *d);
/**
 * Compresses one whole message and appends the payload to out, with the final
 * 0x00 0x00 0xff 0xff removed (RFC 7692 §7.2.1). Resets the compressor afterwards
 * when our side has no_context_takeover.
 */
int flare_ws_deflate_message(flare_ws_deflate *d, const void *in, size_t len, flare_buf *out,
                             flare_error *err);
/**
 * Decompresses the next piece of a compressed message, appending to out. With
 * `fin` the message ends: the 0x00 0x00 0xff 0xff tail is added back (RFC 7692
 * §7.2.2) and, when the peer has no_context_takeover, the state is reset. Fails
 * with FLARE_ELIMIT (close 1009) as soon as out->len would exceed max_len, without
 * inflating further (zip bombs), FLARE_EPARSE on corrupt data, which includes
 * a message that with the tail does not end on a deflate block boundary (an
 * empty payload, or one that kept its own tail).
 */
int flare_ws_inflate(flare_ws_deflate *d, const void *in, size_t len, bool fin, flare_buf *out,
                     size_t max_len, flare_error *err);
/** The parameters the state was created with. */
const flare_ws_deflate_params *flare_ws_deflate_get_params(const flare_ws_deflate *d);
/** Resets the decompressor to start a new message (after a failed inflate, say). */
void flare_ws_inflate_reset(flare_ws_deflate *d);

/**
 * Appends one whole message as a single frame: compressed with RSV1 when d is not
 * NULL and the opcode is text or binary, masked with `mask` when not NULL.
 * Control opcodes are never compressed and must fit 125 bytes (FLARE_EINVAL).
 */
int flare_ws_message_encode(flare_buf *out, uint8_t opcode, const void *data, size_t len,
                            flare_ws_deflate *d, const uint8_t *mask, flare_error *err);

/* ------------------------------------------------------- message assembler */

/** What flare_ws_parser_feed produced. */
typedef enum flare_ws_event_type {
    FLARE_WS_EV_NONE = 0, /**< nothing complete yet: feed more bytes */
    FLARE_WS_EV_TEXT,     /**< a whole text message, valid UTF-8 */
    FLARE_WS_EV_BINARY,   /**< a whole binary message */
    FLARE_WS_EV_PING,     /**< answer with a pong carrying the same data */
    FLARE_WS_EV_PONG,     /**< solicited or not; ignoring it is fine */
    FLARE_WS_EV_CLOSE,    /**< the peer's close frame: answer it, then stop reading */
} flare_ws_event_type;

/** One event. `data` points into the caller's buffer or the parser's message buffer. */
typedef struct flare_ws_event {
    flare_ws_event_type type;
    const char *data; /**< payload (the decompressed message for compressed ones) */
    size_t len;
    uint16_t close_code; /**< CLOSE: the peer's code, 1005 when it sent none */
    const char *reason;  /**< CLOSE: the peer's reason, valid UTF-8, not NUL-terminated */
    size_t reason_len;
} flare_ws_event;

/** Receive-side settings of a connection. */
typedef struct flare_ws_parser_config {
    bool server;               /**< we are the server: frames must be masked; else must not be */
    uint64_t max_message;      /**< message limit after decompression; 0 = 16 MiB */
    flare_ws_deflate *deflate; /**< negotiated permessage-deflate (not owned), NULL when off */
} flare_ws_parser_config;

/**
 * The receiving half of one connection: decodes frames, unmasks them, reassembles
 * fragmented messages, decompresses, validates, and says which close code ends
 * the connection when the peer breaks a rule. Embed it; fields are private.
 */
typedef struct flare_ws_parser {
    flare_ws_parser_config cfg;
    uint64_t frame_left;  /* payload bytes of the current frame not yet seen */
    uint8_t frame_opcode; /* opcode of the frame being read */
    bool in_frame;
    bool frame_fin;
    bool frame_masked;
    uint8_t mask[4];
    unsigned mask_phase;
    uint8_t msg_opcode; /* TEXT/BINARY while a data message is open, else 0 */
    bool msg_compressed;
    uint64_t msg_wire;   /* payload bytes of the message's frames so far, as sent */
    bool msg_delivered;  /* msg holds a delivered message to drop at the next feed */
    bool closed;         /* a close frame was delivered: nothing more is read */
    uint16_t error_code; /* close code of the last failure, 0 when none */
    flare_ws_utf8 utf8;
    flare_buf msg; /* reassembled (or decompressed) message */
    uint8_t ctl_len;
    uint8_t ctl[FLARE_WS_MAX_CONTROL];
} flare_ws_parser;

/** Sets the parser up (cfg copied; may be NULL for a server with defaults). */
void flare_ws_parser_init(flare_ws_parser *p, const flare_ws_parser_config *cfg);
/** Frees the message buffer. */
void flare_ws_parser_free(flare_ws_parser *p);
/**
 * Consumes bytes of buf[0..len) until one event is complete or the input runs out,
 * and returns how many bytes it consumed; the caller keeps the rest (at most a
 * partial frame header) for the next call. Payload bytes are unmasked in place.
 * ev->data stays valid until the next call, and, when it points into buf, for as
 * long as the caller keeps those bytes: a whole unfragmented uncompressed frame
 * already in buf is returned without a copy. On a rule broken by the peer returns
 * FLARE_EPROTO or FLARE_ELIMIT, with the close code to send (1002, 1007 or 1009)
 * in p->error_code (see flare_ws_parser_error_code); out of memory is FLARE_ENOMEM
 * with 1011. Either way the connection is then over (every later call fails).
 * After a CLOSE event, further calls consume nothing.
 */
ssize_t flare_ws_parser_feed(flare_ws_parser *p, void *buf, size_t len, flare_ws_event *ev,
                             flare_error *err);
/** Close code that the last failure of flare_ws_parser_feed calls for (0 when none). */
static inline uint16_t flare_ws_parser_error_code(const flare_ws_parser *p);
/** True while a fragmented message is being received. */
static inline bool flare_ws_parser_in_message(const flare_ws_parser *p);

/* ------------------------------------------------------ server handshake */

/** What the server accepts; a zeroed struct accepts any origin, no subprotocol, no compression. */
typedef struct flare_ws_server_options {
    const char *const *origins; /**< exact Origin values allowed; none listed = any (even absent) */
    size_t num_origins;
    const char *const *subprotocols; /**< ours, most preferred first */
    size_t num_subprotocols;
    bool deflate;                    /**< accept permessage-deflate offers */
    bool server_no_context_takeover; /**< reset our compressor after every message */
    bool client_no_context_takeover; /**< ask the client to reset its compressor */
    uint8_t server_max_window_bits;  /**< our compression window 9..15; 0 = 15 */
    uint8_t client_max_window_bits;  /**< limit asked of clients that allow one, 8..15; 0 = none */
} flare_ws_server_options;

/** The outcome of flare_ws_server_handshake. */
typedef struct flare_ws_handshake {
    int status;         /**< 101, or the rejection: 400, 403 or 426 */
    const char *reason; /**< static text saying why it was rejected; NULL on success */
    char accept[FLARE_WS_ACCEPT_LEN + 1]; /**< Sec-WebSocket-Accept value */
    const char *subprotocol; /**< chosen entry of options->subprotocols, NULL when none */
    bool deflate;            /**< permessage-deflate accepted with deflate_params */
    flare_ws_deflate_params deflate_params;
    char extensions[FLARE_WS_EXTENSIONS_MAX]; /**< Sec-WebSocket-Extensions value, "" when none */
} flare_ws_handshake;

/**
 * Checks an upgrade request (RFC 6455 §4.2.1) and negotiates subprotocol and
 * compression. Requires GET over HTTP/1.1, `Upgrade: websocket`, the `upgrade`
 * token in Connection, and one Sec-WebSocket-Key that is base64 of 16 bytes (else
 * 400); `Sec-WebSocket-Version: 13` (else 426, to be answered with
 * `Sec-WebSocket-Version: 13`); an allowed Origin (else 403). Returns 0 with
 * hs->status 101, or FLARE_EPROTO with hs->status and hs->reason set.
 * opts may be NULL. hs->subprotocol points into opts.
 */
int flare_ws_server_handshake(const flare_http_request *req, const flare_ws_server_options *opts,
                              flare_ws_handshake *hs, flare_error *err);
/**
 * Appends the header lines of the answer, each ending in CRLF, without the
 * status line or the blank line: for 101 Upgrade, Connection, Sec-WebSocket-Accept
 * and, when negotiated, Sec-WebSocket-Protocol and -Extensions; for 426
 * Upgrade, Connection: Upgrade (RFC 9110 §7.8) and Sec-WebSocket-Version: 13;
 * nothing for other rejections.
 */
int flare_ws_handshake_headers(const flare_ws_handshake *hs, flare_buf *out);
/**
 * Appends a whole response head (status line, headers, blank line); a rejection
 * also gets Connection: close and a short text body naming the reason.
 */
int flare_ws_handshake_response(const flare_ws_handshake *hs, flare_buf *out);
/** Computes Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2). */
int flare_ws_accept_key(const char *key, size_t key_len, char out[FLARE_WS_ACCEPT_LEN + 1]);
/** True when key is base64 (with padding) of exactly 16 bytes (RFC 6455 §4.1). */
bool flare_ws_key_valid(const char *key, size_t key_len);

/* ---------------------------------------------------- server connections */

/*
 * A server connection runs on the reactor that served the upgrade request, with
 * one timer on its timing wheel. It never blocks: sends queue frames into a
 * per-connection output buffer. While more than max_output bytes wait there, the
 * connection stops reading (TCP pushes back on the peer) and sends of messages
 * fail with FLARE_EAGAIN until on_drain says the queue emptied. Control frames
 * (pongs, pings, close) are always queued. A connection yields the reactor after
 * about 1 MiB of messages (as inflated) per wake-up, so that compressed input
 * cannot make one client's turn starve the others.
 *
 * Closing (RFC 6455 §7): when the peer sends a close frame, it is answered with
 * the same code and the TCP connection is closed once that is written. A close we
 * start (flare_ws_conn_close, the idle timeout, a rule the peer broke: 1002, 1007
 * or 1009 from the parser) waits up to close_timeout for the peer's close frame.
 * Our side is shut down (FIN) as soon as our close frame is written, so the
 * server ends the TCP connection first (§7.1.1); the socket is closed once both
 * close frames have been exchanged, the peer's FIN arrives, or close_timeout
 * passes, after reading what is pending so the peer gets no reset. After a
 * protocol error nothing more the peer sends is interpreted (its FIN or the
 * timeout ends the connection). Nothing is sent after our close frame.
 *
 * Liveness: with a ping interval, a ping (8 bytes of sequence number) goes out
 * that often; when its pong does not come back within pong_timeout, a close
 * frame with 1001 is sent as a courtesy and the connection is dropped at once
 * (a peer that answers no ping will not answer a close either). The idle timeout
 * counts time without a data message in either direction (pings and pongs do
 * not count) and starts a normal close with 1001.
 */

/** Counters of a flare_ws_group (for status pages); updated on the reactor thread. */
typedef struct flare_ws_stats {
    uint64_t active;          /**< connections open now */
    uint64_t opened;          /**< connections opened so far */
    uint64_t messages_in;     /**< whole messages received */
    uint64_t messages_out;    /**< messages queued for sending */
    uint64_t bytes_in;        /**< bytes read from sockets, frame headers included */
    uint64_t bytes_out;       /**< bytes written to sockets */
    uint64_t protocol_errors; /**< connections failed by a peer's broken rule (1002/1007/1009) */
    uint64_t timeouts;        /**< pong, idle and close-handshake timeouts */
} flare_ws_stats;

/** One server-side WebSocket connection (opaque). */
typedef struct flare_ws_conn flare_ws_conn;

/**
 * The connections of one reactor that share counters and can be closed together
 * (a graceful drain). Zero it before use; it must outlive its connections. Only
 * `stats` may be read; the rest is private.
 */
typedef struct flare_ws_group {
    flare_ws_stats stats;
    flare_ws_conn *first; /* private: the open connections */
    bool closing;         /* private: drain ran; late joiners close at once */
    uint16_t closing_code;
    char closing_reason[FLARE_WS_MAX_CONTROL - 2 + 1];
} flare_ws_group;

/** The connection is open (after the 101); sends made here go out first. */
typedef void (*flare_ws_open_fn)(flare_ws_conn *c, void *userdata);
/** A whole message (TEXT, valid UTF-8, or BINARY); data is valid during the call only. */
typedef void (*flare_ws_message_fn)(flare_ws_conn *c, flare_ws_opcode opcode, const char *data,
                                    size_t len, void *userdata);
/**
 * The connection is gone; c is freed when this returns. `code` is the peer's
 * close code when it sent a close frame first (1005 when the frame had none),
 * else the code we closed with (1002/1007/1009 for the peer's errors, 1001 for
 * timeouts), or 1006 when the TCP connection ended without a close frame.
 */
typedef void (*flare_ws_close_fn)(flare_ws_conn *c, uint16_t code, const char *reason,
                                  size_t reason_len, void *userdata);
/** The output queue emptied after a send had failed with FLARE_EAGAIN. */
typedef void (*flare_ws_drain_fn)(flare_ws_conn *c, void *userdata);

/** How a server connection behaves; a zeroed field takes its default. */
typedef struct flare_ws_conn_config {
    uint64_t max_message;      /**< received message limit, decompressed (1009); 0 = 16 MiB */
    uint32_t ping_interval_ms; /**< send a ping this often; 0 = never */
    uint32_t pong_timeout_ms;  /**< drop the connection when a ping is not answered; 0 = 10 s */
    uint32_t close_timeout_ms; /**< wait for the peer's close frame and FIN; 0 = 5 s */
    uint32_t idle_timeout_ms;  /**< close (1001) after no data message either way; 0 = never */
    size_t max_output;         /**< queued output bound for backpressure; 0 = 1 MiB */
    int compression_level;     /**< zlib level 1..9 when permessage-deflate is on; 0 = zlib's */
    bool echo;                 /**< send every message back with its type (before on_message) */
    flare_ws_open_fn on_open;
    flare_ws_message_fn on_message;
    flare_ws_close_fn on_close;
    flare_ws_drain_fn on_drain;
    void *userdata;        /**< passed to the callbacks until flare_ws_conn_set_userdata */
    flare_ws_group *group; /**< counters and close-all; NULL = none */
} flare_ws_conn_config;

/**
 * Answers a WebSocket upgrade from inside an HTTP handler (RFC 6455 §4.2.2).
 * A request without `Upgrade: websocket` gets 426 with `Upgrade: websocket` and
 * `Sec-WebSocket-Version: 13`; otherwise flare_ws_server_handshake decides: 400
 * (a malformed handshake), 403 (Origin not allowed) or 426 (version). A rejection
 * fills resp (status, headers, a text body) and returns its status. An accepted
 * handshake sets 101 with its headers and arranges for a connection with cfg to
 * take over the socket once the 101 is written, and returns 0. A negative result
 * (FLARE_EINVAL, FLARE_ENOMEM) is for the handler to return (500). cfg is copied;
 * hs_opts need only live during the call, except that the chosen subprotocol
 * string is referenced by the connection. Call on the reactor's thread.
 */
int flare_ws_upgrade(const flare_request *req, flare_response *resp,
                     const flare_ws_server_options *hs_opts, const flare_ws_conn_config *cfg,
                     flare_error *err);
/**
 * Runs a WebSocket connection over a socket handed over after a 101 (for callers
 * that do their own handshake; flare_ws_upgrade uses it). deflate: the negotiated
 * permessage-deflate parameters, NULL when off. subprotocol is referenced, not
 * copied. The connection owns up->fd (and up->tls, for wss) from this call on,
 * closing it on failure too.
 * on_open runs before this returns; the pending bytes are read as WebSocket input.
 */
int flare_ws_conn_open(flare_reactor *r, const flare_http_upgraded *up,
                       const flare_ws_conn_config *cfg, const flare_ws_deflate_params *deflate,
                       const char *subprotocol, flare_error *err);
/**
 * Queues a TEXT (must be UTF-8, else FLARE_EINVAL) or BINARY message, compressed
 * when permessage-deflate is on. FLARE_EAGAIN when max_output bytes already wait
 * (nothing queued; on_drain follows), FLARE_ECLOSED once a close was sent or the
 * connection is ending, FLARE_ENOMEM. A message is queued whole even when it takes
 * the queue over the bound.
 */
int flare_ws_conn_send(flare_ws_conn *c, flare_ws_opcode opcode, const void *data, size_t len,
                       flare_error *err);
/** flare_ws_conn_send of a TEXT message. */
int flare_ws_conn_send_text(flare_ws_conn *c, const char *text, size_t len, flare_error *err);
/** flare_ws_conn_send of a BINARY message. */
int flare_ws_conn_send_binary(flare_ws_conn *c, const void *data, size_t len, flare_error *err);
/** Queues a ping with up to 125 bytes of payload (its pong is not tracked). */
int flare_ws_conn_ping(flare_ws_conn *c, const void *data, size_t len, flare_error *err);
/**
 * Starts the close handshake: code 0 sends none (and no reason), else it must
 * pass flare_ws_close_code_valid; reason must be UTF-8 (cut to 123 bytes).
 * Returns 0 (also when a close was already under way) or FLARE_EINVAL.
 */
int flare_ws_conn_close(flare_ws_conn *c, unsigned code, const char *reason, flare_error *err);
/** The callbacks' userdata of this connection. */
void *flare_ws_conn_userdata(const flare_ws_conn *c);
/** Replaces the callbacks' userdata of this connection (say, per-connection state in on_open). */
void flare_ws_conn_set_userdata(flare_ws_conn *c, void *userdata);
/** The client's address (zero for Unix sockets). */
const flare_sock_addr *flare_ws_conn_peer(const flare_ws_conn *c);
/** The negotiated subprotocol, NULL when none. */
const char *flare_ws_conn_subprotocol(const flare_ws_conn *c);
/** The permessage-deflate parameters in force, NULL when compression is off. */
const flare_ws_deflate_params *flare_ws_conn_deflate(const flare_ws_conn *c);
/** Bytes queued and not yet written. */
size_t flare_ws_conn_output_pending(const flare_ws_conn *c);
/** Starts the close handshake on every connection of the group. */
void flare_ws_group_close_all(flare_ws_group *g, unsigned code, const char *reason);
/** flare_ws_group_close_all for good (say, 1001 on shutdown): a connection that joins
 *  the group afterwards (its 101 was still being written) is closed the same way as
 *  soon as it opens. */
void flare_ws_group_drain(flare_ws_group *g, unsigned code, const char *reason);
/**
 * Closes every connection of the group at once, without a close handshake
 * (on_close sees 1006): for tearing down before the reactor is freed.
 */
void flare_ws_group_abort_all(flare_ws_group *g);

/* ----------------------------------------------------------------- client */

/** A parsed ws:// or wss:// URL. */
typedef struct flare_ws_url {
    bool secure;    /**< wss:// */
    char host[256]; /**< lowercase name or IP literal, without brackets; an IPv6 zone
                         as "%id" (case kept) */
    uint16_t port;  /**< explicit, or 80 / 443 */
    bool default_port;
    char resource[2048]; /**< path and query, "/" when empty (RFC 6455 §3), as
                              flare_url_parse normalises them: dot segments removed,
                              bytes past ASCII and "<>\"\\^`{|}" percent-encoded */
} flare_ws_url;

/**
 * Parses "ws[s]://host[:port][/path][?query]" (IPv6 literals in brackets, an RFC
 * 6874 zone as "%25id") with the HTTP layer's parser, flare_url_parse_schemes:
 * FLARE_EURL for what it refuses and for userinfo or a fragment (RFC 6455 §3),
 * FLARE_EINVAL for a NULL url.
 */
int flare_ws_url_parse(flare_ws_url *out, const char *url, flare_error *err);
/** Size of a buffer that holds any flare_ws_url_host result. */
#define FLARE_WS_HOST_HEADER_MAX (sizeof(((flare_ws_url *)0)->host) + 8)
/** The Host field value for u (RFC 6455 §4.1: the port only when not the default; IPv6
 *  literals in brackets) into out, which holds FLARE_WS_HOST_HEADER_MAX bytes. */
void flare_ws_url_host(const flare_ws_url *u, char out[FLARE_WS_HOST_HEADER_MAX]);

/**
 * The byte stream a client runs over (flare_ws_client_open): any transport.
 * read returns a count, 0 at end of stream, or a negative code; write_all writes
 * everything or fails; close releases ctx (called once, by flare_ws_client_free).
 */
typedef struct flare_ws_stream {
    void *ctx;
    ssize_t (*read)(void *ctx, void *buf, size_t len, flare_error *err);
    int (*write_all)(void *ctx, const void *buf, size_t len, flare_error *err);
    void (*close)(void *ctx);
} flare_ws_stream;

/** Client settings; a zeroed struct (or NULL) means the defaults. */
typedef struct flare_ws_client_options {
    const char *const *subprotocols; /**< offered in order; the server's choice must be one */
    size_t num_subprotocols;
    const char *origin;     /**< Origin header, NULL = none */
    bool deflate;           /**< offer permessage-deflate; messages go out uncompressed
                                 when the server limits our window to 8 bits, which zlib
                                 cannot write */
    int compression_level;  /**< zlib level when deflate is used: 0 = default */
    int connect_timeout_ms; /**< 0 = FLARE_TCP_CONNECT_TIMEOUT_MS */
    int read_timeout_ms;    /**< each blocking read, and each frame's whole write, over
                                 ws:// as over wss:// (a send to a server that stops
                                 reading or takes a trickle fails with FLARE_ETIMEDOUT and
                                 closes the stream: a large message needs a bound it can
                                 be sent in); 0 = none. The whole 101 head, and
                                 flare_ws_close's wait, get this once (else 10 s, 5 s) */
    uint64_t max_message;   /**< 0 = 16 MiB */
    bool deliver_control;   /**< also return pings and pongs from recv_message */
    /** wss:// settings (CAs, verification, client certificate); NULL = the system's
     * CAs with verification on. ALPN (http/1.1) and the timeouts are the client's:
     * connect_timeout_ms bounds connect and handshake, read_timeout_ms each read
     * and write. Used by flare_ws_connect only, not kept. */
    const flare_tls_client_config *tls;
} flare_ws_client_options;

/** A client connection (opaque). */
typedef struct flare_ws_client flare_ws_client;

/** A received message; data stays valid until the next call on the client. */
typedef struct flare_ws_message {
    flare_ws_opcode opcode; /**< TEXT or BINARY (PING or PONG with deliver_control) */
    const char *data;
    size_t len;
} flare_ws_message;

/**
 * Connects to a ws:// or wss:// URL and performs the opening handshake: a random
 * key, a 101 required, Sec-WebSocket-Accept verified, the subprotocol and
 * extension answers checked. wss:// verifies the server's certificate for the
 * URL's host (opts->tls) and sends SNI for names, not IP literals; TLS failures
 * are the tls layer's typed errors (FLARE_EUNTRUSTED, FLARE_EHOST_MISMATCH,
 * FLARE_ECERT_EXPIRED, FLARE_ETLS). A non-101 answer is FLARE_EHTTP_STATUS
 * (status in err's message). The caller frees *out.
 */
int flare_ws_connect(flare_ws_client **out, const char *url, const flare_ws_client_options *opts,
                     flare_error *err);
/**
 * Performs the opening handshake over an already connected stream, which the
 * client owns from this call on (closed on failure too). host_header is the
 * Host value ("example.com:8080"), resource the path and query.
 */
int flare_ws_client_open(flare_ws_client **out, const flare_ws_stream *stream,
                         const char *host_header, const char *resource,
                         const flare_ws_client_options *opts, flare_error *err);
/** Closes the stream (without a close handshake) and frees everything; NULL is fine. */
void flare_ws_client_free(flare_ws_client *c);
/** Sends a text message (must be UTF-8: FLARE_EINVAL otherwise), masked with a fresh key. */
int flare_ws_send_text(flare_ws_client *c, const char *text, size_t len, flare_error *err);
/** Sends a binary message. */
int flare_ws_send_binary(flare_ws_client *c, const void *data, size_t len, flare_error *err);
/**
 * Sends one raw frame, never compressed: fragmented messages (opcode then
 * CONTINUATION frames with fin on the last) or control frames.
 */
int flare_ws_send_frame(flare_ws_client *c, uint8_t opcode, bool fin, const void *data, size_t len,
                        flare_error *err);
/** Sends a ping with up to 125 bytes of payload. */
int flare_ws_ping(flare_ws_client *c, const void *data, size_t len, flare_error *err);
/**
 * Waits for the next whole message, answering pings on the way. Returns 0 with
 * *msg filled; FLARE_ECLOSED once the peer closed (the close is answered; see
 * flare_ws_client_close_code) or the stream ended; FLARE_ETIMEDOUT after
 * read_timeout_ms without data (the connection stays usable); FLARE_EPROTO or
 * FLARE_ELIMIT when the peer broke a rule (a close frame with 1002/1007/1009 was
 * sent and the stream closed).
 */
int flare_ws_recv_message(flare_ws_client *c, flare_ws_message *msg, flare_error *err);
/**
 * Close handshake: sends a close frame (code 0 = none), reads until the peer's
 * close arrives (discarding messages), and closes the stream; sending and waiting
 * together take read_timeout_ms at most (else 5 s), even against a peer that reads
 * nothing (a stream given to flare_ws_client_open keeps its own timeouts). Returns
 * 0 when the close handshake completed (or the peer had closed first),
 * FLARE_ECLOSED when the stream had already ended without one, FLARE_ETIMEDOUT
 * when the peer never answered or never took the close frame, FLARE_EINVAL for a
 * code that may not be sent or a reason that is not UTF-8.
 */
int flare_ws_close(flare_ws_client *c, unsigned code, const char *reason, flare_error *err);
/** The peer's close code: 1005 when it gave none, 1006 when the stream ended without one, 0 while
 * open. */
uint16_t flare_ws_client_close_code(const flare_ws_client *c);
/** The peer's close reason (NUL-terminated, "" when none). */
const char *flare_ws_client_close_reason(const flare_ws_client *c);
/** The subprotocol the server chose, NULL when none. */
const char *flare_ws_client_subprotocol(const flare_ws_client *c);
/** The negotiated permessage-deflate parameters, NULL when compression is off. */
const flare_ws_deflate_params *flare_ws_client_deflate(const flare_ws_client *c);

/* inline definitions */

static inline uint16_t flare_ws_parser_error_code(const flare_ws_parser *p)
{
    return p->error_code;
}

static inline bool flare_ws_parser_in_message(const flare_ws_parser *p)
{
    return p->msg_opcode != 0;
}

#ifdef __cplusplus
}
#endif
#endif
