/*
 * static_internal.h: the pieces of the static-files route, each in its own file:
 * path normalisation (static_path.c), validators and preconditions
 * (static_cond.c), byte ranges (static_range.c), media types (static_mime.c),
 * content codings (static_gzip.c), the small-file cache (static_cache.c) and
 * directory listings (static_autoindex.c). static.c puts them together.
 */
#ifndef FLARED_STATIC_INTERNAL_H
#define FLARED_STATIC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "flare/http_parser.h"
#include "flare/runtime.h"

#include "config.h"

/* ------------------------------------------------------- static_path.c */

/** Capacity of a normalised root-relative path, with its NUL (PATH_MAX). */
#define FLARED_STATIC_PATH_MAX 4096

/**
 * Percent-decodes and normalises the URI path path[0..len) into out (capacity cap)
 * as a root-relative path without a leading slash ("" is the root itself): repeated
 * slashes collapse, "." segments go and ".." removes the segment before it (RFC 3986
 * §5.2.4). *trailing_slash tells whether the decoded path ended in '/'. Returns 0 with
 * *out_len set, 400 for a bad escape, an encoded NUL, a control character, a
 * backslash, invalid or overlong UTF-8 or a ".." above the root, or 414 when it does
 * not fit.
 */
int flared_static_normalise(const char *path, size_t len, char *out, size_t cap, size_t *out_len,
                            bool *trailing_slash);

/** True when a segment of the normalised path rel[0..len) starts with '.': a hidden
 *  file or directory, 404 unless the route serves them (hidden_files). */
bool flared_static_hidden(const char *rel, size_t len);

/** True when a file name could be requested: no control character, backslash or
 *  malformed UTF-8 (the bytes flared_static_normalise refuses). */
bool flared_static_name_ok(const char *name, size_t len);

/**
 * Percent-encodes s[0..len) for use as a URL path (Location, listing links): every
 * byte outside RFC 3986 unreserved, sub-delims, ':', '@' and '/' becomes %XX. Writes
 * a NUL-terminated string; returns its length, or SIZE_MAX when cap is too small.
 */
size_t flared_static_url_encode(const char *s, size_t len, char *out, size_t cap);

/* ------------------------------------------------------- static_cond.c */

/** Capacity of an entity-tag with its quotes, a "-gzip" suffix, W/ and the NUL. */
#define FLARED_ETAG_MAX 80

/**
 * Parses an HTTP-date in any of the three forms of RFC 9110 §5.6.7 (IMF-fixdate,
 * rfc850-date, asctime-date) into seconds since the epoch; `now` resolves the
 * two-digit years of rfc850. Returns 0, or -1 when s is not a valid HTTP-date.
 */
int flared_static_parse_http_date(const char *s, size_t len, time_t now, int64_t *out);

/**
 * Formats the strong entity-tag of a file from its inode, size and modification time
 * with nanoseconds ("\"ino-size-sec.nsec\"" in hex), so a file replaced by one of the
 * same size within the same second still gets a new tag. `suffix` (may be NULL) is
 * appended inside the quotes and `weak` prefixes W/. Returns the length.
 */
size_t flared_static_etag(const struct stat *st, const char *suffix, bool weak,
                          char out[FLARED_ETAG_MAX]);

/**
 * True when the field value list[0..len) ("*" or a list of entity-tags) matches the
 * entity-tag etag: weak comparison (RFC 9110 §8.8.3.2) unless strong, where weak
 * tags never match. "*" matches anything.
 */
bool flared_static_etag_match(const char *list, size_t len, const char *etag, size_t etag_len,
                              bool strong);

/** The validators of the representation a request selected. */
typedef struct flared_static_validators {
    const char *etag; /**< with quotes, maybe W/ */
    size_t etag_len;
    int64_t last_modified; /**< seconds since the epoch */
} flared_static_validators;

/**
 * Evaluates If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since in
 * the order of RFC 9110 §13.2.2 for a GET or HEAD request: returns 0 to go on,
 * 304 (Not Modified) or 412 (Precondition Failed).
 */
int flared_static_preconditions(const flare_http_request *head, const flared_static_validators *v);

/**
 * If-Range (RFC 9110 §13.1.5): true when the request has no If-Range or when it
 * matches v (an entity-tag by strong comparison, or a date equal to a Last-Modified
 * that is strong, i.e. at least a second older than now), so Range applies.
 */
bool flared_static_if_range(const flare_http_request *head, const flared_static_validators *v,
                            time_t now);

