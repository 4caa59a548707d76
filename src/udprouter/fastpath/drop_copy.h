/* Drop copies of a session's execution reports, made in C (SPEC 4.12).
 *
 * Why: the router made each copy in Python (a header slice and a set lookup to pick the reports,
 * then the DropCopy frame concatenated with the report), which cost more per copy than encoding
 * the report itself. Here the session's frames arrive as one buffer (b"".join of its pending
 * list) and every ExecutionReport* / OrderCancelReject among them (schema 101, templates 201-206)
 * is written out as the 22-byte DropCopy frame followed by the report, byte for byte.
 */
#ifndef UDPROUTER_DROP_COPY_H
#define UDPROUTER_DROP_COPY_H

#include <stdint.h>
#include <string.h>

#include "fast_pack.h"
#include "udprouter/generated/sbe_messages.h"

#define UDR_DC_MARK_SIZE (UDR_SBE_FRAME_PREFIX_SIZE + UDR_SBE_DROP_COPY_BLOCK_LENGTH)
#define UDR_DC_FIRST_COPIED UDR_SBE_EXECUTION_REPORT_NEW_TEMPLATE_ID
#define UDR_DC_LAST_COPIED UDR_SBE_ORDER_CANCEL_REJECT_TEMPLATE_ID

_Static_assert(UDR_DC_LAST_COPIED - UDR_DC_FIRST_COPIED == 5, "the copied templates are 201..206");

static inline int udr_dc_is_copied(const unsigned char *frame)
{
    uint16_t template_id = (uint16_t)(frame[8] | frame[9] << 8);
    uint16_t schema_id = (uint16_t)(frame[10] | frame[11] << 8);
    return schema_id == UDR_SBE_UDPROUTER_SCHEMA_ID && template_id >= UDR_DC_FIRST_COPIED &&
           template_id <= UDR_DC_LAST_COPIED;
}

/* The DropCopy frame (SOFH, message header, SessionNumber, Account) at out. */
static inline void udr_dc_write_mark(unsigned char *out, uint32_t session_number, uint32_t account)
{
    const uint32_t size = UDR_DC_MARK_SIZE;
    out[0] = (unsigned char)(size >> 24); out[1] = (unsigned char)(size >> 16);
    out[2] = (unsigned char)(size >> 8); out[3] = (unsigned char)size;
    out[4] = (unsigned char)(UDR_SBE_ENCODING_TYPE >> 8); out[5] = (unsigned char)(UDR_SBE_ENCODING_TYPE & 0xff);
    udr_sbe_message_header h = {UDR_SBE_DROP_COPY_BLOCK_LENGTH, UDR_SBE_DROP_COPY_TEMPLATE_ID,
                                UDR_SBE_DROP_COPY_SCHEMA_ID, UDR_SBE_UDPROUTER_SCHEMA_VERSION};
    memcpy(out + 6, &h, sizeof h);
    udr_sbe_drop_copy mark = {session_number, account};
    memcpy(out + UDR_SBE_FRAME_PREFIX_SIZE, &mark, sizeof mark);
}

/* The copies of the reports among the frames back to back in frames[0..length), at out (room for
 * length plus UDR_DC_MARK_SIZE per frame is always enough); ends[c] is the end offset of copy c.
 * Returns the number of copies; *walked is the bytes read (less than length when bytes that are
 * not a whole frame ended the walk). */
static uint32_t udr_dc_copy_reports(const unsigned char *frames, size_t length, uint32_t session_number,
                                    uint32_t account, unsigned char *out, uint32_t *ends, size_t *walked)
{
    uint32_t copies = 0, len;
    size_t src = 0, pos = 0;
    while (src < length && (len = udr_fp_frame_length(frames + src, length - src)) != 0) {
        if (udr_dc_is_copied(frames + src)) {
            udr_dc_write_mark(out + pos, session_number, account);
            memcpy(out + pos + UDR_DC_MARK_SIZE, frames + src, len);
            pos += UDR_DC_MARK_SIZE + len;
            ends[copies++] = (uint32_t)pos;
        }
        src += len;
    }
    *walked = src;
    return copies;
}

#endif
