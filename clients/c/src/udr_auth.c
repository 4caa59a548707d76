#include "udprouter/client/udr_auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "udprouter/client/udr_frame.h"

/* "<label>\n<SessionId hex>\n<Timestamp>\n<key_id>", the text every HMAC of this protocol signs. */
static int canonical(char *out, size_t cap, const char *label, const uint8_t session_id[16],
                     uint64_t timestamp, const char *key_id) {
    char hex[33];
    for (int i = 0; i < 16; i++) {
        snprintf(hex + 2 * i, 3, "%02x", session_id[i]);
    }
    int n = snprintf(out, cap, "%s\n%s\n%" PRIu64 "\n%s", label, hex, timestamp, key_id);
    return (n < 0 || (size_t)n >= cap) ? -1 : n;
}

static int hmac_sha256(uint8_t digest[32], const char *secret, const char *text, size_t length) {
    unsigned int digest_length = 0;
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)text, length, digest,
             &digest_length) == NULL || digest_length != 32) {
        return -1;
    }
    return 0;
}

int udr_auth_credentials(char *out, size_t cap, const char *secret, const char *message_name,
                         const uint8_t session_id[16], uint64_t timestamp, const char *key_id) {
    char text[512];
    uint8_t digest[32];
    int n = canonical(text, sizeof text, message_name, session_id, timestamp, key_id);
    if (n < 0 || hmac_sha256(digest, secret, text, (size_t)n) != 0) {
        return -1;
    }
    size_t key_length = strlen(key_id);
    size_t total = key_length + 1 + UDR_AUTH_SIGNATURE_HEX;
    if (total > cap) {
        return -1;
    }
    memcpy(out, key_id, key_length);
    out[key_length] = ':';
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[key_length + 1 + 2 * i] = digits[digest[i] >> 4];
        out[key_length + 2 + 2 * i] = digits[digest[i] & 0xf];
    }
    return (int)total;
}

int udr_auth_datagram_key(uint8_t key[UDR_AUTH_KEY_SIZE], const char *secret, const uint8_t session_id[16],
                          uint64_t establish_timestamp, const char *key_id) {
    char text[512];
    int n = canonical(text, sizeof text, "DatagramKey", session_id, establish_timestamp, key_id);
    return n < 0 ? -1 : hmac_sha256(key, secret, text, (size_t)n);
}

struct udr_auth_mac_ctx {
    EVP_MAC_CTX *ctx;
};

udr_auth_mac_ctx *udr_auth_mac_new(const uint8_t key[UDR_AUTH_KEY_SIZE]) {
    /* Keyed BLAKE2b (RFC 7693) with a 16-byte digest: OpenSSL 3's BLAKE2BMAC with size 16. */
    EVP_MAC *algorithm = EVP_MAC_fetch(NULL, "BLAKE2BMAC", NULL);
    udr_auth_mac_ctx *m = algorithm == NULL ? NULL : calloc(1, sizeof *m);
    if (m != NULL) {
        m->ctx = EVP_MAC_CTX_new(algorithm);
        size_t size = UDR_AUTH_MAC_SIZE;
        OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size), OSSL_PARAM_construct_end()};
        if (m->ctx == NULL || EVP_MAC_init(m->ctx, key, UDR_AUTH_KEY_SIZE, params) != 1) {
            udr_auth_mac_free(m);
            m = NULL;
        }
    }
    EVP_MAC_free(algorithm); /* the context holds its own reference */
    return m;
}

int udr_auth_mac_compute(udr_auth_mac_ctx *m, uint8_t mac[UDR_AUTH_MAC_SIZE], const uint8_t *data,
                         size_t length) {
    size_t written = 0;
    /* init with no key starts a new MAC under the key already set */
    int ok = EVP_MAC_init(m->ctx, NULL, 0, NULL) == 1 && EVP_MAC_update(m->ctx, data, length) == 1 &&
             EVP_MAC_final(m->ctx, mac, &written, UDR_AUTH_MAC_SIZE) == 1 && written == UDR_AUTH_MAC_SIZE;
    return ok ? 0 : -1;
}

void udr_auth_mac_free(udr_auth_mac_ctx *m) {
    if (m != NULL) {
        EVP_MAC_CTX_free(m->ctx);
        free(m);
    }
}

int udr_auth_mac(uint8_t mac[UDR_AUTH_MAC_SIZE], const uint8_t key[UDR_AUTH_KEY_SIZE], const uint8_t *data,
                 size_t length) {
    udr_auth_mac_ctx *m = udr_auth_mac_new(key);
    int rc = m == NULL ? -1 : udr_auth_mac_compute(m, mac, data, length);
    udr_auth_mac_free(m);
    return rc;
}

int udr_auth_append_mac(uint8_t *buf, size_t cap, size_t *used, udr_auth_mac_ctx *ctx) {
    uint8_t mac[UDR_AUTH_MAC_SIZE];
    if (ctx == NULL || udr_auth_mac_compute(ctx, mac, buf, *used) != 0) {
        return -1;
    }
    size_t n = udr_frame_append(buf, cap, used, UDR_AUTH_MAC_TEMPLATE_ID, UDR_SBE_FIXP_SCHEMA_ID, mac,
                                UDR_AUTH_MAC_SIZE, NULL, NULL, 0);
    return n == 0 ? -1 : 0;
}
