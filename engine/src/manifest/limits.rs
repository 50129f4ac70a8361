//! Limits that keep a small manifest from asking for unbounded work: the number of matrix
//! expansions, and values that the operating system cannot carry (NUL bytes).

use std::sync::Arc;

use super::expand::Expansion;
use super::raw::RawMatrix;

/// The default of `[workflow] max_expansions`: how many tasks the whole manifest may expand to
/// (each plain task counts one, each matrix the number of its combinations).
pub const DEFAULT_MAX_EXPANSIONS: u64 = 5_000_000;

/// How many expansions a matrix asks for, computed without expanding it: the product of its
/// axes' lengths (a table of arrays) or its number of records (an array of tables). `None` when
/// the product does not fit in a `u64`, which is over any limit.
pub fn expansion_count(matrix: &RawMatrix) -> Option<u64> {
    match matrix {
        RawMatrix::Product { axes, .. } => axes.iter().try_fold(1u64, |product, axis| {
            product.checked_mul(u64::try_from(axis.values.len()).ok()?)
        }),
        RawMatrix::Records { records, .. } => u64::try_from(records.len()).ok(),
    }
}

/// The first combination of a matrix (the first value of every axis, or the first record): what
/// stands in for a matrix that is too large to expand, so that the rest of the task is still
/// checked.
pub fn first_expansion(matrix: &RawMatrix) -> Expansion {
    match matrix {
        RawMatrix::Product { axes, span } => Expansion {
            values: axes
                .iter()
                .filter_map(|axis| {
                    let value = axis.values.first()?;
                    Some((
                        Arc::from(axis.key.value.as_str()),
                        Arc::from(value.value.0.as_str()),
                    ))
                })
                .collect(),
            span: span.clone(),
        },
        RawMatrix::Records { records, span } => Expansion {
            values: records
                .first()
                .map(|record| {
                    record
                        .value
                        .iter()
                        .map(|(k, v)| (Arc::from(k.value.as_str()), Arc::from(v.value.0.as_str())))
                        .collect()
                })
                .unwrap_or_default(),
            span: span.clone(),
        },
    }
}

/// The span of a whole matrix.
pub fn matrix_span(matrix: &RawMatrix) -> std::ops::Range<usize> {
    match matrix {
        RawMatrix::Product { span, .. } | RawMatrix::Records { span, .. } => span.clone(),
    }
}

/// The message for a matrix over the limit: its own size and, when the rest of the manifest
/// is what pushes it over, the total.
pub fn too_large_message(task: &str, count: Option<u64>, before: u64, cap: u64) -> String {
    match count {
        None => format!(
            "matrix of `{task}` expands to more than {} tasks, more than the limit of {cap}",
            u64::MAX
        ),
        Some(count) if count > cap => {
            format!("matrix of `{task}` expands to {count} tasks, more than the limit of {cap}")
        }
        Some(count) => format!(
            "matrix of `{task}` expands to {count} tasks, which brings the manifest to {} tasks, more than the limit of {cap}",
            u128::from(before) + u128::from(count)
        ),
    }
}

/// True if a value holds a NUL byte, which no process argument, environment entry or path can.
pub fn has_nul(text: &str) -> bool {
    text.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::raw::{MatrixAxis, Scalar};
    use crate::manifest::spanned::Sp;

    fn product(lengths: &[usize]) -> RawMatrix {
        RawMatrix::Product {
            axes: lengths
                .iter()
                .enumerate()
                .map(|(i, &n)| MatrixAxis {
                    key: Sp::new(format!("k{i}"), 0..0),
                    values: (0..n)
                        .map(|v| Sp::new(Scalar(v.to_string()), 0..0))
                        .collect(),
                    span: 0..0,
                })
                .collect(),
            span: 0..0,
        }
    }

    #[test]
    fn counts_the_product_without_expanding() {
        assert_eq!(expansion_count(&product(&[1000, 1000])), Some(1_000_000));
        assert_eq!(expansion_count(&product(&[2; 63])), Some(1 << 63));
        assert_eq!(expansion_count(&product(&[2; 64])), None);
        assert_eq!(expansion_count(&product(&[2, 0, 3])), Some(0));
    }

    #[test]
    fn the_first_expansion_has_every_key() {
        let first = first_expansion(&product(&[3, 2]));
        let values: Vec<(&str, &str)> = first.values.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(values, [("k0", "0"), ("k1", "0")]);
    }
}
