//! An exact decimal of any size: the unscaled integer as big-endian two's-complement bytes — as
//! Debezium (Java's `BigInteger.toByteArray`) and Cassandra's `decimal` both encode it — and a
//! scale. Keeping Debezium's bytes as they are means no conversion and no loss on the way to
//! Cassandra; formatting is exact for any length.

use std::fmt;

use num_bigint::BigInt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExactDecimal {
    unscaled_be_bytes: Vec<u8>,
    scale: i32,
}

impl ExactDecimal {
    /// `unscaled_be_bytes` is a big-endian two's-complement integer; empty means zero.
    pub fn new(unscaled_be_bytes: Vec<u8>, scale: i32) -> Self {
        Self {
            unscaled_be_bytes,
            scale,
        }
    }

    /// Parses a plain decimal string such as `-103793.97000000` (Debezium's `string` mode).
    /// Returns `None` unless it is an optional sign, digits, and at most one dot.
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
        Some(Self::new(
            unscaled.to_signed_bytes_be(),
            i32::try_from(fraction.len()).ok()?,
        ))
    }

    pub fn unscaled_be_bytes(&self) -> &[u8] {
        &self.unscaled_be_bytes
    }

    pub fn scale(&self) -> i32 {
        self.scale
    }

    fn unscaled(&self) -> BigInt {
        BigInt::from_signed_bytes_be(&self.unscaled_be_bytes)
    }
}

/// Exactly `scale` fraction digits (`103793.97000000` for scale 8); a negative scale multiplies
/// by a power of ten.
impl fmt::Display for ExactDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unscaled = self.unscaled();
        let sign = if unscaled.sign() == num_bigint::Sign::Minus {
            "-"
        } else {
            ""
        };
        let digits = unscaled.magnitude().to_string();
        let Ok(scale) = usize::try_from(self.scale) else {
            let zeros = "0".repeat(self.scale.unsigned_abs() as usize);
            return if digits == "0" {
                f.write_str("0")
            } else {
                write!(f, "{sign}{digits}{zeros}")
            };
        };
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (integer, fraction) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{integer}.{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(unscaled: i128, scale: i32) -> ExactDecimal {
        ExactDecimal::new(BigInt::from(unscaled).to_signed_bytes_be(), scale)
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
        assert_eq!(decimal(42, -2).to_string(), "4200");
        assert_eq!(ExactDecimal::new(vec![], 2).to_string(), "0.00");
    }

    #[test]
    fn sign_extends_the_high_bit() {
        assert_eq!(ExactDecimal::new(vec![0xff], 0).to_string(), "-1");
        assert_eq!(ExactDecimal::new(vec![0x00, 0xff], 0).to_string(), "255");
    }

    #[test]
    fn parses_plain_decimal_strings() {
        assert_eq!(
            ExactDecimal::parse("-103793.97000000"),
            Some(decimal(-10_379_397_000_000, 8))
        );
        assert_eq!(ExactDecimal::parse("12"), Some(decimal(12, 0)));
        assert_eq!(ExactDecimal::parse(".5"), Some(decimal(5, 1)));
        for bad in ["", ".", "1.2.3", "1e5", "abc", "--1"] {
            assert_eq!(ExactDecimal::parse(bad), None, "{bad:?}");
        }
    }
}
