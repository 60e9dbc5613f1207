//! Two small file helpers every crate of the workspace uses.

use std::fs::File;
use std::io::Write;
use std::path::Path;

/// `bytes` in lowercase hex, as `sha256sum` prints a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path` (replacing what was there) and waits until they are on disk.
pub fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn write_synced_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_synced(&path, b"first, longer").unwrap();
        write_synced(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert!(write_synced(&dir.path().join("no/such/dir/f"), b"x").is_err());
    }
}