/** The first field line with this id, or NULL; *count gets the number of lines. */
const flare_http_header *flared_static_field(const flare_http_request *head, flare_http_hdr id,
                                             size_t *count);

/* ------------------------------------------------------ static_range.c */

/** Most range-specs honoured in one Range field; more make the field ignored. */
#define FLARED_RANGES_MAX 16
/** Room for the texts of a multipart/byteranges body of FLARED_RANGES_MAX parts
 *  (delimiters, Content-Type, Content-Range and the closing delimiter). */
#define FLARED_MULTIPART_TEXT_MAX ((FLARED_RANGES_MAX + 1) * 512)

/** One satisfiable byte range, both ends inclusive. */
typedef struct flared_byte_range {
    uint64_t first, last;
} flared_byte_range;

/** The range set does not apply: serve the whole representation with 200. */
#define FLARED_RANGE_IGNORE 0
/** No range-spec overlaps the representation: 416. */
#define FLARED_RANGE_UNSATISFIABLE (-1)

/**
 * Parses a Range field value (RFC 9110 §14.1.2) against a representation of size
 * bytes into out (capacity FLARED_RANGES_MAX). Returns the number of ranges (>= 1;
 * overlapping or adjacent ones coalesced, in the order the client gave them),
 * FLARED_RANGE_IGNORE for another unit, a syntax error, more than
 * FLARED_RANGES_MAX specs or a suffix range of an empty representation, or
 * FLARED_RANGE_UNSATISFIABLE.
 */
int flared_static_parse_range(const char *value, size_t len, uint64_t size,
                              flared_byte_range out[FLARED_RANGES_MAX]);

/** Where multipart part data comes from: `mem` when not NULL, else pread on `fd`. */
typedef struct flared_range_source {
    const char *mem;
    int fd;
    uint64_t size;            /**< the whole representation */
    const char *content_type; /**< of the representation, for each part */
} flared_range_source;

/** Receives body bytes; returns 0 or a negative FLARE_E code. */
typedef int (*flared_emit_fn)(void *ctx, const void *data, size_t len);

/**
 * Lays out a multipart/byteranges body (RFC 9110 §14.6) for ranges[0..n) of src,
 * n <= FLARED_RANGES_MAX, as n + 1 parts for flare_response_file_parts: each range's
 * delimiter and fields then its bytes, and the closing delimiter with no bytes. The
 * texts are written into text[0..cap) (FLARED_MULTIPART_TEXT_MAX is enough for a
 * media type of up to 400 bytes). Returns 0 or FLARE_EINVAL when they do not fit.
 */
int flared_static_multipart_parts(const flared_range_source *src, const flared_byte_range *ranges,
                                  size_t n, const char *boundary, flare_file_part *parts,
                                  char *text, size_t cap);

/**
 * Writes a multipart/byteranges body (RFC 9110 §14.6) for ranges[0..n) of src,
 * with `boundary` between parts, through emit. Returns 0 or a negative FLARE_E
 * code (FLARE_ESYS when the file cannot be read in full).
 */
int flared_static_multipart(const flared_range_source *src, const flared_byte_range *ranges,
                            size_t n, const char *boundary, flared_emit_fn emit, void *ctx);

/* ------------------------------------------------------- static_mime.c */

/** Media types read from a mime.types file (`type ext ext...` lines). */
typedef struct flared_mime_table flared_mime_table;

/**
 * Reads a mime.types file. Returns 0 with *out owned by the caller (free with
 * flared_mime_table_free), FLARE_ENOTFOUND when it does not exist, FLARE_ESYS
 * when it cannot be read, FLARE_ENOMEM.
 */
int flared_mime_table_load(const char *path, flared_mime_table **out, flare_error *err);
/** Frees a table; NULL is a no-op. */
void flared_mime_table_free(flared_mime_table *t);
/** The type a table gives a lower- or mixed-case extension, or NULL. */
const char *flared_mime_table_find(const flared_mime_table *t, const char *ext, size_t len);
/** Number of extensions in a table. */
size_t flared_mime_table_count(const flared_mime_table *t);

/** The built-in type of an extension (compared without regard to case), or NULL. */
const char *flared_static_builtin_type(const char *ext, size_t len);
/** The i-th extension of the built-in table (sorted), or NULL past its end. */
const char *flared_static_builtin_ext(size_t i);

/**
 * The media type of the file name name[0..len): by its extension, from the route's
 * `mime_types` overrides, then the built-in table, then `system` (may be NULL);
 * "application/octet-stream" when none knows it. Never NULL.
 */
