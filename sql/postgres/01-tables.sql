-- Market-data tables the ingester writes and Debezium replicates.
--
-- Every Binance price and quantity is NUMERIC: Binance sends decimal strings with up to 8
-- fraction digits, and they must arrive in Cassandra digit for digit, never through a float.
-- NUMERIC(38,8) holds 30 integer digits, far beyond any price or 24h volume.
--
-- Both tables are partitioned by UTC day of their time column, so that PostgreSQL can keep a
-- bounded window (the ingester's --pg-retention-days) while Cassandra keeps its own, longer one:
-- an old day goes by DROPping its partition, which writes nothing to the logical replication
-- stream, whereas DELETE would reach Cassandra as deletes and TRUNCATE as a truncate.
-- 04-partitions.sql creates and drops the partitions; this file makes the partitioned roots.
-- Idempotent: safe to run on every `cargo xtask stack up`.

-- Everything up to the publication change happens in one transaction: an install made before
-- partitioning is converted in place (below), and a change committed while only half of it was
-- done could land in a partition the publication does not yet publish, and never reach Kafka.
BEGIN;

-- An install made before partitioning has plain tables. They are renamed aside here, before
-- the partitioned roots take their names, and attached to them as one partition each after,
-- without copying a row: their rows, ids and constraints stay as they are, and no change event
-- is written (renaming and attaching are catalog changes, which logical decoding does not send).
-- The indexes are renamed too (index names are per schema, and the roots' indexes take the old
-- names), and so is the identity's sequence, which keeps counting until the root's identity
-- continues past it.
DO $$
DECLARE
    plain text;
    index_name text;
BEGIN
    FOR plain IN
        SELECT relname FROM pg_class
         WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'
           AND relname IN ('ticker_24h', 'klines')
    LOOP
        EXECUTE format('LOCK TABLE public.%I IN ACCESS EXCLUSIVE MODE', plain);
        EXECUTE format('ALTER TABLE public.%I RENAME TO %I', plain, plain || '_legacy');
        FOR index_name IN
            SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid = format('public.%I', plain || '_legacy')::regclass
               AND c.relname LIKE plain || '\_%'
        LOOP
            EXECUTE format('ALTER INDEX public.%I RENAME TO %I', index_name,
                           plain || '_legacy' || substr(index_name, length(plain) + 1));
        END LOOP;
        IF to_regclass(format('public.%I', plain || '_id_seq')) IS NOT NULL THEN
            EXECUTE format('ALTER SEQUENCE public.%I RENAME TO %I',
                           plain || '_id_seq', plain || '_legacy_id_seq');
        END IF;
    END LOOP;
END
$$;

-- One row per symbol per poll of GET /api/v3/ticker/24hr (type=FULL), appended. The primary key
-- must hold the partition key; close_time comes first so that the newest row of a partition is
-- one index probe away (04-partitions.sql measures the window from it).
CREATE TABLE IF NOT EXISTS ticker_24h (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY,
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
    fetched_at           TIMESTAMPTZ    NOT NULL DEFAULT now(),
    PRIMARY KEY (close_time, id)
) PARTITION BY RANGE (close_time);
-- Cassandra keys ticker rows by (symbol, day, close_time, id); a delete's before image must carry
-- all of them, not just the key. Costs WAL only on UPDATE and DELETE, which are rare here.
-- PostgreSQL 15 does not pass a root's replica identity on to its partitions, and the WAL is
-- written by the partition: 04-partitions.sql sets it on every partition it creates.
ALTER TABLE ticker_24h REPLICA IDENTITY FULL;

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
) PARTITION BY RANGE (open_time);

-- The plain tables renamed aside above become one partition each, covering their rows' UTC days
-- (rounded out to whole days, so the daily partitions created later fit beside them). Attaching
-- checks every row against the range once (under lock, a scan: the price of converting in
-- place) and reuses the indexes that match the root's; the ticker key gains close_time, so that
-- one index is built. The root's identity continues past every id the old one gave out, so no
-- id is given twice. An empty old table has nothing to keep and is dropped. The root gets the
-- old table's privileges, table and column ones (02 then sets them exactly), so that the running
-- ingester's next write is allowed; and the publication publishes the roots: through them, every
-- partition, old and new (02 says why through them). All before the COMMIT below.
DO $$
DECLARE
    legacy record;
    bounds record;
    next_id bigint;
    granted record;
    converted boolean := false;
