//! Row filters built from values as DataFusion expressions, never as SQL
//! text: a path with a quote, a user name with `' OR 1=1`, or any other
//! value is a literal by construction, and Lance plans an expression on
//! its scalar indexes exactly as it plans the same predicate parsed from
//! SQL (an `IN` list or a range on `path` is an index look-up).
//!
//! Column names go through [`ident`], so names that are SQL keywords
//! (`user`) or contain dots need no quoting either.

use datafusion::prelude::{ident, lit};
use datafusion::scalar::ScalarValue;

/// A predicate over a table's rows.
pub use datafusion::logical_expr::Expr as Filter;

/// `column = value`.
pub fn eq(column: &str, value: impl Into<ScalarValue>) -> Filter {
    ident(column).eq(lit(value.into()))
}

/// `column IN (values…)`; `false` for no values.
pub fn one_of<V: Into<ScalarValue>>(column: &str, values: impl IntoIterator<Item = V>) -> Filter {
    let list: Vec<Filter> = values.into_iter().map(|v| lit(v.into())).collect();
    if list.is_empty() {
        return lit(false);
    }
    ident(column).in_list(list, false)
}

/// `column IS NOT NULL`.
pub fn not_null(column: &str) -> Filter {
    ident(column).is_not_null()
}

/// `column IS NULL`.
pub fn is_null(column: &str) -> Filter {
    ident(column).is_null()
}

/// `low <= column < high`: a range the `BTree` index answers.
pub fn range(column: &str, low: &str, high: &str) -> Filter {
    ident(column)
        .gt_eq(lit(low.to_string()))
        .and(ident(column).lt(lit(high.to_string())))
}

/// The string keys `column` that start with `prefix` followed by the ASCII
/// separator `sep` (the keys made from a photo's path, `path#face`, say):
/// they sort between `prefix<sep>` and `prefix<sep + 1>`.
pub fn prefixed(column: &str, prefix: &str, sep: char) -> Filter {
    let next = char::from_u32(sep as u32 + 1).expect("ASCII separator");
    range(
        column,
        &format!("{prefix}{sep}"),
        &format!("{prefix}{next}"),
    )
}

/// The `path`s that are one of `roots` or lie under one (the paths under
/// `r/` sort between `r/` and `r0`: a range the index answers).
pub fn paths_under(roots: &[String]) -> Filter {
    any(roots.iter().map(|r| {
        let r = r.trim_end_matches('/');
        eq("path", r.to_string()).or(prefixed("path", r, '/'))
    }))
    .unwrap_or_else(|| lit(false))
}

/// The disjunction of `filters`; `None` when there are none.
pub fn any(filters: impl IntoIterator<Item = Filter>) -> Option<Filter> {
    filters.into_iter().reduce(Filter::or)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_literals_whatever_they_hold() {
        let f = one_of("user", ["o'brien", "x') OR 1=1 --"]);
        let text = f.to_string();
        // Each value is one literal of the list, column quoted as an identifier.
        match &f {
            Filter::InList(l) => {
                assert_eq!(l.list.len(), 2);
                assert_eq!(l.list[1], lit("x') OR 1=1 --"));
            }
            other => panic!("not an IN list: {other}"),
        }
        assert!(text.contains("user"), "{text}");
    }

    #[test]
    fn paths_under_is_the_root_or_the_range_below_it() {
        let f = paths_under(&["/a/b/".to_string()]);
        assert_eq!(
            f,
            eq("path", "/a/b").or(ident("path")
                .gt_eq(lit("/a/b/"))
                .and(ident("path").lt(lit("/a/b0"))))
        );
        assert_eq!(paths_under(&[]), lit(false));
        assert_eq!(one_of::<&str>("path", []), lit(false));
    }
}
