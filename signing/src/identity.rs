//! Smeshing identities: go-spacemesh key files in `<data-folder>/identities/*.key`.
//!
//! A key file holds the 64-byte Go Ed25519 private key (`seed32 ‖ pubkey32`) as exactly 128 hex
//! characters with no trailing newline. The node ID of an identity is its public key.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::signer::Signature;

/// Folder (inside the data folder) that holds the key files.
pub const IDENTITIES_DIR: &str = "identities";
/// Extension of key files; other files in the folder are ignored.
pub const KEY_EXTENSION: &str = "key";
/// Length of a key file in hex characters (64 bytes: seed ‖ public key).
pub const KEY_FILE_HEX_LEN: usize = 128;

/// A node ID: the 32-byte Ed25519 public key of an identity (not hashed).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 32]);

impl NodeId {
    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, as used in logs, key files and the node-service API.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Standard base64 with padding, as the v2 JSON API renders bytes.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Result<Self, NodeIdParseError> {
        let bytes = hex::decode(s).map_err(|e| NodeIdParseError {
            input: s.to_owned(),
            reason: e.to_string(),
        })?;
        let arr: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| NodeIdParseError {
            input: s.to_owned(),
            reason: format!("{} bytes, expected 32", b.len()),
        })?;
        Ok(NodeId(arr))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.to_hex())
    }
}

/// A node ID string that is not 32 bytes of hex.
#[derive(Debug, Error)]
#[error("invalid node id {input:?}: {reason}")]
pub struct NodeIdParseError {
    /// The offending text.
    pub input: String,
    /// Why it was rejected.
    pub reason: String,
}

/// One smeshing identity: its private key and the name of the file it came from.
///
/// The secret half never leaves this type except as a signature; `Debug` and `Display` show the
/// node ID and file name only, and the key is zeroized on drop (ed25519-dalek's `zeroize`).
pub struct Identity {
    key: SigningKey,
    node_id: NodeId,
    file_name: String,
}

impl Identity {
    /// Builds an identity from a 32-byte seed; `file_name` is what the API reports as its name.
    pub fn from_seed(seed: &[u8; 32], file_name: impl Into<String>) -> Self {
        let key = SigningKey::from_bytes(seed);
        let node_id = NodeId(key.verifying_key().to_bytes());
        Identity {
            key,
            node_id,
            file_name: file_name.into(),
        }
    }

    /// A fresh random identity (OS randomness).
    pub fn random(file_name: impl Into<String>) -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
        Self::from_seed(&seed, file_name)
    }

    /// Parses the contents of a key file. `file_name` only labels errors and the identity.
    pub fn parse_key_file(file_name: &str, content: &[u8]) -> Result<Self, KeyFileError> {
        let path = PathBuf::from(file_name);
        parse_key_bytes(&path, content)
    }

    /// The node ID (public key).
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Node ID as lowercase hex.
    pub fn hex(&self) -> String {
        self.node_id.to_hex()
    }

    /// Node ID as standard base64.
    pub fn base64(&self) -> String {
        self.node_id.to_base64()
    }

    /// Name of the key file this identity was loaded from (e.g. `local.key`).
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The file name without the `.key` extension.
    pub fn name(&self) -> &str {
        self.file_name
            .strip_suffix(".key")
            .unwrap_or(&self.file_name)
    }

    /// The 32-byte seed, for deriving the identity's VRF key: go-spacemesh proves eligibility
    /// with an ECVRF key of the same seed (same public key). Kept in zeroizing memory.
    pub fn vrf_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.key.as_bytes())
    }

    /// Signs the exact bytes given (no prefix, no domain). Crate-internal: callers go through
    /// `Signer` or the guard so the genesis prefix and domain byte are never forgotten.
    pub(crate) fn sign_preimage(&self, preimage: &[u8]) -> Signature {
        Signature(self.key.sign(preimage).to_bytes())
    }

    /// The key file text (hex of seed ‖ public key), kept in zeroizing memory.
    fn key_file_text(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new([0u8; 64]);
        raw[..32].copy_from_slice(self.key.as_bytes());
        raw[32..].copy_from_slice(&self.node_id.0);
        Zeroizing::new(hex::encode(raw.as_ref()))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("node_id", &self.node_id.to_hex())
            .field("file_name", &self.file_name)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.file_name, self.node_id.to_hex())
    }
}

