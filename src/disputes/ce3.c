#include "disputes/ce3.h"

#include <string.h>

#define DAY_MS 86400000LL

static int64_t day_of(int64_t ms)
{
    /* Floor division: instants before 1970 belong to the day they fall in. */
    return ms >= 0 ? ms / DAY_MS : -((-ms + DAY_MS - 1) / DAY_MS);
}

int64_t ce3_days_before(int64_t disputed_ms, int64_t prior_ms) { return day_of(disputed_ms) - day_of(prior_ms); }

static int known(const char *s) { return s && *s; }

static int same(const char *a, const char *b) { return known(a) && known(b) && strcmp(a, b) == 0; }

unsigned ce3_known(const struct ce3_txn *t)
{
    return (known(t->account) ? CE3_ACCOUNT : 0) | (known(t->ip) ? CE3_IP : 0) |
           (known(t->shipping) ? CE3_SHIPPING : 0) | (known(t->device) ? CE3_DEVICE : 0);
}

unsigned ce3_shared(const struct ce3_txn *a, const struct ce3_txn *b)
{
    return (same(a->account, b->account) ? CE3_ACCOUNT : 0) | (same(a->ip, b->ip) ? CE3_IP : 0) |
           (same(a->shipping, b->shipping) ? CE3_SHIPPING : 0) | (same(a->device, b->device) ? CE3_DEVICE : 0);
}

static int popcount4(unsigned m) { return (m & 1) + ((m >> 1) & 1) + ((m >> 2) & 1) + ((m >> 3) & 1); }

static enum ce3_status classify(const struct ce3_params *p, const struct ce3_txn *d, const struct ce3_txn *t,
                                struct ce3_result *r)
{
    r->matched = ce3_shared(d, t);
    r->days_before = ce3_days_before(d->purchased_at, t->purchased_at);
    if (known(d->id) && same(d->id, t->id))
        return CE3_SAME_TRANSACTION;
    if (!same(d->credential, t->credential))
        return CE3_OTHER_CREDENTIAL;
    if (r->days_before <= 0)
        return CE3_NOT_EARLIER;
    if (r->days_before < p->min_days)
        return CE3_TOO_RECENT;
    if (r->days_before > p->max_days)
        return CE3_TOO_OLD;
    if (t->disputed)
        return CE3_DISPUTED;
    if (t->fraud_reported)
        return CE3_FRAUD_REPORTED;
    if (popcount4(r->matched) < 2)
        return CE3_TOO_FEW_ELEMENTS;
    if (!(r->matched & (CE3_IP | CE3_DEVICE)))
        return CE3_NO_IP_OR_DEVICE;
    return CE3_QUALIFIES;
}

void ce3_evaluate(const struct ce3_params *p, const struct ce3_txn *disputed, const struct ce3_txn *priors,
                  size_t n, struct ce3_result *results, struct ce3_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->known_elements = ce3_known(disputed);
    v->has_credential = known(disputed->credential);
    for (size_t i = 0; i < n; i++) {
        results[i].status = classify(p, disputed, &priors[i], &results[i]);
        v->counts[results[i].status]++;
    }
    v->qualifying = v->counts[CE3_QUALIFIES];
    v->qualifies = v->has_credential && p->min_prior > 0 && v->qualifying >= (size_t)p->min_prior;
}

const char *ce3_status_name(enum ce3_status s)
{
    switch (s) {
    case CE3_QUALIFIES: return "qualifies";
    case CE3_SAME_TRANSACTION: return "same_transaction";
    case CE3_OTHER_CREDENTIAL: return "other_credential";
    case CE3_NOT_EARLIER: return "not_earlier";
    case CE3_TOO_RECENT: return "too_recent";
    case CE3_TOO_OLD: return "too_old";
    case CE3_DISPUTED: return "disputed";
    case CE3_FRAUD_REPORTED: return "fraud_reported";
    case CE3_TOO_FEW_ELEMENTS: return "too_few_matching_elements";
    case CE3_NO_IP_OR_DEVICE: return "no_ip_or_device_match";
    }
    return "unknown";
}

const char *ce3_element_name(enum ce3_element e)
{
    switch (e) {
    case CE3_ACCOUNT: return "account_id";
    case CE3_IP: return "ipv4_address";
    case CE3_SHIPPING: return "shipping_address";
    case CE3_DEVICE: return "device_id";
    }
    return "unknown";
}
