#include "udprouter/client/udr_sbe_print.h"

#include <inttypes.h>
#include <string.h>

#include "udprouter/generated/sbe_descriptors.h"

static const udr_sbe_message_desc *find(uint16_t schema_id, uint16_t template_id) {
    for (size_t i = 0; i < UDR_SBE_MESSAGE_COUNT; i++) {
        if (udr_sbe_messages[i].schema_id == schema_id && udr_sbe_messages[i].template_id == template_id) {
            return &udr_sbe_messages[i];
        }
    }
    return NULL;
}

const char *udr_sbe_message_name(uint16_t schema_id, uint16_t template_id) {
    const udr_sbe_message_desc *m = find(schema_id, template_id);
    return m == NULL ? NULL : m->name;
}

static void print_hex(FILE *out, const uint8_t *p, size_t n) {
    fputs("{\"hex\": \"", out);
    for (size_t i = 0; i < n; i++) {
        fprintf(out, "%02x", p[i]);
    }
    fputs("\"}", out);
}

static void print_string(FILE *out, const uint8_t *p, size_t n) {
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '"' || p[i] == '\\') {
            fprintf(out, "\\%c", p[i]);
        } else if (p[i] < 0x20) {
            fprintf(out, "\\u%04x", p[i]);
        } else {
            fputc(p[i], out);
        }
    }
    fputc('"', out);
}

/* The field's value as (signed, unsigned) and whether it is the SBE null of its primitive. */
static int read_value(const udr_sbe_field_desc *f, const uint8_t *p, int64_t *s, uint64_t *u) {
    switch (f->primitive) {
    case UDR_SBE_CHAR: case UDR_SBE_UINT8: *u = p[0]; *s = (int64_t)*u; return *u == UINT8_MAX;
    case UDR_SBE_INT8: { int8_t v; memcpy(&v, p, 1); *s = v; return v == INT8_MIN; }
    case UDR_SBE_UINT16: { uint16_t v; memcpy(&v, p, 2); *u = v; *s = v; return v == UINT16_MAX; }
    case UDR_SBE_INT16: { int16_t v; memcpy(&v, p, 2); *s = v; return v == INT16_MIN; }
    case UDR_SBE_UINT32: { uint32_t v; memcpy(&v, p, 4); *u = v; *s = v; return v == UINT32_MAX; }
    case UDR_SBE_INT32: { int32_t v; memcpy(&v, p, 4); *s = v; return v == INT32_MIN; }
    case UDR_SBE_UINT64: { uint64_t v; memcpy(&v, p, 8); *u = v; *s = 0; return v == UINT64_MAX; }
    case UDR_SBE_INT64: { int64_t v; memcpy(&v, p, 8); *s = v; return v == INT64_MIN; }
    }
    return 0;
}

static int is_unsigned(udr_sbe_primitive p) {
    return p == UDR_SBE_CHAR || p == UDR_SBE_UINT8 || p == UDR_SBE_UINT16 || p == UDR_SBE_UINT32 ||
           p == UDR_SBE_UINT64;
}

static void print_field(FILE *out, const udr_sbe_field_desc *f, const uint8_t *block) {
    const uint8_t *p = block + f->offset;
    if (f->length > 1) {
        print_hex(out, p, f->length);
        return;
    }
    int64_t s = 0;
    uint64_t u = 0;
    int null = read_value(f, p, &s, &u);
    if (f->optional && null) {
        fputs("null", out);
    } else if (f->enum_values != NULL) {
        const char *name = NULL;
        for (uint16_t i = 0; i < f->enum_count; i++) {
            if (f->enum_values[i].value == u) {
                name = f->enum_values[i].name;
            }
        }
        fputs("{\"name\": ", out);
        if (name != NULL) {
            fprintf(out, "\"%s\"", name);
        } else {
            fputs("null", out);
        }
        fprintf(out, ", \"value\": %" PRIu64 "}", u);
    } else if (is_unsigned(f->primitive)) {
        fprintf(out, "%" PRIu64, u);
    } else {
        fprintf(out, "%" PRId64, s);
    }
}

static void print_body(FILE *out, const udr_sbe_message_desc *m, const uint8_t *block, uint16_t block_length,
                       const uint8_t *var, size_t var_length) {
    fprintf(out, "{\"message\": \"%s\", \"schema_id\": %u, \"template_id\": %u, \"version\": %u, "
                 "\"block_length\": %u, \"fields\": {",
            m->name, m->schema_id, m->template_id, m->version, block_length);
    for (uint16_t i = 0; i < m->field_count; i++) {
        fprintf(out, "%s\"%s\": ", i ? ", " : "", m->fields[i].name);
        print_field(out, &m->fields[i], block);
    }
    for (uint16_t i = 0; i < m->var_data_count; i++) {
        fprintf(out, "%s\"%s\": ", m->field_count || i ? ", " : "", m->var_data[i].name);
        uint16_t n = 0;
        if (var_length >= 2) {
            memcpy(&n, var, 2);
        }
        if ((size_t)n + 2 > var_length) {
            fputs("null", out); /* truncated var data */
            var_length = 0;
            continue;
        }
        if (m->var_data[i].is_string) {
            print_string(out, var + 2, n);
        } else {
            print_hex(out, var + 2, n);
        }
        var += 2 + n;
        var_length -= 2 + (size_t)n;
    }
    fputs("}}", out);
}

int udr_sbe_print_frame(FILE *out, const udr_frame *frame) {
    const udr_sbe_message_desc *m = find(frame->schema_id, frame->template_id);
    if (m == NULL || frame->block_length < m->block_length) {
        return -1;
    }
    print_body(out, m, frame->block, frame->block_length, frame->var_data, frame->var_data_length);
    return 0;
}

int udr_sbe_print_block(FILE *out, uint16_t schema_id, uint16_t template_id, const uint8_t *block) {
    const udr_sbe_message_desc *m = find(schema_id, template_id);
    if (m == NULL) {
        return -1;
    }
    print_body(out, m, block, m->block_length, NULL, 0);
    return 0;
}
