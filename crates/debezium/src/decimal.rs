//! An exact decimal of any size: the unscaled integer as big-endian two's-complement bytes — as
//! Debezium (Java's `BigInteger.toByteArray`) and Cassandra's `decimal` both encode it — and a
//! scale. Keeping Debezium's bytes as they are means no conversion and no loss on the way to
//! Cassandra; formatting is exact for any length, and fast for the usual ≤ 16 bytes.
//!
//! Text is made only here, from the bytes and the scale (with num-bigint beyond 128 bits), never
//! through `rust_decimal`, whose 96-bit mantissa holds 28 digits: `NUMERIC(38,8)` at full width
//! and an unconstrained `NUMERIC` have more. `Display` and `Debug` both show the exact value.

use std::fmt;
use std::str::FromStr;

use num_bigint::{BigInt, Sign};

/// Never empty: there is no zero-length two's-complement integer (Java writes zero as `00`).
#[derive(Clone, PartialEq, Eq)]
pub struct ExactDecimal {
    unscaled_be_bytes: Vec<u8>,
    scale: i32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error(
        "an empty byte string is not a decimal's unscaled integer (Debezium writes zero as one byte, AA==)"
    )]
    Empty,
    #[error("{0:?} is not a plain decimal number (optional sign, digits, at most one dot)")]
    Syntax(String),
    #[error(
        "{0} does not fit rust_decimal (an unscaled value of at most 96 bits, a scale of at most 28)"
    )]
    OutOfRange(String),
}

impl ExactDecimal {
    /// `unscaled_be_bytes` is a big-endian two's-complement integer of at least one byte.
    /// Empty bytes are an error rather than zero: passed on, they would be a zero-length varint
    /// in Cassandra, which no CAST or driver reads back.
    pub fn new(unscaled_be_bytes: Vec<u8>, scale: i32) -> Result<Self, DecimalError> {
        if unscaled_be_bytes.is_empty() {
            return Err(DecimalError::Empty);
        }
        Ok(Self {
            unscaled_be_bytes,
            scale,
        })
    }

    /// Parses a plain decimal string such as `-103793.97000000` (Debezium's `string` mode); the
    /// scale is the number of fraction digits. Returns `None` unless it is an optional sign,
    /// digits, and at most one dot.
    pub fn parse(text: &str) -> Option<Self> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (integer, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if integer.is_empty() && fraction.is_empty()
            || !all_digits(integer)
            || !all_digits(fraction)
        {
            return None;
        }
        let magnitude: BigInt = format!("{integer}{fraction}").parse().ok()?;
        let unscaled = if negative { -magnitude } else { magnitude };
        // `to_signed_bytes_be` writes zero as one byte, so this is never empty.
        Self::new(
            unscaled.to_signed_bytes_be(),
            i32::try_from(fraction.len()).ok()?,
        )
        .ok()
    }

    pub fn unscaled_be_bytes(&self) -> &[u8] {
        &self.unscaled_be_bytes
    }

    pub fn scale(&self) -> i32 {
        self.scale
    }

    /// The unscaled integer, when it fits 128 bits (any `NUMERIC(38, s)` does).
    pub fn unscaled_i128(&self) -> Option<i128> {
        let bytes = without_redundant_sign_bytes(&self.unscaled_be_bytes);
        if bytes.len() > 16 {
            return None;
        }
        let sign_extension = match bytes.first() {
            Some(first) if *first >= 0x80 => -1,
            _ => 0,
        };
        Some(bytes.iter().fold(sign_extension, |value: i128, byte| {
            (value << 8) | i128::from(*byte)
        }))
    }

    /// The same value as a `rust_decimal::Decimal`, when it fits one exactly.
    pub fn to_rust_decimal(&self) -> Result<rust_decimal::Decimal, DecimalError> {
        let out_of_range = || DecimalError::OutOfRange(self.to_string());
        let unscaled = self.unscaled_i128().ok_or_else(out_of_range)?;
        let (unscaled, scale) = match u32::try_from(self.scale) {
            Ok(scale) => (unscaled, scale),
            // A negative scale multiplies by a power of ten.
            Err(_) => (
                10i128
                    .checked_pow(self.scale.unsigned_abs())
                    .and_then(|factor| unscaled.checked_mul(factor))
                    .ok_or_else(out_of_range)?,
                0,
            ),
        };
        rust_decimal::Decimal::try_from_i128_with_scale(unscaled, scale).map_err(|_| out_of_range())
    }

    /// The sign and the decimal digits of the unscaled integer's magnitude.
    fn sign_and_digits(&self) -> (bool, String) {
        match self.unscaled_i128() {
            Some(unscaled) => (unscaled < 0, unscaled.unsigned_abs().to_string()),
            None => {
                let unscaled = BigInt::from_signed_bytes_be(&self.unscaled_be_bytes);
                (
                    unscaled.sign() == Sign::Minus,
                    unscaled.magnitude().to_string(),
                )
            }
        }
    }
}

impl FromStr for ExactDecimal {
    type Err = DecimalError;

    /// As [`ExactDecimal::parse`].
    fn from_str(text: &str) -> Result<Self, DecimalError> {
        Self::parse(text).ok_or_else(|| DecimalError::Syntax(text.to_owned()))
    }
}