/// A problem with one key file (or with creating one). Every variant names the file.
#[derive(Debug, Error)]
pub enum KeyFileError {
    /// The file (or folder) could not be read.
    #[error("{}: cannot read key file: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file ends with a newline, which go-spacemesh rejects.
    #[error("{}: key file ends with a newline; it must hold exactly 128 hex characters and nothing else", path.display())]
    TrailingNewline {
        /// The file.
        path: PathBuf,
    },
    /// A character that is not a hex digit.
    #[error("{}: not hex: {detail}", path.display())]
    NotHex {
        /// The file.
        path: PathBuf,
        /// Which byte and where.
        detail: String,
    },
    /// Decodes to something other than 64 bytes.
    #[error("{}: invalid key size {bytes}/64 bytes ({hex_chars} hex characters, expected 128)", path.display())]
    WrongLength {
        /// The file.
        path: PathBuf,
        /// Decoded length in bytes.
        bytes: usize,
        /// Length in characters.
        hex_chars: usize,
    },
    /// The stored public half is not the public key of the stored seed.
    #[error("{}: private and public do not match (public half {stored} is not the key of the seed, which is {derived})", path.display())]
    PublicMismatch {
        /// The file.
        path: PathBuf,
        /// Public key stored in the file.
        stored: String,
        /// Public key derived from the seed.
        derived: String,
    },
    /// Two files hold the same key.
    #[error("{}: duplicate key: node id {node_id} is also in {}", second.display(), first.display())]
    Duplicate {
        /// The file seen first.
        first: PathBuf,
        /// The file seen second.
        second: PathBuf,
        /// The shared node ID (hex).
        node_id: String,
    },
    /// A name that would not make a plain `*.key` file directly in the folder.
    #[error(
        "invalid key name {name:?}: use letters, digits, '-', '_' or '.', not starting with '.'"
    )]
    BadName {
        /// The name given.
        name: String,
    },
    /// `generate` refuses to overwrite.
    #[error("{}: key file already exists; refusing to overwrite it", path.display())]
    AlreadyExists {
        /// The file.
        path: PathBuf,
    },
    /// Writing a new key file failed.
    #[error("{}: cannot write key file: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Every bad key file found while loading a folder (not just the first).
#[derive(Debug, Error)]
pub struct LoadError {
    /// One entry per problem, in file-name order.
    pub problems: Vec<KeyFileError>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bad key file(s)", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}

fn parse_key_bytes(path: &Path, content: &[u8]) -> Result<Identity, KeyFileError> {
    if content.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        return Err(KeyFileError::TrailingNewline {
            path: path.to_owned(),
        });
    }
    if let Some((pos, byte)) = content
        .iter()
        .enumerate()
        .find(|(_, b)| !b.is_ascii_hexdigit())
    {
        return Err(KeyFileError::NotHex {
            path: path.to_owned(),
            detail: format!("byte 0x{byte:02x} at offset {pos}"),
        });
    }
    if content.len() != KEY_FILE_HEX_LEN {
        return Err(KeyFileError::WrongLength {
            path: path.to_owned(),
            bytes: content.len() / 2,
            hex_chars: content.len(),
        });
    }
    let mut raw = Zeroizing::new([0u8; 64]);
    hex::decode_to_slice(content, raw.as_mut()).map_err(|e| KeyFileError::NotHex {
        path: path.to_owned(),
        detail: e.to_string(),
    })?;
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(&raw[..32]);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let identity = Identity::from_seed(&seed, file_name);
    if identity.node_id.0[..] != raw[32..] {
        return Err(KeyFileError::PublicMismatch {
            path: path.to_owned(),
            stored: hex::encode(&raw[32..]),
            derived: identity.hex(),
        });
    }
    Ok(identity)
}

