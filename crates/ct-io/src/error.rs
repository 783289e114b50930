use std::path::PathBuf;

use crate::dataset::IndexColumn;

/// Errors of `ct-io`. Every variant names the file (and the tag, shape or transfer syntax)
/// at fault, so that the message alone explains the failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An output folder that cannot take a new result as it is.
    #[error("output folder {path}: {reason}")]
    OutputNotEmpty {
        /// The folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An operating-system error on a path.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A path that does not exist or is not the kind of thing asked for.
    #[error("{path}: {reason}")]
    BadPath {
        /// The path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A path whose format could not be recognised (not DICOM, NIfTI, .npy or an image folder).
    #[error("unrecognised input {path}: {reason}")]
    UnknownFormat {
        /// The path.
        path: PathBuf,
        /// Why no reader matched.
        reason: String,
    },
    /// A DICOM file that could not be parsed (bad header, truncated element, bad length).
    #[error("cannot parse DICOM file {path}: {message}")]
    DicomParse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A DICOM file that ends early: its header parses but the data set (usually the pixel
    /// data) is cut short, or the pixel data is shorter than Rows × Columns × BitsAllocated/8.
    #[error("truncated DICOM file {path}: {detail}")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What was expected and what was found.
        detail: String,
    },
    /// A DICOM file whose sequences nest deeper than
    /// [`crate::dicom::guard::MAX_SEQUENCE_DEPTH`]: refused before parsing, since the parser
    /// recurses once per level and would overflow the thread's stack (an abort, not an error).
    #[error(
        "DICOM file {path}: sequences nested {depth} deep at byte {offset}, more than the limit of {limit}"
    )]
    DicomNesting {
        /// The file.
        path: PathBuf,
        /// The nesting depth reached when the scan stopped (`limit + 1`).
        depth: usize,
        /// The limit.
        limit: usize,
        /// Byte offset of the sequence that went past the limit (in the inflated data set
        /// for a deflated file).
        offset: u64,
    },
    /// A DICOM element (or item) whose defined length is longer than what is left of the
    /// file: refused before parsing, since the parser allocates the declared length first.
    #[error(
        "DICOM file {path}: element {tag} at byte {offset} declares {length} bytes but only {remaining} remain in the file"
    )]
    DicomLength {
        /// The file.
        path: PathBuf,
        /// The tag and, when known, its keyword, e.g. `(0029,1010)` or
        /// `(7FE0,0010) PixelData`; `(FFFE,E000) Item` for a sequence item or fragment.
        tag: String,
        /// The declared length.
        length: u32,
        /// Byte offset of the element's header (in the inflated data set for a deflated file).
        offset: u64,
        /// Bytes left after the header.
        remaining: u64,
    },
    /// A deflated DICOM data set that inflates to more than
    /// [`crate::dicom::guard::MAX_INFLATED_BYTES`].
    #[error("DICOM file {path}: the deflated data set inflates to more than {limit} bytes")]
    DicomInflated {
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// A required DICOM attribute is absent or unreadable.
    #[error("DICOM file {path}: missing or invalid {tag}")]
    MissingTag {
        /// The file.
        path: PathBuf,
        /// The attribute's keyword, e.g. `PixelData` or `Rows`.
        tag: &'static str,
    },
    /// A DICOM attribute with a value ct-io does not handle.
    #[error("DICOM file {path}: unsupported {tag} = {value}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The attribute's keyword.
        tag: &'static str,
        /// The value found.
        value: String,
    },
    /// Pixel data in a transfer syntax this build cannot decode.
    #[error("DICOM file {path}: cannot decode transfer syntax {uid} ({name}): {message}")]
    UnsupportedTransferSyntax {
        /// The file.
        path: PathBuf,
        /// The transfer syntax UID.
        uid: String,
        /// Its name, when known.
        name: String,
        /// The decoder's message.
        message: String,
    },
    /// A folder without any DICOM file.
    #[error("no DICOM files in {dir} ({skipped} other files skipped)")]
    NoDicom {
        /// The folder.
        dir: PathBuf,
        /// How many non-DICOM files were skipped.
        skipped: usize,
    },
    /// The series UID asked for is not in the folder.
    #[error("series {uid} not found in {dir}; available: {available:?}")]
    SeriesNotFound {
        /// The folder.
        dir: PathBuf,
        /// The UID asked for.
        uid: String,
        /// The UIDs present.
        available: Vec<String>,
    },
    /// Slices of one series whose Rows × Columns differ.
    #[error(
        "mixed slice sizes in series {series}: {first_file} is {first:?} (rows, columns) but {other_file} is {other:?}"
    )]
    MixedShapes {
        /// The series UID.
        series: String,
        /// A file with the first shape.
        first_file: PathBuf,
        /// First shape (rows, columns).
        first: (usize, usize),
        /// A file with another shape.
        other_file: PathBuf,
        /// The other shape.
        other: (usize, usize),
    },
    /// A series whose modality is not CT when [`crate::dicom::DicomReadOptions::require_ct`] is set.
    #[error("series {series} in {dir} has modality {modality}, not CT")]
    NotCt {
        /// The folder.
        dir: PathBuf,
        /// The series UID.
        series: String,
        /// The modality found.
        modality: String,
    },
    /// A series with a single slice when [`crate::dicom::DicomReadOptions::allow_single_slice`] is off.
    #[error("series {series} in {dir} has only one slice")]
    SingleSlice {
        /// The folder.
        dir: PathBuf,
        /// The series UID.
        series: String,
    },
    /// A NIfTI file that is malformed or uses a feature ct-io does not read.
    #[error("NIfTI {path}: {reason}")]
    Nifti {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A .npy file that is malformed or has an unsupported dtype/shape.
    #[error(".npy {path}: {reason}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An image (PNG/TIFF/JPEG) that cannot be decoded or does not fit the folder.
    #[error("image {path}: {reason}")]
    Image {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A data-set folder that matches no known layout, or holds unknown class folders.
    #[error("data set {root}: {reason}")]
    Dataset {
        /// The data-set root.
        root: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A data set's `Index.csv` that is not valid CSV (e.g. not UTF-8).
    #[error("{path}{}: malformed CSV: {reason}", .line.map(|l| format!(", line {l}")).unwrap_or_default())]
    IndexCsv {
        /// The file.
        path: PathBuf,
        /// The line of the record at fault, when known.
        line: Option<u64>,
        /// The CSV reader's message.
        reason: String,
    },
    /// A diagnosis or contrast value in a data set's `Index.csv` that is neither empty
    /// (unknown) nor one ct-io knows.
    #[error(
        "{path}, line {line}, column {column:?}: unknown {} {value:?}; accepted: {}",
        .kind.noun(),
        .kind.accepted()
    )]
    IndexValue {
        /// The file.
        path: PathBuf,
        /// The line of the row (1-based, the header is line 1).
        line: u64,
        /// The column's header name.
        column: String,
        /// The value found.
        value: String,
        /// What the column holds (its [`IndexColumn::accepted`] values are in the message).
        kind: IndexColumn,
        /// ct-core's parse error (boxed to keep [`Error`] small).
        #[source]
        source: Box<ct_core::Error>,
    },
    /// An invalid option value.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// A geometry error from `ct-core` (bad spacing, empty volume).
    #[error("{context}: {source}")]
    Core {
        /// Which file or step produced it.
        context: String,
        /// The ct-core error.
        #[source]
        source: ct_core::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn core(context: impl std::fmt::Display, source: ct_core::Error) -> Error {
        Error::Core {
            context: context.to_string(),
            source,
        }
    }
}
