/*
 * udr_sbe_print.h - any udprouter message as one line of JSON, from the generated field tables.
 *
 * The JSON is the golden vectors' form (protocol/vectors/<Message>.json): schema field names,
 * enums as {"name", "value"} (name null for a value the schema does not define), byte fields and
 * uint8 var data as {"hex"}, text var data as a string, prices as integer mantissas, a null
 * optional as null.
 */
#ifndef UDPROUTER_CLIENT_UDR_SBE_PRINT_H
#define UDPROUTER_CLIENT_UDR_SBE_PRINT_H

#include <stdio.h>

#include "udprouter/client/udr_frame.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The schema's name of a message, or NULL if (schema_id, template_id) is not in the schemas. */
const char *udr_sbe_message_name(uint16_t schema_id, uint16_t template_id);

/* Writes the frame as one JSON object (no newline); returns 0, or -1 for an unknown template or a
 * block shorter than the schema's. */
int udr_sbe_print_frame(FILE *out, const udr_frame *frame);

/* The same for a bare block (an event's msg): template_id of either schema, block of the schema's length. */
int udr_sbe_print_block(FILE *out, uint16_t schema_id, uint16_t template_id, const uint8_t *block);

#ifdef __cplusplus
}
#endif

#endif /* UDPROUTER_CLIENT_UDR_SBE_PRINT_H */
