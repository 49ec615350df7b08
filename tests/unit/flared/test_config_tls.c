/*
 * test_config_tls.c: a listener's `tls` block (src/flared/config_tls.c): the
 * defaults, every key read to its value, relative paths resolved against the
 * config's folder, and each error with its "FILE:LINE:COLUMN:". Certificates are
 * made at run time with the OpenSSL API in a scratch directory; no key is committed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static char scratch[PATH_MAX];
static char scratch_real[PATH_MAX];

#define CONFIG_HARNESS_DIR scratch
#define CONFIG_HARNESS_OWN_EXPECT
#include "config_harness.h"

/* Writes dir/NAME.pem (self-signed, CN and DNS SAN = cn) and dir/NAME.key. */
static int make_cert(const char *name, const char *cn)
{
    char path[PATH_MAX + 32], san[300];
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    int ok = key && x;
    if (ok) {
        X509_set_version(x, 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_gmtime_adj(X509_getm_notBefore(x), -60);
        X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600);
        X509_set_pubkey(x, key);
        X509_NAME *n = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
        X509_set_issuer_name(x, n);
        snprintf(san, sizeof san, "DNS:%s", cn);
        X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
        ok = ext && X509_add_ext(x, ext, -1) == 1 && X509_sign(x, key, EVP_sha256()) > 0;
        X509_EXTENSION_free(ext);
    }
    FILE *f;
    snprintf(path, sizeof path, "%s/%s.pem", scratch, name);
    if (ok && (f = fopen(path, "w"))) {
        ok = PEM_write_X509(f, x) == 1;
        ok &= fclose(f) == 0;
    } else {
        ok = 0;
    }
    snprintf(path, sizeof path, "%s/%s.key", scratch, name);
    if (ok && (f = fopen(path, "w"))) {
        ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
        ok &= fclose(f) == 0;
    } else {
        ok = 0;
    }
    X509_free(x);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

static int write_file(const char *name, const char *text)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", scratch, name);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    size_t n = fwrite(text, 1, strlen(text), f);
    return fclose(f) == 0 && n == strlen(text) ? 0 : -1;
}

static int group_setup(void **state)
{
    (void)state;
    char path[PATH_MAX + 32];
    snprintf(scratch, sizeof scratch, "/tmp/flared-config-tls-XXXXXX");
    if (!mkdtemp(scratch) || !realpath(scratch, scratch_real)) return -1;
    snprintf(path, sizeof path, "%s/certs", scratch);
    if (mkdir(path, 0755) < 0) return -1;
    if (make_cert("a", "a.test") < 0 || make_cert("b", "b.test") < 0 ||
        make_cert("certs/c", "c.test") < 0)
        return -1;
    return write_file("garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                                     "-----END CERTIFICATE-----\n");
}

static int group_teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : -1;
}

/* The message, with the scratch directory written as "@" so expectations stay short. */
static void expect_error(const char *yaml, const char *message)
{
    flare_error err;
    config_refused(yaml, strlen(yaml), &err);
    char shown[FLARE_ERROR_MESSAGE_MAX];
    size_t o = 0, dlen = strlen(scratch_real);
    for (const char *p = err.message; *p && o + 1 < sizeof shown;) {
        if (strncmp(p, scratch_real, dlen) == 0) {
            shown[o++] = '@';
            p += dlen;
        } else {
            shown[o++] = *p++;
        }
    }
    shown[o] = '\0';
    if (strncmp(shown, message, strlen(message)) != 0)
        fail_msg("error\n  got      \"%s\"\n  expected \"%s...\"", shown, message);
}

static const char *in_scratch(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", scratch_real, name);
    return buf;
}

#define HEAD "listeners:\n  - address: 127.0.0.1:8443\n    tls:\n"

static void test_defaults(void **state)
{
    (void)state;
    char want[PATH_MAX + 32];
    flared_config *cfg = load_ok("listeners:\n"
                                 "  - address: 127.0.0.1:8080\n"
                                 "  - address: 127.0.0.1:8443\n"
                                 "    tls:\n"
                                 "      certificates: [{cert: a.pem, key: a.key}]\n");
    assert_int_equal(cfg->listener_count, 2);
    assert_null(cfg->listeners[0].tls);
    const flared_tls *t = cfg->listeners[1].tls;
    assert_non_null(t);
    assert_int_equal(t->line, 5);
    assert_int_equal(t->column, 7);
    assert_int_equal(t->cert_count, 1);
    assert_string_equal(t->certs[0].cert, in_scratch("a.pem", want, sizeof want));
    assert_string_equal(t->certs[0].key, in_scratch("a.key", want, sizeof want));
    assert_int_equal(t->certs[0].name_count, 0);
    assert_int_equal(t->certs[0].line, 5);
    assert_int_equal(t->certs[0].column, 22);
    assert_int_equal(t->min_version, FLARED_TLS_1_2);
    assert_int_equal(t->alpn_count, 2); /* both versions flared speaks, 1.1 first */
    assert_string_equal(t->alpn[0], "http/1.1");
    assert_string_equal(t->alpn[1], "http/1.0");
    assert_null(t->client_ca);
    assert_int_equal(t->client_verify, FLARE_TLS_CLIENT_VERIFY_ON);
    assert_int_equal(t->verify_depth, 0);
    assert_true(t->session_tickets);
    flared_config_free(cfg);
}

