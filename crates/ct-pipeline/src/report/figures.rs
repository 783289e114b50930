//! Pictures collected while scans stream through preprocessing.

use std::collections::BTreeMap;

use crate::preprocess::Processed;

/// Pictures collected while scans stream through preprocessing: per (class, contrast group),
/// the segmentation overlay, the CLAHE slice and the pattern map of the scan with the
/// smallest id (so a run and its sharded twin show the same scans, whatever the order in
/// which workers finish).
#[derive(Debug, Default)]
pub struct Figures {
    pub(super) previews: BTreeMap<(usize, u8), Preview>,
}

/// One scan's pictures (PNG bytes): id, segmentation, CLAHE, pattern U-Net (when it ran).
pub(crate) type Preview = (String, Vec<u8>, Vec<u8>, Option<Vec<u8>>);

/// A preview with its (class index, contrast group) key, as a shard file carries it.
pub(crate) type KeyedPreview = (usize, u8, Preview);

impl Figures {
    /// Offers the pictures of `p` for its (class, group).
    pub fn offer_preview(&mut self, p: &Processed) {
        let (Some(l), Some(a), Some(b)) = (p.record.label, &p.preview, &p.preview_enhanced) else {
            return;
        };
        let g = p.record.contrast.map_or(2, |c| c as u8);
        let preview = (
            p.record.id.clone(),
            a.clone(),
            b.clone(),
            p.preview_pattern.clone(),
        );
        self.offer(l.index(), g, preview);
    }

    /// Keeps `preview` if its key has none yet or one of a larger scan id.
    fn offer(&mut self, label: usize, group: u8, preview: Preview) {
        let slot = self.previews.entry((label, group));
        match slot {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(preview);
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                if preview.0 < o.get().0 {
                    o.insert(preview);
                }
            }
        }
    }

    /// The previews with their keys (for a shard file).
    pub(crate) fn keyed(&self) -> Vec<KeyedPreview> {
        self.previews
            .iter()
            .map(|(&(l, g), p)| (l, g, p.clone()))
            .collect()
    }

    /// Takes in the previews of a shard.
    pub(crate) fn absorb(&mut self, previews: Vec<KeyedPreview>) {
        for (l, g, p) in previews {
            self.offer(l, g, p);
        }
    }
}
