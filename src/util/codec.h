/*
 * Byte codecs that Connect's JSON forms need when read back: base64 (BYTES
 * and Decimal payloads) and the decimal digits of a two's complement
 * big-endian integer (Decimal's unscaled value, any length).
 */
#ifndef SL_UTIL_CODEC_H
#define SL_UTIL_CODEC_H
#include "util/buf.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes that sl_b64_decode may write for n characters of text. */
#define SL_B64_DECODED_MAX(n) ((n) / 4 * 3 + 3)
/* Decodes standard or URL-safe base64 (padding optional) of n characters into out (room for
 * SL_B64_DECODED_MAX(n) bytes); *outn: the bytes written. false when a character is not base64. */
bool sl_b64_decode(const char *s, size_t n, uint8_t *out, size_t *outn);

/* Appends the decimal value of the two's complement big-endian integer b[0..n) divided by 10^scale, in plain
 * notation ("-12.30" for bytes of -1230 and scale 2; a negative scale appends zeros; n == 0 is 0). */
void sl_put_unscaled_decimal(sl_buf *out, const uint8_t *b, size_t n, int32_t scale);
/* Its digits alone, least significant first, into dig (room for n * 241 / 100 + 2); returns how many (at least
 * 1) and sets *neg. */
size_t sl_unscaled_digits(const uint8_t *b, size_t n, char *dig, bool *neg);

#endif
