/*
 * base64url.h - base64url without padding (RFC 4648 section 5), the
 * encoding of the three parts of a JWS and of the consent ids, written for
 * speed.
 *
 * libsodium's sodium_bin2base64 is constant-time (for secrets) and zeroes
 * its output first: a tenth of a consent write's instructions. Nothing
 * encoded here is secret (the claims, the signature and the consent id are
 * public), so a table lookup is right here; a secret goes through
 * libsodium. Output is byte for byte libsodium's
 * sodium_base64_VARIANT_URLSAFE_NO_PADDING (a unit test checks it). Pure,
 * safe from any thread.
 */
#ifndef CONSENTD_BASE64URL_H
#define CONSENTD_BASE64URL_H

#include <stddef.h>

/* Characters that len bytes encode to (no padding, no NUL). */
#define BASE64URL_LEN(len) (((len) / 3) * 4 + ((len) % 3 == 0 ? 0 : (len) % 3 + 1))

/* Encode len bytes of in into out (BASE64URL_LEN(len) bytes, no NUL
 * written); returns that length. */
size_t base64url_encode(char *out, const unsigned char *in, size_t len);

#endif
