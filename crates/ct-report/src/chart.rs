//! SVG charts written as text: line charts and histograms, grouped bar charts, confusion
//! matrices and heat maps. Text is plain SVG `<text>` in a generic sans-serif font, so no font
//! file is needed to produce them and every browser renders them.

use std::fmt::Write;

use crate::image::ColorMap;

const W: f64 = 640.0;
const H: f64 = 400.0;
const ML: f64 = 70.0; // margins: left, right, top, bottom
const MR: f64 = 150.0;
const MT: f64 = 40.0;
const MB: f64 = 55.0;
/// Series colours (Tableau 10).
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// One named line of points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// `(x, y)` points in drawing order; non-finite points break the line.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series from its name and points.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
        }
    }
}

/// Escapes text for SVG/HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// About `n` round tick values covering `[lo, hi]`.
fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e4 || v.abs() < 1e-2 {
        format!("{v:.1e}")
    } else if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn header(out: &mut String, w: f64, h: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="Helvetica,Arial,sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
        w / 2.0,
        escape(title)
    );
}

fn legend(out: &mut String, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        let y = MT + 10.0 + i as f64 * 18.0;
        let _ = write!(
            out,
            r#"<rect x="{}" y="{}" width="14" height="10" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            W - MR + 12.0,
            y - 9.0,
            PALETTE[i % PALETTE.len()],
            W - MR + 30.0,
            y,
            escape(name)
        );
    }
}

/// Axes with ticks; returns the data→pixel maps.
fn axes(
    out: &mut String,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    x_label: &str,
    y_label: &str,
) -> (impl Fn(f64) -> f64 + use<>, impl Fn(f64) -> f64 + use<>) {
    let (pw, ph) = (W - ML - MR, H - MT - MB);
    let xs = if x1 > x0 { x1 - x0 } else { 1.0 };
    let ys = if y1 > y0 { y1 - y0 } else { 1.0 };
    let fx = move |x: f64| ML + (x - x0) / xs * pw;
    let fy = move |y: f64| MT + ph - (y - y0) / ys * ph;
    let _ = write!(
        out,
        r##"<rect x="{ML}" y="{MT}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>"##
    );
    for t in ticks(x0, x1, 6) {
        let px = fx(t);
        let _ = write!(
            out,
            r##"<line x1="{px}" y1="{}" x2="{px}" y2="{}" stroke="#333"/><text x="{px}" y="{}" text-anchor="middle">{}</text>"##,
            MT + ph,
            MT + ph + 5.0,
            MT + ph + 18.0,
            fmt_tick(t)
        );
    }
    for t in ticks(y0, y1, 5) {
        let py = fy(t);
        let _ = write!(
            out,
            r##"<line x1="{}" y1="{py}" x2="{ML}" y2="{py}" stroke="#333"/><line x1="{ML}" y1="{py}" x2="{}" y2="{py}" stroke="#eee"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            ML - 5.0,
            ML + pw,
            ML - 8.0,
            py + 4.0,
            fmt_tick(t)
        );
    }
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(16,{}) rotate(-90)" text-anchor="middle">{}</text>"#,
        ML + pw / 2.0,
        H - 12.0,
        escape(x_label),
        MT + ph / 2.0,
        escape(y_label)
    );
    (fx, fy)
}

fn extent<'a>(vals: impl Iterator<Item = &'a f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in vals.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        (0.0, 1.0)
    } else if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    }
}

/// A line chart of several series (training curves, per-slice statistics, histograms given
/// as bin centres).
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let mut out = String::new();
    header(&mut out, W, H, title);
    let xr = extent(series.iter().flat_map(|s| s.points.iter().map(|p| &p.0)));
    let mut yr = extent(series.iter().flat_map(|s| s.points.iter().map(|p| &p.1)));
    if yr.0 > 0.0 && yr.0 < 0.25 * yr.1 {
        yr.0 = 0.0;
    }
    let (fx, fy) = axes(&mut out, xr, yr, x_label, y_label);
    for (i, s) in series.iter().enumerate() {
        let mut d = String::new();
        let mut pen_down = false;
        for &(x, y) in &s.points {
            if !(x.is_finite() && y.is_finite()) {
                pen_down = false;
                continue;
            }
            let _ = write!(
                d,
                "{}{:.2},{:.2} ",
                if pen_down { "L" } else { "M" },
                fx(x),
                fy(y)
            );
            pen_down = true;
        }
        let _ = write!(
            out,
            r#"<path d="{}" fill="none" stroke="{}" stroke-width="1.8"/>"#,
            d.trim_end(),
            PALETTE[i % PALETTE.len()]
        );
    }
    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    legend(&mut out, &names);
    out.push_str("</svg>");
    out
}

