-- The daily partitions of ticker_24h (by close_time) and klines (by open_time), managed by the
-- project: PostgreSQL keeps a bounded window of days while Cassandra keeps its own, longer one.
--
-- The ingester calls these functions at start-up and every hour (crates/ingester/src/
-- partitions.rs): `ensure` creates the days it is about to write, `drop_expired` drops the days
-- that have left the window. A dropped partition writes nothing to the logical replication
-- stream, so Cassandra keeps its rows: deleting them would reach it as deletes. `held` tells
-- `cdc-consumer verify` which days PostgreSQL still holds, so that it compares only those.
--
-- The functions run as their owner, the administrator who runs sql/postgres (SECURITY DEFINER):
-- the ingester may call them but may not create or drop a table itself. So they only ever touch
-- the two market-data tables, create at most a bounded number of partitions per call, keep at
-- least a day, and run with a fixed search_path (no object of the caller's can stand in for a
-- catalog one). Each waits at most 5 s for a lock: a long reader (a Debezium snapshot) delays the
-- change to a later call rather than queueing every writer behind it.
-- Idempotent: safe to run on every `cargo xtask stack up`.

CREATE SCHEMA IF NOT EXISTS partitions;
REVOKE ALL ON SCHEMA partitions FROM PUBLIC;
GRANT USAGE ON SCHEMA partitions TO ingester, grafana;

-- The partition key of a managed table; any other name is refused.
CREATE OR REPLACE FUNCTION partitions.key_of(table_name text) RETURNS name
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    CASE table_name
        WHEN 'ticker_24h' THEN RETURN 'close_time';
        WHEN 'klines' THEN RETURN 'open_time';
        ELSE RAISE EXCEPTION 'partitions: % is not a partitioned market-data table', table_name
             USING ERRCODE = 'invalid_parameter_value';
    END CASE;
END
$$;

-- Every partition of a managed table and its range, read from the catalog's partition bounds
-- (never from the partition's name: a converted install's old table covers many days under a
-- name of its own). The bound is printed in UTC and parsed back.
CREATE OR REPLACE FUNCTION partitions.ranges(table_name text)
RETURNS TABLE (partition_name name, since timestamptz, until timestamptz)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
AS $$
    SELECT c.relname,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = format('public.%I', table_name)::regclass
       AND partitions.key_of(table_name) IS NOT NULL
$$;

-- Creates a partition for each UTC day from first_day to last_day (inclusive) that no partition
-- covers yet; returns the names created. At most 400 days per call (as long as Cassandra keeps
-- klines), so that a wrong argument cannot create thousands of tables. A partition is created
-- on its own and then attached, which locks the root against other DDL only (SHARE UPDATE
-- EXCLUSIVE), not against readers or writers as CREATE TABLE … PARTITION OF would; it copies
-- the root's columns, defaults and CHECK constraints, and attaching adds the root's indexes.
CREATE OR REPLACE FUNCTION partitions.ensure(table_name text, first_day date, last_day date)
RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '5s'
AS $$
DECLARE
    day date;
    day_start timestamptz;
    partition_name text;
