//! Pictures collected while scans stream through preprocessing.

use std::collections::BTreeMap;

use crate::preprocess::Processed;

/// Pictures collected while scans stream through preprocessing: the first scan of each
/// (class, contrast group) gives its segmentation overlay and its CLAHE slice.
#[derive(Debug, Default)]
pub struct Figures {
    pub(super) previews: BTreeMap<(usize, u8), Preview>,
}

/// One scan's pictures: id, segmentation, CLAHE, pattern U-Net (when it ran).
pub(super) type Preview = (String, Vec<u8>, Vec<u8>, Option<Vec<u8>>);

impl Figures {
    /// Keeps the pictures of `p` if its (class, group) has none yet.
    pub fn offer_preview(&mut self, p: &Processed) {
        let (Some(l), Some(a), Some(b)) = (p.record.label, &p.preview, &p.preview_enhanced) else {
            return;
        };
        let g = p.record.contrast.map_or(2, |c| c as u8);
        self.previews.entry((l.index(), g)).or_insert_with(|| {
            (
                p.record.id.clone(),
                a.clone(),
                b.clone(),
                p.preview_pattern.clone(),
            )
        });
    }
}