static void test_every_key(void **state)
{
    (void)state;
    char want[PATH_MAX + 32];
    flared_config *cfg = load_ok(HEAD "      certificates:\n"
                                      "        - {cert: a.pem, key: a.key}\n"
                                      "        - cert: certs/c.pem\n"
                                      "          key: certs/c.key\n"
                                      "          names: [C.Test, \"*.Wild.test\", trailing.test.]\n"
                                      "      min_version: \"1.3\"\n"
                                      "      alpn: [http/1.1, http/1.0]\n"
                                      "      client_ca: b.pem\n"
                                      "      client_verify: optional\n"
                                      "      verify_depth: 3\n"
                                      "      session_tickets: false\n");
    const flared_tls *t = cfg->listeners[0].tls;
    assert_int_equal(t->cert_count, 2);
    assert_string_equal(t->certs[1].cert, in_scratch("certs/c.pem", want, sizeof want));
    assert_string_equal(t->certs[1].key, in_scratch("certs/c.key", want, sizeof want));
    assert_int_equal(t->certs[1].line, 6);
    assert_int_equal(t->certs[1].name_count, 3);
    assert_string_equal(t->certs[1].names[0], "c.test");
    assert_string_equal(t->certs[1].names[1], "*.wild.test");
    assert_string_equal(t->certs[1].names[2], "trailing.test");
    assert_int_equal(t->min_version, FLARED_TLS_1_3);
    assert_int_equal(t->alpn_count, 2);
    assert_string_equal(t->alpn[1], "http/1.0");
    assert_string_equal(t->client_ca, in_scratch("b.pem", want, sizeof want));
    assert_int_equal(t->client_verify, FLARE_TLS_CLIENT_VERIFY_OPTIONAL);
    assert_int_equal(t->verify_depth, 3);
    assert_false(t->session_tickets);
    flared_config_free(cfg);
}

static void test_value_shapes(void **state)
{
    (void)state;
    /* An unquoted 1.2 is the same scalar; `alpn: []` turns ALPN off; absolute paths stay. */
    char yaml[2 * PATH_MAX + 256];
    snprintf(yaml, sizeof yaml,
             HEAD "      certificates: [{cert: %s/a.pem, key: %s/a.key}]\n"
                  "      min_version: 1.2\n"
                  "      alpn: []\n",
             scratch, scratch);
    flared_config *cfg = load_ok(yaml);
    const flared_tls *t = cfg->listeners[0].tls;
    assert_int_equal(t->min_version, FLARED_TLS_1_2);
    assert_int_equal(t->alpn_count, 0);
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/a.pem", scratch);
    assert_string_equal(t->certs[0].cert, want);
    flared_config_free(cfg);
    /* A Unix listener may speak TLS too. */
    cfg = load_ok("listeners:\n"
                  "  - address: unix:/tmp/flared-tls-test.sock\n"
                  "    tls: {certificates: [{cert: a.pem, key: a.key}]}\n");
    assert_non_null(cfg->listeners[0].tls);
    flared_config_free(cfg);
}

