#include "udprouter/client/udr_frame.h"

#include <string.h>

static uint32_t read_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint16_t read_le16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static void write_le16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

udr_frame_status udr_frame_next(const uint8_t *buf, size_t len, size_t *offset, udr_frame *out) {
    size_t at = *offset;
    if (at >= len) {
        return UDR_FRAME_END;
    }
    if (len - at < UDR_SBE_FRAME_PREFIX_SIZE) {
        return UDR_FRAME_TRUNCATED;
    }
    const uint8_t *p = buf + at;
    uint32_t frame_length = read_be32(p);
    if ((uint16_t)((p[4] << 8) | p[5]) != UDR_SBE_ENCODING_TYPE) {
        return UDR_FRAME_BAD_ENCODING;
    }
    if (frame_length > len - at) {
        return UDR_FRAME_TRUNCATED;
    }
    out->block_length = read_le16(p + 6);
    out->template_id = read_le16(p + 8);
    out->schema_id = read_le16(p + 10);
    out->version = read_le16(p + 12);
    if (frame_length < (uint32_t)UDR_SBE_FRAME_PREFIX_SIZE + out->block_length) {
        return UDR_FRAME_BAD_LENGTH;
    }
    out->block = p + UDR_SBE_FRAME_PREFIX_SIZE;
    out->var_data = out->block + out->block_length;
    out->var_data_length = frame_length - UDR_SBE_FRAME_PREFIX_SIZE - out->block_length;
    out->frame_length = frame_length;
    *offset = at + frame_length;
    return UDR_FRAME_OK;
}

size_t udr_frame_append(uint8_t *buf, size_t cap, size_t *used, uint16_t template_id, uint16_t schema_id,
                        const void *block, uint16_t block_length, const uint8_t *const *var_data,
                        const uint16_t *var_lengths, unsigned var_count) {
    size_t total = UDR_SBE_FRAME_PREFIX_SIZE + (size_t)block_length;
    for (unsigned i = 0; i < var_count; i++) {
        total += 2 + (size_t)var_lengths[i];
    }
    if (*used > cap || cap - *used < total) {
        return 0;
    }
    uint8_t *p = buf + *used;
    p[0] = (uint8_t)(total >> 24);
    p[1] = (uint8_t)(total >> 16);
    p[2] = (uint8_t)(total >> 8);
    p[3] = (uint8_t)total;
    p[4] = (uint8_t)(UDR_SBE_ENCODING_TYPE >> 8);
    p[5] = (uint8_t)(UDR_SBE_ENCODING_TYPE & 0xff);
    write_le16(p + 6, block_length);
    write_le16(p + 8, template_id);
    write_le16(p + 10, schema_id);
    write_le16(p + 12, 0); /* both schemas are version 0 */
    memcpy(p + UDR_SBE_FRAME_PREFIX_SIZE, block, block_length);
    uint8_t *v = p + UDR_SBE_FRAME_PREFIX_SIZE + block_length;
    for (unsigned i = 0; i < var_count; i++) {
        write_le16(v, var_lengths[i]);
        if (var_lengths[i] > 0) {
            memcpy(v + 2, var_data[i], var_lengths[i]);
        }
        v += 2 + var_lengths[i];
    }
    *used += total;
    return total;
}

int udr_frame_var_data(const udr_frame *frame, const uint8_t **data, uint16_t *length) {
    if (frame->var_data_length < 2) {
        return -1;
    }
    uint16_t n = read_le16(frame->var_data);
    if ((size_t)n > frame->var_data_length - 2) {
        return -1;
    }
    *data = frame->var_data + 2;
    *length = n;
    return 0;
}