BEGIN
    PERFORM partitions.key_of(table_name);
    IF first_day IS NULL OR last_day IS NULL OR last_day < first_day THEN
        RETURN;
    END IF;
    IF last_day - first_day + 1 > 400 THEN
        RAISE EXCEPTION 'partitions.ensure: % days of % (% to %) is more than 400 in one call',
            last_day - first_day + 1, table_name, first_day, last_day
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One call per table at a time: two would both see a day missing and both create it.
    PERFORM pg_advisory_xact_lock(hashtext('partitions.ensure.' || table_name));
    FOR day IN SELECT generate_series(first_day, last_day, INTERVAL '1 day')::date LOOP
        day_start := day::timestamp AT TIME ZONE 'UTC';
        CONTINUE WHEN EXISTS (
            SELECT FROM partitions.ranges(table_name) r
             WHERE r.since < day_start + INTERVAL '1 day' AND r.until > day_start);
        partition_name := table_name || '_p' || to_char(day, 'YYYYMMDD');
        EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       partition_name, table_name);
        -- The before image of an update or delete is logged by the partition, with the
        -- partition's replica identity, which PostgreSQL 15 does not take from the root.
        IF table_name = 'ticker_24h' THEN
            EXECUTE format('ALTER TABLE public.%I REPLICA IDENTITY FULL', partition_name);
        END IF;
        EXECUTE format('ALTER TABLE public.%I ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                       table_name, partition_name, day_start, day_start + INTERVAL '1 day');
        RETURN NEXT partition_name;
    END LOOP;
END
$$;

-- Drops every partition entirely older than `keep` before the table's newest row; returns the
-- names dropped. Measured from the newest row, not from now(): the simulator's clock can be
-- anywhere, and a pipeline that was down for a week must not find its whole window gone when it
-- restarts. Keeps at least a day.
--
-- A klines partition goes only once none of its candles can still change: a candle is filed by
-- its open time, and one still open (a monthly candle opened 20 days ago) or closed within the
-- window keeps its partition. Each partition is locked before that check, so no insert can slip
-- in between the check and the drop; the root is locked first, in the order inserts lock them,
-- so the two cannot deadlock (DROP locks the root anyway: it changes its partitions).
CREATE OR REPLACE FUNCTION partitions.drop_expired(table_name text, keep interval)
RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '5s'
AS $$
DECLARE
    key name := partitions.key_of(table_name);
    candidate record;
    newest timestamptz;
    cutoff timestamptz;
    still_open boolean;
BEGIN
    IF keep IS NULL OR keep < INTERVAL '1 day' THEN
        RAISE EXCEPTION 'partitions.drop_expired: keep % is less than a day', keep
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The newest row is in the newest partition that holds any (partitions made ahead of time
    -- are empty), and each partition finds its own maximum from an index for tickers.
    FOR candidate IN SELECT * FROM partitions.ranges(table_name) ORDER BY since DESC LOOP
        EXECUTE format('SELECT max(%I) FROM public.%I', key, candidate.partition_name) INTO newest;
        EXIT WHEN newest IS NOT NULL;
    END LOOP;
    IF newest IS NULL THEN
        RETURN;
    END IF;
    cutoff := newest - keep;
    FOR candidate IN
        SELECT * FROM partitions.ranges(table_name) WHERE until <= cutoff ORDER BY since
    LOOP
        IF table_name = 'klines' THEN
            -- Unlocked first, so that a partition kept anyway locks nothing.
            EXECUTE format('SELECT EXISTS (SELECT FROM public.%I WHERE close_time >= $1)',
                           candidate.partition_name)
               INTO still_open USING cutoff;
            CONTINUE WHEN still_open;
        END IF;
        EXECUTE format('LOCK TABLE public.%I IN ACCESS EXCLUSIVE MODE', table_name);
        EXECUTE format('LOCK TABLE public.%I IN ACCESS EXCLUSIVE MODE', candidate.partition_name);
        IF table_name = 'klines' THEN
            EXECUTE format('SELECT EXISTS (SELECT FROM public.%I WHERE close_time >= $1)',
                           candidate.partition_name)
               INTO still_open USING cutoff;
            CONTINUE WHEN still_open;
        END IF;
        EXECUTE format('DROP TABLE public.%I', candidate.partition_name);
        RETURN NEXT candidate.partition_name;
    END LOOP;
END
$$;

-- The time ranges whose rows PostgreSQL holds in full: its partitions' ranges, adjacent ones
-- merged, oldest first. Usually one range, from the oldest kept day on; a klines partition kept
-- for a candle still open leaves a range of its own before a gap. `verify` compares only rows
-- inside these ranges: outside them Cassandra holds rows PostgreSQL has dropped on purpose.
CREATE OR REPLACE FUNCTION partitions.held(table_name text)
RETURNS TABLE (since timestamptz, until timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT min(since), max(until)
      FROM (SELECT since, until, count(*) FILTER (WHERE starts) OVER (ORDER BY since) AS run
              FROM (SELECT since, until,
                           since IS DISTINCT FROM lag(until) OVER (ORDER BY since) AS starts
                      FROM partitions.ranges(table_name)) AS bounds) AS runs
     GROUP BY run
     ORDER BY 1
$$;

-- Functions are executable by everybody unless revoked: only the ingester manages partitions,
-- and only the read role (which verify uses) asks what is held.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA partitions FROM PUBLIC;
GRANT EXECUTE ON FUNCTION partitions.ensure(text, date, date) TO ingester;
GRANT EXECUTE ON FUNCTION partitions.drop_expired(text, interval) TO ingester;
GRANT EXECUTE ON FUNCTION partitions.held(text) TO grafana;