static void test_file_errors(void **state)
{
    (void)state;
    expect_error(HEAD "      certificates: [{cert: missing.pem, key: a.key}]\n",
                 "t.yaml:4:29: cert: cannot read '@/missing.pem': No such file or directory");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: nokey.pem}]\n",
                 "t.yaml:4:41: key: cannot read '@/nokey.pem': No such file or directory");
    expect_error(HEAD "      certificates: [{cert: certs, key: a.key}]\n",
                 "t.yaml:4:29: cert: '@/certs' is not a regular file");
    expect_error(HEAD "      certificates: [{cert: garbage.pem, key: a.key}]\n",
                 "t.yaml:4:22: certificates: tls certificate file @/garbage.pem: not a PEM "
                 "certificate chain");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: garbage.pem}]\n",
                 "t.yaml:4:22: certificates: tls key file @/garbage.pem: not an unencrypted PEM "
                 "private key");
    /* The second entry's key belongs to another certificate. */
    expect_error(HEAD "      certificates:\n"
                      "        - {cert: a.pem, key: a.key}\n"
                      "        - {cert: b.pem, key: a.key, names: [b.test]}\n",
                 "t.yaml:6:11: certificates: tls key file @/a.key does not match certificate "
                 "@/b.pem");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      client_ca: garbage.pem\n",
                 "t.yaml:5:18: client_ca: tls client CA file @/garbage.pem: no PEM "
                 "certificates");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      client_ca: nothere.pem\n",
                 "t.yaml:5:18: client_ca: cannot read '@/nothere.pem': No such file");
    if (geteuid() != 0) { /* root reads a mode-000 file anyway */
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/locked.key", scratch);
        assert_int_equal(write_file("locked.key", "x"), 0);
        assert_int_equal(chmod(path, 0), 0);
        expect_error(HEAD "      certificates: [{cert: a.pem, key: locked.key}]\n",
                     "t.yaml:4:41: key: cannot read '@/locked.key': Permission denied");
    }
}

static void test_value_errors(void **state)
{
    (void)state;
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      min_version: \"1.1\"\n",
                 "t.yaml:5:20: min_version: expected \"1.2\" or \"1.3\", got '1.1' (TLS 1.0 and "
                 "1.1 are not supported)");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      min_version: [1.3]\n",
                 "t.yaml:5:20: min_version: expected \"1.2\" or \"1.3\", got a list");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      alpn: [h2, http/1.1]\n",
                 "t.yaml:5:14: alpn: 'h2' is not a protocol flared speaks (http/1.1 or "
                 "http/1.0)");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      alpn: [\"http/1.1 \"]\n",
                 "t.yaml:5:14: alpn: 'http/1.1 ' has spaces, control or non-ASCII characters");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      alpn: [\"\"]\n",
                 "t.yaml:5:14: alpn: '' must be 1..255 bytes");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      alpn: [http/1.1, http/1.1]\n",
                 "t.yaml:5:24: alpn: 'http/1.1' is listed twice");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      alpn: http/1.1\n",
                 "t.yaml:5:13: alpn: expected a list, got 'http/1.1'");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      session_tickets: yes\n",
                 "t.yaml:5:24: session_tickets: expected true or false, got 'yes'");
    expect_error(HEAD "      certificates:\n"
                      "        - {cert: a.pem, key: a.key}\n"
                      "        - {cert: b.pem, key: b.key, names: [b.test, \"bad name\"]}\n",
                 "t.yaml:6:53: names: 'bad name' is not a host name (like www.example.com or "
                 "*.example.com)");
    expect_error(HEAD "      certificates:\n"
                      "        - {cert: a.pem, key: a.key, names: [a.test, \"*.\"]}\n",
                 "t.yaml:5:53: names: '*.' is not a host name");
    expect_error(HEAD "      certificates:\n"
                      "        - {cert: a.pem, key: a.key, names: [a.test, \"a..\"]}\n",
                 "t.yaml:5:53: names: 'a..' is not a host name");
    expect_error(HEAD "      certificates:\n"
                      "        - {cert: a.pem, key: a.key, names: [a.test]}\n"
                      "        - {cert: b.pem, key: b.key, names: [b.test, A.Test]}\n",
                 "t.yaml:6:53: names: 'A.Test' is already named at line 5, column 45");
    expect_error(HEAD "      certificates:\n"
                      "        - {cert: a.pem, key: a.key, names: []}\n",
                 "t.yaml:5:44: names: empty list; omit the key to use the certificate's own "
                 "names");
}

