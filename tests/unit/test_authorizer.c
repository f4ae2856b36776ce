/* The sandbox authoriser: its table of test cards and phones, the decline
 * each one produces, and the published copy of that table in
 * docs/gateway.md, which clients rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/authorizer.h"
#include "gateway/card.h"

static void assert_decline_shape(struct auth_result r, const char *code)
{
    assert_false(r.approved);
    assert_non_null(r.decline_code);
    assert_string_equal(r.decline_code, code);
    assert_non_null(r.decline_message);
    assert_true(strlen(r.decline_message) > 0);
    assert_non_null(r.network_code);
    assert_true(strlen(r.network_code) > 0);
    assert_string_not_equal(r.network_code, "00");
}

static void assert_approved(struct auth_result r)
{
    assert_true(r.approved);
    assert_null(r.decline_code);
    assert_string_equal(r.network_code, "00");
}

static void sandbox_cards_are_valid_and_decide_as_listed(void **state)
{
    (void)state;
    assert_true(sandbox_cards_count > 0);
    for (int i = 0; i < sandbox_cards_count; i++) {
        const struct sandbox_entry *e = &sandbox_cards[i];
        char digits[20];
        /* A test card that failed these checks would be declined before the table is consulted. */
        assert_int_equal(card_normalize(e->number, digits, sizeof digits), (int)strlen(e->number));
        if (!card_luhn_ok(e->number))
            fail_msg("sandbox card %s fails the Luhn check", e->number);
        assert_string_not_equal(card_brand(e->number), "unknown");
        struct auth_result r = auth_card(e->number, 5000);
        if (e->decline_code)
            assert_decline_shape(r, e->decline_code);
        else
            assert_approved(r);
        /* The decision depends on the number only. */
        struct auth_result r2 = auth_card(e->number, 1);
        assert_int_equal(r2.approved, r.approved);
        assert_string_equal(r2.network_code, r.network_code);
    }
}

static void sandbox_phones_are_valid_and_decide_as_listed(void **state)
{
    (void)state;
    assert_true(sandbox_phones_count > 0);
    for (int i = 0; i < sandbox_phones_count; i++) {
        const struct sandbox_entry *e = &sandbox_phones[i];
        char national[10];
        assert_int_equal(mbway_normalize_phone(e->number, national), 0);
        assert_string_equal(national, e->number);
        struct auth_result r = auth_mbway(e->number, 5000);
        if (e->decline_code)
            assert_decline_shape(r, e->decline_code);
        else
            assert_approved(r);
    }
}

static void table_numbers_are_unique(void **state)
{
    (void)state;
    for (int i = 0; i < sandbox_cards_count; i++)
        for (int j = i + 1; j < sandbox_cards_count; j++)
            assert_string_not_equal(sandbox_cards[i].number, sandbox_cards[j].number);
    for (int i = 0; i < sandbox_phones_count; i++)
        for (int j = i + 1; j < sandbox_phones_count; j++)
            assert_string_not_equal(sandbox_phones[i].number, sandbox_phones[j].number);
}

/* A retry card listed in the fixed table too would be ambiguous. */
static const char *find_retry_clash(const char *number)
{
    for (int i = 0; i < sandbox_cards_count; i++)
        if (strcmp(sandbox_cards[i].number, number) == 0)
            return sandbox_cards[i].number;
    return NULL;
}

static void unknown_valid_instruments_are_approved(void **state)
{
    (void)state;
    static const char *const cards[] = {"4111111111111111", "6011111111111117", "3530111333300000",
                                        "5105105105105100", "371449635398431"};
    for (size_t i = 0; i < sizeof cards / sizeof cards[0]; i++) {
        assert_true(card_luhn_ok(cards[i]));
        assert_approved(auth_card(cards[i], 5000));
    }
    assert_approved(auth_mbway("912345678", 5000));
    assert_approved(auth_mbway("962000051", 5000));
    /* A sandbox phone number is not a sandbox card, and the other way round. */
    assert_approved(auth_card("912000051", 5000));
    assert_approved(auth_mbway("4000000000009995", 5000));
}

