//! The header every JSON file this crate saves starts with (`format`, `version`), read and
//! checked before the body: a file of another kind or version gets that answer, not a
//! parser's complaint about some field of a layout it never had.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// What a saved file must be.
pub(crate) struct SavedKind {
    /// What it holds, for messages (`lesion detector`, `scan model`, …).
    pub what: &'static str,
    /// The expected `format` field.
    pub format: &'static str,
    /// The expected `version` field.
    pub version: u32,
}

/// The fields every saved file starts with (the body is ignored here).
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u64>,
}

impl SavedKind {
    /// Checks the header of `text`, then reads the whole file as `T`.
    pub(crate) fn read<T: DeserializeOwned>(&self, text: &str) -> Result<T> {
        let parse = |why: &str, e: serde_json::Error| Error::ModelFile {
            model: self.what,
            why: format!("{why} {}", self.what),
            source: Some(e),
        };
        let h: Header = serde_json::from_str(text).map_err(|e| parse("not a readable", e))?;
        if h.format.as_deref() != Some(self.format) || h.version != Some(u64::from(self.version)) {
            return Err(Error::model_file(
                self.what,
                format!(
                    "format {:?} version {}, expected {:?} version {}",
                    h.format.as_deref().unwrap_or("(none)"),
                    h.version.map_or("(none)".into(), |v| v.to_string()),
                    self.format,
                    self.version
                ),
            ));
        }
        serde_json::from_str(text).map_err(|e| parse("a damaged", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[allow(dead_code)]
        format: String,
        x: u32,
    }

    const KIND: SavedKind = SavedKind {
        what: "test model",
        format: "covid-ct test",
        version: 2,
    };

    #[test]
    fn the_header_decides_before_the_body() {
        let ok: Body = KIND
            .read(r#"{"format":"covid-ct test","version":2,"x":7}"#)
            .unwrap();
        assert_eq!(ok.x, 7);
        // Another version whose body would not parse: the version is the answer.
        let e = KIND
            .read::<Body>(r#"{"format":"covid-ct test","version":3,"y":[]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("version 3, expected"), "{e}");
        let e = KIND.read::<Body>(r#"{"x":7}"#).unwrap_err();
        assert!(e.to_string().contains("format \"(none)\""), "{e}");
        let e = KIND.read::<Body>("not json").unwrap_err();
        assert!(e.to_string().contains("not a readable test model"), "{e}");
        let e = KIND
            .read::<Body>(r#"{"format":"covid-ct test","version":2,"x":"seven"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("a damaged test model"), "{e}");
    }
}
