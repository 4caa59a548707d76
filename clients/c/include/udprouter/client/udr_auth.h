/*
 * udr_auth.h - signed FIXP credentials and datagram authentication (OpenSSL libcrypto).
 *
 * Credentials (Negotiate, Establish) = "<key_id>:<signature>", signature = lowercase hex
 * HMAC-SHA256(secret, "<MessageName>\n<SessionId as 32 lowercase hex>\n<Timestamp>\n<key_id>").
 * Datagram key K = HMAC-SHA256(secret, "DatagramKey\n<SessionId hex>\n<Establish Timestamp>\n<key_id>").
 * Every datagram of an established session ends with a MessageAuthentication frame whose MAC is
 * keyed BLAKE2b-128 (RFC 7693) under K over every byte of the datagram before that frame.
 * See protocol/SPEC.md, sections 4.1 and 4.9.
 */
#ifndef UDPROUTER_CLIENT_UDR_AUTH_H
#define UDPROUTER_CLIENT_UDR_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "udprouter/generated/sbe_messages.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UDR_AUTH_KEY_SIZE 32
#define UDR_AUTH_MAC_SIZE 16
#define UDR_AUTH_SIGNATURE_HEX 64

/* The MessageAuthentication frame (FIXP schema 2748, template 30, block = the 16-byte MAC). */
#ifdef UDR_SBE_MESSAGE_AUTHENTICATION_TEMPLATE_ID
#define UDR_AUTH_MAC_TEMPLATE_ID UDR_SBE_MESSAGE_AUTHENTICATION_TEMPLATE_ID
#else
#define UDR_AUTH_MAC_TEMPLATE_ID 30
#endif
#define UDR_AUTH_MAC_FRAME_SIZE (UDR_SBE_FRAME_PREFIX_SIZE + UDR_AUTH_MAC_SIZE)

/*
 * Writes "<key_id>:<signature>" into out (cap bytes, no terminator needed).
 * Returns its length, or -1 when cap is too small or the HMAC fails.
 */
int udr_auth_credentials(char *out, size_t cap, const char *secret, const char *message_name,
                         const uint8_t session_id[16], uint64_t timestamp, const char *key_id);

/* The 32-byte session datagram key K; 0 on success, -1 on failure. */
int udr_auth_datagram_key(uint8_t key[UDR_AUTH_KEY_SIZE], const char *secret, const uint8_t session_id[16],
                          uint64_t establish_timestamp, const char *key_id);

/* BLAKE2b-128 keyed by key over data, in one call; 0 on success, -1 on failure. */
int udr_auth_mac(uint8_t mac[UDR_AUTH_MAC_SIZE], const uint8_t key[UDR_AUTH_KEY_SIZE], const uint8_t *data,
                 size_t length);

/* A MAC keyed once and reused for every datagram of a session (fetching the algorithm per call
 * costs several times the hashing). NULL when libcrypto lacks BLAKE2BMAC or memory. */
typedef struct udr_auth_mac_ctx udr_auth_mac_ctx;
udr_auth_mac_ctx *udr_auth_mac_new(const uint8_t key[UDR_AUTH_KEY_SIZE]);
int udr_auth_mac_compute(udr_auth_mac_ctx *ctx, uint8_t mac[UDR_AUTH_MAC_SIZE], const uint8_t *data,
                         size_t length);
void udr_auth_mac_free(udr_auth_mac_ctx *ctx);

/*
 * Appends the MessageAuthentication frame for buf[0..*used) at *used (cap bytes in all).
 * Returns 0, or -1 when there is no room or the MAC fails.
 */
int udr_auth_append_mac(uint8_t *buf, size_t cap, size_t *used, udr_auth_mac_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif /* UDPROUTER_CLIENT_UDR_AUTH_H */
