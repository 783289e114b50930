use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A CT display window (level and width in HU).
///
/// [`Window::apply`] maps HU to u8 with an exact integer rule: round half up of
/// `(hu − (level − width/2)) · 255 / width`, clipped to `0..=255`. It is computed without
/// floating point as `floor(((2·hu − (2·level − width)) · 255 + width) / (2·width))`, so for
/// the lung window W1500/L−500 it is `clip(((hu + 1250)·510 + 1500) div 3000, 0, 255)`:
/// bit-identical to the numpy expression the anchors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Centre of the window (HU).
    pub level: i32,
    /// Width of the window (HU), > 0.
    pub width: i32,
}

impl Window {
    /// Lung window: width 1500, level −500 (COVNet's pre-processing).
    pub const LUNG: Window = Window {
        level: -500,
        width: 1500,
    };
    /// Mediastinum (soft tissue) window: width 350, level 50.
    pub const MEDIASTINUM: Window = Window {
        level: 50,
        width: 350,
    };

    /// Checked constructor.
    pub fn new(level: i32, width: i32) -> Result<Window> {
        let w = Window { level, width };
        w.validate()?;
        Ok(w)
    }

    /// Rejects non-positive widths.
    pub fn validate(&self) -> Result<()> {
        if self.width <= 0 {
            return Err(Error::InvalidWindow(self.width));
        }
        Ok(())
    }

    /// Lowest HU of the window (`level − width/2`, may be a half-integer).
    pub fn lower(&self) -> f64 {
        self.level as f64 - self.width as f64 / 2.0
    }

    /// Highest HU of the window.
    pub fn upper(&self) -> f64 {
        self.level as f64 + self.width as f64 / 2.0
    }

    /// HU → u8 by the exact integer rule (see the type's documentation). A window of
    /// non-positive width maps everything to 0.
    #[inline]
    pub fn apply(&self, hu: i16) -> u8 {
        let w = self.width as i64;
        if w <= 0 {
            return 0;
        }
        let twice_lower = 2 * self.level as i64 - w;
        let num = (2 * hu as i64 - twice_lower) * 255 + w;
        num.div_euclid(2 * w).clamp(0, 255) as u8
    }

    /// HU → f32 in `[0, 1]`: `(hu − lower) / width` clipped (COVNet's "clip to the window and
    /// normalise to [0, 1]").
    #[inline]
    pub fn apply_unit(&self, hu: f32) -> f32 {
        ((hu as f64 - self.lower()) / self.width as f64).clamp(0.0, 1.0) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The anchors' numpy formula for W1500/L−500.
    fn numpy_lung(hu: i16) -> u8 {
        ((hu as i64 + 1250) * 510 + 1500)
            .div_euclid(3000)
            .clamp(0, 255) as u8
    }

    #[test]
    fn lung_window_matches_numpy_formula_everywhere() {
        for hu in i16::MIN..=i16::MAX {
            assert_eq!(Window::LUNG.apply(hu), numpy_lung(hu), "hu={hu}");
        }
        assert_eq!(Window::LUNG.apply(-1250), 0);
        assert_eq!(Window::LUNG.apply(250), 255);
        assert_eq!(Window::LUNG.apply(-500), 128); // 127.5 rounds up
    }

    #[test]
    fn rejects_bad_width() {
        assert_eq!(Window::new(0, 0), Err(Error::InvalidWindow(0)));
        assert!(Window::new(40, -1).is_err());
        assert_eq!(Window { level: 0, width: 0 }.apply(100), 0);
    }

    proptest! {
        #[test]
        fn matches_rounded_float_rule(level in -1000i32..1000, width in 1i32..4000, hu in -3000i16..3000) {
            let w = Window { level, width };
            let exact = (hu as f64 - w.lower()) * 255.0 / width as f64;
            let got = w.apply(hu) as f64;
            let expected = (exact + 0.5).floor().clamp(0.0, 255.0);
            // The float formula can only disagree when exact is within rounding of a .5 tie.
            if ((exact + 0.5) - (exact + 0.5).round()).abs() > 1e-9 {
                prop_assert_eq!(got, expected);
            }
            let unit = w.apply_unit(hu as f32);
            prop_assert!((0.0..=1.0).contains(&unit));
        }
    }
}
