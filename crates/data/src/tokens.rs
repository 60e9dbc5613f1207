//! Token ids stored as compactly as the vocabulary allows: one byte each for up to 256 tokens,
//! two for up to 65,536, four beyond. A [`TokenView`] reads any of the three the same way,
//! whether the ids live in a `Vec` or in a memory-mapped file.

use std::ops::Range;

#[cfg(not(target_endian = "little"))]
compile_error!(
    "prepared token files are little-endian and read in place: charlstm needs a little-endian machine"
);

/// Bytes per token id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenWidth {
    /// One byte: vocabularies of up to 256 tokens.
    U8,
    /// Two bytes: up to 65,536 tokens.
    U16,
    /// Four bytes.
    U32,
}

impl TokenWidth {
    /// The narrowest width that holds every id below `vocab_size`.
    pub fn for_vocab(vocab_size: usize) -> Self {
        if vocab_size <= 1 << 8 {
            Self::U8
        } else if vocab_size <= 1 << 16 {
            Self::U16
        } else {
            Self::U32
        }
    }

    /// Bytes per id.
    pub fn bytes(self) -> usize {
        match self {
            Self::U8 => 1,
            Self::U16 => 2,
            Self::U32 => 4,
        }
    }

    /// Appends `ids` to `out` as little-endian values of this width. Every id must fit.
    pub fn write_ids(self, ids: &[u32], out: &mut Vec<u8>) {
        match self {
            Self::U8 => out.extend(ids.iter().map(|&id| id as u8)),
            Self::U16 => {
                for &id in ids {
                    out.extend_from_slice(&(id as u16).to_le_bytes());
                }
            }
            Self::U32 => {
                for &id in ids {
                    out.extend_from_slice(&id.to_le_bytes());
                }
            }
        }
    }

    /// The ids stored in `bytes` (`None` if its length is not a whole number of ids).
    pub fn view(self, bytes: &[u8]) -> Option<TokenView<'_>> {
        Some(match self {
            Self::U8 => TokenView::U8(bytes),
            Self::U16 => TokenView::U16(bytemuck::try_cast_slice(bytes).ok()?),
            Self::U32 => TokenView::U32(bytemuck::try_cast_slice(bytes).ok()?),
        })
    }
}

/// A sequence of token ids of any width, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenView<'a> {
    /// One byte per id.
    U8(&'a [u8]),
    /// Two bytes per id.
    U16(&'a [u16]),
    /// Four bytes per id.
    U32(&'a [u32]),
}

impl<'a> From<&'a [u32]> for TokenView<'a> {
    fn from(ids: &'a [u32]) -> Self {
        Self::U32(ids)
    }
}

impl<'a> From<&'a Vec<u32>> for TokenView<'a> {
    fn from(ids: &'a Vec<u32>) -> Self {
        Self::U32(ids)
    }
}

impl<'a> TokenView<'a> {
    /// Number of ids.
    pub fn len(&self) -> usize {
        match self {
            Self::U8(ids) => ids.len(),
            Self::U16(ids) => ids.len(),
            Self::U32(ids) => ids.len(),
        }
    }

    /// Whether there are no ids.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids in `range`.
    pub fn slice(&self, range: Range<usize>) -> TokenView<'a> {
        match *self {
            Self::U8(ids) => Self::U8(&ids[range]),
            Self::U16(ids) => Self::U16(&ids[range]),
            Self::U32(ids) => Self::U32(&ids[range]),
        }
    }

    /// The first `len` ids (all of them if there are fewer).
    pub fn prefix(&self, len: usize) -> TokenView<'a> {
        self.slice(0..len.min(self.len()))
    }

    /// The id at `index`.
    pub fn get(&self, index: usize) -> Option<u32> {
        match self {
            Self::U8(ids) => ids.get(index).map(|&id| u32::from(id)),
            Self::U16(ids) => ids.get(index).map(|&id| u32::from(id)),
            Self::U32(ids) => ids.get(index).copied(),
        }
    }

    /// Appends the ids in `range` to `out`, in order.
    pub fn extend_into(&self, range: Range<usize>, out: &mut Vec<u32>) {
        match self {
            Self::U8(ids) => out.extend(ids[range].iter().map(|&id| u32::from(id))),
            Self::U16(ids) => out.extend(ids[range].iter().map(|&id| u32::from(id))),
            Self::U32(ids) => out.extend_from_slice(&ids[range]),
        }
    }

    /// Appends the ids in `range` to `out`, last first.
    pub fn extend_reversed_into(&self, range: Range<usize>, out: &mut Vec<u32>) {
        match self {
            Self::U8(ids) => out.extend(ids[range].iter().rev().map(|&id| u32::from(id))),
            Self::U16(ids) => out.extend(ids[range].iter().rev().map(|&id| u32::from(id))),
            Self::U32(ids) => out.extend(ids[range].iter().rev().copied()),
        }
    }

    /// The ids as a `Vec` of `u32`.
    pub fn to_vec(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.len());
        self.extend_into(0..self.len(), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_follow_the_vocabulary_size() {
        assert_eq!(TokenWidth::for_vocab(65), TokenWidth::U8);
        assert_eq!(TokenWidth::for_vocab(256), TokenWidth::U8);
        assert_eq!(TokenWidth::for_vocab(257), TokenWidth::U16);
        assert_eq!(TokenWidth::for_vocab(65_536), TokenWidth::U16);
        assert_eq!(TokenWidth::for_vocab(65_537), TokenWidth::U32);
    }

    #[test]
    fn every_width_reads_back_the_ids_it_wrote() {
        for (width, ids) in [
            (TokenWidth::U8, vec![0u32, 7, 255, 3]),
            (TokenWidth::U16, vec![0, 300, 65_535, 9]),
            (TokenWidth::U32, vec![0, 70_000, u32::MAX, 1]),
        ] {
            let mut bytes = Vec::new();
            width.write_ids(&ids, &mut bytes);
            assert_eq!(bytes.len(), ids.len() * width.bytes());
            // A u64 buffer is aligned for every width, as a memory map is.
            let mut aligned = vec![0u64; bytes.len().div_ceil(8)];
            bytemuck::cast_slice_mut::<u64, u8>(&mut aligned)[..bytes.len()]
                .copy_from_slice(&bytes);
            let view = width
                .view(&bytemuck::cast_slice::<u64, u8>(&aligned)[..bytes.len()])
                .unwrap();
            assert_eq!(view.to_vec(), ids);
            assert_eq!(view.get(2), Some(ids[2]));
            let mut reversed = Vec::new();
            view.extend_reversed_into(1..4, &mut reversed);
            assert_eq!(reversed, vec![ids[3], ids[2], ids[1]]);
            assert_eq!(view.slice(1..3).to_vec(), ids[1..3]);
        }
    }
}
