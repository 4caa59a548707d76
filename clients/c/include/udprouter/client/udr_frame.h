/*
 * udr_frame.h - SOFH + SBE framing of udprouter messages.
 *
 * A frame is SOFH (6 bytes, big-endian length of the whole frame, encoding 0xEB50) + SBE message
 * header (8 bytes, little-endian) + the message block (the packed structs of
 * udprouter/generated/sbe_messages.h) + var data (uint16 length + bytes each). A datagram carries
 * frames back to back. The blocks are little-endian; this library requires a little-endian host.
 */
#ifndef UDPROUTER_CLIENT_UDR_FRAME_H
#define UDPROUTER_CLIENT_UDR_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "udprouter/generated/sbe_messages.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "udprouter client: the SBE blocks are read in place and need a little-endian host"
#endif

/* One decoded frame: points into the datagram it was read from. */
typedef struct udr_frame {
    uint16_t template_id;
    uint16_t schema_id;
    uint16_t version;
    uint16_t block_length;
    const uint8_t *block;      /* block_length bytes */
    const uint8_t *var_data;   /* the bytes after the block, up to the frame's end */
    size_t var_data_length;
    size_t frame_length;       /* SOFH length: the whole frame */
} udr_frame;

typedef enum udr_frame_status {
    UDR_FRAME_OK = 0,
    UDR_FRAME_END = 1,          /* no bytes left: not an error */
    UDR_FRAME_TRUNCATED = -1,   /* fewer bytes than the SOFH or the header says */
    UDR_FRAME_BAD_ENCODING = -2,/* SOFH encoding type is not 0xEB50 */
    UDR_FRAME_BAD_LENGTH = -3   /* SOFH length shorter than the prefix + block length */
} udr_frame_status;

/*
 * Reads the frame at *offset in buf[0..len) and advances *offset past it.
 * Returns UDR_FRAME_OK, UDR_FRAME_END when *offset == len, or a negative status.
 */
udr_frame_status udr_frame_next(const uint8_t *buf, size_t len, size_t *offset, udr_frame *out);

/*
 * Appends a frame: prefix, block (block_length bytes), then var_count var data fields
 * (lengths in var_lengths). Returns the bytes written, or 0 when cap - *used is too small.
 */
size_t udr_frame_append(uint8_t *buf, size_t cap, size_t *used, uint16_t template_id, uint16_t schema_id,
                        const void *block, uint16_t block_length, const uint8_t *const *var_data,
                        const uint16_t *var_lengths, unsigned var_count);

/* The first var data field of a frame (uint16 length + bytes); 0 on success, -1 if truncated. */
int udr_frame_var_data(const udr_frame *frame, const uint8_t **data, uint16_t *length);

#ifdef __cplusplus
}
#endif

#endif /* UDPROUTER_CLIENT_UDR_FRAME_H */