/// Reads and parses one key file, warning when its permissions are looser than 0600.
pub fn load_file(path: &Path) -> Result<Identity, KeyFileError> {
    let content = Zeroizing::new(fs::read(path).map_err(|source| KeyFileError::Unreadable {
        path: path.to_owned(),
        source,
    })?);
    warn_if_loose(path);
    parse_key_bytes(path, &content)
}

#[cfg(unix)]
fn warn_if_loose(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                mode = format_args!("{mode:04o}"),
                "key file is readable by others; restrict it to 0600"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_loose(_path: &Path) {}

/// The key files (regular `*.key` files directly in `dir`), sorted by name.
pub fn key_files(dir: &Path) -> Result<Vec<PathBuf>, KeyFileError> {
    let unreadable = |source| KeyFileError::Unreadable {
        path: dir.to_owned(),
        source,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some(KEY_EXTENSION) {
            continue;
        }
        // Follows symlinks on purpose: a link to a key file is a key file; folders are skipped.
        match fs::metadata(&path) {
            Ok(m) if m.is_file() => out.push(path),
            Ok(_) => {}
            Err(source) => return Err(KeyFileError::Unreadable { path, source }),
        }
    }
    out.sort();
    Ok(out)
}

/// Loads every key file in `dir` (an `identities/` folder). All bad files are reported together;
/// a duplicate key names both files. An empty folder gives an empty list.
pub fn load_dir(dir: &Path) -> Result<Vec<Identity>, LoadError> {
    let files = key_files(dir).map_err(|e| LoadError { problems: vec![e] })?;
    let mut problems = Vec::new();
    let mut loaded: Vec<(PathBuf, Identity)> = Vec::new();
    for path in files {
        match load_file(&path) {
            Ok(identity) => {
                if let Some((first, _)) = loaded
                    .iter()
                    .find(|(_, other)| other.node_id == identity.node_id)
                {
                    problems.push(KeyFileError::Duplicate {
                        first: first.clone(),
                        second: path,
                        node_id: identity.hex(),
                    });
                } else {
                    loaded.push((path, identity));
                }
            }
            Err(e) => problems.push(e),
        }
    }
    if problems.is_empty() {
        Ok(loaded.into_iter().map(|(_, id)| id).collect())
    } else {
        Err(LoadError { problems })
    }
}

/// Loads `<data_folder>/identities/*.key`.
pub fn load_data_folder(data_folder: &Path) -> Result<Vec<Identity>, LoadError> {
    load_dir(&data_folder.join(IDENTITIES_DIR))
}

fn key_file_name(name: &str) -> Result<String, KeyFileError> {
    let stem = name.strip_suffix(".key").unwrap_or(name);
    let ok = !stem.is_empty()
        && !stem.starts_with('.')
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(KeyFileError::BadName {
            name: name.to_owned(),
        });
    }
    Ok(format!("{stem}.{KEY_EXTENSION}"))
}

/// Creates a new random identity as `<dir>/<name>.key` (mode 0600, never overwriting), creating
/// `dir` if needed. `name` may be given with or without the `.key` extension.
pub fn generate(dir: &Path, name: &str) -> Result<Identity, KeyFileError> {
    let file_name = key_file_name(name)?;
    let identity = Identity::random(file_name.clone());
    write_key_file(dir, &identity)?;
    Ok(identity)
}

/// Writes `identity` as `<dir>/<its file name>` with mode 0600; fails if the file exists.
pub fn write_key_file(dir: &Path, identity: &Identity) -> Result<PathBuf, KeyFileError> {
    let path = dir.join(identity.file_name());
    write_new_file(&path, identity.key_file_text().as_bytes())?;
    Ok(path)
}

