/* udr_vectors FILE...: decodes each file (one datagram) through the C codecs and prints one line of
 * JSON per file: {"file": FILE, "messages": [...]} (the golden vectors' form). Exit 1 on a bad frame. */
#include <stdio.h>
#include <stdlib.h>

#include "udprouter/client/udr_frame.h"
#include "udprouter/client/udr_sbe_print.h"

int main(int argc, char **argv) {
    static uint8_t buf[1 << 16];
    int status = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (f == NULL) {
            perror(argv[i]);
            return 1;
        }
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        printf("{\"file\": \"%s\", \"messages\": [", argv[i]);
        size_t offset = 0;
        udr_frame frame;
        udr_frame_status rc;
        for (int n = 0; (rc = udr_frame_next(buf, len, &offset, &frame)) == UDR_FRAME_OK; n++) {
            printf("%s", n ? ", " : "");
            if (udr_sbe_print_frame(stdout, &frame) != 0) {
                status = 1;
                printf("null");
            }
        }
        printf("]}\n");
        if (rc != UDR_FRAME_END) {
            fprintf(stderr, "%s: bad frame at byte %zu (status %d)\n", argv[i], offset, (int)rc);
            status = 1;
        }
    }
    return status;
}
