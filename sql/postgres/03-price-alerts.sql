-- Price thresholds Grafana alerts on (grafana/provisioning/alerting/price-alerts.json): one row
-- per symbol, direction and price. Operators add and remove rows as the superuser, e.g.
--   INSERT INTO price_alerts VALUES ('BTCUSDT', 'above', 120000);
-- The rule fires for each row whose symbol's latest last_price is beyond its threshold.
-- Not in crypto_publication: thresholds are configuration, not market data to replicate.
-- Idempotent: safe to run on every `cargo xtask stack up`.

CREATE TABLE IF NOT EXISTS price_alerts (
    symbol    TEXT           NOT NULL,
    direction TEXT           NOT NULL CHECK (direction IN ('above', 'below')),
    threshold NUMERIC(38, 8) NOT NULL CHECK (threshold > 0),
    PRIMARY KEY (symbol, direction, threshold)
);

GRANT SELECT ON price_alerts TO grafana;
