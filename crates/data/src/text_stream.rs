//! Reads a text file as validated UTF-8 in pieces of about 1 MiB, so a corpus of any size is
//! read without ever holding it whole. A character split across two reads is carried into the
//! next piece; a piece ends at a line break when one falls in its second half, so a tokenizer
//! that looks at words never sees one cut in two.
//!
//! A NUL byte makes the file binary (git's test); invalid UTF-8 stops the read at its byte
//! offset, or is replaced with U+FFFD and counted, as [`InvalidUtf8`] says.

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::{DataError, InvalidUtf8};

/// Bytes read at a time.
pub const PIECE_BYTES: usize = 1 << 20;

/// Calls `each` with consecutive pieces of the text of the file at `path`; together they are
/// the whole text. Returns the number of invalid UTF-8 sequences replaced.
pub fn read_pieces(
    path: &Path,
    policy: InvalidUtf8,
    mut each: impl FnMut(&str) -> Result<(), DataError>,
) -> Result<usize, DataError> {
    let mut file = File::open(path).map_err(|e| DataError::io("read", path, e))?;
    let mut buffer: Vec<u8> = Vec::with_capacity(2 * PIECE_BYTES);
    // The file offset of buffer[0].
    let mut buffer_offset = 0usize;
    let mut replaced = 0;
    let mut end_of_file = false;
    loop {
        let old_len = buffer.len();
        if !end_of_file {
            end_of_file = fill(&mut file, &mut buffer, PIECE_BYTES)
                .map_err(|e| DataError::io("read", path, e))?;
        }
        if let Some(nul) = buffer[old_len..].iter().position(|&b| b == 0) {
            return Err(DataError::Binary {
                path: path.to_path_buf(),
                offset: buffer_offset + old_len + nul,
            });
        }
        if buffer.is_empty() {
            return Ok(replaced);
        }
        let decoded = decode(&buffer, end_of_file, policy).map_err(|at| DataError::NotUtf8 {
            path: path.to_path_buf(),
            offset: buffer_offset + at,
        })?;
        replaced += decoded.replaced;
        let mut consumed = decoded.consumed;
        let mut text = decoded.text;
        // End at a line break when the text is the buffer's bytes as they are (no
        // replacements shifting positions) and one falls in the second half.
        if !end_of_file
            && let Cow::Borrowed(valid) = text
            && let Some(line_end) = valid.rfind('\n').filter(|&i| i >= valid.len() / 2)
        {
            text = Cow::Borrowed(&valid[..=line_end]);
            consumed = line_end + 1;
        }
        if !text.is_empty() {
            each(&text)?;
        }
        buffer.drain(..consumed);
        buffer_offset += consumed;
        if end_of_file && buffer.is_empty() {
            return Ok(replaced);
        }
    }
}

/// Appends up to `wanted` bytes of `file` to `buffer`; returns whether the file has ended.
fn fill(file: &mut File, buffer: &mut Vec<u8>, wanted: usize) -> std::io::Result<bool> {
    let start = buffer.len();
    buffer.resize(start + wanted, 0);
    let mut len = start;
    let mut ended = false;
    while len < buffer.len() {
        match file.read(&mut buffer[len..]) {
            Ok(0) => {
                ended = true;
                break;
            }
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buffer.truncate(len);
    Ok(ended)
}

/// The text of a buffer's first `consumed` bytes.
struct Decoded<'a> {
    text: Cow<'a, str>,
    consumed: usize,
    replaced: usize,
}

/// Decodes `bytes` up to a character cut by the end of the buffer (all of it at the end of the
/// file, where a cut character is invalid). Fails with the offset of the first invalid byte
/// unless `policy` replaces them.
fn decode(bytes: &[u8], end_of_file: bool, policy: InvalidUtf8) -> Result<Decoded<'_>, usize> {
    let mut owned: Option<String> = None;
    let mut position = 0;
    let mut replaced = 0;
    loop {
        let rest = &bytes[position..];
        let (valid_len, invalid_len) = match std::str::from_utf8(rest) {
            Ok(_) => (rest.len(), None),
            Err(e) => (e.valid_up_to(), Some(e.error_len())),
        };
        // The valid prefix was checked just above.
        let valid = std::str::from_utf8(&rest[..valid_len]).expect("checked as valid");
        let consumed = position + valid_len;
        let cut_character = matches!(invalid_len, Some(None)) && !end_of_file;
        match invalid_len {
            None => {
                return Ok(finish(bytes, owned, valid, consumed, replaced));
            }
            Some(_) if cut_character => {
                return Ok(finish(bytes, owned, valid, consumed, replaced));
            }
            Some(bad) => {
                if policy == InvalidUtf8::Error {
                    return Err(consumed);
                }
                let text = owned.get_or_insert_with(|| String::with_capacity(bytes.len()));
                text.push_str(valid);
                text.push(char::REPLACEMENT_CHARACTER);
                replaced += 1;
                position = consumed + bad.unwrap_or(rest.len() - valid_len);
            }
        }
    }
}