BEGIN
    FOR legacy IN
        SELECT c.relname AS name, root.relname AS root,
               CASE root.relname WHEN 'ticker_24h' THEN 'close_time' ELSE 'open_time' END AS key
          FROM pg_class c
          JOIN pg_class root ON root.relname || '_legacy' = c.relname
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND NOT c.relispartition
           AND root.relnamespace = 'public'::regnamespace AND root.relkind = 'p'
           AND root.relname IN ('ticker_24h', 'klines')
    LOOP
        EXECUTE format('LOCK TABLE public.%I IN ACCESS EXCLUSIVE MODE', legacy.name);
        FOR granted IN
            SELECT acl.privilege_type, NULL::name AS column_name, acl.grantee
              FROM pg_class c, aclexplode(c.relacl) acl
             WHERE c.oid = format('public.%I', legacy.name)::regclass AND acl.grantee <> c.relowner
            UNION ALL
            SELECT acl.privilege_type, a.attname, acl.grantee
              FROM pg_attribute a, aclexplode(a.attacl) acl
             WHERE a.attrelid = format('public.%I', legacy.name)::regclass AND a.attnum > 0
        LOOP
            EXECUTE format('GRANT %s %s ON public.%I TO %s', granted.privilege_type,
                           CASE WHEN granted.column_name IS NULL THEN ''
                                ELSE format('(%I)', granted.column_name) END,
                           legacy.root,
                           CASE WHEN granted.grantee = 0 THEN 'PUBLIC'
                                ELSE quote_ident(granted.grantee::regrole::text) END);
        END LOOP;
        IF legacy.root = 'ticker_24h' THEN
            EXECUTE 'SELECT greatest(
                         (SELECT max(id) FROM public.ticker_24h_legacy),
                         (SELECT pg_sequence_last_value(seq)
                            FROM (SELECT pg_get_serial_sequence(''public.ticker_24h_legacy'', ''id'')::regclass AS seq) s),
                         0) + 1'
               INTO next_id;
            EXECUTE format('ALTER TABLE public.ticker_24h ALTER COLUMN id RESTART WITH %s', next_id);
            ALTER TABLE public.ticker_24h_legacy ALTER COLUMN id DROP IDENTITY IF EXISTS;
            -- The old key (id) cannot stay: a partition has the root's primary key.
            ALTER TABLE public.ticker_24h_legacy DROP CONSTRAINT IF EXISTS ticker_24h_legacy_pkey;
            ALTER TABLE public.ticker_24h_legacy REPLICA IDENTITY FULL;
        END IF;
        EXECUTE format(
            'SELECT date_trunc(''day'', min(%1$I), ''UTC'') AS since,
                    date_trunc(''day'', max(%1$I), ''UTC'') + INTERVAL ''1 day'' AS until
               FROM public.%2$I', legacy.key, legacy.name)
           INTO bounds;
        IF bounds.since IS NULL THEN
            EXECUTE format('DROP TABLE public.%I', legacy.name);
        ELSE
            EXECUTE format('ALTER TABLE public.%I ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                           legacy.root, legacy.name, bounds.since, bounds.until);
        END IF;
        converted := true;
    END LOOP;
    IF converted AND EXISTS (SELECT FROM pg_publication WHERE pubname = 'crypto_publication') THEN
        ALTER PUBLICATION crypto_publication SET TABLE public.ticker_24h, public.klines;
        ALTER PUBLICATION crypto_publication SET (publish_via_partition_root = true);
    END IF;
END
$$;

COMMIT;

-- The natural key of a ticker. Two polls may share a close_time (Binance computes the rolling
-- window at most once per moment, and a quiet pair's statistics do not move), so close_time
-- alone is not a ticker's identity; but a 24h ticker of the same symbol, with the same close
-- time and the same last trade id, IS the same ticker: nothing traded and no time passed between
-- the two replies. The ingester inserts ON CONFLICT ON this key DO NOTHING, so a write retried
-- after an ambiguous failure (a timeout or a lost connection after PostgreSQL had committed)
-- adds nothing. Rows whose last_trade_id is NULL (never written by the ingester) are not
-- constrained: NULLs are distinct. It holds the partition key, as a partitioned table's unique
-- constraints must.
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

-- A ticker is found by symbol and time through the natural key's index (symbol, close_time,
-- last_trade_id), scanned either way. Earlier versions also had an index on (symbol,
-- close_time DESC): the same lookups, paid for in table bytes and WAL by every insert (`cargo
-- xtask bench disk`). Dropped once the natural key is there to serve them.
DROP INDEX IF EXISTS ticker_24h_symbol_close_time;

-- Values PostgreSQL accepts but the pipeline cannot carry are refused at the door: Debezium's
-- precise decimal mode has no NaN (the pinned Debezium sends NULL in its place, so Cassandra
-- would hold NULL where PostgreSQL holds NaN, a difference `verify` reports for ever; a connector
-- that fails on it instead stops), and an infinite timestamp is no instant Cassandra's
-- `timestamp` can hold. One constraint per column,
-- named <table>_<column>_not_nan / _finite, so the error says which value was refused. Binance
-- never sends either; the constraints guard against any other writer.
-- Declared on the partitioned roots, they hold in every partition: added to the existing ones
-- with the root's, and copied into each new one (04-partitions.sql) before it is attached.
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
