-- Loads @n Disputes records for the sandbox merchant's staging environment
-- straight into recoupd's SQLite database (recoupd stopped), the way
-- bench/disputes.sh prepares the evidence-lookup runs:
--
--   sqlite3 var/recoup.db -cmd '.parameter set @n 1000000' \
--       -cmd ".parameter set @now $(date +%s%3N)" < bench/disputes_load.sql
--
-- Record i has charge id ch_i and invoice id in_i (unique), and shares its
-- payment credential with every 100000th record (10 per card), its account
-- likewise, its device with every 150000th, its e-mail with every 200000th
-- and its IP with every 250000th; purchases spread over the last 540 days,
-- one in fifty marked disputed. Every index exists while loading, as it does
-- in service.
PRAGMA synchronous = OFF;
PRAGMA cache_size = -262144;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < @n),
    base(b) AS (SELECT COALESCE(MAX(seq), 0) FROM dsp_records)
INSERT INTO dsp_records (seq, merchant_id, environment, record_id, content_hash, received_at, purchased_at,
    customer_email, email_norm, ipv4_address, psp, customer_id, invoice_id, charge_id, user_agent, device_id,
    account_id, payment_credential, amount, currency, product_description, disputed_at)
SELECT b + i, 'sandbox', 'staging', printf('rec_bench%015d', i), printf('bench%027d', i), @now,
    @now - ((i * 104729) % 46656000) * 1000,
    'customer' || (i % 200000) || '@example.com', 'customer' || (i % 200000) || '@example.com',
    printf('%d.%d.%d.%d', 10 + (i % 250000) / 65536, ((i % 250000) / 256) % 256, (i % 250000) % 256, 1 + i % 7),
    'stripe', 'cus_' || (i % 200000), 'in_' || i, 'ch_' || i,
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
    'dev_' || (i % 150000), 'acct_' || (i % 100000), 'card_fp_' || (i % 100000), 100 + i % 10000, 'EUR',
    'Monthly plan', CASE WHEN i % 50 = 0 THEN @now ELSE NULL END
FROM n, base;
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
ANALYZE;
SELECT count(*) FROM dsp_records WHERE merchant_id = 'sandbox' AND environment = 'staging';
