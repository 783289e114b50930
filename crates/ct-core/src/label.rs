use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The diagnosis of one scan.
///
/// Class indices follow COVID-CT-MD / SPGC-COVID: `Normal = 0`, `Cap = 1`, `Covid = 2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Label {
    /// No pneumonia.
    #[serde(rename = "normal", alias = "Normal", alias = "NORMAL")]
    Normal,
    /// Community-acquired pneumonia.
    #[serde(rename = "cap", alias = "CAP", alias = "Cap")]
    Cap,
    /// COVID-19 pneumonia.
    #[serde(
        rename = "covid-19",
        alias = "COVID-19",
        alias = "covid",
        alias = "Covid",
        alias = "COVID"
    )]
    Covid,
}

impl Label {
    /// All labels in class-index order.
    pub const ALL: [Label; 3] = [Label::Normal, Label::Cap, Label::Covid];

    /// The class index (0, 1, 2).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The label of a class index.
    pub fn from_index(i: usize) -> Result<Label> {
        Label::ALL
            .get(i)
            .copied()
            .ok_or_else(|| Error::UnknownLabel(i.to_string()))
    }

    /// The display name used in reports (`Normal`, `CAP`, `COVID-19`).
    pub fn name(self) -> &'static str {
        match self {
            Label::Normal => "Normal",
            Label::Cap => "CAP",
            Label::Covid => "COVID-19",
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Label {
    type Err = Error;

    /// Parses the names data sets use: `NORMAL`, `Normal subjects`, `CAP`, `pneumonia`,
    /// `COVID-19`, `Covid`, `covid19`, `COVID-19 subjects`, and the indices `0`, `1`, `2`.
    /// Case, spaces, `-` and `_` are ignored; a trailing `subjects`/`subject` is dropped.
    fn from_str(s: &str) -> Result<Label> {
        let norm: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '_'))
            .flat_map(char::to_lowercase)
            .collect();
        let norm = norm
            .strip_suffix("subjects")
            .or_else(|| norm.strip_suffix("subject"))
            .unwrap_or(&norm);
        match norm {
            "0" | "normal" | "healthy" | "noncovid" | "nonpneumonia" => Ok(Label::Normal),
            "1" | "cap" | "pneumonia" | "communityacquiredpneumonia" => Ok(Label::Cap),
            "2" | "covid" | "covid19" | "ncp" | "sarscov2" => Ok(Label::Covid),
            _ => Err(Error::UnknownLabel(s.to_string())),
        }
    }
}

/// The two contrast groups of SPGC-COVID ("high contrast" and "low contrast" exports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Contrast {
    /// Standard-dose, full-range export.
    High,
    /// Low-dose, compressed-range export.
    Low,
}

impl Contrast {
    /// Both groups.
    pub const ALL: [Contrast; 2] = [Contrast::High, Contrast::Low];

    /// `high` or `low`.
    pub fn name(self) -> &'static str {
        match self {
            Contrast::High => "high",
            Contrast::Low => "low",
        }
    }
}

impl fmt::Display for Contrast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Contrast {
    type Err = Error;
    fn from_str(s: &str) -> Result<Contrast> {
        match s.trim().to_ascii_lowercase().as_str() {
            "high" | "highcontrast" | "high contrast" | "high-contrast" => Ok(Contrast::High),
            "low" | "lowcontrast" | "low contrast" | "low-contrast" => Ok(Contrast::Low),
            _ => Err(Error::UnknownContrast(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dataset_names() {
        for (s, l) in [
            ("NORMAL", Label::Normal),
            ("Normal subjects", Label::Normal),
            ("0", Label::Normal),
            ("CAP", Label::Cap),
            ("cap subjects", Label::Cap),
            ("1", Label::Cap),
            ("COVID-19", Label::Covid),
            ("Covid", Label::Covid),
            ("covid_19", Label::Covid),
            ("COVID-19 subjects", Label::Covid),
            ("2", Label::Covid),
        ] {
            assert_eq!(s.parse::<Label>().unwrap(), l, "{s}");
        }
        assert!(matches!(
            "flu".parse::<Label>(),
            Err(Error::UnknownLabel(_))
        ));
        assert!("3".parse::<Label>().is_err());
        assert!(Label::from_index(3).is_err());
    }

    #[test]
    fn serde_round_trip_and_aliases() {
        for l in Label::ALL {
            let s = serde_json::to_string(&l).unwrap();
            assert_eq!(serde_json::from_str::<Label>(&s).unwrap(), l);
            assert_eq!(Label::from_index(l.index()).unwrap(), l);
        }
        assert_eq!(
            serde_json::from_str::<Label>("\"COVID-19\"").unwrap(),
            Label::Covid
        );
        assert_eq!(serde_json::to_string(&Contrast::Low).unwrap(), "\"low\"");
        assert_eq!("High".parse::<Contrast>().unwrap(), Contrast::High);
        assert!("medium".parse::<Contrast>().is_err());
    }
}
