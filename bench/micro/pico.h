/*
 * pico.h: the picohttpparser functions that Debian's libh2o exports without a
 * header. The prototypes are picohttpparser's documented API; the chunked
 * decoder's state is padded because later releases appended fields to it.
 */
#ifndef FLARE_BENCH_MICRO_PICO_H
#define FLARE_BENCH_MICRO_PICO_H

#include <stddef.h>
#include <sys/types.h>

/** picohttpparser's header slice. */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/** picohttpparser's chunked decoder state (zero it, then set consume_trailer). */
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char hex_count_;
    char state_;
    char padding_[64]; /* room for fields newer releases added */
};

/** Parses a request head: bytes consumed, -1 error, -2 incomplete. */
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len,
                      const char **path, size_t *path_len, int *minor_version,
                      struct phr_header *headers, size_t *num_headers, size_t last_len);
/** Parses a response head: bytes consumed, -1 error, -2 incomplete. */
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status,
                       const char **msg, size_t *msg_len, struct phr_header *headers,
                       size_t *num_headers, size_t last_len);
/** Decodes chunked data in place: bytes after the body, -1 error, -2 incomplete. */
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

#endif
