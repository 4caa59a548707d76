/*
 * test_udr_flows: the client's two flows as bookkeeping (udr_outbound, udr_inbound), without a
 * socket. Each check names the behaviour; the program exits 1 on the first failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "udr_inbound.h"
#include "udr_outbound.h"

static int failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: %s: failed: %s\n", __FILE__, __LINE__, __func__, #cond); \
            failures++;                                                              \
            return;                                                                  \
        }                                                                            \
    } while (0)

static void add_order(udr_outbound *out, uint64_t cl_ord_id) {
    uint8_t block[UDR_SBE_NEW_ORDER_SINGLE_BLOCK_LENGTH] = {0};
    memcpy(block, &cl_ord_id, sizeof cl_ord_id);
    udr_outbound_add(out, UDR_SBE_NEW_ORDER_SINGLE_TEMPLATE_ID, block, sizeof block);
}

static void count_visit(void *ctx, const udr_out_message *m) {
    uint64_t *seen = ctx;
    seen[seen[0] + 1] = m->cl_ord_id;
    seen[0]++;
}

static void batch_is_numbered_consecutively_from_next_seq(void) {
    udr_outbound out;
    udr_outbound_init(&out, 7);
    add_order(&out, 100);
    add_order(&out, 101);
    udr_out_datagram *d = udr_outbound_take_batch(&out, 0);
    CHECK(d != NULL && d->first_seq == 7 && d->count == 2);
    CHECK(out.next_seq == 9 && out.unanswered == 2 && out.batch_count == 0);
    CHECK(udr_outbound_take_batch(&out, 0) == NULL); /* nothing batched */
}

static void a_batch_holds_at_most_twenty_messages(void) {
    udr_outbound out;
    udr_outbound_init(&out, 1);
    for (int i = 0; i < UDR_CLIENT_MAX_BATCH; i++) {
        add_order(&out, (uint64_t)i + 1);
    }
    uint8_t block[UDR_SBE_NEW_ORDER_SINGLE_BLOCK_LENGTH] = {0};
    CHECK(udr_outbound_add(&out, UDR_SBE_NEW_ORDER_SINGLE_TEMPLATE_ID, block, sizeof block) == -1);
}

static void a_full_window_takes_no_batch(void) {
    udr_outbound out;
    udr_outbound_init(&out, 1);
    for (uint64_t i = 0; i < UDR_CLIENT_WINDOW; i++) {
        add_order(&out, i + 1);
        CHECK(udr_outbound_take_batch(&out, 0) != NULL);
    }
    add_order(&out, 1000);
    CHECK(udr_outbound_take_batch(&out, 0) == NULL && out.batch_count == 1);
    CHECK(udr_outbound_answer_cl_ord_id(&out, 5) == 1); /* an answer frees its slot */
    CHECK(udr_outbound_take_batch(&out, 0) != NULL && out.in_flight == UDR_CLIENT_WINDOW);
}

static void first_answer_counts_once_by_cl_ord_id_or_by_number(void) {
    udr_outbound out;
    udr_outbound_init(&out, 1);
    add_order(&out, 10);
    add_order(&out, 11);
    udr_outbound_take_batch(&out, 0);
    CHECK(udr_outbound_answer_cl_ord_id(&out, 10) == 1);
    CHECK(udr_outbound_answer_cl_ord_id(&out, 10) == 0); /* a later report (a fill) */
    CHECK(udr_outbound_answer_seq(&out, 2) == 1);        /* BusinessMessageReject of number 2 */
    CHECK(out.in_flight == 0 && out.unanswered == 0);
}

static void not_applied_visits_only_the_waiting_messages_in_its_range(void) {
    udr_outbound out;
    udr_outbound_init(&out, 1);
    for (uint64_t i = 1; i <= 3; i++) {
        add_order(&out, 100 + i);
    }
    udr_outbound_take_batch(&out, 0); /* numbers 1..3 */
    add_order(&out, 104);
    udr_outbound_take_batch(&out, 0); /* number 4 */
    udr_outbound_answer_cl_ord_id(&out, 102);
    uint64_t seen[8] = {0};
    udr_outbound_not_applied(&out, 2, 3, count_visit, seen); /* 2..4: 2 answered already */
    CHECK(seen[0] == 2 && seen[1] == 103 && seen[2] == 104);
    CHECK(out.unanswered == 1 && out.in_flight == 1 && udr_outbound_lowest_unanswered(&out) == 1);
}

static void due_datagrams_come_back_until_their_deadline_moves(void) {
    udr_outbound out;
    udr_outbound_init(&out, 1);
    add_order(&out, 1);
    udr_outbound_take_batch(&out, 100);
    size_t cursor = 0;
    CHECK(udr_outbound_next_due(&out, 99, &cursor) == NULL);
    cursor = 0;
    udr_out_datagram *d = udr_outbound_next_due(&out, 100, &cursor);
    CHECK(d != NULL && udr_outbound_next_deadline(&out) == 100);
    d->deadline_ns = 200;
    cursor = 0;
    CHECK(udr_outbound_next_due(&out, 150, &cursor) == NULL);
}

typedef struct delivered {
    uint64_t seqs[16];
    udr_in_slot slots[16];
    size_t n;
} delivered;

static void record(void *ctx, uint64_t seq, const udr_in_slot *m) {
    delivered *d = ctx;
    d->slots[d->n] = *m;
    d->seqs[d->n++] = seq;
}

