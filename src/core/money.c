#include "core/money.h"

#include "core/buf.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Current ISO 4217 codes whose minor unit is not 2; every other listed code
 * has 2. Kept as data so that a change of the standard is a one-line edit. */
static const struct { const char code[4]; int exponent; } special_exponents[] = {
    {"BIF", 0}, {"CLP", 0}, {"DJF", 0}, {"GNF", 0}, {"ISK", 0}, {"JPY", 0}, {"KMF", 0},
    {"KRW", 0}, {"PYG", 0}, {"RWF", 0}, {"UGX", 0}, {"UYI", 0}, {"VND", 0}, {"VUV", 0},
    {"XAF", 0}, {"XOF", 0}, {"XPF", 0},
    {"BHD", 3}, {"IQD", 3}, {"JOD", 3}, {"KWD", 3}, {"LYD", 3}, {"OMR", 3}, {"TND", 3},
    {"CLF", 4}, {"UYW", 4},
};

static const char two_decimal_codes[] =
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN "
    "BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN "
    "ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES "
    "KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK "
    "MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR "
    "SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD "
    "TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL";

int currency_exponent(const char *code)
{
    if (!code || strlen(code) != 3)
        return -1;
    for (int i = 0; i < 3; i++)
        if (code[i] < 'A' || code[i] > 'Z')
            return -1;
    for (size_t i = 0; i < sizeof special_exponents / sizeof special_exponents[0]; i++)
        if (memcmp(special_exponents[i].code, code, 3) == 0)
            return special_exponents[i].exponent;
    for (const char *p = two_decimal_codes; *p; p += 4) {
        if (memcmp(p, code, 3) == 0)
            return 2;
        if (!p[3])
            break;
    }
    return -1;
}

/* Amounts beyond a quadrillion major units are not payments; bounding them
 * keeps every later multiplication far from int64 overflow. */
#define MAX_MAJOR_DIGITS 15

enum money_err money_parse_decimal(const char *s, int exponent, int64_t *minor)
{
    if (!s || exponent < 0 || exponent > 6)
        return MONEY_NOT_A_NUMBER;
    const char *p = s;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (*p < '0' || *p > '9')
        return MONEY_NOT_A_NUMBER;
    int64_t whole = 0;
    int whole_digits = 0;
    while (*p >= '0' && *p <= '9') {
        if (whole_digits > 0 || *p != '0')
            whole_digits++;
        if (whole_digits > MAX_MAJOR_DIGITS)
            return MONEY_OUT_OF_RANGE;
        whole = whole * 10 + (*p - '0');
        p++;
    }
    int64_t frac = 0;
    int frac_digits = 0;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return MONEY_NOT_A_NUMBER;
        int significant_tail = 0;
        while (*p >= '0' && *p <= '9') {
            if (frac_digits < exponent) {
                frac = frac * 10 + (*p - '0');
                frac_digits++;
            } else if (*p != '0') {
                significant_tail = 1;
            }
            p++;
        }
        if (*p != '\0')
            return MONEY_NOT_A_NUMBER;
        if (significant_tail)
            return MONEY_TOO_PRECISE;
    }
    if (*p != '\0')
        return MONEY_NOT_A_NUMBER;
    int64_t scale = 1;
    for (int i = 0; i < exponent; i++)
        scale *= 10;
    for (int i = frac_digits; i < exponent; i++)
        frac *= 10;
    /* Fifteen major digits still overflow with four decimals (CLF, UYW). */
    if (whole > (INT64_MAX - frac) / scale)
        return MONEY_OUT_OF_RANGE;
    int64_t v = whole * scale + frac;
    *minor = neg ? -v : v;
    return MONEY_OK;
}

enum money_err money_parse_scaled(const char *s, struct money_scaled *out)
{
    if (!s || *s == '-')
        return MONEY_NOT_A_NUMBER;
    char whole[32];
    const char *dot = strchr(s, '.');
    size_t wl = dot ? (size_t)(dot - s) : strlen(s);
    if (wl == 0 || wl >= sizeof whole)
        return wl == 0 ? MONEY_NOT_A_NUMBER : MONEY_OUT_OF_RANGE;
    memcpy(whole, s, wl);
    whole[wl] = '\0';
    int64_t major, frac = 0;
    enum money_err e = money_parse_decimal(whole, 0, &major);
    if (e != MONEY_OK)
        return e;
    if (dot) {
        char frac_text[32] = "0.";
        if (strlen(dot + 1) + 3 > sizeof frac_text)
            return MONEY_TOO_PRECISE;
        str_copy(frac_text + 2, sizeof frac_text - 2, dot + 1);
        e = money_parse_decimal(frac_text, 4, &frac);
        if (e != MONEY_OK)
            return e;
    }
    out->major = major;
    out->frac4 = (int32_t)frac;
    return MONEY_OK;
}

