/* Versioned schema migrations for PostgreSQL, applied in order at start-up,
 * each in its own transaction, under an advisory lock. Never edit a
 * released migration: add a new one.
 *
 * The schema runs parallel to sqlite/migrations.c, table for table and
 * column for column, so that the two are easy to compare: money and times
 * are BIGINT (minor units, milliseconds since the epoch), identifiers are
 * TEXT COLLATE "C" (byte order, as SQLite sorts them), and the merchant id
 * leads every primary key and index, so that the tables can be distributed
 * by merchant. Paging cursors come from one sequence per table. */
#include "store/postgres/pg_store.h"

static const struct pg_migration core_migrations[] = {
    {"core-1",
     "CREATE TABLE merchants ("
     "  merchant_id TEXT COLLATE \"C\" PRIMARY KEY,"
     "  name TEXT NOT NULL,"
     "  created_at BIGINT NOT NULL"
     ");"
     "CREATE TABLE api_keys ("
     "  merchant_id TEXT COLLATE \"C\" NOT NULL REFERENCES merchants(merchant_id),"
     "  key_id TEXT COLLATE \"C\" NOT NULL UNIQUE,"
     "  service TEXT NOT NULL,"
     "  env TEXT NOT NULL,"
     "  label TEXT NOT NULL DEFAULT '',"
     "  secret_hash TEXT NOT NULL,"
     "  created_at BIGINT NOT NULL,"
     "  revoked_at BIGINT,"
     "  PRIMARY KEY (merchant_id, key_id)"
     ");"
     "CREATE TABLE idempotency_keys ("
     "  merchant_id TEXT COLLATE \"C\" NOT NULL,"
     "  scope TEXT COLLATE \"C\" NOT NULL,"
     "  idem_key TEXT COLLATE \"C\" NOT NULL,"
     "  request_hash TEXT NOT NULL,"
     "  status INTEGER NOT NULL,"
     "  body TEXT NOT NULL,"
     "  created_at BIGINT NOT NULL,"
     "  PRIMARY KEY (merchant_id, scope, idem_key)"
     ");"
     "CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);"},
};

static const struct pg_migration gateway_migrations[] = {
    {"gateway-1",
     "CREATE SEQUENCE gw_payments_seq;"
     "CREATE TABLE gw_payments ("
     "  merchant_id TEXT COLLATE \"C\" NOT NULL REFERENCES merchants(merchant_id),"
     "  payment_id TEXT COLLATE \"C\" NOT NULL,"
     "  seq BIGINT NOT NULL DEFAULT nextval('gw_payments_seq'),"
     "  amount BIGINT NOT NULL,"
     "  currency TEXT NOT NULL,"
     "  amount_major BIGINT NOT NULL,"
     "  amount_frac4 INTEGER NOT NULL,"
     "  method TEXT NOT NULL CHECK (method IN ('credit_card', 'mbway')),"
     "  status TEXT NOT NULL CHECK (status IN ('success', 'error', 'settled')),"
     "  decline_code TEXT,"
     "  decline_message TEXT,"
     "  network_code TEXT,"
     "  created_at BIGINT NOT NULL,"
     "  settled_at BIGINT,"
     "  settled_amount BIGINT,"
     "  refunded BIGINT NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),"
     "  payment_method_id TEXT,"
     "  card_sealed TEXT,"
     "  card_masked TEXT,"
     "  card_brand TEXT,"
     "  card_name TEXT,"
     "  exp_month TEXT,"
     "  exp_year TEXT,"
     "  phone TEXT,"
     "  PRIMARY KEY (merchant_id, payment_id)"
     ");"
     "ALTER SEQUENCE gw_payments_seq OWNED BY gw_payments.seq;"
     "CREATE UNIQUE INDEX gw_payments_seq_idx ON gw_payments(merchant_id, seq);"
     "CREATE INDEX gw_payments_status ON gw_payments(merchant_id, status, seq);"
     "CREATE INDEX gw_payments_created ON gw_payments(merchant_id, created_at);"
     "CREATE INDEX gw_payments_settled ON gw_payments(merchant_id, settled_at) WHERE settled_at IS NOT NULL;"
     "CREATE INDEX gw_payments_unsettled ON gw_payments(created_at) WHERE status = 'success';"
     "CREATE SEQUENCE gw_refunds_seq;"
     "CREATE TABLE gw_refunds ("
     "  merchant_id TEXT COLLATE \"C\" NOT NULL,"
     "  refund_id TEXT COLLATE \"C\" NOT NULL,"
     "  payment_id TEXT COLLATE \"C\" NOT NULL,"
     "  seq BIGINT NOT NULL DEFAULT nextval('gw_refunds_seq'),"
     "  amount BIGINT NOT NULL CHECK (amount > 0),"
     "  currency TEXT NOT NULL,"
     "  created_at BIGINT NOT NULL,"
     "  PRIMARY KEY (merchant_id, refund_id),"
     "  FOREIGN KEY (merchant_id, payment_id) REFERENCES gw_payments(merchant_id, payment_id)"
     ");"
     "ALTER SEQUENCE gw_refunds_seq OWNED BY gw_refunds.seq;"
     "CREATE UNIQUE INDEX gw_refunds_seq_idx ON gw_refunds(merchant_id, seq);"
     "CREATE INDEX gw_refunds_payment ON gw_refunds(merchant_id, payment_id, seq);"
     "CREATE TABLE gw_payment_methods ("
     "  merchant_id TEXT COLLATE \"C\" NOT NULL REFERENCES merchants(merchant_id),"
     "  payment_method_id TEXT COLLATE \"C\" NOT NULL,"
     "  type TEXT NOT NULL,"
     "  brand TEXT NOT NULL,"
     "  bin TEXT NOT NULL,"
     "  last4 TEXT NOT NULL,"
     "  masked TEXT NOT NULL,"
     "  name TEXT NOT NULL,"
     "  exp_month TEXT NOT NULL,"
     "  exp_year TEXT NOT NULL,"
     "  sealed TEXT NOT NULL,"
     "  created_at BIGINT NOT NULL,"
     "  PRIMARY KEY (merchant_id, payment_method_id)"
     ");"},
};

#define SET(list) {list, sizeof list / sizeof list[0]}
/* Applied in this order: later domains may refer to earlier ones. */
const struct pg_migration_set pg_migration_sets[] = {
    SET(core_migrations),
    SET(gateway_migrations),
};
const size_t pg_migration_sets_count = sizeof pg_migration_sets / sizeof pg_migration_sets[0];