const char *flared_static_mime_type(const flared_static_route *st, const flared_mime_table *system,
                                    const char *name, size_t len);

/**
 * Writes the Content-Type value of type into out: text types without a charset
 * parameter get "; charset=utf-8". Returns the length (truncated to cap - 1).
 */
size_t flared_static_content_type(const char *type, char *out, size_t cap);

/** True when on-the-fly gzip applies to type (parameters ignored) under gz->types. */
bool flared_static_gzip_type(const flared_gzip_config *gz, const char *type);

/* ------------------------------------------------------- static_gzip.c */

/** Content codings the static route can send. */
typedef enum flared_coding {
    FLARED_CODING_IDENTITY = 0,
    FLARED_CODING_GZIP = 1,
    FLARED_CODING_BR = 2,
    FLARED_CODING__COUNT
} flared_coding;

/**
 * The weight (RFC 9110 §12.4.2) of one list member of Accept or Accept-Encoding from
 * its parameters p[0..len), the bytes after the media type or coding: OWS ";" OWS
 * parameter ..., the last "q=" giving the weight, in thousandths (1000 without one);
 * -1 when a weight is malformed ("q=1e3", "q = 0"), and the member is then ignored.
 */
int flared_member_weight(const char *p, size_t len);

/** Largest file compressed on the fly whole, in memory (and cached); larger ones
 *  are compressed as they are sent (static_stream.c). */
#define FLARED_GZIP_MAX_INPUT (1u << 20)

/**
 * Reads the request's Accept-Encoding (RFC 9110 §12.5.3) into order[]: the codings
 * the client accepts (q > 0), best first, ties going to br, then gzip, then
 * identity; identity not listed (nor covered by "*") ranks last. Without the field
 * only identity is listed. Returns the count (0 when even identity is refused; the
 * caller then sends identity anyway).
 */
size_t flared_static_accept_encoding(const flare_http_request *head,
                                     flared_coding order[FLARED_CODING__COUNT]);

/** Content-Encoding token of a coding ("gzip"), NULL for identity. */
const char *flared_coding_name(flared_coding c);
/** File name suffix of a precompressed sibling (".gz", ".br"), NULL for identity. */
const char *flared_coding_suffix(flared_coding c);

/**
 * The content coding the bytes of the file name[0..len) are stored in, given its
 * media type: gzip for SVG kept compressed (".svgz", image/svg+xml), whose bytes
 * must go out with Content-Encoding: gzip to be the SVG the type names (RFC 9110
 * §8.4); identity for everything else. A mime_types override to another type
 * serves a .svgz as that type's plain bytes.
 */
flared_coding flared_static_stored_coding(const char *name, size_t len, const char *type);

/** Appends the gzip (RFC 1952) encoding of in[0..len) at zlib level 1..9 to out. */
int flared_static_gzip_encode(const void *in, size_t len, int level, flare_buf *out);

/* ------------------------------------------------------ static_cache.c */

/** A cached file: its identity bytes and/or its on-the-fly gzip, and validators. */
typedef struct flared_cache_entry {
    dev_t dev;
    ino_t ino;
    uint64_t size;
    struct timespec mtime, ctime;
    char etag[FLARED_ETAG_MAX]; /**< strong tag of the file */
    size_t etag_len;
    char last_modified[FLARE_IMF_FIXDATE_LEN + 1];
    const char *data; /**< the whole file (size bytes), or NULL when not cached */
    const char *gz;   /**< its gzip encoding, or NULL */
    size_t gz_len;
} flared_cache_entry;

/** A bounded cache of small files, LRU by count and bytes. */
typedef struct flared_static_cache flared_static_cache;

/** Creates a cache of at most max_entries files and max_bytes of memory. */
int flared_static_cache_new(flared_static_cache **out, size_t max_entries, size_t max_bytes,
                            flare_error *err);
/** Frees the cache and all entries; NULL is a no-op. */
void flared_static_cache_free(flared_static_cache *c);
/** The entry for (root_fd, rel), not yet checked against the file; NULL when absent. */
flared_cache_entry *flared_static_cache_find(flared_static_cache *c, int root_fd, const char *rel,
                                             size_t len);
/** True when st describes the same file, unchanged (device, inode, size, mtime, ctime). */
bool flared_static_cache_fresh(const flared_cache_entry *e, const struct stat *st);
/**
 * True when the file st describes last changed (ctime) at least two seconds before
 * now, so that it may be cached: a file changed again within the granularity of
 * its timestamps (a clock tick, or a second on some filesystems) keeps the same
 * size and times, and flared_static_cache_fresh could not tell the cached bytes
 * from the new ones.
 */
