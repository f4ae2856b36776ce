/* The card networks' retry rules as shipped: plain data, so that a change
 * of a network's numbers (Visa's cap went from 15 to 20 in 2026) is an
 * edit here or in the network_rules_file, never in the evaluator.
 * docs/network-rules-config.md explains each entry. */
#include "recover/network_rules.h"

#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)

const struct nr_rules nr_default_rules = {
    .never_classes = {"never"},
    .n_never_classes = 1,
    .schemes = {
        [NR_SCHEME_VISA] = {
            /* Visa category 1: the issuer will never approve this card. */
            .never_codes_rule = "visa_category_1",
            .never_codes = {"04", "07", "12", "14", "15", "41", "43", "46", "57", "R0", "R1", "R3"},
            .n_never_codes = 12,
            .caps = {{.id = "visa_30d_cap", .max = 20, .window_ms = 30 * DAY_MS,
                      .count = NR_COUNT_REATTEMPTS, .per_initiator = 1}},
            .n_caps = 1,
            /* Visa charges 0.10 to 0.25 per excess retry; 0.15 is the middle. */
            .fee_cents = 15,
        },
        [NR_SCHEME_MASTERCARD] = {
            .never_codes_rule = "mastercard_never_code",
            .never_macs = {"03", "21"},
            .n_never_macs = 2,
            .update_macs = {"01"},
            .n_update_macs = 1,
            .mac_waits = {{"24", 1 * HOUR_MS}, {"25", 24 * HOUR_MS}, {"26", 2 * DAY_MS}, {"27", 4 * DAY_MS},
                          {"28", 6 * DAY_MS}, {"29", 8 * DAY_MS}, {"30", 10 * DAY_MS}},
            .n_mac_waits = 7,
            .caps = {{.id = "mastercard_24h_cap", .max = 10, .window_ms = 24 * HOUR_MS,
                      .count = NR_COUNT_DECLINES},
                     {.id = "mastercard_30d_cap", .max = 35, .window_ms = 30 * DAY_MS,
                      .count = NR_COUNT_DECLINES}},
            .n_caps = 2,
            .fee_cents = 50,
        },
        /* No public rule as strict as Visa's or Mastercard's: Visa's cap,
         * without the initiator split, keeps us clear of any of them. */
        [NR_SCHEME_AMEX] = {
            .never_codes_rule = "amex_never_code",
            .caps = {{.id = "amex_30d_cap", .max = 20, .window_ms = 30 * DAY_MS, .count = NR_COUNT_REATTEMPTS}},
            .n_caps = 1,
        },
        [NR_SCHEME_DISCOVER] = {
            .never_codes_rule = "discover_never_code",
            .caps = {{.id = "discover_30d_cap", .max = 20, .window_ms = 30 * DAY_MS,
                      .count = NR_COUNT_REATTEMPTS}},
            .n_caps = 1,
        },
        [NR_SCHEME_OTHER] = {
            .never_codes_rule = "other_never_code",
            .caps = {{.id = "other_30d_cap", .max = 20, .window_ms = 30 * DAY_MS, .count = NR_COUNT_REATTEMPTS}},
            .n_caps = 1,
        },
    },
};
