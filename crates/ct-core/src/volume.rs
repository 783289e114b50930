use std::collections::BTreeMap;
use std::path::PathBuf;

use ndarray::{Array3, ArrayView2, ArrayView3, ArrayViewMut2, Axis};
use serde::{Deserialize, Serialize};

use crate::{Contrast, Error, Label, Result, Window};

/// Voxel spacing in millimetres, in the volume's `(z, y, x)` axis order.
///
/// `z` is the distance between slice centres (not the slice thickness).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spacing {
    /// Distance between slices (mm).
    pub z: f64,
    /// Row spacing (mm), the first value of DICOM PixelSpacing.
    pub y: f64,
    /// Column spacing (mm), the second value of DICOM PixelSpacing.
    pub x: f64,
}

impl Spacing {
    /// Checked constructor: every value finite and positive.
    pub fn new(z: f64, y: f64, x: f64) -> Result<Spacing> {
        let s = Spacing { z, y, x };
        s.validate()?;
        Ok(s)
    }

    /// 1 mm in every direction.
    pub const ISOTROPIC_1MM: Spacing = Spacing {
        z: 1.0,
        y: 1.0,
        x: 1.0,
    };

    /// Rejects zero, negative, infinite and NaN spacings.
    pub fn validate(&self) -> Result<()> {
        for (axis, value) in [("z", self.z), ("y", self.y), ("x", self.x)] {
            if !(value.is_finite() && value > 0.0) {
                return Err(Error::InvalidSpacing { axis, value });
            }
        }
        Ok(())
    }

    /// `[z, y, x]`.
    pub fn to_array(self) -> [f64; 3] {
        [self.z, self.y, self.x]
    }

    /// Volume of one voxel in mm³.
    pub fn voxel_volume(self) -> f64 {
        self.z * self.y * self.x
    }
}

impl Default for Spacing {
    fn default() -> Self {
        Spacing::ISOTROPIC_1MM
    }
}

/// A 3-D image in `(z, y, x)` order with its voxel spacing and the patient-space position
/// (mm) of voxel `(0, 0, 0)`, stored as `[z, y, x]`-ordered components along the volume axes.
///
/// The array is always non-empty and the spacing always valid: both are checked on
/// construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume<T> {
    data: Array3<T>,
    spacing: Spacing,
    origin: [f64; 3],
}

impl<T> Volume<T> {
    /// A volume with origin `(0, 0, 0)`.
    pub fn new(data: Array3<T>, spacing: Spacing) -> Result<Self> {
        Self::with_origin(data, spacing, [0.0; 3])
    }

    /// A volume with an explicit origin (mm, patient coordinates of the first voxel, in the
    /// DICOM x, y, z convention of `ImagePositionPatient`).
    pub fn with_origin(data: Array3<T>, spacing: Spacing, origin: [f64; 3]) -> Result<Self> {
        spacing.validate()?;
        let (z, y, x) = data.dim();
        if z == 0 || y == 0 || x == 0 {
            return Err(Error::EmptyVolume([z, y, x]));
        }
        Ok(Volume {
            data,
            spacing,
            origin,
        })
    }

    /// The voxels.
    pub fn data(&self) -> &Array3<T> {
        &self.data
    }

    /// The voxels, mutably (the shape cannot change through this).
    pub fn data_mut(&mut self) -> ndarray::ArrayViewMut3<'_, T> {
        self.data.view_mut()
    }

    /// A view of the voxels.
    pub fn view(&self) -> ArrayView3<'_, T> {
        self.data.view()
    }

    /// Takes the array out.
    pub fn into_data(self) -> Array3<T> {
        self.data
    }

    /// Spacing in mm.
    pub fn spacing(&self) -> Spacing {
        self.spacing
    }

    /// Patient-space position of the first voxel (DICOM `ImagePositionPatient` of slice 0).
    pub fn origin(&self) -> [f64; 3] {
        self.origin
    }

    /// `[z, y, x]` shape.
    pub fn shape(&self) -> [usize; 3] {
        let (z, y, x) = self.data.dim();
        [z, y, x]
    }

    /// Number of slices.
    pub fn n_slices(&self) -> usize {
        self.data.len_of(Axis(0))
    }

    /// A view of slice `z` (no copy).
    pub fn slice(&self, z: usize) -> Result<ArrayView2<'_, T>> {
        if z >= self.n_slices() {
            return Err(Error::SliceOutOfRange {
                index: z,
                len: self.n_slices(),
            });
        }
        Ok(self.data.index_axis(Axis(0), z))
    }

    /// A mutable view of slice `z`.
    pub fn slice_mut(&mut self, z: usize) -> Result<ArrayViewMut2<'_, T>> {
        let len = self.n_slices();
        if z >= len {
            return Err(Error::SliceOutOfRange { index: z, len });
        }
        Ok(self.data.index_axis_mut(Axis(0), z))
    }

    /// Iterates over the slices in z order.
    pub fn slices(&self) -> impl ExactSizeIterator<Item = ArrayView2<'_, T>> {
        self.data.axis_iter(Axis(0))
    }

    /// The same geometry with other voxels (for masks and converted volumes).
    pub fn with_data<U>(&self, data: Array3<U>) -> Result<Volume<U>> {
        if data.dim() != self.data.dim() {
            return Err(Error::ShapeMismatch {
                expected: self.shape().to_vec(),
                got: data.shape().to_vec(),
            });
        }
        Ok(Volume {
            data,
            spacing: self.spacing,
            origin: self.origin,
        })
    }

    /// Applies `f` to every voxel (in parallel), keeping the geometry.
    pub fn map<U, F>(&self, f: F) -> Volume<U>
    where
        T: Sync,
        U: Send + Sync + Clone,
        F: Fn(&T) -> U + Sync + Send,
    {
        let mut out = Array3::<U>::uninit(self.data.raw_dim());
        ndarray::Zip::from(&mut out)
            .and(&self.data)
            .par_for_each(|o, v| {
                o.write(f(v));
            });
        Volume {
            // SAFETY: every element was written by the Zip above.
            data: unsafe { out.assume_init() },
            spacing: self.spacing,
            origin: self.origin,
        }
    }
}

