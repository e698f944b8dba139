//! The server's own signing key: generated once, kept in the data directory, reused on restart.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use rand::Rng as _;

use crate::core::signing::SigningKey;

pub const KEY_FILE: &str = "signing.key";

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// Loads `<data_dir>/signing.key`, or creates it with a fresh key if it does not exist.
/// An existing but unreadable or malformed file is an error: replacing it would change the
/// server's identity.
pub fn load_or_generate(data_dir: &Path) -> Result<SigningKey, KeyFileError> {
    let path = data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => SigningKey::from_key_file(&text).map_err(|e| KeyFileError::Invalid {
            path,
            reason: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = generate();
            write_atomically(&path, key.to_key_file().as_bytes()).map_err(|source| {
                KeyFileError::Io {
                    path: path.clone(),
                    source,
                }
            })?;
            tracing::info!(key_id = %key.key_id(), path = %path.display(), "generated server signing key");
            Ok(key)
        }
        Err(source) => Err(KeyFileError::Io { path, source }),
    }
}

fn generate() -> SigningKey {
    let mut rng = rand::rng();
    let seed: [u8; 32] = rng.random();
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let suffix: String = (0..6)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    SigningKey::from_seed(&format!("a_{suffix}"), seed).expect("generated version is valid")
}

/// Writes through a temporary file, fsyncs, renames: a crash leaves the old file or the new one,
/// never half of one. The key is readable by the owner only.
fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate(dir.path()).unwrap();
        let second = load_or_generate(dir.path()).unwrap();
        assert_eq!(first.key_id(), second.key_id());
        assert_eq!(first.public_key_base64(), second.public_key_base64());
        assert!(first.key_id().starts_with("ed25519:a_"));
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_private_to_the_owner() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        load_or_generate(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
    }

    #[test]
    fn corrupt_key_file_is_an_error_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "garbage").unwrap();
        assert!(matches!(
            load_or_generate(dir.path()),
            Err(KeyFileError::Invalid { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap(),
            "garbage"
        );
    }
}
