/* Simulated events as a merchant sends them: the JSON body of POST
 * /recover/payments for one attempt, and of /recover/payment_method_updates
 * for a replaced card. The lab parses these with the API's own parser and
 * normalises the declines with the production normaliser.
 *
 * To keep 100,000 invoices in memory, an attempt is kept compactly (time,
 * outcome index, origin, card) and turned back into the struct rc_txn the
 * parser gave, field for field, when the planner needs the invoice's
 * transactions (lab_txn_fill; a unit test holds it to the parser's output). */
#ifndef RECOUP_LAB_EVENTS_H
#define RECOUP_LAB_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "lab/world.h"
#include "recover/declines.h"
#include "store/recover_store.h"

/* One distinct PSP outcome, as the parser read it and the normaliser
 * classified it. */
struct lab_outcome {
    char psp[24];
    char raw[RC_ID_MAX];
    char psp_message[RC_ID_MAX];
    char code[64];
    char network_status[64];
    char response_type[24];
    int success;
    struct rc_decline decline;
};

struct lab_attempt {
    int64_t at;
    uint16_t outcome; /* index into the run's outcome table */
    uint8_t success;
    uint8_t recover;  /* Recover's retry (else the merchant's renewal) */
    uint8_t new_card;
};

/* The body of a payment event for attempt number k (0: the merchant's
 * renewal) of customer c; `tag` keeps the ids of runs and renewals apart. */
void lab_event_json(const struct lab_world *w, const struct lab_customer *c, const char *tag, int k,
                    const struct lab_attempt *a, const struct lab_psp_outcome *o, buf *out);
void lab_pm_update_json(const struct lab_customer *c, const char *tag, buf *out);

/* The transaction the parser makes of lab_event_json's body. */
void lab_txn_fill(const struct lab_world *w, const struct lab_customer *c, const char *tag, int k,
                  const struct lab_attempt *a, const struct lab_outcome *o, struct rc_txn *t);

void lab_payment_method_id(const struct lab_customer *c, const char *tag, int new_card, char *out, size_t outsz);
void lab_invoice_id(const struct lab_customer *c, const char *tag, char *out, size_t outsz);
const char *lab_postal_code(const struct lab_world *w, const struct lab_customer *c);

#endif
