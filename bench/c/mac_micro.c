/* mac_micro.c - ns per datagram of the router's datagram MAC (src/udprouter/fastpath/datagram_mac.h):
 * verify (keyed BLAKE2b-128 over the body + compare) of one signed datagram of each given body size,
 * repeated; prints "MAC <body bytes> <ns of CPU time per datagram>" per size. Built by
 * bench/c/mac_micro.py. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "datagram_mac.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: a shared machine preempts us */
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 1000000;
    unsigned char key[UDR_MAC_KEY_SIZE], data[2048];
    for (int i = 0; i < UDR_MAC_KEY_SIZE; i++) key[i] = (unsigned char)i;
    udr_mac_key k;
    udr_mac_key_init(&k, key);
    for (int a = 2; a < argc || a == 2; a++) {
        uint32_t size = argc > 2 ? (uint32_t)atoi(argv[a]) : 30;
        if (size == 0 || size > 1442) return 2;
        for (uint32_t i = 0; i < size; i++) data[i] = (unsigned char)(i * 7);
        uint32_t len = udr_mac_sign(&k, data, size);
        long ok = 0;
        double t0 = now_ns();
        for (long i = 0; i < iterations; i++) {
            data[0] = (unsigned char)i; /* a different datagram each time: nothing to hoist */
            ok += udr_mac_verify(&k, data, len) < 0;
        }
        double ns = (now_ns() - t0) / (double)iterations;
        printf("MAC %u %.1f %ld\n", size, ns, ok);
    }
    return 0;
}