fn finish<'a>(
    bytes: &'a [u8],
    owned: Option<String>,
    last_valid: &str,
    consumed: usize,
    replaced: usize,
) -> Decoded<'a> {
    let text = match owned {
        Some(mut text) => {
            text.push_str(last_valid);
            Cow::Owned(text)
        }
        None => Cow::Borrowed(std::str::from_utf8(&bytes[..consumed]).expect("checked as valid")),
    };
    Decoded {
        text,
        consumed,
        replaced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8], policy: InvalidUtf8) -> Result<(String, usize, usize), DataError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("text");
        std::fs::write(&path, bytes).unwrap();
        let mut text = String::new();
        let mut pieces = 0;
        let replaced = read_pieces(&path, policy, |piece| {
            text.push_str(piece);
            pieces += 1;
            Ok(())
        })?;
        Ok((text, replaced, pieces))
    }

    #[test]
    fn characters_cut_by_a_read_are_carried_whole() {
        // Lines of multi-byte characters, longer than one read, so reads end mid-character.
        let line = "héllo wörld — 日本語 🦀\n";
        let text: String = line.repeat(3 * PIECE_BYTES / line.len());
        let (read, replaced, pieces) = read_all(text.as_bytes(), InvalidUtf8::Error).unwrap();
        assert_eq!(read, text);
        assert_eq!(replaced, 0);
        assert!(pieces >= 3, "{pieces} pieces");
    }

    #[test]
    fn pieces_end_at_line_breaks() {
        let line = "a line of text\n";
        let text = line.repeat(2 * PIECE_BYTES / line.len() + 7);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("text");
        std::fs::write(&path, &text).unwrap();
        let mut pieces = Vec::new();
        read_pieces(&path, InvalidUtf8::Error, |piece| {
            pieces.push(piece.to_string());
            Ok(())
        })
        .unwrap();
        assert!(pieces.len() >= 2);
        for piece in &pieces {
            assert!(piece.ends_with('\n'), "{:?}", &piece[piece.len() - 10..]);
        }
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn invalid_utf8_far_into_a_file_is_found_at_its_offset() {
        let mut bytes = "x".repeat(PIECE_BYTES + 123).into_bytes();
        bytes.extend_from_slice(b"caf\xe9 ok");
        let err = read_all(&bytes, InvalidUtf8::Error)
            .unwrap_err()
            .to_string();
        let offset = PIECE_BYTES + 123 + 3;
        assert!(err.contains(&format!("at byte {offset}")), "{err}");

        let (text, replaced, _) = read_all(&bytes, InvalidUtf8::Replace).unwrap();
        assert!(text.ends_with("caf\u{fffd} ok"));
        assert_eq!(replaced, 1);
        assert_eq!(text.len(), PIECE_BYTES + 123 + 3 + 3 + 3);
    }

    #[test]
    fn a_character_cut_by_the_end_of_the_file_is_invalid() {
        let err = read_all(b"ok\xe2\x82", InvalidUtf8::Error)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at byte 2"), "{err}");
        let (text, replaced, _) = read_all(b"ok\xffno\xc3(\xe2\x82", InvalidUtf8::Replace).unwrap();
        assert_eq!(text, "ok\u{fffd}no\u{fffd}(\u{fffd}");
        assert_eq!(replaced, 3);
    }

    #[test]
    fn a_nul_byte_anywhere_makes_the_file_binary() {
        let mut bytes = "y".repeat(PIECE_BYTES + 5).into_bytes();
        bytes.push(0);
        let err = read_all(&bytes, InvalidUtf8::Replace)
            .unwrap_err()
            .to_string();
        assert!(err.contains("binary file"), "{err}");
        assert!(matches!(
            read_all(&bytes, InvalidUtf8::Error),
            Err(DataError::Binary { offset, .. }) if offset == PIECE_BYTES + 5
        ));
    }
}