/// Histograms drawn as steps: `edges` has one more value than each series' counts.
/// With `density`, each series is scaled to unit area, so groups of different sizes compare.
pub fn histogram(
    title: &str,
    x_label: &str,
    edges: &[f64],
    series: &[(String, Vec<f64>)],
    density: bool,
) -> String {
    let lines: Vec<Series> = series
        .iter()
        .map(|(name, counts)| {
            let total: f64 = counts
                .iter()
                .zip(edges.windows(2))
                .map(|(c, e)| c * (e[1] - e[0]))
                .sum();
            let scale = if density && total > 0.0 {
                1.0 / total
            } else {
                1.0
            };
            let mut pts = Vec::with_capacity(2 * counts.len());
            for (c, e) in counts.iter().zip(edges.windows(2)) {
                pts.push((e[0], c * scale));
                pts.push((e[1], c * scale));
            }
            Series::new(name.clone(), pts)
        })
        .collect();
    line_chart(
        title,
        x_label,
        if density { "density" } else { "count" },
        &lines,
    )
}

/// Grouped vertical bars: one group per category, one bar per series.
pub fn bar_chart(
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
) -> String {
    let mut out = String::new();
    header(&mut out, W, H, title);
    let (_, mut hi) = extent(series.iter().flat_map(|s| s.1.iter()));
    if hi <= 0.0 {
        hi = 1.0;
    }
    let (pw, ph) = (W - ML - MR, H - MT - MB);
    let (_, fy) = axes(&mut out, (0.0, 1.0), (0.0, hi), "", y_label);
    // Cover the numeric x ticks drawn by `axes`: categories label this axis instead.
    let _ = write!(
        out,
        r#"<rect x="{}" y="{}" width="{}" height="24" fill="white"/>"#,
        ML - 20.0,
        MT + ph + 1.0,
        pw + 40.0
    );
    let n = categories.len().max(1) as f64;
    let group = pw / n;
    let k = series.len().max(1) as f64;
    let bw = group * 0.8 / k;
    for (ci, cat) in categories.iter().enumerate() {
        let gx = ML + ci as f64 * group + group * 0.1;
        for (si, (_, vals)) in series.iter().enumerate() {
            let v = vals.get(ci).copied().unwrap_or(f64::NAN);
            if !v.is_finite() {
                continue;
            }
            let y = fy(v.max(0.0));
            let _ = write!(
                out,
                r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{:.2}" fill="{}"><title>{}: {}</title></rect>"#,
                gx + si as f64 * bw,
                y,
                bw,
                MT + ph - y,
                PALETTE[si % PALETTE.len()],
                escape(cat),
                v
            );
        }
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            gx + group * 0.4,
            MT + ph + 18.0,
            escape(cat)
        );
    }
    let names: Vec<&str> = series.iter().map(|s| s.0.as_str()).collect();
    legend(&mut out, &names);
    out.push_str("</svg>");
    out
}

/// The first `n_rows` row labels left of a grid of `cell`-sized squares starting at
/// `(left, top)`, and the first `cols` column labels above it.
fn grid_labels(
    out: &mut String,
    (left, top, cell, n_rows): (f64, f64, f64, usize),
    rows: &[&str],
    cols_l: &[&str],
    cols: usize,
) {
    for (r, label) in rows.iter().take(n_rows).enumerate() {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            left - 6.0,
            top + r as f64 * cell + cell / 2.0 + 4.0,
            escape(label)
        );
    }
    for c in 0..cols {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            left + c as f64 * cell + cell / 2.0,
            top - 8.0,
            escape(cols_l.get(c).copied().unwrap_or(""))
        );
    }
}