/// Exactly `scale` fraction digits (`103793.97000000` for scale 8); a negative scale multiplies
/// by a power of ten.
impl fmt::Display for ExactDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (negative, digits) = self.sign_and_digits();
        if negative {
            f.write_str("-")?;
        }
        let Ok(scale) = usize::try_from(self.scale) else {
            f.write_str(&digits)?;
            return match digits.as_str() {
                "0" => Ok(()),
                _ => write_zeros(f, self.scale.unsigned_abs() as usize),
            };
        };
        match digits.len().checked_sub(scale) {
            Some(0) | None => {
                f.write_str("0")?;
                if scale > 0 {
                    f.write_str(".")?;
                    write_zeros(f, scale - digits.len())?;
                }
                f.write_str(&digits)
            }
            Some(integer_digits) => {
                let (integer, fraction) = digits.split_at(integer_digits);
                f.write_str(integer)?;
                if !fraction.is_empty() {
                    f.write_str(".")?;
                }
                f.write_str(fraction)
            }
        }
    }
}

/// The exact value, as `Display` writes it: a log or an error message shows the number, not
/// its bytes.
impl fmt::Debug for ExactDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExactDecimal({self})")
    }
}

fn write_zeros(f: &mut fmt::Formatter<'_>, count: usize) -> fmt::Result {
    (0..count).try_for_each(|_| f.write_str("0"))
}

/// Drops leading bytes that only repeat the sign (`00 7f` is `7f`, `ff 80` is `80`), which a
/// non-minimal encoder may send.
fn without_redundant_sign_bytes(mut bytes: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = bytes {
        let repeats_sign = rest.first().is_some_and(|next| {
            (*first == 0x00 && *next < 0x80) || (*first == 0xff && *next >= 0x80)
        });
        if !repeats_sign {
            break;
        }
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(unscaled: i128, scale: i32) -> ExactDecimal {
        ExactDecimal::new(BigInt::from(unscaled).to_signed_bytes_be(), scale).unwrap()
    }

    fn from_bytes(bytes: Vec<u8>, scale: i32) -> String {
        ExactDecimal::new(bytes, scale).unwrap().to_string()
    }

    #[test]
    fn formats_with_exactly_scale_fraction_digits() {
        assert_eq!(
            decimal(10_379_397_000_000, 8).to_string(),
            "103793.97000000"
        );
        assert_eq!(decimal(-1, 8).to_string(), "-0.00000001");
        assert_eq!(decimal(0, 8).to_string(), "0.00000000");
        assert_eq!(decimal(42, 0).to_string(), "42");
        assert_eq!(decimal(0, 0).to_string(), "0");
        assert_eq!(decimal(42, -2).to_string(), "4200");
        assert_eq!(decimal(0, -2).to_string(), "0");
        assert_eq!(decimal(12_345, 5).to_string(), "0.12345");
        assert_eq!(from_bytes(vec![0], 2), "0.00");
        assert_eq!(from_bytes(vec![0], 0), "0");
    }

    #[test]
    fn empty_bytes_are_no_number() {
        assert_eq!(ExactDecimal::new(vec![], 2), Err(DecimalError::Empty));
        assert_eq!(ExactDecimal::new(vec![], 0), Err(DecimalError::Empty));
    }

    #[test]
    fn debug_shows_the_exact_value() {
        let wide: BigInt = "-12345678901234567890123456789012345678".parse().unwrap();
        let decimal = ExactDecimal::new(wide.to_signed_bytes_be(), 8).unwrap();
        assert_eq!(
            format!("{decimal:?}"),
            "ExactDecimal(-123456789012345678901234567890.12345678)"
        );
    }

    #[test]
    fn sign_extends_the_high_bit() {
        assert_eq!(from_bytes(vec![0xff], 0), "-1");
        assert_eq!(from_bytes(vec![0x80], 0), "-128");
        assert_eq!(from_bytes(vec![0x00, 0xff], 0), "255");
        assert_eq!(from_bytes(vec![0xff, 0x7f], 0), "-129");
    }

    #[test]
    fn formats_beyond_128_bits_and_through_redundant_sign_bytes() {
        let mut padded = vec![0xff; 20];
        padded.push(0x85);
        assert_eq!(from_bytes(padded, 2), "-1.23");
        let big: BigInt = "-123456789012345678901234567890123456789012"
            .parse()
            .unwrap();
        assert_eq!(
            from_bytes(big.to_signed_bytes_be(), 2),
            "-1234567890123456789012345678901234567890.12"
        );
        let extremes = [i128::MIN, i128::MAX];
        for unscaled in extremes {
            assert_eq!(decimal(unscaled, 0).to_string(), unscaled.to_string());
        }
    }

    #[test]
    fn parses_plain_decimal_strings() {
        assert_eq!(
            ExactDecimal::parse("-103793.97000000"),
            Some(decimal(-10_379_397_000_000, 8))
        );
        assert_eq!(ExactDecimal::parse("12"), Some(decimal(12, 0)));
        assert_eq!(ExactDecimal::parse(".5"), Some(decimal(5, 1)));
        assert_eq!("0.10".parse(), Ok(decimal(10, 2)));
        for bad in ["", ".", "1.2.3", "1e5", "abc", "--1", "NaN"] {
            assert_eq!(ExactDecimal::parse(bad), None, "{bad:?}");
            assert!(bad.parse::<ExactDecimal>().is_err());
        }
    }

    #[test]
    fn converts_to_rust_decimal_when_it_fits() {
        let price = decimal(10_379_397_000_000, 8).to_rust_decimal().unwrap();
        assert_eq!(price.to_string(), "103793.97000000");
        assert_eq!(
            decimal(-15, -1).to_rust_decimal().unwrap().to_string(),
            "-150"
        );
        assert!(decimal(1, 29).to_rust_decimal().is_err());
        assert!(decimal(i128::MAX, 0).to_rust_decimal().is_err());
        let error = decimal(10_i128.pow(30), 2).to_rust_decimal().unwrap_err();
        assert!(
            error
                .to_string()
                .contains("10000000000000000000000000000.00")
        );
    }
}
