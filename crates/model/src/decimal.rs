//! `Decimal`: an exact fixed-point number parsed from a venue's decimal text and printed back as it came.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::Error;

/// The most digits after the decimal point a `Decimal` keeps.
pub const MAX_SCALE: u8 = 30;

/// An exact decimal: `mantissa × 10^-scale`.
///
/// Parsed from text without passing through `f64`, so `"0.00001230"` keeps every digit, and it prints
/// back with the same number of decimals (`to_string()` gives `"0.00001230"` again). Equality, ordering
/// and hashing are by value: `"1.50" == "1.5"`.
#[derive(Clone, Copy)]
pub struct Decimal {
    mantissa: i128,
    scale: u8,
}

/// Room for the longest text a `Decimal` prints: a sign, 39 digits and a point.
pub const TEXT_LEN: usize = 48;

/// 10^19, the largest power of ten below `u64::MAX`: digits are printed 19 at a time in `u64` arithmetic.
const DIGITS_PER_U64: u128 = 10_000_000_000_000_000_000;

const POW10: [i128; 31] = {
    let mut table = [1i128; 31];
    let mut i = 1;
    while i < 31 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

impl Decimal {
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    /// `mantissa × 10^-scale`; `None` when `scale` exceeds [`MAX_SCALE`].
    pub const fn new(mantissa: i128, scale: u8) -> Option<Decimal> {
        if scale > MAX_SCALE {
            None
        } else {
            Some(Decimal { mantissa, scale })
        }
    }

    pub const fn mantissa(self) -> i128 {
        self.mantissa
    }

    pub const fn scale(self) -> u8 {
        self.scale
    }

    pub const fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    pub const fn is_positive(self) -> bool {
        self.mantissa > 0
    }

    pub const fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    /// The nearest `f64`: for analysis columns (bars, Parquet), never for the value on the wire.
    pub fn to_f64(self) -> f64 {
        // Both operands are exact in f64 here, so one correctly rounded division gives the nearest value.
        if self.mantissa.unsigned_abs() < (1u128 << 53) && self.scale <= 22 {
            return self.mantissa as f64 / POW10[self.scale as usize] as f64;
        }
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// The same value with trailing fractional zeros removed (`1.500` → `1.5`).
    pub fn normalized(self) -> Decimal {
        let mut d = self;
        while d.scale > 0 && d.mantissa % 10 == 0 {
            d.mantissa /= 10;
            d.scale -= 1;
        }
        d
    }

    /// `self` scaled to `scale` decimals when that is exact and fits; used for comparisons.
    fn mantissa_at(self, scale: u8) -> Option<i128> {
        debug_assert!(scale >= self.scale);
        self.mantissa
            .checked_mul(POW10[(scale - self.scale) as usize])
    }

    /// Prints the value into `buf` (what `to_string()` gives) and returns it, without allocating: the
    /// digits with the point `scale` places from the right and a zero before it (`"0.05"`).
    pub fn write_text(self, buf: &mut [u8; TEXT_LEN]) -> &str {
        let scale = usize::from(self.scale);
        let mut pos = TEXT_LEN;
        let mut count = 0;
        let mut rest = self.mantissa.unsigned_abs();
        loop {
            let last = rest < DIGITS_PER_U64;
            let mut chunk = if last {
                rest as u64
            } else {
                let low = (rest % DIGITS_PER_U64) as u64;
                rest /= DIGITS_PER_U64;
                low
            };
            let mut in_chunk = 0;
            // A chunk below the top one prints all its 19 digits; the top one at least `scale + 1`.
            while if last {
                chunk > 0 || count <= scale
            } else {
                in_chunk < 19
            } {
                if count == scale && scale > 0 {
                    pos -= 1;
                    buf[pos] = b'.';
                }
                pos -= 1;
                buf[pos] = b'0' + (chunk % 10) as u8;
                chunk /= 10;
                count += 1;
                in_chunk += 1;
            }
            if last {
                break;
            }
        }
        if self.mantissa < 0 {
            pos -= 1;
            buf[pos] = b'-';
        }
        std::str::from_utf8(&buf[pos..]).unwrap_or_default()
    }

    /// Writes the digits without the decimal point and without leading zeros (`"0.0500"` → `"500"`):
    /// the form Kraken's book checksum is computed over.
    pub fn write_checksum_digits(self, out: &mut String) {
        let digits = self.mantissa.unsigned_abs();
        if digits != 0 {
            use fmt::Write;
            let _ = write!(out, "{digits}");
        }
    }
}

fn invalid(text: &str, reason: &'static str) -> Error {
    Error::Decimal {
        text: text.to_owned(),
        reason,
    }
}

impl FromStr for Decimal {
    type Err = Error;

    /// Accepts `[+-]digits[.digits][e[+-]digits]`; rejects `NaN`, infinities, empty text and more than
    /// 38 significant digits.
    fn from_str(text: &str) -> Result<Decimal, Error> {
        let bytes = text.as_bytes();
        let mut i = 0;
        let negative = match bytes.first() {
            Some(b'-') => {
                i = 1;
                true
            }
            Some(b'+') => {
                i = 1;
                false
            }
            _ => false,
        };
        let mut mantissa: i128 = 0;
        let mut digits = 0usize;
        let mut scale: i32 = 0;
        let mut seen_point = false;
        let mut any_digit = false;
        while i < bytes.len() {
            match bytes[i] {
                b @ b'0'..=b'9' => {
                    any_digit = true;
                    if mantissa != 0 || b != b'0' {
                        digits += 1;
                    }
                    if digits > 38 {
                        return Err(invalid(text, "more than 38 significant digits"));
                    }
                    mantissa = mantissa * 10 + i128::from(b - b'0');
                    if seen_point {
                        scale += 1;
                    }
                }
                b'.' if !seen_point => seen_point = true,
                b'e' | b'E' => break,
                _ => return Err(invalid(text, "not a decimal number")),
            }
            i += 1;
        }
        if !any_digit {
            return Err(invalid(text, "no digits"));
        }
        if i < bytes.len() {
            let exponent: i32 = text[i + 1..]
                .parse()
                .map_err(|_| invalid(text, "bad exponent"))?;
            if !(-60..=60).contains(&exponent) {
                return Err(invalid(text, "exponent out of range"));
            }
            scale -= exponent;
        }
        while scale < 0 {
            mantissa = mantissa
                .checked_mul(10)
                .ok_or_else(|| invalid(text, "too large"))?;
            scale += 1;
        }
        while scale > i32::from(MAX_SCALE) {
            if mantissa % 10 != 0 {
                return Err(invalid(text, "more than 30 decimals"));
            }
            mantissa /= 10;
            scale -= 1;
        }
        Ok(Decimal {
            mantissa: if negative { -mantissa } else { mantissa },
            scale: scale as u8,
        })
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.write_text(&mut [0; TEXT_LEN]))
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({self})")
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        let scale = self.scale.max(other.scale);
        match (self.mantissa_at(scale), other.mantissa_at(scale)) {
            (Some(a), Some(b)) => a.cmp(&b),
            // Scaling up overflowed: that side's magnitude exceeds anything the other can hold.
            (None, _) => {
                if self.mantissa < 0 {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (_, None) => {
                if other.mantissa < 0 {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Decimal) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl Hash for Decimal {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let n = self.normalized();
        n.mantissa.hash(state);
        n.scale.hash(state);
    }
}

impl serde::Serialize for Decimal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.write_text(&mut [0; TEXT_LEN]))
    }
}

impl<'de> serde::Deserialize<'de> for Decimal {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal number as a string, such as \"0.00001230\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Decimal, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Decimal, E> {
                Ok(Decimal {
                    mantissa: i128::from(v),
                    scale: 0,
                })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Decimal, E> {
                Ok(Decimal {
                    mantissa: i128::from(v),
                    scale: 0,
                })
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl schemars::JsonSchema for Decimal {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Decimal".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^-?[0-9]+(\\.[0-9]+)?$",
            "description": "An exact decimal as text, printed with the venue's own number of decimals."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn prints_back_the_text_it_parsed() {
        for s in [
            "0.00001230",
            "97000.10",
            "0",
            "-1.5",
            "123456789012.12345678",
            "5",
            "0.1",
        ] {
            assert_eq!(d(s).to_string(), s);
        }
    }

    #[test]
    fn equality_and_order_are_by_value() {
        assert_eq!(d("1.50"), d("1.5"));
        assert!(d("0.00001230") < d("0.0000124"));
        assert!(d("-2") < d("-1.99"));
        assert_eq!(d("1e-8"), d("0.00000001"));
        assert_eq!(d("1.5E+3").to_string(), "1500");
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        for s in [
            "", "-", ".", "NaN", "nan", "inf", "1.2.3", "1,5", "0x10", "1e", "1e999", " 1",
        ] {
            assert!(s.parse::<Decimal>().is_err(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn checksum_digits_drop_point_and_leading_zeros() {
        let mut out = String::new();
        d("0.05005").write_checksum_digits(&mut out);
        d("45285.2").write_checksum_digits(&mut out);
        assert_eq!(out, "5005452852");
    }

    #[test]
    fn converts_to_the_nearest_f64() {
        assert_eq!(d("0.1").to_f64(), 0.1);
        assert_eq!(d("97000.123456789").to_f64(), 97000.123456789);
        assert_eq!(
            d("123456789012345678901234.5").to_f64(),
            123456789012345678901234.5
        );
    }

    #[test]
    fn serde_round_trips_as_a_string() {
        let json = serde_json::to_string(&d("0.00001230")).unwrap();
        assert_eq!(json, "\"0.00001230\"");
        let back: Decimal = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_string(), "0.00001230");
    }

    #[test]
    fn prints_the_extremes() {
        for (mantissa, scale, text) in [
            (i128::MAX, 0, i128::MAX.to_string()),
            (i128::MIN + 1, 0, (i128::MIN + 1).to_string()),
            (
                i128::MAX,
                30,
                "170141183.460469231731687303715884105727".to_owned(),
            ),
            (1, 30, format!("0.{}1", "0".repeat(29))),
            (-5, 3, "-0.005".to_owned()),
            (
                10_000_000_000_000_000_000,
                19,
                "1.0000000000000000000".to_owned(),
            ),
            (0, 0, "0".to_owned()),
            (0, 2, "0.00".to_owned()),
        ] {
            let value = Decimal::new(mantissa, scale).unwrap();
            assert_eq!(value.to_string(), text);
            assert_eq!(
                serde_json::to_string(&value).unwrap(),
                format!("\"{text}\"")
            );
        }
    }

    proptest! {
        #[test]
        fn prints_as_integer_division_would(mantissa: i128, scale in 0u8..=30) {
            let value = Decimal::new(mantissa, scale).unwrap();
            let digits = mantissa.unsigned_abs();
            let unit = POW10[usize::from(scale)] as u128;
            let sign = if mantissa < 0 { "-" } else { "" };
            let expected = if scale == 0 {
                format!("{sign}{digits}")
            } else {
                format!("{sign}{}.{:0width$}", digits / unit, digits % unit, width = usize::from(scale))
            };
            prop_assert_eq!(value.to_string(), expected);
        }

        #[test]
        fn text_round_trip(int in 0u64..1_000_000_000_000, frac in 0u64..1_000_000_000, width in 0usize..10, neg: bool) {
            let text = if width == 0 {
                format!("{}{int}", if neg { "-" } else { "" })
            } else {
                let frac = frac % 10u64.pow(width as u32);
                format!("{}{int}.{frac:0width$}", if neg { "-" } else { "" })
            };
            prop_assert_eq!(d(&text).to_string(), text.clone());
            prop_assert_eq!(d(&text).to_f64(), text.parse::<f64>().unwrap());
        }

        #[test]
        fn order_matches_f64_order(a in -1_000_000i64..1_000_000, b in -1_000_000i64..1_000_000, sa in 0u8..6, sb in 0u8..6) {
            let x = Decimal::new(i128::from(a), sa).unwrap();
            let y = Decimal::new(i128::from(b), sb).unwrap();
            let (fx, fy) = (x.to_f64(), y.to_f64());
            if fx != fy {
                prop_assert_eq!(x < y, fx < fy);
            }
        }
    }
}
