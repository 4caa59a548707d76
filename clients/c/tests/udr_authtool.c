/*
 * udr_authtool: the C client's credentials, datagram key and MAC, for tests against Python's.
 *
 *     udr_authtool credentials SECRET NAME SESSION_HEX TIMESTAMP KEY_ID   -> key_id:signature
 *     udr_authtool key SECRET SESSION_HEX TIMESTAMP KEY_ID                -> hex K
 *     udr_authtool mac KEY_HEX DATA_HEX                                   -> hex MAC
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "udprouter/client/udr_auth.h"

static size_t unhex(const char *hex, uint8_t *out, size_t cap) {
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n && i < cap; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n < cap ? n : cap;
}

static void print_hex(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        printf("%02x", p[i]);
    }
    printf("\n");
}

int main(int argc, char **argv) {
    uint8_t session[16], key[UDR_AUTH_KEY_SIZE];
    if (argc == 7 && strcmp(argv[1], "credentials") == 0) {
        char out[512];
        unhex(argv[4], session, sizeof session);
        int n = udr_auth_credentials(out, sizeof out, argv[2], argv[3], session, strtoull(argv[5], NULL, 10), argv[6]);
        if (n < 0) {
            return 1;
        }
        printf("%.*s\n", n, out);
        return 0;
    }
    if (argc == 6 && strcmp(argv[1], "key") == 0) {
        unhex(argv[3], session, sizeof session);
        if (udr_auth_datagram_key(key, argv[2], session, strtoull(argv[4], NULL, 10), argv[5]) != 0) {
            return 1;
        }
        print_hex(key, sizeof key);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "mac") == 0) {
        static uint8_t data[1 << 16];
        uint8_t mac[UDR_AUTH_MAC_SIZE];
        unhex(argv[2], key, sizeof key);
        size_t n = unhex(argv[3], data, sizeof data);
        if (udr_auth_mac(mac, key, data, n) != 0) {
            return 1;
        }
        print_hex(mac, sizeof mac);
        return 0;
    }
    fprintf(stderr, "usage: udr_authtool credentials|key|mac ...\n");
    return 2;
}