impl Volume<i16> {
    /// Windows HU to u8 with [`Window::apply`]'s exact integer rule.
    pub fn window(&self, w: Window) -> Volume<u8> {
        self.map(|&hu| w.apply(hu))
    }

    /// HU to f32 (exact).
    pub fn to_f32(&self) -> Volume<f32> {
        self.map(|&hu| hu as f32)
    }

    /// HU to u16 with the common +1024 offset, clamped to `0..=65535` (CT numbers below
    /// −1024 HU become 0).
    pub fn to_u16_offset(&self) -> Volume<u16> {
        self.map(|&hu| (hu as i32 + 1024).clamp(0, u16::MAX as i32) as u16)
    }
}

impl Volume<u16> {
    /// Inverse of [`Volume::to_u16_offset`], saturating at `i16::MAX`.
    pub fn to_hu_from_offset(&self) -> Volume<i16> {
        self.map(|&v| (v as i32 - 1024).clamp(i16::MIN as i32, i16::MAX as i32) as i16)
    }
}

impl Volume<f32> {
    /// Rounds to the nearest HU (half away from zero), saturating; NaN becomes −1024 (air).
    pub fn to_i16_rounded(&self) -> Volume<i16> {
        self.map(|&v| {
            if v.is_nan() {
                -1024
            } else {
                v.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16
            }
        })
    }
}

impl Volume<u8> {
    /// u8 to f32 in `[0, 1]` (`v / 255`).
    pub fn to_unit_f32(&self) -> Volume<f32> {
        self.map(|&v| v as f32 / 255.0)
    }
}

/// Metadata carried with a scan. Every field is optional: phantoms, NIfTI and DICOM fill
/// different parts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Patient or subject identifier.
    pub patient_id: Option<String>,
    /// DICOM SeriesInstanceUID.
    pub series_uid: Option<String>,
    /// Where the scan was read from.
    pub source: Option<PathBuf>,
    /// Known contrast group (ground truth on phantoms, or from an index file).
    pub contrast: Option<Contrast>,
    /// Slice thickness (mm), when the source records it (it may differ from `spacing.z`).
    pub slice_thickness: Option<f64>,
    /// Anything else worth keeping (e.g. `Modality`, `Manufacturer`), as text.
    pub extra: BTreeMap<String, String>,
    /// Warnings raised while reading (uneven slice gaps, fallbacks, skipped files).
    pub warnings: Vec<String>,
}

/// One subject: a CT volume in Hounsfield units, its diagnosis when known, and metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Scan {
    /// Subject / scan identifier (unique within a data set).
    pub id: String,
    /// Diagnosis, if known.
    pub label: Option<Label>,
    /// The volume in HU.
    pub volume: Volume<i16>,
    /// Metadata.
    pub meta: Meta,
}

impl Scan {
    /// A scan with empty metadata.
    pub fn new(id: impl Into<String>, label: Option<Label>, volume: Volume<i16>) -> Scan {
        Scan {
            id: id.into(),
            label,
            volume,
            meta: Meta::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_geometry() {
        assert!(matches!(
            Spacing::new(0.0, 1.0, 1.0),
            Err(Error::InvalidSpacing { axis: "z", .. })
        ));
        assert!(Spacing::new(1.0, f64::NAN, 1.0).is_err());
        assert!(Spacing::new(1.0, 1.0, -0.5).is_err());
        let e = Volume::new(Array3::<i16>::zeros((0, 4, 4)), Spacing::default());
        assert_eq!(e.unwrap_err(), Error::EmptyVolume([0, 4, 4]));
    }

    #[test]
    fn slices_and_conversions() {
        let data = Array3::from_shape_fn((3, 2, 2), |(z, y, x)| (z * 100 + y * 10 + x) as i16);
        let v = Volume::new(data, Spacing::new(2.0, 0.5, 0.5).unwrap()).unwrap();
        assert_eq!(v.shape(), [3, 2, 2]);
        assert_eq!(v.slice(2).unwrap()[[1, 1]], 211);
        assert!(matches!(
            v.slice(3),
            Err(Error::SliceOutOfRange { index: 3, len: 3 })
        ));
        assert_eq!(v.slices().len(), 3);
        let f = v.to_f32();
        assert_eq!(f.data()[[1, 0, 1]], 101.0);
        assert_eq!(f.to_i16_rounded(), v);
        let u = v.to_u16_offset();
        assert_eq!(u.data()[[0, 0, 0]], 1024);
        assert_eq!(u.to_hu_from_offset(), v);
        assert!(v.with_data(Array3::<u8>::zeros((3, 2, 1))).is_err());
        let m = v.with_data(Array3::<u8>::ones((3, 2, 2))).unwrap();
        assert_eq!(m.spacing(), v.spacing());
    }

    #[test]
    fn nan_to_air() {
        let v = Volume::new(Array3::from_elem((1, 1, 2), f32::NAN), Spacing::default()).unwrap();
        assert_eq!(v.to_i16_rounded().data()[[0, 0, 1]], -1024);
    }
}
