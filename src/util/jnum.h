/*
 * Java's Double.toString and Float.toString, the one implementation.
 *
 * Debezium events print floating-point values the way Jackson does, and
 * Jackson prints a double or float with Double.toString / Float.toString, so
 * every writer of a double (the event encoder, the MongoDB event JSON, the
 * transform chain's JSON output, Cast) goes through here and a value prints
 * the same whichever path it took.
 *
 * Behaviour matched: JDK 19 and later (JDK-4511638, the Schubfach rewrite),
 * which Kafka Connect 4.x runs on in Debezium's container images (Java 21;
 * Connect 4.x needs at least Java 17). JDK 17 and older sometimes printed
 * more digits than needed or not the closest ones: 2.0E23 as
 * 1.9999999999999998E23, 1.0E23 as 9.999999999999999E22, 2 * Double.MIN_VALUE
 * as 1.0E-323 (now 9.9E-324), Float.MIN_NORMAL as 1.17549435E-38 (now
 * 1.1754944E-38). The rule (Double.toString's javadoc since 19): of the
 * decimals that round to the value, those of the smallest length, but at
 * least 2 digits; of these the closest to the value, ties to an even last
 * digit. Layout: plain "123.45" / "0.001" / "1.0" for 1e-3 <= |v| < 1e7,
 * otherwise "1.0E20" / "1.0E-5"; "NaN", "Infinity", "-Infinity", "-0.0".
 */
#ifndef SL_UTIL_JNUM_H
#define SL_UTIL_JNUM_H
#include "util/buf.h"
#include <stdbool.h>
#include <stddef.h>

/* Room for any result of sl_jnum_double/float with its NUL ("-2.2250738585072014E-308" is 24). */
#define SL_JNUM_BUFSZ 32
/* Room for the digits sl_jnum_digits writes (at most 17). */
#define SL_JNUM_MAXDIG 17

/* Writes Double.toString(d) to out (SL_JNUM_BUFSZ bytes), NUL-terminated; returns its length. */
size_t sl_jnum_double(char *out, double d);
/* Writes Float.toString(f) the same way. */
size_t sl_jnum_float(char *out, float f);
/* Appends Double.toString(d) / Float.toString(f) to b (NaN and the infinities unquoted). */
void sl_jnum_put_double(sl_buf *b, double d);
void sl_jnum_put_float(sl_buf *b, float f);

/* Appends v as Jackson writes a DoubleNode (a FloatNode when is_float, v then read as a float):
 * Double/Float.toString, but NaN and the infinities as JSON strings ("NaN"), as Kafka Connect's
 * JsonConverter and Debezium's events have them. */
void sl_jnum_put_json(sl_buf *b, double v, bool is_float);

/*
 * The digits Java picks for a finite, non-zero v (read as a float when
 * is_float; the sign is ignored): fills dig[0..n) with no trailing zeros,
 * returns n and sets *k so that |v| prints as dig[0].dig[1..n) x 10^k.
 */
int sl_jnum_digits(double v, bool is_float, char dig[SL_JNUM_MAXDIG], int *k);
/* Appends the decimal [-]d[0].d[1..n) x 10^k in Java's layout; n == 0 means zero ("0.0"). The
 * digits must carry no trailing zeros (sl_jnum_digits, or text already known to be shortest). */
void sl_jnum_put_digits(sl_buf *b, bool neg, const char *d, int n, int k);

#endif
