#include "gateway/card.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/timefmt.h"

int card_normalize(const char *s, char *out, size_t outsz)
{
    size_t n = 0;
    /* Blanks around a pasted number are noise, not a different number. */
    while (*s == ' ')
        s++;
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == ' ')
        len--;
    for (const char *p = s; p < s + len; p++) {
        if (isdigit((unsigned char)*p)) {
            if (n + 1 >= outsz || n >= CARD_MAX_DIGITS)
                return -1;
            out[n++] = *p;
        } else if ((*p == ' ' || *p == '-') && n > 0 && p + 1 < s + len && isdigit((unsigned char)p[1])) {
            continue;
        } else {
            return -1;
        }
    }
    out[n] = '\0';
    return n >= CARD_MIN_DIGITS ? (int)n : -1;
}

int card_luhn_ok(const char *digits)
{
    size_t n = strlen(digits);
    if (n == 0)
        return 0;
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int d = digits[n - 1 - i] - '0';
        if (d < 0 || d > 9)
            return 0;
        if (i % 2 == 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0;
}

static int prefix_in(const char *d, int len, int lo, int hi)
{
    int v = 0;
    for (int i = 0; i < len; i++) {
        if (!d[i])
            return 0;
        v = v * 10 + (d[i] - '0');
    }
    return v >= lo && v <= hi;
}

const char *card_brand(const char *d)
{
    if (prefix_in(d, 2, 34, 34) || prefix_in(d, 2, 37, 37))
        return "amex";
    if (prefix_in(d, 1, 4, 4))
        return "visa";
    if (prefix_in(d, 2, 51, 55) || prefix_in(d, 4, 2221, 2720))
        return "mastercard";
    if (prefix_in(d, 4, 6011, 6011) || prefix_in(d, 2, 65, 65) || prefix_in(d, 3, 644, 649))
        return "discover";
    if (prefix_in(d, 4, 3528, 3589))
        return "jcb";
    if (prefix_in(d, 2, 36, 36) || prefix_in(d, 2, 38, 39) || prefix_in(d, 3, 300, 305))
        return "diners";
    if (prefix_in(d, 2, 62, 62))
        return "unionpay";
    if (prefix_in(d, 2, 50, 50) || prefix_in(d, 2, 56, 58) || prefix_in(d, 2, 67, 67))
        return "maestro";
    return "unknown";
}

void card_mask(const char *digits, char *out, size_t outsz)
{
    size_t n = strlen(digits);
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < outsz; i++)
        out[o++] = (i < 6 || i + 4 >= n) ? digits[i] : '*';
    out[o] = '\0';
}

int card_parse_month(const char *s, int *month)
{
    int64_t v;
    size_t n = strlen(s);
    if (n == 0 || n > 2 || str_to_i64(s, &v) != 0 || !isdigit((unsigned char)s[0]) || v < 1 || v > 12)
        return -1;
    *month = (int)v;
    return 0;
}

int card_parse_year(const char *s, int *year)
{
    int64_t v;
    if (strlen(s) != 4 || !isdigit((unsigned char)s[0]) || str_to_i64(s, &v) != 0 || v < 1900 || v > 2999)
        return -1;
    *year = (int)v;
    return 0;
}

int card_expiry_valid(int month, int year, int64_t now_ms)
{
    int64_t days = now_ms / 86400000;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    /* A card is valid through the last day of its expiry month. */
    return year > y || (year == y && (unsigned)month >= m);
}

int card_cvv_ok(const char *cvv, const char *brand)
{
    size_t want = strcmp(brand, "amex") == 0 ? 4 : 3;
    if (strlen(cvv) != want)
        return 0;
    for (size_t i = 0; i < want; i++)
        if (!isdigit((unsigned char)cvv[i]))
            return 0;
    return 1;
}

int mbway_normalize_phone(const char *s, char out[10])
{
    char digits[24];
    size_t n = 0;
    const char *p = s;
    while (*p == ' ')
        p++;
    int plus = 0;
    if (*p == '+') {
        plus = 1;
        p++;
    }
    for (; *p; p++) {
        if (isdigit((unsigned char)*p)) {
            if (n + 1 >= sizeof digits)
                return -1;
            digits[n++] = *p;
        } else if (*p != ' ' && *p != '-') {
            return -1;
        }
    }
    digits[n] = '\0';
    const char *national = digits;
    if (plus) {
        if (n != 12 || strncmp(digits, "351", 3) != 0)
            return -1;
        national = digits + 3;
    } else if (n == 14 && strncmp(digits, "00351", 5) == 0) {
        national = digits + 5;
    } else if (n == 12 && strncmp(digits, "351", 3) == 0) {
        national = digits + 3;
    } else if (n != 9) {
        return -1;
    }
    if (strlen(national) != 9 || national[0] != '9' ||
        !(national[1] == '1' || national[1] == '2' || national[1] == '3' || national[1] == '6'))
        return -1;
    memcpy(out, national, 10);
    return 0;
}
