/*
 * sign_speed.c - the CPU cost of one Ed25519 signature with libsodium
 * (crypto_sign_detached), as consentd signs every consent proof (keys.c).
 *
 *   sign_speed [MESSAGE_BYTES [SECONDS [SEAL_BYTES]]]   defaults: 700 bytes, 1 s
 *
 * Signs the same MESSAGE_BYTES-byte message over and over for about SECONDS
 * of CPU time and prints one line:
 *
 *   sign_us=<CPU µs per signature> per_s=<signatures per CPU second> n=<count> bytes=<size>
 *
 * With SEAL_BYTES, also the cost of sealing a SEAL_BYTES-byte record as
 * consentd seals each consent log entry (src/seal.c: a random 32-byte key
 * and 24-byte nonce, XChaCha20-Poly1305-IETF with ~10 bytes of additional
 * data), on a second line:
 *
 *   seal_us=<CPU µs per seal> n=<count> bytes=<size>
 *
 * Built and run by bench/consent.sh (not part of the CMake build):
 *   cc -O2 -o sign_speed bench/sign_speed.c $(pkg-config --cflags --libs libsodium)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long bytes = argc > 1 ? strtol(argv[1], NULL, 10) : 700;
    double seconds = argc > 2 ? strtod(argv[2], NULL) : 1.0;
    long seal_bytes = argc > 3 ? strtol(argv[3], NULL, 10) : 0;
    if (argc > 4 || seal_bytes < 0 || seal_bytes > 65536 || bytes < 1 || bytes > 65536 ||
        !(seconds > 0.05 && seconds <= 60)) {
        fprintf(stderr, "usage: sign_speed [MESSAGE_BYTES (1..65536) [SECONDS (0.05..60) "
                        "[SEAL_BYTES (0..65536)]]]\n");
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "sign_speed: sodium_init failed\n");
        return 1;
    }
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    unsigned char sig[crypto_sign_BYTES];
    unsigned char *msg = malloc((size_t)bytes);
    if (msg == NULL) {
        fprintf(stderr, "sign_speed: out of memory\n");
        return 1;
    }
    crypto_sign_keypair(pk, sk);
    /* base64url-like text, as a JWS signing input is */
    for (long i = 0; i < bytes; i++)
        msg[i] =
            (unsigned char)"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[i *
                                                                                              7 %
                                                                                              64];

    /* warm up caches and the CPU's clock */
    for (int i = 0; i < 200; i++)
        crypto_sign_detached(sig, NULL, msg, (unsigned long long)bytes, sk);

    unsigned long n = 0;
    double t0 = cpu_seconds(), t;
    do {
        for (int i = 0; i < 100; i++) {
            msg[n % (unsigned long)bytes] ^= 1; /* a new message each time */
            crypto_sign_detached(sig, NULL, msg, (unsigned long long)bytes, sk);
            n++;
        }
        t = cpu_seconds() - t0;
    } while (t < seconds);

    if (crypto_sign_verify_detached(sig, msg, (unsigned long long)bytes, pk) != 0) {
        fprintf(stderr, "sign_speed: the last signature does not verify\n");
        return 1;
    }
    printf("sign_us=%.3f per_s=%.0f n=%lu bytes=%ld\n", t * 1e6 / (double)n, (double)n / t, n,
           bytes);
    if (seal_bytes > 0) {
        unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
        unsigned char *plain = calloc(1, (size_t)seal_bytes);
        unsigned char *box = malloc((size_t)seal_bytes + 64);
        static const unsigned char ad[] = "\x01\x04demo\x07";
        unsigned long long clen;
        if (plain == NULL || box == NULL) return 1;
        n = 0;
        t0 = cpu_seconds();
        do {
            for (int i = 0; i < 100; i++) {
                randombytes_buf(key, sizeof(key));
                randombytes_buf(box + 1, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
                crypto_aead_xchacha20poly1305_ietf_encrypt(box + 25, &clen, plain,
                                                           (unsigned long long)seal_bytes, ad,
                                                           sizeof(ad) - 1, NULL, box + 1, key);
                n++;
            }
            t = cpu_seconds() - t0;
        } while (t < seconds);
        printf("seal_us=%.3f n=%lu bytes=%ld\n", t * 1e6 / (double)n, n, seal_bytes);
        free(plain);
        free(box);
    }
    free(msg);
    return 0;
}