static void receive(udr_inbound *in, uint64_t seq) {
    uint8_t block[8] = {0};
    udr_inbound_receive(in, seq, NULL, UDR_SBE_UDPROUTER_SCHEMA_ID, UDR_SBE_EXECUTION_REPORT_NEW_TEMPLATE_ID, block,
                        8);
}

static void reports_are_delivered_in_order_and_a_gap_is_asked_for_once(void) {
    udr_inbound in;
    CHECK(udr_inbound_init(&in) == 0);
    delivered got = {0};
    receive(&in, 1);
    receive(&in, 4);
    receive(&in, 5);
    udr_inbound_drain(&in, record, &got);
    uint64_t from = 0;
    uint32_t count = 0;
    int asked = udr_inbound_gap(&in, 1000, &from, &count);
    int again = udr_inbound_gap(&in, 1001, &from, &count);
    receive(&in, 3);
    receive(&in, 2);
    receive(&in, 2); /* a duplicate */
    udr_inbound_drain(&in, record, &got);
    int after = udr_inbound_gap(&in, 1002, &from, &count);
    uint64_t duplicates = in.duplicates;
    udr_inbound_free(&in);
    CHECK(asked == 1 && from == 2 && count == 2 && again == 0);
    CHECK(got.n == 5 && got.seqs[0] == 1 && got.seqs[4] == 5 && after == 0 && duplicates == 1);
}

static void an_unfilled_request_is_asked_again_after_the_wait(void) {
    udr_inbound in;
    CHECK(udr_inbound_init(&in) == 0);
    udr_inbound_heard(&in, 4); /* a heartbeat: numbers 1..3 are owed */
    uint64_t from;
    uint32_t count;
    int first = udr_inbound_gap(&in, 1, &from, &count);
    int early = udr_inbound_gap(&in, UDR_IN_RETRANSMIT_WAIT_NS, &from, &count);
    int late = udr_inbound_gap(&in, 1 + UDR_IN_RETRANSMIT_WAIT_NS, &from, &count);
    udr_inbound_free(&in);
    CHECK(first == 1 && early == 0 && late == 1 && from == 1 && count == 3);
}

static void a_retransmit_reject_skips_to_what_is_buffered(void) {
    udr_inbound in;
    CHECK(udr_inbound_init(&in) == 0);
    delivered got = {0};
    receive(&in, 4);
    uint64_t from;
    uint32_t count;
    udr_inbound_give_up(&in, &from, &count);
    udr_inbound_drain(&in, record, &got);
    udr_inbound_free(&in);
    CHECK(from == 1 && count == 3 && got.n == 1 && got.seqs[0] == 4);
}

static void a_restarted_server_numbering_from_one_is_followed(void) {
    udr_inbound in;
    CHECK(udr_inbound_init(&in) == 0);
    delivered got = {0};
    receive(&in, 1);
    receive(&in, 2);
    udr_inbound_drain(&in, record, &got);
    udr_inbound_announce(&in, 1);
    receive(&in, 1);
    udr_inbound_drain(&in, record, &got);
    uint64_t resets = in.state_resets;
    udr_inbound_free(&in);
    CHECK(resets == 1 && got.n == 3 && got.seqs[2] == 1);
}

static void a_drop_copy_keeps_its_mark_through_a_retransmitted_gap(void) {
    udr_inbound in;
    CHECK(udr_inbound_init(&in) == 0);
    delivered got = {0};
    uint8_t block[8] = {7};
    udr_sbe_drop_copy mark = {.session_number = 42, .account = 2};
    udr_inbound_receive(&in, 2, &mark, UDR_SBE_UDPROUTER_SCHEMA_ID, UDR_SBE_EXECUTION_REPORT_TRADE_TEMPLATE_ID, block,
                        8);
    receive(&in, 1); /* the gap, filled: a message of this session's own */
    udr_inbound_drain(&in, record, &got);
    receive(&in, 3);
    udr_inbound_drain(&in, record, &got);
    udr_inbound_receive(&in, 2 + UDR_IN_CAPACITY, NULL, 0, 0, block, 8); /* 2's slot again, unmarked */
    int reused_marked = in.slots[2].copied;
    udr_inbound_free(&in);
    CHECK(reused_marked == 0);
    CHECK(got.n == 3 && !got.slots[0].copied && got.slots[1].copied && !got.slots[2].copied);
    CHECK(got.slots[1].copy.session_number == 42 && got.slots[1].copy.account == 2 && got.slots[1].block[0] == 7);
    CHECK(got.slots[1].template_id == UDR_SBE_EXECUTION_REPORT_TRADE_TEMPLATE_ID);
}

int main(void) {
    batch_is_numbered_consecutively_from_next_seq();
    a_batch_holds_at_most_twenty_messages();
    a_full_window_takes_no_batch();
    first_answer_counts_once_by_cl_ord_id_or_by_number();
    not_applied_visits_only_the_waiting_messages_in_its_range();
    due_datagrams_come_back_until_their_deadline_moves();
    reports_are_delivered_in_order_and_a_gap_is_asked_for_once();
    an_unfilled_request_is_asked_again_after_the_wait();
    a_retransmit_reject_skips_to_what_is_buffered();
    a_restarted_server_numbering_from_one_is_followed();
    a_drop_copy_keeps_its_mark_through_a_retransmitted_gap();
    if (failures == 0) {
        printf("test_udr_flows: all passed\n");
    }
    return failures == 0 ? 0 : 1;
}