static void decline_codes(void **state)
{
    (void)state;
    static const struct { const char *code, *network; } known[] = {
        {"insufficient_funds", "51"}, {"do_not_honor", "05"}, {"expired_card", "54"},
        {"incorrect_cvc", "N7"}, {"lost_card", "41"}, {"stolen_card", "43"},
        {"fraudulent", "59"}, {"issuer_unavailable", "91"}, {"withdrawal_limit", "61"},
        {"incorrect_number", "14"}, {"invalid_phone_number", "14"}, {"generic_decline", "05"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        struct auth_result r = auth_decline(known[i].code);
        assert_decline_shape(r, known[i].code);
        assert_string_equal(r.network_code, known[i].network);
    }
    assert_string_equal(auth_decline("insufficient_funds").decline_message, "Your card has insufficient funds.");
    assert_non_null(strstr(auth_decline("invalid_phone_number").decline_message, "MB WAY"));

    static const char *const unknown[] = {"no_such_code", "", "INSUFFICIENT_FUNDS", "insufficient_funds "};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        struct auth_result r = auth_decline(unknown[i]);
        assert_decline_shape(r, "generic_decline");
        assert_string_equal(r.network_code, "05");
    }
}

static void retry_cards_decide_by_earlier_charges(void **state)
{
    (void)state;
    assert_true(sandbox_retry_cards_count > 0);
    for (int i = 0; i < sandbox_retry_cards_count; i++) {
        const struct sandbox_retry_entry *e = &sandbox_retry_cards[i];
        assert_true(card_luhn_ok(e->number));
        assert_null(find_retry_clash(e->number));
        assert_true(auth_card_counts_charges(e->number));
        for (int n = 0; n < e->declines; n++)
            assert_decline_shape(auth_card_charge(e->number, 5000, n), e->decline_code);
        assert_approved(auth_card_charge(e->number, 5000, e->declines));
        assert_approved(auth_card_charge(e->number, 1, e->declines + 5));
        /* By number, every charge is a first one. */
        assert_decline_shape(auth_card(e->number, 5000), e->decline_code);
    }
    assert_false(auth_card_counts_charges("4242424242424242"));
    assert_false(auth_card_counts_charges("4000000000009995"));
    /* The fixed cards ignore the count. */
    assert_decline_shape(auth_card_charge("4000000000009995", 5000, 7), "insufficient_funds");
    assert_approved(auth_card_charge("4242424242424242", 5000, 0));
}

/* --- The published table --------------------------------------------- */

static FILE *open_gateway_doc(void)
{
    const char *root = getenv("MESON_SOURCE_ROOT");
    if (root && *root) {
        char path[4096];
        snprintf(path, sizeof path, "%s/docs/gateway.md", root);
        FILE *f = fopen(path, "r");
        if (f)
            return f;
    }
    static const char *const relative[] = {"../docs/gateway.md", "docs/gateway.md"};
    for (size_t i = 0; i < sizeof relative / sizeof relative[0]; i++) {
        FILE *f = fopen(relative[i], "r");
        if (f)
            return f;
    }
    return NULL;
}

#define MAX_CELLS 8
#define CELL_LEN 128

