//! A self-contained HTML report: every figure is inlined (PNG as a data URI, SVG as markup),
//! so the single file can be mailed, archived or opened offline.

use std::fmt::Write;
use std::path::Path;

use base64::Engine;

use crate::chart::escape;
use crate::{Error, Result};

#[derive(Debug, Clone)]
enum Block {
    Text(String),
    Pre(String),
    Svg(String),
    Png {
        bytes: Vec<u8>,
        caption: String,
    },
    Table {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    Figures(Vec<Block>),
}

/// One titled part of a [`Report`].
#[derive(Debug, Clone)]
pub struct Section {
    title: String,
    blocks: Vec<Block>,
}

impl Section {
    /// A paragraph of plain text (escaped).
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.blocks.push(Block::Text(text.to_string()));
        self
    }

    /// Preformatted text (e.g. a classification report), in a monospace box.
    pub fn pre(&mut self, text: &str) -> &mut Self {
        self.blocks.push(Block::Pre(text.to_string()));
        self
    }

    /// An SVG figure (markup from [`crate::chart`]).
    pub fn svg(&mut self, svg: &str) -> &mut Self {
        self.blocks.push(Block::Svg(svg.to_string()));
        self
    }

    /// A PNG figure with a caption.
    pub fn png(&mut self, bytes: Vec<u8>, caption: &str) -> &mut Self {
        self.blocks.push(Block::Png {
            bytes,
            caption: caption.to_string(),
        });
        self
    }

    /// Several PNG figures side by side, each `(bytes, caption)`.
    pub fn png_row(&mut self, figures: Vec<(Vec<u8>, String)>) -> &mut Self {
        self.blocks.push(Block::Figures(
            figures
                .into_iter()
                .map(|(bytes, caption)| Block::Png { bytes, caption })
                .collect(),
        ));
        self
    }

    /// A table with a header row.
    pub fn table(&mut self, header: &[&str], rows: Vec<Vec<String>>) -> &mut Self {
        self.blocks.push(Block::Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows,
        });
        self
    }

    /// A two-column key/value table.
    pub fn key_values(&mut self, pairs: &[(&str, String)]) -> &mut Self {
        let rows = pairs
            .iter()
            .map(|(k, v)| vec![k.to_string(), v.clone()])
            .collect();
        self.table(&["", ""], rows)
    }
}

/// A report: a title and sections, rendered to one HTML file.
#[derive(Debug, Clone)]
pub struct Report {
    title: String,
    sections: Vec<Section>,
}

const STYLE: &str = "body{font-family:Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}\
h1{border-bottom:2px solid #4e79a7}h2{margin-top:1.8em;color:#2b4c72}\
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 9px;text-align:right}\
th{background:#eef2f7}td:first-child{text-align:left}\
pre{background:#f6f8fa;border:1px solid #ddd;padding:.8em;overflow-x:auto}\
figure{display:inline-block;margin:.4em;text-align:center;vertical-align:top}\
figcaption{font-size:.85em;color:#555}img{image-rendering:pixelated;max-width:100%}\
nav a{margin-right:1em}";

impl Report {
    /// An empty report.
    pub fn new(title: &str) -> Report {
        Report {
            title: title.to_string(),
            sections: Vec::new(),
        }
    }

    /// Appends a section and returns it for filling.
    pub fn section(&mut self, title: &str) -> &mut Section {
        self.sections.push(Section {
            title: title.to_string(),
            blocks: Vec::new(),
        });
        self.sections.last_mut().expect("just pushed")
    }

    /// The HTML text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body><h1>{}</h1><nav>",
            escape(&self.title),
            escape(&self.title)
        );
        for (i, s) in self.sections.iter().enumerate() {
            let _ = write!(out, "<a href=\"#s{i}\">{}</a>", escape(&s.title));
        }
        out.push_str("</nav>");
        for (i, s) in self.sections.iter().enumerate() {
            let _ = write!(out, "<section id=\"s{i}\"><h2>{}</h2>", escape(&s.title));
            for b in &s.blocks {
                render_block(&mut out, b);
            }
            out.push_str("</section>");
        }
        out.push_str("</body></html>\n");
        out
    }

    /// Writes the HTML to `path`.
    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.render()).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

fn render_block(out: &mut String, b: &Block) {
    match b {
        Block::Text(t) => {
            let _ = write!(out, "<p>{}</p>", escape(t));
        }
        Block::Pre(t) => {
            let _ = write!(out, "<pre>{}</pre>", escape(t));
        }
        Block::Svg(svg) => {
            let _ = write!(out, "<figure>{svg}</figure>");
        }
        Block::Png { bytes, caption } => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
            let _ = write!(
                out,
                "<figure><img alt=\"{c}\" src=\"data:image/png;base64,{b64}\"><figcaption>{c}</figcaption></figure>",
                c = escape(caption)
            );
        }
        Block::Table { header, rows } => {
            out.push_str("<table>");
            if header.iter().any(|h| !h.is_empty()) {
                out.push_str("<tr>");
                for h in header {
                    let _ = write!(out, "<th>{}</th>", escape(h));
                }
                out.push_str("</tr>");
            }
            for r in rows {
                out.push_str("<tr>");
                for c in r {
                    let _ = write!(out, "<td>{}</td>", escape(c));
                }
                out.push_str("</tr>");
            }
            out.push_str("</table>");
        }
        Block::Figures(figs) => {
            out.push_str("<div>");
            for f in figs {
                render_block(out, f);
            }
            out.push_str("</div>");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_block_and_escapes() {
        let mut r = Report::new("Run <1>");
        r.section("Data")
            .text("a & b")
            .pre("  precision\n")
            .table(&["class", "n"], vec![vec!["CAP".into(), "3".into()]])
            .key_values(&[("scans", "12".into())])
            .png(vec![1, 2, 3], "tiny")
            .png_row(vec![(vec![4], "x".into()), (vec![5], "y".into())])
            .svg("<svg></svg>");
        let html = r.render();
        assert!(html.contains("<title>Run &lt;1&gt;</title>"));
        assert!(html.contains("<p>a &amp; b</p>"));
        assert!(html.contains("data:image/png;base64,AQID"));
        assert!(html.contains("<th>class</th>") && html.contains("<td>CAP</td>"));
        assert_eq!(html.matches("<figure>").count(), 4);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.html");
        r.write(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), html);
        assert!(r.write(&dir.path().join("missing/r.html")).is_err());
    }
}
