/*
 * client_bench.c: libflare's keep-alive HTTP client as bench/run_client.sh drives
 * it. One flare_http_client does N sequential GETs, cycling through the URLs of
 * a file (one a line), over its pooled connection; every answer must be a 200
 * with a body. The wall time and the process's CPU (getrusage: user + system)
 * cover the N requests only, after a warmup that opens the connection. Prints one
 * parseable line.
 *   client_bench [--requests N] [--warmup N] URL_FILE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "flare/http_client.h"

enum { MAX_URLS = 256, MAX_URL_LEN = 2048 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static size_t read_urls(const char *path, char urls[][MAX_URL_LEN])
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 0;
    }
    size_t n = 0;
    char line[MAX_URL_LEN];
    while (n < MAX_URLS && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] && line[0] != '#') memcpy(urls[n++], line, sizeof line);
    }
    fclose(f);
    return n;
}

/* One GET; 0 when it was a 200 with a body, else -1 with a message on stderr. */
static int get_one(flare_http_client *c, const char *url, uint64_t *bytes)
{
    flare_http_reply reply;
    flare_error err;
    int rc = flare_http_client_get(c, url, &reply, &err);
    if (rc < 0)
        fprintf(stderr, "client_bench: GET %s: %s\n", url, err.message);
    else if (reply.status != 200 || reply.body_len == 0) {
        fprintf(stderr, "client_bench: GET %s: status %d, %zu body bytes\n", url, reply.status,
                reply.body_len);
        rc = -1;
    } else
        *bytes += reply.body_len;
    flare_http_reply_free(&reply);
    return rc < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    unsigned long requests = 20000, warmup = 200;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc)
            requests = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
            warmup = strtoul(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && !file)
            file = argv[i];
        else {
            fprintf(stderr, "usage: client_bench [--requests N] [--warmup N] URL_FILE\n");
            return 2;
        }
    }
    static char urls[MAX_URLS][MAX_URL_LEN];
    size_t num_urls = file ? read_urls(file, urls) : 0;
    if (num_urls == 0 || requests == 0) {
        fprintf(stderr, "client_bench: no URLs in %s, or no requests\n", file ? file : "(none)");
        return 2;
    }
    flare_http_client *c;
    flare_error err;
    if (flare_http_client_new(&c, NULL, &err) < 0) {
        fprintf(stderr, "client_bench: %s\n", err.message);
        return 1;
    }
    uint64_t bytes = 0;
    unsigned long errors = 0;
    for (unsigned long i = 0; i < warmup; i++)
        errors += get_one(c, urls[i % num_urls], &bytes) < 0;
    uint64_t opened = flare_http_client_get_stats(c)->connections_opened;
    bytes = 0;
    double t0 = now_s(), c0 = cpu_s();
    for (unsigned long i = 0; i < requests; i++)
        errors += get_one(c, urls[i % num_urls], &bytes) < 0;
    double seconds = now_s() - t0, cpu = cpu_s() - c0;
    opened = flare_http_client_get_stats(c)->connections_opened - opened;
    flare_http_client_free(c);
    printf("requests %lu seconds %.3f req_per_s %.0f cpu_us_per_req %.2f connections %llu "
           "body_bytes %llu errors %lu\n",
           requests, seconds, (double)requests / seconds, cpu * 1e6 / (double)requests,
           (unsigned long long)opened, (unsigned long long)bytes, errors);
    return errors ? 1 : 0;
}
