#include "udr_outbound.h"

#include <string.h>

void udr_outbound_init(udr_outbound *out, uint64_t next_seq) {
    memset(out, 0, sizeof *out);
    out->next_seq = next_seq;
}

int udr_outbound_add(udr_outbound *out, uint16_t template_id, const void *block, uint8_t block_length) {
    if (out->batch_count >= UDR_CLIENT_MAX_BATCH || block_length > UDR_OUT_MAX_BLOCK || block_length < 8) {
        return -1;
    }
    udr_out_message *m = &out->batch[out->batch_count++];
    memset(m, 0, sizeof *m);
    m->template_id = template_id;
    m->block_length = block_length;
    memcpy(m->block, block, block_length);
    memcpy(&m->cl_ord_id, m->block, sizeof m->cl_ord_id);
    return 0;
}

udr_out_datagram *udr_outbound_take_batch(udr_outbound *out, uint64_t deadline_ns) {
    if (out->batch_count == 0) {
        return NULL;
    }
    for (size_t i = 0; i < UDR_CLIENT_WINDOW; i++) {
        udr_out_datagram *d = &out->slots[i];
        if (d->in_use) {
            continue;
        }
        d->in_use = 1;
        d->first_seq = out->next_seq;
        d->count = d->waiting = out->batch_count;
        d->tries = 0;
        d->deadline_ns = deadline_ns;
        memcpy(d->messages, out->batch, sizeof(udr_out_message) * out->batch_count);
        out->next_seq += out->batch_count;
        out->in_flight++;
        out->unanswered += out->batch_count;
        out->batch_count = 0;
        return d;
    }
    return NULL;
}

static void answer(udr_outbound *out, udr_out_datagram *d, udr_out_message *m) {
    m->answered = 1;
    out->unanswered--;
    if (--d->waiting == 0) {
        d->in_use = 0;
        out->in_flight--;
    }
}

int udr_outbound_answer_cl_ord_id(udr_outbound *out, uint64_t cl_ord_id) {
    for (size_t i = 0; i < UDR_CLIENT_WINDOW; i++) {
        udr_out_datagram *d = &out->slots[i];
        if (!d->in_use) {
            continue;
        }
        for (unsigned j = 0; j < d->count; j++) {
            udr_out_message *m = &d->messages[j];
            if (!m->answered && m->cl_ord_id == cl_ord_id) {
                answer(out, d, m);
                return 1;
            }
        }
    }
    return 0;
}

int udr_outbound_answer_seq(udr_outbound *out, uint64_t seq) {
    for (size_t i = 0; i < UDR_CLIENT_WINDOW; i++) {
        udr_out_datagram *d = &out->slots[i];
        if (d->in_use && seq >= d->first_seq && seq < d->first_seq + d->count) {
            udr_out_message *m = &d->messages[seq - d->first_seq];
            if (!m->answered) {
                answer(out, d, m);
                return 1;
            }
            return 0;
        }
    }
    return 0;
}

void udr_outbound_not_applied(udr_outbound *out, uint64_t from, uint64_t count, udr_outbound_visit visit,
                              void *ctx) {
    for (size_t i = 0; i < UDR_CLIENT_WINDOW; i++) {
        udr_out_datagram *d = &out->slots[i];
        if (!d->in_use || d->first_seq + d->count <= from || d->first_seq >= from + count) {
            continue;
        }
        for (unsigned j = 0; j < d->count && d->in_use; j++) {
            uint64_t seq = d->first_seq + j;
            udr_out_message *m = &d->messages[j];
            if (seq >= from && seq < from + count && !m->answered) {
                udr_out_message copy = *m;
                answer(out, d, m);
                visit(ctx, &copy);
            }
        }
    }
}

udr_out_datagram *udr_outbound_next_due(udr_outbound *out, uint64_t now_ns, size_t *cursor) {
    for (; *cursor < UDR_CLIENT_WINDOW; (*cursor)++) {
        udr_out_datagram *d = &out->slots[*cursor];
        if (d->in_use && d->deadline_ns <= now_ns) {
            (*cursor)++;
            return d;
        }
    }
    return NULL;
}

void udr_outbound_release(udr_outbound *out, udr_out_datagram *d, udr_outbound_visit visit, void *ctx) {
    for (unsigned j = 0; j < d->count && d->in_use; j++) {
        udr_out_message *m = &d->messages[j];
        if (!m->answered) {
            udr_out_message copy = *m;
            answer(out, d, m);
            visit(ctx, &copy);
        }
    }
}

uint64_t udr_outbound_lowest_unanswered(const udr_outbound *out) {
    uint64_t lowest = out->next_seq;
    for (size_t i = 0; i < UDR_CLIENT_WINDOW; i++) {
        const udr_out_datagram *d = &out->slots[i];
        if (d->in_use && d->first_seq < lowest) {
            lowest = d->first_seq;
        }
    }
    return lowest;
}

uint64_t udr_outbound_next_deadline(const udr_outbound *out) {
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < UDR_CLIENT_WINDOW; i++) {
        const udr_out_datagram *d = &out->slots[i];
        if (d->in_use && d->deadline_ns < next) {
            next = d->deadline_ns;
        }
    }
    return next;
}
