-- The PostgreSQL schema as the version before partitioning made it (sql/postgres/01-tables.sql
-- and 02-roles-and-publication.sql of that version, verbatim below): plain tables, a ticker key
-- of its own id, a publication of the plain tables. Tests build an earlier install with it and
-- run today's sql/postgres over it, as `stack up` does on an upgraded machine. Frozen: never
-- change it to follow sql/postgres.

-- Market-data tables the ingester writes and Debezium replicates.
--
-- Every Binance price and quantity is NUMERIC: Binance sends decimal strings with up to 8
-- fraction digits, and they must arrive in Cassandra digit for digit, never through a float.
-- NUMERIC(38,8) holds 30 integer digits, far beyond any price or 24h volume.
-- Idempotent: safe to run on every `cargo xtask stack up`.

-- One row per symbol per poll of GET /api/v3/ticker/24hr (type=FULL), appended.
CREATE TABLE IF NOT EXISTS ticker_24h (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    symbol               TEXT           NOT NULL,
    price_change         NUMERIC(38, 8),
    price_change_percent NUMERIC(38, 8),
    weighted_avg_price   NUMERIC(38, 8),
    prev_close_price     NUMERIC(38, 8),
    last_price           NUMERIC(38, 8),
    last_qty             NUMERIC(38, 8),
    bid_price            NUMERIC(38, 8),
    bid_qty              NUMERIC(38, 8),
    ask_price            NUMERIC(38, 8),
    ask_qty              NUMERIC(38, 8),
    open_price           NUMERIC(38, 8),
    high_price           NUMERIC(38, 8),
    low_price            NUMERIC(38, 8),
    volume               NUMERIC(38, 8),
    quote_volume         NUMERIC(38, 8),
    open_time            TIMESTAMPTZ,
    close_time           TIMESTAMPTZ    NOT NULL,   -- the exchange's statistics window end
    first_trade_id       BIGINT,
    last_trade_id        BIGINT,
    trade_count          BIGINT,
    fetched_at           TIMESTAMPTZ    NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS ticker_24h_symbol_close_time ON ticker_24h (symbol, close_time DESC);
-- Cassandra keys ticker rows by (symbol, day, close_time, id); a delete's before image must carry
-- all of them, not just the id. Costs WAL only on UPDATE and DELETE, which are rare here.
ALTER TABLE ticker_24h REPLICA IDENTITY FULL;

-- The natural key of a ticker. Two polls may share a close_time (Binance computes the rolling
-- window at most once per moment, and a quiet pair's statistics do not move), so close_time
-- alone is not a ticker's identity; but a 24h ticker of the same symbol, with the same close
-- time and the same last trade id, IS the same ticker: nothing traded and no time passed between
-- the two replies. The ingester inserts ON CONFLICT ON this key DO NOTHING, so a write retried
-- after an ambiguous failure (a timeout or a lost connection after PostgreSQL had committed)
-- adds nothing. Rows whose last_trade_id is NULL (never written by the ingester) are not
-- constrained: NULLs are distinct.
--
-- An existing install may already hold duplicates (retried writes before this key existed).
-- They are deleted, keeping the first copy (lowest id), before the key is added, once: the
-- deletes reach Cassandra through Debezium like any other, so both stores lose the same
-- copies. Decided over refusing to start (the operator would have to do the same by hand) and
-- over skipping the key (the guarantee would then silently not hold).
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM pg_constraint
         WHERE conrelid = 'ticker_24h'::regclass AND conname = 'ticker_24h_natural_key'
    ) THEN
        DELETE FROM ticker_24h later USING ticker_24h earlier
         WHERE later.symbol = earlier.symbol
           AND later.close_time = earlier.close_time
           AND later.last_trade_id = earlier.last_trade_id
           AND later.id > earlier.id;
        ALTER TABLE ticker_24h ADD CONSTRAINT ticker_24h_natural_key
            UNIQUE (symbol, close_time, last_trade_id);
    END IF;
END
$$;

-- One row per candle from GET /api/v3/klines, all 12 fields; the open candle changes until it
-- closes, so the ingester upserts on the natural key.
CREATE TABLE IF NOT EXISTS klines (
    symbol                 TEXT           NOT NULL,
    interval               TEXT           NOT NULL,
    open_time              TIMESTAMPTZ    NOT NULL,
    open_price             NUMERIC(38, 8) NOT NULL,
    high_price             NUMERIC(38, 8) NOT NULL,
    low_price              NUMERIC(38, 8) NOT NULL,
    close_price            NUMERIC(38, 8) NOT NULL,
    volume                 NUMERIC(38, 8) NOT NULL,
    close_time             TIMESTAMPTZ    NOT NULL,
    quote_volume           NUMERIC(38, 8) NOT NULL,
    trade_count            BIGINT         NOT NULL,
    taker_buy_base_volume  NUMERIC(38, 8) NOT NULL,
    taker_buy_quote_volume NUMERIC(38, 8) NOT NULL,
    unused_field           NUMERIC(38, 8),             -- Binance's 12th field, documented as "ignore"
    updated_at             TIMESTAMPTZ    NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, interval, open_time)
);

-- Values PostgreSQL accepts but the pipeline cannot carry are refused at the door: Debezium's
-- precise decimal mode has no NaN (the pinned Debezium sends NULL in its place, so Cassandra
-- would hold NULL where PostgreSQL holds NaN, a difference `verify` reports for ever; a connector
-- that fails on it instead stops), and an infinite timestamp is no instant Cassandra's
-- `timestamp` can hold. One constraint per column,
-- named <table>_<column>_not_nan / _finite, so the error says which value was refused. Binance
-- never sends either; the constraints guard against any other writer.
--
-- Added NOT VALID and then validated: on an existing install with such a row already stored
-- (its connector stopped since), new rows are refused at once, and every run warns, naming
-- the constraint, until the old row is repaired and the constraint validates, instead of
-- failing `stack up`.
DO $$
DECLARE
    target record;
    name   text;
BEGIN
    FOR target IN
        SELECT c.relname AS table_name, a.attname AS column_name,
               format_type(a.atttypid, NULL) AS column_type
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.oid IN ('ticker_24h'::regclass, 'klines'::regclass)
           AND a.attnum > 0 AND NOT a.attisdropped
           AND format_type(a.atttypid, NULL) IN ('numeric', 'timestamp with time zone')
    LOOP
        name := target.table_name || '_' || target.column_name
                || CASE target.column_type WHEN 'numeric' THEN '_not_nan' ELSE '_finite' END;
        IF NOT EXISTS (
            SELECT FROM pg_constraint
             WHERE conrelid = target.table_name::regclass AND conname = name
        ) THEN
            EXECUTE format(
                'ALTER TABLE %I ADD CONSTRAINT %I CHECK (%s) NOT VALID',
                target.table_name, name,
                CASE target.column_type
                    WHEN 'numeric' THEN format('%I <> ''NaN''::numeric', target.column_name)
                    ELSE format('isfinite(%I)', target.column_name)
                END);
        END IF;
        -- Tried again at every run until it holds, so the warning repeats until the rows
        -- are repaired.
        IF EXISTS (
            SELECT FROM pg_constraint
             WHERE conrelid = target.table_name::regclass AND conname = name
               AND NOT convalidated
        ) THEN
            BEGIN
                EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', target.table_name, name);
            EXCEPTION WHEN check_violation THEN
                RAISE WARNING '% holds rows that % refuses; new ones are refused already. Repair them and the next run validates it',
                    target.table_name, name;
            END;
        END IF;
    END LOOP;
END
$$;

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