bool flared_static_cache_settled(const struct stat *st, time_t now);
/** Removes an entry (stale, or being replaced). */
void flared_static_cache_remove(flared_static_cache *c, flared_cache_entry *e);
/**
 * Adds (replacing any entry for the same key) a file described by st with its
 * bytes data[0..st->st_size) copied in, or with no bytes when data is NULL. Evicts
 * least recently used entries to stay in bounds; returns NULL when it cannot fit.
 */
flared_cache_entry *flared_static_cache_put(flared_static_cache *c, int root_fd, const char *rel,
                                            size_t len, const struct stat *st, const char *data);
/** Attaches a copy of gz[0..len) to e; false (e unchanged) when it cannot fit. */
bool flared_static_cache_set_gzip(flared_static_cache *c, flared_cache_entry *e, const char *gz,
                                  size_t len);
/** Number of entries. */
size_t flared_static_cache_count(const flared_static_cache *c);
/** Bytes the entries account for. */
size_t flared_static_cache_bytes(const flared_static_cache *c);

/* -------------------------------------------------- static_autoindex.c */

/** Most entries a listing shows; the rest are left out with a note. They are read
 *  and sorted before the page is written, so this bounds what a listing holds
 *  (packed: 19 bytes an entry and the part of its name not shared with the name
 *  before it, 274 at most). */
#define FLARED_AUTOINDEX_MAX 10000

/** A directory's listable entries, sorted, and how much of their page is written. */
typedef struct flared_listing flared_listing;

/**
 * Reads the entries of the directory dir_fd (at rel beneath root_fd) for an HTML
 * listing: directories first, then by name, with sizes and modification times
 * (UTC). Left out: what a request could not get anyway, i.e. dotfiles unless
 * st->hidden_files, symlinks unless st->follow_symlinks (and then those resolving
 * outside the root), names flared_static_name_ok refuses, and anything neither a
 * regular file nor a directory. At most FLARED_AUTOINDEX_MAX entries are kept; the
 * page then says how many are listed. Returns 0 with *out owned by the caller
 * (flared_listing_free), or a negative FLARE_E code; dir_fd stays open.
 */
int flared_listing_open(int root_fd, int dir_fd, const char *rel, const flared_static_route *st,
                        flared_listing **out);

/**
 * Appends the next part of the page to out (names escaped and linked): rows until
 * out has grown by `budget` bytes (a row more at most, about 2.5 KB), the page's
 * head before the first and its end after the last. Returns 1 once the page is
 * complete, 0 when more is to come, or a negative FLARE_E code.
 */
int flared_listing_write(flared_listing *l, flare_buf *out, size_t budget);

/** Makes the next flared_listing_write start the page again. */
void flared_listing_rewind(flared_listing *l);

/** Frees a listing; NULL is a no-op. */
void flared_listing_free(flared_listing *l);

/** Appends the whole page of the directory's listing (flared_listing_open) to out.
 *  Returns 0 or a negative FLARE_E code. */
int flared_static_autoindex(int root_fd, int dir_fd, const char *rel, const flared_static_route *st,
                            flare_buf *out);

/** Opens rel beneath root_fd (openat2 RESOLVE_BENEATH, and RESOLVE_NO_SYMLINKS unless
 *  follow_symlinks) with flags; returns the descriptor or -1 with errno set. After
 *  the first ENOSYS from openat2 it uses flared_static_open_walk for good; when
 *  openat2 keeps failing with EAGAIN (renames racing a ".."), for that open only. */
int flared_static_open(int root_fd, const char *rel, int flags, bool follow_symlinks);

/** The fallback of flared_static_open: walks rel one name at a time (openat with
 *  O_NOFOLLOW beneath a held directory), refusing ".." and absolute paths (EXDEV),
 *  symlinks unless follow_symlinks (ELOOP), and links that lead out of the root
 *  (EXDEV). Returns the descriptor or -1 with errno set. */
int flared_static_open_walk(int root_fd, const char *rel, int flags, bool follow_symlinks);

/** Tests only: replaces the openat2 system call (NULL restores it) and forgets an
 *  ENOSYS seen before. */
void flared_static__set_openat2(long (*fn)(int, const char *, const void *, size_t));
/** Tests only: true once flared_static_open has switched to the walk. */
bool flared_static__walking(void);

#endif
