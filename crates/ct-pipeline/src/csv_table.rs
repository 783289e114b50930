//! CSV in and out through the `csv` crate: fields with commas, quotes or line breaks (a
//! subject id such as `"Smith, J"`) are quoted on writing and read back whole.

use std::path::Path;

use crate::{Error, Result};

/// Writes `header` and `rows` to `path` (fields quoted only where needed, `\n` line ends).
pub(crate) fn write_csv<I, R, S>(path: &Path, header: &[S], rows: I) -> Result<()>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = String>,
    S: AsRef<str>,
{
    let io = |e: std::io::Error| Error::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let csv_err = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(e) => io(e),
        other => Error::Inconsistent(format!("{}: {other:?}", path.display())),
    };
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_path(path)
        .map_err(csv_err)?;
    w.write_record(header.iter().map(AsRef::as_ref))
        .map_err(csv_err)?;
    for r in rows {
        w.write_record(r).map_err(csv_err)?;
    }
    w.flush().map_err(io)
}

/// A CSV text read back: the header and each record with its 1-based line.
pub(crate) struct CsvText {
    /// The header's fields.
    pub header: Vec<String>,
    /// The records after the header, with their lines.
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Parses CSV text (quoted fields, CRLF, blank lines skipped); an error is the line and why.
pub(crate) fn read_csv(text: &str) -> std::result::Result<CsvText, (usize, String)> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    // Lines from byte offsets: a record's position is where the reader stood before it,
    // which may be before line ends and blank lines it skipped (and its own line count
    // drifts on CRLF).
    let bytes = text.as_bytes();
    let line_at = |p: Option<&csv::Position>| {
        p.map_or(0, |p| {
            let mut start = (p.byte() as usize).min(bytes.len());
            while start < bytes.len() && matches!(bytes[start], b'\r' | b'\n') {
                start += 1;
            }
            bytes[..start].iter().filter(|&&b| b == b'\n').count() + 1
        })
    };
    let mut records = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| (line_at(e.position()), e.to_string()))?;
        let line = line_at(rec.position());
        let fields: Vec<String> = rec.iter().map(str::to_string).collect();
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        records.push((line, fields));
    }
    let mut it = records.into_iter();
    let (_, header) = it.next().ok_or((1, "empty file".to_string()))?;
    Ok(CsvText {
        header,
        rows: it.collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_with_commas_and_quotes_survive_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        let rows = vec![
            vec!["plain".to_string(), "1.5".to_string()],
            vec!["Smith, J".to_string(), "2".to_string()],
            vec!["say \"hi\"".to_string(), "-3e-2".to_string()],
        ];
        write_csv(&p, &["id", "v"], rows.clone()).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with("id,v\nplain,1.5\n\"Smith, J\",2\n"),
            "{text}"
        );
        let back = read_csv(&text).unwrap();
        assert_eq!(back.header, ["id", "v"]);
        let got: Vec<Vec<String>> = back.rows.into_iter().map(|r| r.1).collect();
        assert_eq!(got, rows);
        assert_eq!(
            read_csv("a,b\r\n\r\n1,2\r\n").unwrap().rows,
            [(3, vec!["1".to_string(), "2".to_string()])]
        );
        assert!(read_csv("").is_err());
    }
}
