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

-- The ingester appends tickers and upserts klines; it never deletes.
GRANT SELECT, INSERT, UPDATE ON ticker_24h, klines TO ingester;
-- Debezium snapshots (SELECT) and streams (REPLICATION, above) these tables only.
GRANT SELECT ON ticker_24h, klines TO debezium;
-- Grafana reads.
GRANT SELECT ON ticker_24h, klines TO grafana;

-- Filtered to the two market-data tables; the connector uses it as is
-- (publication.autocreate.mode=disabled), so Debezium needs no ownership of the tables.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_publication WHERE pubname = 'crypto_publication') THEN
        CREATE PUBLICATION crypto_publication FOR TABLE ticker_24h, klines;
    END IF;
END
$$;
