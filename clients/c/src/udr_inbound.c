#include "udr_inbound.h"

#include <stdlib.h>
#include <string.h>

int udr_inbound_init(udr_inbound *in) {
    memset(in, 0, sizeof *in);
    in->expected = in->highest = 1;
    in->slots = calloc(UDR_IN_CAPACITY, sizeof(udr_in_slot));
    return in->slots == NULL ? -1 : 0;
}

void udr_inbound_free(udr_inbound *in) {
    free(in->slots);
    in->slots = NULL;
}

int udr_inbound_receive(udr_inbound *in, uint64_t seq, const udr_sbe_drop_copy *copy, uint16_t schema_id,
                        uint16_t template_id, const uint8_t *block, uint16_t block_length) {
    if (seq + 1 > in->highest) {
        in->highest = seq + 1;
    }
    udr_in_slot *slot = &in->slots[seq % UDR_IN_CAPACITY];
    if (seq < in->expected || slot->seq == seq) {
        in->duplicates++;
        return 1;
    }
    if (seq >= in->expected + UDR_IN_CAPACITY) {
        return 1;
    }
    uint16_t n = block_length < UDR_IN_MAX_BLOCK ? block_length : UDR_IN_MAX_BLOCK;
    slot->seq = seq;
    slot->schema_id = schema_id;
    slot->template_id = template_id;
    slot->block_length = n;
    slot->copied = copy != NULL;
    if (copy != NULL) {
        slot->copy = *copy;
    }
    memcpy(slot->block, block, n);
    memset(slot->block + n, 0, UDR_IN_MAX_BLOCK - n);
    return 0;
}

void udr_inbound_heard(udr_inbound *in, uint64_t next_seq) {
    if (next_seq > in->highest) {
        in->highest = next_seq;
    }
}

static void clear(udr_inbound *in) {
    for (size_t i = 0; i < UDR_IN_CAPACITY; i++) {
        in->slots[i].seq = 0;
    }
}

void udr_inbound_announce(udr_inbound *in, uint64_t next_seq) {
    if (next_seq < in->expected) {
        /* the server restarted without its session state: its numbering starts over */
        in->state_resets++;
        in->expected = in->highest = next_seq;
        in->requested_at_ns = 0;
        clear(in);
        return;
    }
    udr_inbound_heard(in, next_seq);
}

size_t udr_inbound_drain(udr_inbound *in, udr_inbound_deliver deliver, void *ctx) {
    size_t delivered = 0;
    for (;;) {
        udr_in_slot *slot = &in->slots[in->expected % UDR_IN_CAPACITY];
        if (slot->seq != in->expected) {
            break;
        }
        uint64_t seq = in->expected++;
        slot->seq = 0;
        deliver(ctx, seq, slot);
        delivered++;
    }
    if (in->expected >= in->highest || (in->requested_at_ns && in->expected >= in->requested_end)) {
        in->requested_at_ns = 0; /* the requested range is filled: the next chunk may be asked now */
    }
    return delivered;
}

/* The lowest buffered number above expected, or highest. */
static uint64_t next_buffered(const udr_inbound *in) {
    uint64_t end = in->highest;
    if (end > in->expected + UDR_IN_CAPACITY) {
        end = in->expected + UDR_IN_CAPACITY;
    }
    for (uint64_t seq = in->expected; seq < end; seq++) {
        if (in->slots[seq % UDR_IN_CAPACITY].seq == seq) {
            return seq;
        }
    }
    return in->highest;
}

int udr_inbound_gap(udr_inbound *in, uint64_t now_ns, uint64_t *from, uint32_t *count) {
    if (in->highest <= in->expected) {
        return 0;
    }
    if (in->requested_at_ns && now_ns - in->requested_at_ns < UDR_IN_RETRANSMIT_WAIT_NS) {
        return 0;
    }
    uint64_t n = next_buffered(in) - in->expected;
    if (n > UDR_IN_MAX_REQUEST) {
        n = UDR_IN_MAX_REQUEST;
    }
    in->requested_at_ns = now_ns ? now_ns : 1;
    in->requested_end = in->expected + n;
    *from = in->expected;
    *count = (uint32_t)n;
    return 1;
}

void udr_inbound_give_up(udr_inbound *in, uint64_t *from, uint32_t *count) {
    uint64_t next = next_buffered(in);
    *from = in->expected;
    *count = (uint32_t)(next - in->expected);
    in->expected = next;
    in->requested_at_ns = 0;
}

uint64_t udr_inbound_next_deadline(const udr_inbound *in) {
    if (in->highest <= in->expected) {
        return UINT64_MAX;
    }
    return in->requested_at_ns ? in->requested_at_ns + UDR_IN_RETRANSMIT_WAIT_NS : 0;
}
