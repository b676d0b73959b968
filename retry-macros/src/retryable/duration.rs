//! Durations written in the attribute: a number of seconds (`0.5`, `2`) or a string with a unit
//! (`"250ms"`, `"2s"`, `"1m"`).

use syn::{Expr, ExprLit, ExprUnary, Lit, UnOp};

/// A literal number: seconds for a duration, or a multiplier.
pub fn number(expr: &Expr, key: &str) -> syn::Result<f64> {
    match expr {
        Expr::Lit(ExprLit { lit: Lit::Int(i), .. }) => i.base10_parse::<u64>().map(|n| n as f64),
        Expr::Lit(ExprLit { lit: Lit::Float(f), .. }) => {
            let v = f.base10_parse::<f64>()?;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(syn::Error::new_spanned(f, format!("`{key}` must be a finite number")))
            }
        }
        Expr::Unary(ExprUnary { op: UnOp::Neg(_), .. }) => {
            Err(syn::Error::new_spanned(expr, format!("`{key}` must not be negative")))
        }
        _ => Err(syn::Error::new_spanned(expr, format!("`{key}` expects a number, such as `{key} = 2`"))),
    }
}

/// A duration in nanoseconds: seconds as a number, or a string such as `"250ms"`.
pub fn duration(expr: &Expr, key: &str) -> syn::Result<u64> {
    let bad_type = || {
        syn::Error::new_spanned(
            expr,
            format!(
                "`{key}` expects a duration: seconds as a number (`{key} = 0.5`) or a string with a unit \
                 (`{key} = \"250ms\"`, \"2s\", \"1m\")"
            ),
        )
    };
    let secs = match expr {
        Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => parse_with_unit(&s.value()).ok_or_else(|| {
            syn::Error::new_spanned(
                s,
                format!(
                    "`{key}` = {:?} is not a duration: write a non-negative number and a unit, one of \
                         ns, us, ms, s, m, h (such as \"250ms\")",
                    s.value()
                ),
            )
        })?,
        Expr::Lit(ExprLit { lit: Lit::Int(_) | Lit::Float(_), .. }) | Expr::Unary(_) => number(expr, key)?,
        _ => return Err(bad_type()),
    };
    let nanos = secs * 1e9;
    if !(0.0..=u64::MAX as f64).contains(&nanos) {
        return Err(syn::Error::new_spanned(expr, format!("`{key}` is too large")));
    }
    Ok(nanos.round() as u64)
}

fn parse_with_unit(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.trim().parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    Some(value * scale)
}

#[cfg(test)]
mod tests {
    use super::parse_with_unit;

    #[test]
    fn units() {
        assert_eq!(parse_with_unit("250ms"), Some(0.25));
        assert_eq!(parse_with_unit("2s"), Some(2.0));
        assert_eq!(parse_with_unit("1m"), Some(60.0));
        assert_eq!(parse_with_unit("1.5 h"), Some(5400.0));
        assert_eq!(parse_with_unit("-1s"), None);
        assert_eq!(parse_with_unit("5"), None);
        assert_eq!(parse_with_unit("5 parsecs"), None);
        assert_eq!(parse_with_unit("NaNs"), None);
    }
}
