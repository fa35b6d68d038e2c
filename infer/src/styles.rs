//! Picking and blending the styles of a checkpoint (`infer --style`, `infer styles`).
//!
//! A multi-style net (conditional instance norm, Dumoulin et al. 2017) holds `S` styles; a
//! [`StyleSpec`] names one or blends several by name or index, e.g. `starry_night`, `2` or
//! `starry_night:0.7,wave:0.3`. Weights are normalised to sum 1 ([`faststyle::style_weights`]).

use anyhow::{bail, Result};
use std::str::FromStr;

/// A parsed `--style` value: `(name or index, weight)` items, weight 1 where none is given.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleSpec(pub Vec<(String, f64)>);

impl FromStr for StyleSpec {
    type Err = String;

    /// `ITEM[,ITEM…]`, each `NAME_OR_INDEX[:WEIGHT]`; the weight a finite number ≥ 0.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut items = Vec::new();
        for item in s.split(',') {
            let (name, weight) = match item.rsplit_once(':') {
                Some((n, w)) => {
                    let w: f64 = w.trim().parse().map_err(|_| format!("{item:?}: weight {w:?} is not a number"))?;
                    (n.trim(), w)
                }
                None => (item.trim(), 1.0),
            };
            if name.is_empty() {
                return Err(format!("{s:?}: an empty style name (expected NAME[:WEIGHT],…)"));
            }
            if !weight.is_finite() || weight < 0.0 {
                return Err(format!("{item:?}: the weight must be a number ≥ 0"));
            }
            items.push((name.to_string(), weight));
        }
        Ok(StyleSpec(items))
    }
}

impl StyleSpec {
    /// `(style index, weight)` pairs for a net whose styles are `names` (in index order): an
    /// item is a name, else an index.
    ///
    /// # Errors
    /// An item that is neither a name nor an index below `names.len()` (the message lists the
    /// styles), or weights that are all zero.
    pub fn resolve(&self, names: &[String]) -> Result<Vec<(usize, f64)>> {
        let list = || names.iter().enumerate().map(|(i, n)| format!("{i} {n}")).collect::<Vec<_>>().join(", ");
        let mut picks = Vec::new();
        for (item, w) in &self.0 {
            let index = match names.iter().position(|n| n == item) {
                Some(i) => i,
                None => match item.parse::<usize>() {
                    Ok(i) if i < names.len() => i,
                    _ => bail!("--style: the model has no style {item:?}; its styles are: {}", list()),
                },
            };
            picks.push((index, *w));
        }
        if picks.iter().all(|(_, w)| *w == 0.0) {
            bail!("--style: the weights are all zero");
        }
        Ok(picks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_resolve_by_name_or_index() {
        let names: Vec<String> = ["starry_night", "wave", "scream"].map(String::from).to_vec();
        let spec: StyleSpec = "starry_night:0.7, 2:0.3".parse().unwrap();
        assert_eq!(spec.resolve(&names).unwrap(), [(0, 0.7), (2, 0.3)]);
        assert_eq!("wave".parse::<StyleSpec>().unwrap().resolve(&names).unwrap(), [(1, 1.0)]);
        for bad in ["", "wave:", "wave:-1", "wave:x", ":0.5", "a,,b"] {
            assert!(bad.parse::<StyleSpec>().is_err(), "{bad:?} parsed");
        }
        let e = "monet".parse::<StyleSpec>().unwrap().resolve(&names).unwrap_err().to_string();
        assert!(e.contains("\"monet\"") && e.contains("1 wave"), "{e}");
        assert!("3".parse::<StyleSpec>().unwrap().resolve(&names).is_err());
        assert!("wave:0,scream:0".parse::<StyleSpec>().unwrap().resolve(&names).is_err());
    }
}