/* Splits a markdown table row into trimmed cells without backticks. */
static int split_row(const char *line, char cells[MAX_CELLS][CELL_LEN])
{
    const char *p = line;
    while (*p == ' ')
        p++;
    if (*p != '|')
        return 0;
    p++;
    int n = 0;
    while (*p && *p != '\n' && n < MAX_CELLS) {
        const char *end = strchr(p, '|');
        if (!end)
            break;
        size_t o = 0;
        for (const char *q = p; q < end && o + 1 < CELL_LEN; q++)
            if (*q != '`')
                cells[n][o++] = *q;
        cells[n][o] = '\0';
        char *s = cells[n];
        while (*s == ' ')
            memmove(s, s + 1, strlen(s));
        size_t l = strlen(s);
        while (l > 0 && s[l - 1] == ' ')
            s[--l] = '\0';
        n++;
        p = end + 1;
    }
    return n;
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

enum doc_table { DOC_NONE, DOC_CARDS, DOC_PHONES };

struct doc_row {
    char number[CELL_LEN];
    char brand[CELL_LEN];
    char result[CELL_LEN];
    char code[CELL_LEN];
    char network[CELL_LEN];
};

struct doc_tables {
    struct doc_row cards[64];
    int ncards;
    struct doc_row phones[64];
    int nphones;
    int saw_card_header, saw_phone_header;
};

static void read_doc_tables(FILE *f, struct doc_tables *t)
{
    memset(t, 0, sizeof *t);
    enum doc_table cur = DOC_NONE;
    char line[8192];
    char cells[MAX_CELLS][CELL_LEN];
    while (fgets(line, sizeof line, f)) {
        int n = split_row(line, cells);
        if (n == 0) {
            cur = DOC_NONE;
            continue;
        }
        if (strcmp(cells[0], "card number") == 0) {
            cur = DOC_CARDS;
            t->saw_card_header = 1;
            continue;
        }
        if (strcmp(cells[0], "MB WAY number") == 0) {
            cur = DOC_PHONES;
            t->saw_phone_header = 1;
            continue;
        }
        if (!all_digits(cells[0]))
            continue;
        if (cur == DOC_CARDS) {
            assert_int_equal(n, 5);
            assert_true(t->ncards < 64);
            struct doc_row *r = &t->cards[t->ncards++];
            snprintf(r->number, sizeof r->number, "%s", cells[0]);
            snprintf(r->brand, sizeof r->brand, "%s", cells[1]);
            snprintf(r->result, sizeof r->result, "%s", cells[2]);
            snprintf(r->code, sizeof r->code, "%s", cells[3]);
            snprintf(r->network, sizeof r->network, "%s", cells[4]);
        } else if (cur == DOC_PHONES) {
            assert_int_equal(n, 3);
            assert_true(t->nphones < 64);
            struct doc_row *r = &t->phones[t->nphones++];
            snprintf(r->number, sizeof r->number, "%s", cells[0]);
            snprintf(r->result, sizeof r->result, "%s", cells[1]);
            snprintf(r->code, sizeof r->code, "%s", cells[2]);
        }
    }
}

static const struct sandbox_entry *find_entry(const struct sandbox_entry *table, int n, const char *number)
{
    for (int i = 0; i < n; i++)
        if (strcmp(table[i].number, number) == 0)
            return &table[i];
    return NULL;
}

static void check_doc_row(const struct doc_row *row, const struct sandbox_entry *e, struct auth_result r)
{
    if (!e)
        fail_msg("docs/gateway.md lists %s, which the sandbox table does not have", row->number);
    if (e->decline_code) {
        if (strcmp(row->result, "declined") != 0 || strcmp(row->code, e->decline_code) != 0)
            fail_msg("docs/gateway.md says %s is %s/%s; the sandbox declines it with %s", row->number,
                     row->result, row->code, e->decline_code);
    } else {
        if (strcmp(row->result, "success") != 0 || row->code[0] != '\0')
            fail_msg("docs/gateway.md says %s is %s/%s; the sandbox approves it", row->number, row->result,
                     row->code);
    }
    if (row->network[0] && strcmp(row->network, r.network_code) != 0)
        fail_msg("docs/gateway.md gives %s network code %s; the sandbox answers %s", row->number, row->network,
                 r.network_code);
}

static void docs_list_the_same_table(void **state)
{
    (void)state;
    FILE *f = open_gateway_doc();
    if (!f) {
        skip();
        return;
    }
    /* Static, so that a failing assertion (a longjmp) leaves nothing to free. */
    static struct doc_tables tables;
    struct doc_tables *t = &tables;
    read_doc_tables(f, t);
    fclose(f);
    assert_true(t->saw_card_header);
    assert_true(t->saw_phone_header);

    assert_int_equal(t->ncards, sandbox_cards_count);
    for (int i = 0; i < t->ncards; i++) {
        const struct doc_row *row = &t->cards[i];
        check_doc_row(row, find_entry(sandbox_cards, sandbox_cards_count, row->number),
                      auth_card(row->number, 5000));
        assert_string_equal(row->brand, card_brand(row->number));
        assert_true(row->network[0] != '\0');
    }
    assert_int_equal(t->nphones, sandbox_phones_count);
    for (int i = 0; i < t->nphones; i++) {
        const struct doc_row *row = &t->phones[i];
        check_doc_row(row, find_entry(sandbox_phones, sandbox_phones_count, row->number),
                      auth_mbway(row->number, 5000));
    }
    /* Same counts and every documented number known: also every known number documented. */
    for (int i = 0; i < sandbox_cards_count; i++) {
        int found = 0;
        for (int j = 0; j < t->ncards && !found; j++)
            found = strcmp(t->cards[j].number, sandbox_cards[i].number) == 0;
        if (!found)
            fail_msg("sandbox card %s is missing from docs/gateway.md", sandbox_cards[i].number);
    }
    for (int i = 0; i < sandbox_phones_count; i++) {
        int found = 0;
        for (int j = 0; j < t->nphones && !found; j++)
            found = strcmp(t->phones[j].number, sandbox_phones[i].number) == 0;
        if (!found)
            fail_msg("sandbox phone %s is missing from docs/gateway.md", sandbox_phones[i].number);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sandbox_cards_are_valid_and_decide_as_listed),
        cmocka_unit_test(sandbox_phones_are_valid_and_decide_as_listed),
        cmocka_unit_test(table_numbers_are_unique),
        cmocka_unit_test(unknown_valid_instruments_are_approved),
        cmocka_unit_test(decline_codes),
        cmocka_unit_test(retry_cards_decide_by_earlier_charges),
        cmocka_unit_test(docs_list_the_same_table),
    };
    return cmocka_run_group_tests_name("authorizer", tests, NULL, NULL);
}
