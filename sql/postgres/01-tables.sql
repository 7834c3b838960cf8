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
