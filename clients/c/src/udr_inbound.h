/*
 * udr_inbound.h - the server -> client Recoverable flow as bookkeeping (no socket).
 *
 * Messages are buffered by server sequence number (a ring of UDR_IN_CAPACITY slots past the next
 * expected number; anything further is dropped and asked for again later) and delivered in order.
 * A gap (a number announced but missing) is asked for with a RetransmitRequest of at most
 * UDR_IN_MAX_REQUEST messages, again if a request is not filled within UDR_IN_RETRANSMIT_WAIT_NS.
 * A drop copy (a DropCopy frame and the report after it, SPEC 4.12) is one message: its slot keeps
 * the mark beside the report.
 */
#ifndef UDPROUTER_CLIENT_UDR_INBOUND_H
#define UDPROUTER_CLIENT_UDR_INBOUND_H

#include <stddef.h>
#include <stdint.h>

#include "udprouter/generated/sbe_messages.h"

#define UDR_IN_CAPACITY 4096
#define UDR_IN_MAX_REQUEST 4096            /* the server's default retransmit_max_count */
#define UDR_IN_RETRANSMIT_WAIT_NS 300000000ull
#define UDR_IN_MAX_BLOCK 112

typedef struct udr_in_slot {
    uint64_t seq;                          /* 0: empty */
    uint16_t schema_id;
    uint16_t template_id;
    uint16_t block_length;
    int copied;                            /* 1: a drop copy, marked by copy */
    udr_sbe_drop_copy copy;
    uint8_t block[UDR_IN_MAX_BLOCK];
} udr_in_slot;

typedef struct udr_inbound {
    uint64_t expected;                     /* next number to deliver */
    uint64_t highest;                      /* one past the highest number announced */
    uint64_t requested_at_ns;              /* 0: no request outstanding */
    uint64_t requested_end;
    uint64_t duplicates;
    uint64_t state_resets;
    udr_in_slot *slots;                    /* UDR_IN_CAPACITY */
} udr_inbound;

typedef void (*udr_inbound_deliver)(void *ctx, uint64_t seq, const udr_in_slot *message);

/* 0 on success, -1 when the buffer cannot be allocated. */
int udr_inbound_init(udr_inbound *in);
void udr_inbound_free(udr_inbound *in);

/* A message numbered seq (copy: its DropCopy mark, or NULL); returns 0 if kept, 1 if a duplicate
 * or beyond the buffer. */
int udr_inbound_receive(udr_inbound *in, uint64_t seq, const udr_sbe_drop_copy *copy, uint16_t schema_id,
                        uint16_t template_id, const uint8_t *block, uint16_t block_length);

/* A Sequence: next_seq is the number the server's next message will carry. */
void udr_inbound_heard(udr_inbound *in, uint64_t next_seq);

/* EstablishmentAck's NextSeqNo after a re-establishment (a lower number: the server started over). */
void udr_inbound_announce(udr_inbound *in, uint64_t next_seq);

/* Delivers what is now in order; returns how many. */
size_t udr_inbound_drain(udr_inbound *in, udr_inbound_deliver deliver, void *ctx);

/* 1 and (*from, *count) when a RetransmitRequest is due now, else 0. */
int udr_inbound_gap(udr_inbound *in, uint64_t now_ns, uint64_t *from, uint32_t *count);

/* RetransmitReject: skips to the next buffered message; (*from, *count) = what is lost. */
void udr_inbound_give_up(udr_inbound *in, uint64_t *from, uint32_t *count);

/* When the next retransmit request could be due (UINT64_MAX: no gap). */
uint64_t udr_inbound_next_deadline(const udr_inbound *in);

#endif /* UDPROUTER_CLIENT_UDR_INBOUND_H */