/// A heat map of `values` (rows × cols) with row/column labels and each cell's value printed.
pub fn heatmap(
    title: &str,
    values: &[Vec<f64>],
    row_labels: &[&str],
    col_labels: &[&str],
    cmap: ColorMap,
) -> String {
    let rows = values.len();
    let cols = values.iter().map(Vec::len).max().unwrap_or(0);
    let cell = 56.0;
    let (left, top) = (110.0, 60.0);
    let w = left + cols as f64 * cell + 20.0;
    let h = top + rows as f64 * cell + 20.0;
    let mut out = String::new();
    header(&mut out, w.max(300.0), h, title);
    let (lo, hi) = extent(values.iter().flatten());
    for (r, row) in values.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
            let [cr, cg, cb] = cmap.color(t);
            let text = if t > 0.55 && cmap == ColorMap::Gray {
                "black"
            } else if t < 0.6 {
                "white"
            } else {
                "black"
            };
            let (x, y) = (left + c as f64 * cell, top + r as f64 * cell);
            let _ = write!(
                out,
                r#"<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="rgb({cr},{cg},{cb})" stroke="white"/><text x="{}" y="{}" text-anchor="middle" fill="{text}">{}</text>"#,
                x + cell / 2.0,
                y + cell / 2.0 + 4.0,
                fmt_tick((v * 1000.0).round() / 1000.0)
            );
        }
    }
    grid_labels(
        &mut out,
        (left, top, cell, values.len()),
        row_labels,
        col_labels,
        cols,
    );
    out.push_str("</svg>");
    out
}

/// A confusion matrix (rows: true class, columns: predicted class), cells shaded by their
/// share of the row.
pub fn confusion_matrix(matrix: &[Vec<usize>], labels: &[&str], title: &str) -> String {
    let rows = matrix.len();
    let cell = 64.0;
    let (left, top) = (120.0, 80.0);
    let w = left + rows as f64 * cell + 30.0;
    let h = top + rows as f64 * cell + 40.0;
    let mut out = String::new();
    header(&mut out, w.max(320.0), h, title);
    for (r, row) in matrix.iter().enumerate() {
        let total: usize = row.iter().sum();
        for (c, &v) in row.iter().enumerate() {
            let t = if total > 0 {
                v as f64 / total as f64
            } else {
                0.0
            };
            let shade = (255.0 - t * 200.0).round() as u8;
            let (x, y) = (left + c as f64 * cell, top + r as f64 * cell);
            let _ = write!(
                out,
                r#"<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="rgb({shade},{shade},255)" stroke="white"/><text x="{}" y="{}" text-anchor="middle" font-size="16" fill="{}">{v}</text>"#,
                x + cell / 2.0,
                y + cell / 2.0 + 6.0,
                if t > 0.6 { "white" } else { "black" }
            );
        }
    }
    grid_labels(&mut out, (left, top, cell, rows), labels, labels, rows);
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle" font-style="italic">predicted</text><text transform="translate(18,{}) rotate(-90)" text-anchor="middle" font-style="italic">true</text>"#,
        left + rows as f64 * cell / 2.0,
        top - 28.0,
        top + rows as f64 * cell / 2.0
    );
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            ticks(0.0, 1.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        let t = ticks(-1024.0, 400.0, 6);
        assert!(t.first().unwrap() >= &-1024.0 && t.last().unwrap() <= &400.0);
        assert!(t.contains(&0.0));
        assert_eq!(fmt_tick(250.0), "250");
        assert_eq!(fmt_tick(0.25), "0.25");
    }

    #[test]
    fn charts_are_well_formed_svg() {
        let lc = line_chart(
            "Loss <train>",
            "epoch",
            "loss",
            &[Series::new(
                "train",
                vec![(0.0, 1.0), (1.0, 0.5), (2.0, f64::NAN), (3.0, 0.2)],
            )],
        );
        assert!(lc.starts_with("<svg") && lc.ends_with("</svg>"));
        assert!(lc.contains("Loss &lt;train&gt;"));
        // The NaN point breaks the line into two sub-paths.
        assert_eq!(lc.matches("d=\"M").count(), 1);
        assert_eq!(lc.matches(" M").count(), 1);
        let h = histogram(
            "HU",
            "HU",
            &[0.0, 1.0, 2.0],
            &[("a".into(), vec![1.0, 3.0])],
            true,
        );
        assert!(h.contains("density"));
        let cm = confusion_matrix(&[vec![3, 1], vec![0, 4]], &["A", "B"], "cm");
        assert!(cm.contains(">3</text>") && cm.contains(">4</text>"));
        let hm = heatmap(
            "d",
            &[vec![0.0, 1.5], vec![1.5, 0.0]],
            &["x", "y"],
            &["x", "y"],
            ColorMap::Viridis,
        );
        assert!(hm.contains(">1.5</text>"));
        let b = bar_chart(
            "b",
            "n",
            &["a".into(), "b".into()],
            &[("s".into(), vec![1.0, 2.0])],
        );
        assert!(b.matches("<rect").count() >= 2);
    }
}