struct money_scaled money_to_scaled(int64_t minor, int exponent)
{
    int64_t scale = 1;
    for (int i = 0; i < exponent; i++)
        scale *= 10;
    struct money_scaled v = {minor / scale, (int32_t)(minor % scale)};
    for (int i = exponent; i < 4; i++)
        v.frac4 *= 10;
    return v;
}

void double_shortest(double d, char *out, size_t outsz)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, outsz, "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            return;
    }
}

/* Rewrites %g output ("1.5e-05", "1e+20") as plain decimal text. */
static int expand_exponent(const char *in, char *out, size_t outsz)
{
    const char *e = strpbrk(in, "eE");
    if (!e)
        return str_copy(out, outsz, in);
    int exp10 = (int)strtol(e + 1, NULL, 10);
    char digits[40];
    size_t nd = 0;
    int neg = in[0] == '-';
    int point = -1;
    for (const char *p = in + neg; p < e && nd < sizeof digits - 1; p++) {
        if (*p == '.')
            point = (int)nd;
        else
            digits[nd++] = *p;
    }
    digits[nd] = '\0';
    if (point < 0)
        point = (int)nd;
    point += exp10;
    size_t o = 0;
#define PUT(c) do { if (o + 1 >= outsz) return -1; out[o++] = (c); } while (0)
    if (neg)
        PUT('-');
    if (point <= 0) {
        PUT('0');
        PUT('.');
        for (int i = 0; i < -point; i++)
            PUT('0');
        for (size_t i = 0; i < nd; i++)
            PUT(digits[i]);
    } else {
        for (int i = 0; i < point; i++)
            PUT((size_t)i < nd ? digits[i] : '0');
        if ((size_t)point < nd) {
            PUT('.');
            for (size_t i = (size_t)point; i < nd; i++)
                PUT(digits[i]);
        }
    }
#undef PUT
    out[o] = '\0';
    return 0;
}

enum money_err money_parse_json(const cJSON *v, int exponent, int64_t *minor)
{
    if (cJSON_IsString(v))
        return money_parse_decimal(v->valuestring, exponent, minor);
    if (!cJSON_IsNumber(v))
        return MONEY_NOT_A_NUMBER;
    double d = v->valuedouble;
    if (!isfinite(d))
        return MONEY_NOT_A_NUMBER;
    if (fabs(d) >= 1e15)
        return MONEY_OUT_OF_RANGE;
    char shortest[40], plain[64];
    double_shortest(d, shortest, sizeof shortest);
    if (expand_exponent(shortest, plain, sizeof plain) != 0)
        return MONEY_TOO_PRECISE;
    return money_parse_decimal(plain, exponent, minor);
}

void money_format(int64_t minor, int exponent, char *out, size_t outsz)
{
    int64_t scale = 1;
    for (int i = 0; i < exponent; i++)
        scale *= 10;
    uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    const char *sign = minor < 0 ? "-" : "";
    if (exponent == 0)
        snprintf(out, outsz, "%s%llu", sign, (unsigned long long)mag);
    else
        snprintf(out, outsz, "%s%llu.%0*llu", sign, (unsigned long long)(mag / (uint64_t)scale),
                 exponent, (unsigned long long)(mag % (uint64_t)scale));
}

const char *money_err_message(enum money_err e)
{
    switch (e) {
    case MONEY_OK: return "ok";
    case MONEY_NOT_A_NUMBER: return "must be a decimal number";
    case MONEY_TOO_PRECISE: return "has more decimals than the currency allows";
    case MONEY_OUT_OF_RANGE: return "is out of range";
    }
    return "invalid amount";
}

double money_major(int64_t minor, const char *currency)
{
    int e = currency_exponent(currency);
    double scale = 1;
    for (int i = 0; i < (e < 0 ? 2 : e); i++)
        scale *= 10;
    return (double)minor / scale;
}