/// Creates `path` exclusively with mode 0600 and writes `content` durably.
pub(crate) fn write_new_file(path: &Path, content: &[u8]) -> Result<(), KeyFileError> {
    let write_err = |source| KeyFileError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(write_err)?;
    }
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            KeyFileError::AlreadyExists {
                path: path.to_owned(),
            }
        } else {
            write_err(e)
        }
    })?;
    file.write_all(content).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED1_FILE: &str = "01010101010101010101010101010101010101010101010101010101010101018a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";

    #[test]
    fn debug_and_display_hide_the_secret() {
        let id = Identity::parse_key_file("a.key", SEED1_FILE.as_bytes()).unwrap();
        let shown = format!("{id:?} {id} {:#?}", id);
        assert!(!shown.contains("0101010101010101"), "{shown}");
        assert!(shown.contains("8a88e3dd"));
    }

    #[test]
    fn generate_writes_0600_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let id = generate(dir.path(), "node-1").unwrap();
        let path = dir.path().join("node-1.key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let back = load_file(&path).unwrap();
        assert_eq!(back.node_id(), id.node_id());
        assert_eq!(back.file_name(), "node-1.key");
        let before = fs::read(&path).unwrap();
        assert!(matches!(
            generate(dir.path(), "node-1.key"),
            Err(KeyFileError::AlreadyExists { .. })
        ));
        assert_eq!(fs::read(&path).unwrap(), before);
        for bad in ["", ".hidden", "../x", "a/b", "sp ace"] {
            assert!(
                matches!(generate(dir.path(), bad), Err(KeyFileError::BadName { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn load_dir_reports_every_bad_file_and_skips_folders() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("a.key"), SEED1_FILE).unwrap();
        fs::write(d.join("b.key"), SEED1_FILE).unwrap(); // duplicate of a
        fs::write(d.join("c.key"), format!("{SEED1_FILE}\n")).unwrap();
        fs::write(d.join("d.key"), &SEED1_FILE[..64]).unwrap();
        fs::write(d.join("e.key"), SEED1_FILE.replace('8', "g")).unwrap();
        fs::write(d.join("notes.txt"), "ignored").unwrap();
        fs::create_dir(d.join("sub.key")).unwrap();
        fs::write(d.join("sub.key").join("x.key"), "garbage").unwrap();
        let err = load_dir(d).unwrap_err();
        assert_eq!(err.problems.len(), 4, "{err}");
        let text = err.to_string();
        assert!(text.contains("a.key") && text.contains("b.key") && text.contains("duplicate"));
        assert!(matches!(
            err.problems[1],
            KeyFileError::TrailingNewline { .. }
        ));
        assert!(matches!(
            err.problems[2],
            KeyFileError::WrongLength { bytes: 32, .. }
        ));
        assert!(matches!(err.problems[3], KeyFileError::NotHex { .. }));
        assert!(text.contains("e.key"));

        fs::remove_file(d.join("b.key")).unwrap();
        fs::remove_file(d.join("c.key")).unwrap();
        fs::remove_file(d.join("d.key")).unwrap();
        fs::remove_file(d.join("e.key")).unwrap();
        let ids = load_dir(d).unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].file_name(), "a.key");
        assert_eq!(ids[0].name(), "a");
    }

    #[test]
    fn renderings() {
        let id = Identity::parse_key_file("a.key", SEED1_FILE.as_bytes()).unwrap();
        assert_eq!(
            id.hex(),
            "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
        );
        assert_eq!(id.base64(), "iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=");
        assert_eq!(NodeId::from_hex(&id.hex()).unwrap(), id.node_id());
        assert!(NodeId::from_hex("abcd").is_err());
    }
}

#[cfg(all(test, unix))]
mod permission_tests {
    use super::*;
    use std::io;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn loose_permissions_are_warned_about_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let tight = generate(dir.path(), "tight").unwrap();
        let loose = generate(dir.path(), "loose").unwrap();
        let loose_path = dir.path().join(loose.file_name());
        fs::set_permissions(&loose_path, fs::Permissions::from_mode(0o644)).unwrap();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let ids = tracing::subscriber::with_default(subscriber, || load_dir(dir.path())).unwrap();
        assert_eq!(ids.len(), 2);
        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(logs.contains("WARN"), "{logs}");
        assert!(logs.contains("loose.key"), "{logs}");
        assert!(!logs.contains(tight.file_name()), "{logs}");
        // The warning names the file, never its content.
        assert!(!logs.contains(&loose.key_file_text()[..64]), "{logs}");
    }
}
