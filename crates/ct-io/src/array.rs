//! A 3-D array of any of the element types the file formats carry, and the rule that turns
//! it into HU.

use ndarray::Array3;

/// A voxel type that ct-io can write to .npy and NIfTI files.
pub trait Sample: Copy + Send + Sync + 'static {
    /// numpy dtype string (`<i2`, `|u1`, ...).
    const NPY_DESCR: &'static str;
    /// NIfTI-1 `datatype` code.
    const NIFTI_CODE: i16;
    /// Bytes per value.
    const SIZE: usize;
    /// Appends the little-endian bytes of `self`.
    fn put_le(self, out: &mut Vec<u8>);
}

macro_rules! sample {
    ($t:ty, $descr:expr, $code:expr) => {
        impl Sample for $t {
            const NPY_DESCR: &'static str = $descr;
            const NIFTI_CODE: i16 = $code;
            const SIZE: usize = std::mem::size_of::<$t>();
            #[inline]
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}
sample!(u8, "|u1", 2);
sample!(i8, "|i1", 256);
sample!(i16, "<i2", 4);
sample!(u16, "<u2", 512);
sample!(i32, "<i4", 8);
sample!(u32, "<u4", 768);
sample!(f32, "<f4", 16);
sample!(f64, "<f8", 64);

/// A 3-D array `(z, y, x)` of one of the element types .npy and NIfTI files hold.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyArray {
    /// uint8.
    U8(Array3<u8>),
    /// int8.
    I8(Array3<i8>),
    /// int16 (HU in this project's convention).
    I16(Array3<i16>),
    /// uint16.
    U16(Array3<u16>),
    /// int32.
    I32(Array3<i32>),
    /// uint32.
    U32(Array3<u32>),
    /// float32.
    F32(Array3<f32>),
    /// float64.
    F64(Array3<f64>),
}

macro_rules! each {
    ($self:expr, $a:ident => $e:expr) => {
        match $self {
            AnyArray::U8($a) => $e,
            AnyArray::I8($a) => $e,
            AnyArray::I16($a) => $e,
            AnyArray::U16($a) => $e,
            AnyArray::I32($a) => $e,
            AnyArray::U32($a) => $e,
            AnyArray::F32($a) => $e,
            AnyArray::F64($a) => $e,
        }
    };
}

impl AnyArray {
    /// `[z, y, x]`.
    pub fn shape(&self) -> [usize; 3] {
        each!(self, a => { let (z, y, x) = a.dim(); [z, y, x] })
    }

    /// The numpy name of the element type (`int16`, `uint8`, ...).
    pub fn dtype(&self) -> &'static str {
        match self {
            AnyArray::U8(_) => "uint8",
            AnyArray::I8(_) => "int8",
            AnyArray::I16(_) => "int16",
            AnyArray::U16(_) => "uint16",
            AnyArray::I32(_) => "int32",
            AnyArray::U32(_) => "uint32",
            AnyArray::F32(_) => "float32",
            AnyArray::F64(_) => "float64",
        }
    }

    /// Converts to i16 HU values: integers are saturated to the i16 range, floats rounded half
    /// away from zero and saturated (NaN becomes −1024, air). Returns the array and the number
    /// of values that were changed by saturation (or NaN).
    pub fn to_i16(&self) -> (Array3<i16>, usize) {
        fn sat_int<T: Copy + Into<i64>>(a: &Array3<T>) -> (Array3<i16>, usize) {
            let mut n = 0;
            let out = a.mapv(|v| {
                let v: i64 = v.into();
                let c = v.clamp(i16::MIN as i64, i16::MAX as i64);
                n += (c != v) as usize;
                c as i16
            });
            (out, n)
        }
        fn sat_float<T: Copy + Into<f64>>(a: &Array3<T>) -> (Array3<i16>, usize) {
            let mut n = 0;
            let out = a.mapv(|v| {
                let v: f64 = v.into();
                if v.is_nan() {
                    n += 1;
                    return -1024;
                }
                let r = v.round();
                let c = r.clamp(i16::MIN as f64, i16::MAX as f64);
                n += (c != r) as usize;
                c as i16
            });
            (out, n)
        }
        match self {
            AnyArray::I16(a) => (a.clone(), 0),
            AnyArray::U8(a) => sat_int(a),
            AnyArray::I8(a) => sat_int(a),
            AnyArray::U16(a) => sat_int(a),
            AnyArray::I32(a) => sat_int(a),
            AnyArray::U32(a) => sat_int(a),
            AnyArray::F32(a) => sat_float(a),
            AnyArray::F64(a) => sat_float(a),
        }
    }
}