static void test_shape_errors(void **state)
{
    (void)state;
    expect_error(HEAD "      certificate: [{cert: a.pem, key: a.key}]\n",
                 "t.yaml:4:7: unknown key 'certificate' in tls; did you mean 'certificates'?");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      ciphers: HIGH\n",
                 "t.yaml:5:7: unknown key 'ciphers' in tls; allowed: certificates, min_version, "
                 "alpn, client_ca, client_verify, verify_depth, session_tickets");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key, sni: [a.test]}]\n",
                 "t.yaml:4:48: unknown key 'sni' in a certificate; allowed: cert, key, names");
    expect_error(HEAD "      min_version: \"1.2\"\n",
                 "t.yaml:4:7: tls: missing required key 'certificates'");
    expect_error(HEAD "      certificates: []\n",
                 "t.yaml:4:21: certificates: at least one is required");
    expect_error(HEAD "      certificates: {cert: a.pem, key: a.key}\n",
                 "t.yaml:4:21: certificates: expected a list, got a mapping");
    expect_error(HEAD "      certificates: [{cert: a.pem}]\n",
                 "t.yaml:4:22: certificates: missing required key 'key'");
    expect_error(HEAD "      certificates: [{key: a.key}]\n",
                 "t.yaml:4:22: certificates: missing required key 'cert'");
    expect_error(HEAD "      certificates: [a.pem]\n",
                 "t.yaml:4:22: certificates: expected a mapping, got 'a.pem'");
    expect_error("listeners:\n  - address: 127.0.0.1:8443\n    tls: true\n",
                 "t.yaml:3:10: tls: expected a mapping, got 'true'");
    expect_error("listeners:\n  - address: 127.0.0.1:8443\n    tls:\n",
                 "t.yaml:3:9: tls: expected a mapping, got nothing");
    char yaml[8192];
    size_t o = (size_t)snprintf(yaml, sizeof yaml, HEAD "      certificates:\n");
    for (int i = 0; i <= FLARED_TLS_CERTS_MAX; i++)
        o += (size_t)snprintf(yaml + o, sizeof yaml - o, "        - {cert: a.pem, key: a.key}\n");
    expect_error(yaml, "t.yaml:5:9: certificates: more than 64");
}

/* client_verify, verify_depth, and a route's client_cert, which needs a listener that
 * verifies client certificates. */
static void test_client_verify(void **state)
{
    (void)state;
    /* nginx takes optional_no_ca without a CA too: certificates are asked for, none verifies. */
    flared_config *cfg = load_ok(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                                      "      client_verify: optional_no_ca\n"
                                      "      verify_depth: 1\n");
    assert_null(cfg->listeners[0].tls->client_ca);
    assert_int_equal(cfg->listeners[0].tls->client_verify, FLARE_TLS_CLIENT_VERIFY_OPTIONAL_NO_CA);
    assert_int_equal(cfg->listeners[0].tls->verify_depth, 1);
    flared_config_free(cfg);
    cfg = load_ok(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                       "      client_ca: b.pem\n"
                       "      client_verify: on\n"
                       "routes:\n"
                       "  - path: /\n"
                       "    client_cert: required\n"
                       "    text: {body: x}\n"
                       "  - path: /open\n"
                       "    text: {body: x}\n");
    assert_int_equal(cfg->listeners[0].tls->client_verify, FLARE_TLS_CLIENT_VERIFY_ON);
    assert_true(cfg->default_host.routes[0].client_cert_required);
    assert_false(cfg->default_host.routes[1].client_cert_required);
    flared_config_free(cfg);
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      client_verify: optional\n",
                 "t.yaml:5:22: client_verify: optional needs client_ca, the CA bundle that "
                 "client certificates are verified against");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      client_verify: on\n",
                 "t.yaml:5:22: client_verify: on needs client_ca");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      client_ca: b.pem\n"
                      "      client_verify: off\n",
                 "t.yaml:6:22: client_verify: expected on, optional or optional_no_ca, got 'off'");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      client_ca: b.pem\n"
                      "      client_verify: [on]\n",
                 "t.yaml:6:22: client_verify: expected on, optional or optional_no_ca, got a list");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      verify_depth: 2\n",
                 "t.yaml:5:21: verify_depth: no client certificates are asked for; add "
                 "client_ca");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      client_ca: b.pem\n"
                      "      verify_depth: 0\n",
                 "t.yaml:6:21: verify_depth:");
    expect_error(HEAD "      certificates: [{cert: a.pem, key: a.key}]\n"
                      "      client_ca: b.pem\n"
                      "routes:\n"
                      "  - path: /\n"
                      "    client_cert: optional\n"
                      "    text: {body: x}\n",
                 "t.yaml:8:18: client_cert: expected required, got 'optional'");
    /* optional_no_ca alone never verifies one: the route could only answer 403. */
    expect_error("listeners:\n"
                 "  - address: 127.0.0.1:8080\n"
                 "  - address: 127.0.0.1:8443\n"
                 "    tls:\n"
                 "      certificates: [{cert: a.pem, key: a.key}]\n"
                 "      client_verify: optional_no_ca\n"
                 "routes:\n"
                 "  - path: /\n"
                 "    client_cert: required\n"
                 "    text: {body: x}\n",
                 "t.yaml:9:18: client_cert: required, but no listener verifies client "
                 "certificates, so every request would get 403; give a tls listener a client_ca");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_value_shapes),  cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_value_errors),  cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_client_verify),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
