-- Least-privilege roles and the publication Debezium reads.
--
-- Roles are created without passwords here; `cargo xtask stack up` (and the compose init
-- script) set them from configuration, so no secret lives in this file. pg_hba allows
-- password (SCRAM) authentication only: no `trust`.
-- Idempotent: safe to run on every `cargo xtask stack up`.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ingester') THEN
        CREATE ROLE ingester LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'debezium') THEN
        CREATE ROLE debezium LOGIN REPLICATION;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'grafana') THEN
        CREATE ROLE grafana LOGIN;
    END IF;
END
$$;

-- Nobody but the owner creates objects in public.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO ingester, debezium, grafana;

-- The ingester gets only what its statements use (crates/ingester/src/store.rs):
-- - ticker_24h: INSERT, and SELECT on the natural key's columns only, which ON CONFLICT
--   (symbol, close_time, last_trade_id) DO NOTHING reads; it never reads, updates or deletes
--   a ticker;
-- - klines: SELECT (where each series resumes, and the upsert's "changed?" comparison), INSERT,
--   and UPDATE of the values only: a candle's key (symbol, interval, open_time) never changes.
-- GRANT only adds, and earlier versions of this file granted more; so what is not used is
-- revoked first (idempotent), all in one statement, so that a running ingester never sees its
-- privileges missing half-way through.
DO $$
BEGIN
    REVOKE ALL ON ticker_24h, klines FROM ingester;
    GRANT INSERT ON ticker_24h TO ingester;
    GRANT SELECT (symbol, close_time, last_trade_id) ON ticker_24h TO ingester;
    GRANT SELECT, INSERT ON klines TO ingester;
    GRANT UPDATE (close_time, trade_count, open_price, high_price, low_price, close_price,
                  volume, quote_volume, taker_buy_base_volume, taker_buy_quote_volume,
                  updated_at)
        ON klines TO ingester;
END
$$;
-- Grants are on the partitioned roots: rows reached through a root are checked against the
-- root's privileges only, so no partition needs a grant of its own.
-- Debezium snapshots (SELECT) and streams (REPLICATION, above) these tables only.
GRANT SELECT ON ticker_24h, klines TO debezium;
-- Grafana reads.
GRANT SELECT ON ticker_24h, klines TO grafana;

-- Filtered to the two market-data tables; the connector uses it as is
-- (publication.autocreate.mode=disabled), so Debezium needs no ownership of the tables.
-- publish_via_partition_root: a change to any partition, present or future, is published as a
-- change of its root, so Debezium sees `public.ticker_24h` and `public.klines` (its
-- table.include.list and the topic names stay those of the roots) and never a partition's name.
-- An install whose publication predates partitioning was switched over by 01-tables.sql, in the
-- same transaction as the conversion; this repairs any publication that lists other tables
-- (a partition listed on its own would be published under its own name) or lacks the setting.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_publication WHERE pubname = 'crypto_publication') THEN
        CREATE PUBLICATION crypto_publication FOR TABLE ticker_24h, klines
            WITH (publish_via_partition_root = true);
    ELSIF (SELECT array_agg(pr.prrelid ORDER BY pr.prrelid)
             FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
            WHERE p.pubname = 'crypto_publication')
          IS DISTINCT FROM
          (SELECT array_agg(oid ORDER BY oid) FROM pg_class
            WHERE oid IN ('ticker_24h'::regclass, 'klines'::regclass))
       OR NOT (SELECT pubviaroot FROM pg_publication WHERE pubname = 'crypto_publication') THEN
        ALTER PUBLICATION crypto_publication SET TABLE ticker_24h, klines;
        ALTER PUBLICATION crypto_publication SET (publish_via_partition_root = true);
    END IF;
END
$$;
