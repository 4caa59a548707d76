/*
 * udr_outbound.h - the client -> server Idempotent flow as bookkeeping (no socket).
 *
 * Messages collect in a batch; a batch becomes a datagram when it is numbered (first_seq, one
 * number per message) and kept in one of UDR_CLIENT_WINDOW slots until every message in it is
 * answered (a report naming its ClOrdID, a BusinessMessageReject naming its number, NotApplied).
 * A kept datagram is re-encoded from its messages when it is resent, so a resend after a
 * re-establishment carries the new datagram key's MAC.
 */
#ifndef UDPROUTER_CLIENT_UDR_OUTBOUND_H
#define UDPROUTER_CLIENT_UDR_OUTBOUND_H

#include <stddef.h>
#include <stdint.h>

#include "udprouter/client/udr_client.h"

#define UDR_OUT_MAX_BLOCK 48

typedef struct udr_out_message {
    uint64_t cl_ord_id;              /* every client message carries its ClOrdID at block offset 0 */
    uint16_t template_id;
    uint8_t block_length;
    uint8_t answered;
    uint8_t block[UDR_OUT_MAX_BLOCK];
} udr_out_message;

typedef struct udr_out_datagram {
    int in_use;
    uint64_t first_seq;
    unsigned count;
    unsigned waiting;                /* messages not answered yet */
    int tries;
    uint64_t deadline_ns;
    udr_out_message messages[UDR_CLIENT_MAX_BATCH];
} udr_out_datagram;

typedef struct udr_outbound {
    uint64_t next_seq;
    size_t in_flight;                /* slots in use */
    size_t unanswered;               /* messages waiting in them */
    udr_out_datagram slots[UDR_CLIENT_WINDOW];
    udr_out_message batch[UDR_CLIENT_MAX_BATCH];
    unsigned batch_count;
} udr_outbound;

typedef void (*udr_outbound_visit)(void *ctx, const udr_out_message *message);

void udr_outbound_init(udr_outbound *out, uint64_t next_seq);

/* Adds a message (block_length <= UDR_OUT_MAX_BLOCK) to the batch; -1 when the batch is full. */
int udr_outbound_add(udr_outbound *out, uint16_t template_id, const void *block, uint8_t block_length);

/* Numbers the batch into a free slot and empties the batch; NULL when no slot is free or no batch. */
udr_out_datagram *udr_outbound_take_batch(udr_outbound *out, uint64_t deadline_ns);

/* The first answer to a ClOrdID / a client sequence number; 1 if it answered a waiting message. */
int udr_outbound_answer_cl_ord_id(udr_outbound *out, uint64_t cl_ord_id);
int udr_outbound_answer_seq(udr_outbound *out, uint64_t seq);

/* Marks [from, from + count) answered (NotApplied); visit sees each message that was waiting. */
void udr_outbound_not_applied(udr_outbound *out, uint64_t from, uint64_t count, udr_outbound_visit visit,
                              void *ctx);

/* The next kept datagram whose deadline has passed (scan from *cursor), or NULL. */
udr_out_datagram *udr_outbound_next_due(udr_outbound *out, uint64_t now_ns, size_t *cursor);

/* Frees a slot (given up); visit sees each message still waiting. */
void udr_outbound_release(udr_outbound *out, udr_out_datagram *dgram, udr_outbound_visit visit, void *ctx);

/* The first number a re-established session resends from: the lowest kept, else next_seq. */
uint64_t udr_outbound_lowest_unanswered(const udr_outbound *out);

/* The earliest deadline of a kept datagram, or UINT64_MAX. */
uint64_t udr_outbound_next_deadline(const udr_outbound *out);

#endif /* UDPROUTER_CLIENT_UDR_OUTBOUND_H */
