/*
 * fuzz_cli_upload.c: the flare CLI's -T URL (cli_upload_url: the upload file's base
 * name appended when the URL's path is empty or ends in '/', as curl -T does). The
 * input is the URL, a NUL, then the local path. Checks: a URL whose path names a
 * file comes back unchanged; otherwise the result is the URL with the base name,
 * encoded by libflare's own flare_url_percent_encode, put at the end of the path
 * before any query or fragment; when libflare parses the URL, it parses the result
 * too, with the same scheme, host, port, query and fragment, and a path that is the
 * URL's (or "/") followed by the encoded name.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "flare/url.h"
#include "fuzz.h"

#define MAX_INPUT 4096

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT) return 0;
    static char text[MAX_INPUT + 2];
    memcpy(text, data, size);
    text[size] = '\0';
    text[size + 1] = '\0';
    const char *url = text, *path = text + strlen(text) + 1;
    if (path > text + size) path = text + size + 1; /* no NUL: an empty path */

    char *got = cli_upload_url(url, path);
    FUZZ_CHECK(got != NULL);

    /* Where the path lies: after "scheme://" and the authority, up to '?' or '#'. */
    const char *authority = strstr(url, "://");
    authority = authority ? authority + 3 : url;
    const char *url_path = authority + strcspn(authority, "/?#");
    size_t path_len = strcspn(url_path, "?#");
    if (path_len && url_path[path_len - 1] != '/') {
        FUZZ_CHECK(!strcmp(got, url));
        free(got);
        return 0;
    }
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    flare_buf enc = FLARE_BUF_INIT;
    FUZZ_CHECK(flare_url_percent_encode(&enc, base, strlen(base), NULL) == 0);
    size_t head = (size_t)(url_path - url) + path_len, at = head;
    FUZZ_CHECK(!strncmp(got, url, head));
    if (!path_len) FUZZ_CHECK(got[at++] == '/');
    FUZZ_CHECK(!strncmp(got + at, enc.data ? enc.data : "", enc.len));
    FUZZ_CHECK(!strcmp(got + at + enc.len, url + head));

    /* "." and ".." name directories, which -T refuses before it gets here. */
    flare_url u, r;
    if (strcmp(base, ".") && strcmp(base, "..") &&
        flare_url_parse(&u, url, strlen(url), NULL) == 0) {
        FUZZ_CHECK(flare_url_parse(&r, got, strlen(got), NULL) == 0);
        FUZZ_CHECK(same_str(u.scheme, r.scheme) && same_str(u.host, r.host) && u.port == r.port);
        FUZZ_CHECK(same_str(u.query, r.query) && same_str(u.fragment, r.fragment));
        size_t plen = strlen(u.path);
        FUZZ_CHECK(!strncmp(r.path, u.path, plen));
        FUZZ_CHECK(strlen(r.path + plen) == enc.len &&
                   !memcmp(r.path + plen, enc.data ? enc.data : "", enc.len));
        flare_url_free(&r);
        flare_url_free(&u);
    }
    flare_buf_free(&enc);
    free(got);
    return 0;
}
