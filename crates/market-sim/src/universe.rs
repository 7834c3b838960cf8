//! The simulated exchange's symbols: a few well-known pairs with realistic prices and volumes,
//! then as many synthetic `SYM0001USDT`, `SYM0002USDT`, … as configured, each with parameters
//! drawn from the seed. Only parameters are kept per symbol; market data is computed on demand.

use std::collections::HashMap;

use crate::price::{PriceModel, hash3};

/// Well-known pairs: (base, quote, reference price, daily quote volume). PEPE and SHIB give
/// eight-decimal prices and volumes above 10^11; the BTC-quoted pairs are there so that
/// clients filtering on the quote asset have something to filter out.
const KNOWN_PAIRS: [(&str, &str, f64, f64); 16] = [
    ("BTC", "USDT", 60_000.0, 2.0e9),
    ("ETH", "USDT", 3_000.0, 1.0e9),
    ("BNB", "USDT", 600.0, 2.0e8),
    ("SOL", "USDT", 150.0, 5.0e8),
    ("XRP", "USDT", 0.6, 3.0e8),
    ("DOGE", "USDT", 0.15, 2.0e8),
    ("ADA", "USDT", 0.45, 1.0e8),
    ("TRX", "USDT", 0.12, 5.0e7),
    ("AVAX", "USDT", 35.0, 8.0e7),
    ("SHIB", "USDT", 0.000_025, 1.0e8),
    ("LINK", "USDT", 15.0, 8.0e7),
    ("DOT", "USDT", 7.0, 5.0e7),
    ("LTC", "USDT", 80.0, 5.0e7),
    ("PEPE", "USDT", 0.000_012_34, 3.0e8),
    ("ETH", "BTC", 0.05, 2.0e3),
    ("BNB", "BTC", 0.01, 3.0e2),
];
/// Every this-many synthetic symbols one is in status BREAK, so clients that filter on
/// `TRADING` are exercised.
const BREAK_EVERY: usize = 50;

/// One listed symbol.
#[derive(Debug, Clone)]
pub struct Symbol {
    pub name: String,
    pub base_asset: String,
    pub quote_asset: String,
    pub trading: bool,
    pub model: PriceModel,
}

/// All listed symbols, in listing order, with lookup by name.
#[derive(Debug)]
pub struct Universe {
    symbols: Vec<Symbol>,
    by_name: HashMap<String, usize>,
}

impl Universe {
    /// `count` symbols whose markets are determined by `seed`.
    pub fn new(count: usize, seed: u64) -> Self {
        let symbols: Vec<Symbol> = (0..count)
            .map(|position| symbol_at(position, seed))
            .collect();
        let by_name = symbols
            .iter()
            .enumerate()
            .map(|(position, symbol)| (symbol.name.clone(), position))
            .collect();
        Universe { symbols, by_name }
    }

    pub fn get(&self, name: &str) -> Option<&Symbol> {
        self.by_name
            .get(name)
            .map(|&position| &self.symbols[position])
    }

    pub fn all(&self) -> &[Symbol] {
        &self.symbols
    }
}

fn symbol_at(position: usize, seed: u64) -> Symbol {
    let draws = hash3(seed, position as u64, 0x73796d);
    let unit = |shift: u32| f64::from((draws >> shift) as u16) / 65_536.0;
    let volatility = 0.0005 + 0.0015 * unit(48);
    let symbol_seed = hash3(seed, position as u64, 1);
    match KNOWN_PAIRS.get(position) {
        Some(&(base, quote, price, volume)) => Symbol {
            name: format!("{base}{quote}"),
            base_asset: base.to_owned(),
            quote_asset: quote.to_owned(),
            trading: true,
            model: PriceModel::new(symbol_seed, price, volume, volatility),
        },
        None => {
            let number = position - KNOWN_PAIRS.len() + 1;
            let base = format!("SYM{number:04}");
            Symbol {
                name: format!("{base}USDT"),
                base_asset: base,
                quote_asset: "USDT".to_owned(),
                trading: number % BREAK_EVERY != 0,
                model: PriceModel::new(
                    symbol_seed,
                    10_f64.powf(-5.0 + 9.0 * unit(0)),
                    10_f64.powf(5.5 + 3.0 * unit(16)),
                    volatility,
                ),
            }
        }
    }
}
