//! Named features: every value is pushed with its column name, and a row is checked against
//! the declared column list before it joins the feature table (the shipped models select
//! their columns by name).

use crate::{Error, Result};

/// Feature values with their names, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamedFeatures {
    names: Vec<String>,
    values: Vec<f64>,
}

impl NamedFeatures {
    /// No features.
    pub fn new() -> NamedFeatures {
        NamedFeatures::default()
    }

    /// Appends one feature.
    pub fn push(&mut self, name: impl Into<String>, value: f64) {
        self.names.push(name.into());
        self.values.push(value);
    }

    /// Appends all of `other`.
    pub fn append(&mut self, other: NamedFeatures) {
        self.names.extend(other.names);
        self.values.extend(other.values);
    }

    /// Appends values under the names of `names` (same length, or an error naming both).
    pub fn push_all<S: AsRef<str>>(&mut self, names: &[S], values: &[f64]) -> Result<()> {
        if names.len() != values.len() {
            return Err(Error::Inconsistent(format!(
                "{} feature values for {} names",
                values.len(),
                names.len()
            )));
        }
        for (n, &v) in names.iter().zip(values) {
            self.push(n.as_ref(), v);
        }
        Ok(())
    }

    /// The names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The values, in order.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// How many features.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// No features at all.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value of the feature `name`, when there is one.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| self.values[i])
    }

    /// The values, after checking that the names are exactly `declared`, in order.
    pub fn into_values_checked<S: AsRef<str>>(
        self,
        declared: &[S],
        what: &str,
    ) -> Result<Vec<f64>> {
        self.check_names(declared, what)?;
        Ok(self.values)
    }

    /// Checks that the names are exactly `declared`, in order; an error names the first
    /// column that differs.
    pub fn check_names<S: AsRef<str>>(&self, declared: &[S], what: &str) -> Result<()> {
        let first_diff = self
            .names
            .iter()
            .zip(declared)
            .position(|(a, b)| a != b.as_ref());
        if let Some(i) = first_diff {
            return Err(Error::Inconsistent(format!(
                "{what}: column {i} is {:?}, the table declares {:?}",
                self.names[i],
                declared[i].as_ref()
            )));
        }
        if self.names.len() != declared.len() {
            return Err(Error::Inconsistent(format!(
                "{what}: {} columns computed, the table declares {}",
                self.names.len(),
                declared.len()
            )));
        }
        Ok(())
    }
}

/// The position of `name` in `names`. In a `const` item a missing name stops the build, so
/// a column read by name can never drift from the list that declares it.
pub(crate) const fn index_of(names: &[&str], name: &str) -> usize {
    let mut i = 0;
    while i < names.len() {
        if str_eq(names[i], name) {
            return i;
        }
        i += 1;
    }
    panic!("no such feature column")
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_checked_against_its_declared_columns() {
        let mut f = NamedFeatures::new();
        f.push("a", 1.0);
        f.push("b", 2.0);
        assert_eq!(f.get("b"), Some(2.0));
        assert_eq!(
            f.clone().into_values_checked(&["a", "b"], "t").unwrap(),
            [1.0, 2.0]
        );
        let e = f.clone().into_values_checked(&["a", "c"], "t").unwrap_err();
        assert!(e.to_string().contains("column 1 is \"b\""), "{e}");
        assert!(f.clone().into_values_checked(&["a"], "t").is_err());
        assert!(f.into_values_checked(&["a", "b", "c"], "t").is_err());
    }

    #[test]
    fn columns_are_found_by_name_at_compile_time() {
        const NAMES: [&str; 3] = ["x", "yy", "z"];
        const YY: usize = index_of(&NAMES, "yy");
        assert_eq!(YY, 1);
        assert_eq!(index_of(&NAMES, "z"), 2);
    }
}
