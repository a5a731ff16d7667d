//! Target `key_file`: a key file's bytes (`spec/keys.md`).

use streha_crypto::{
    AgencyEncryptionPublicKey, AgencyEncryptionSecretKey, AgencySigningPublicKey,
    AgencySigningSecretKey, ApplicationPublicKey, ApplicationSecretKey, Fingerprint, KeyFile,
    KeyFileError, KeyKind, KeyPart, NodeIdentityPublicKey, NodeIdentitySecretKey, OfficerPublicKey,
    OfficerSecretKey, RosterPublicKey, RosterSecretKey,
};

/// Feeds `data` to `KeyFile::parse_bytes` and to each of the twelve typed readers
/// (`AgencySigningSecretKey::from_key_file_bytes`, …).
///
/// Asserts: an accepted file is the canonical one (`to_key_file`) up to the case of its hex
/// digits and its final newline, and the canonical file parses to the same key; a typed
/// reader accepts exactly the files of its kind and part, with the same fingerprint, and
/// otherwise fails as the generic parser does or with `WrongKind` / `WrongPart`; no error
/// message repeats the file's `key:` value.
pub fn key_file(data: &[u8]) {
    let parsed = KeyFile::parse_bytes(data);
    let text = std::str::from_utf8(data).ok();

    match &parsed {
        Ok(file) => {
            let text = text.expect("an accepted key file is UTF-8");
            let canonical = file.to_key_file();
            assert_eq!(
                normalise(text),
                normalise(&canonical),
                "an accepted key file is not the canonical one"
            );
            let again = KeyFile::parse(&canonical).expect("the canonical file parses");
            assert_eq!(again.kind(), file.kind());
            assert_eq!(again.part(), file.part());
            assert_eq!(again.fingerprint(), file.fingerprint());
        }
        Err(error) => {
            if let Some(value) = text.and_then(key_value) {
                assert!(
                    !error.to_string().contains(value),
                    "an error message repeats the key"
                );
            }
        }
    }

    let want = parsed
        .as_ref()
        .ok()
        .map(|f| (f.kind(), f.part(), f.fingerprint()));
    let generic_error = parsed.as_ref().err().copied();
    let typed: [(KeyKind, KeyPart, Result<Fingerprint, KeyFileError>); 12] = [
        secret::<AgencySigningSecretKey>(KeyKind::AgencySigning, data),
        public::<AgencySigningPublicKey>(KeyKind::AgencySigning, data),
        secret::<NodeIdentitySecretKey>(KeyKind::NodeIdentity, data),
        public::<NodeIdentityPublicKey>(KeyKind::NodeIdentity, data),
        secret::<RosterSecretKey>(KeyKind::Roster, data),
        public::<RosterPublicKey>(KeyKind::Roster, data),
        secret::<ApplicationSecretKey>(KeyKind::Application, data),
        public::<ApplicationPublicKey>(KeyKind::Application, data),
        secret::<OfficerSecretKey>(KeyKind::Officer, data),
        public::<OfficerPublicKey>(KeyKind::Officer, data),
        (
            KeyKind::AgencyEncryption,
            KeyPart::Secret,
            AgencyEncryptionSecretKey::from_key_file_bytes(data).map(|k| k.fingerprint()),
        ),
        (
            KeyKind::AgencyEncryption,
            KeyPart::Public,
            AgencyEncryptionPublicKey::from_key_file_bytes(data).map(|k| k.fingerprint()),
        ),
    ];
    for (kind, part, result) in typed {
        match (want, result) {
            (Some((k, p, fp)), Ok(got)) => {
                assert_eq!((k, p), (kind, part), "a typed reader accepted another kind");
                assert_eq!(fp, got, "a typed reader read another key");
            }
            (Some((k, p, _)), Err(e)) => {
                assert!(
                    (k, p) != (kind, part),
                    "the typed reader for {kind}/{part} refused its own file: {e}"
                );
                assert!(
                    matches!(
                        e,
                        KeyFileError::WrongKind { .. } | KeyFileError::WrongPart { .. }
                    ),
                    "a typed reader refused a valid file of another kind with {e:?}"
                );
            }
            (None, Ok(_)) => panic!("the typed reader for {kind}/{part} accepted a bad file"),
            (None, Err(e)) => {
                // Either the same complaint, or (checked before the key) another kind.
                let same = Some(e) == generic_error;
                let other_kind = matches!(
                    e,
                    KeyFileError::WrongKind { .. } | KeyFileError::WrongPart { .. }
                );
                assert!(
                    same || other_kind,
                    "typed reader error {e:?} differs from {generic_error:?}"
                );
            }
        }
    }
}

fn secret<K: TypedSecret>(
    kind: KeyKind,
    data: &[u8],
) -> (KeyKind, KeyPart, Result<Fingerprint, KeyFileError>) {
    (kind, KeyPart::Secret, K::read(data))
}

fn public<K: TypedPublic>(
    kind: KeyKind,
    data: &[u8],
) -> (KeyKind, KeyPart, Result<Fingerprint, KeyFileError>) {
    (kind, KeyPart::Public, K::read(data))
}

trait TypedSecret {
    fn read(data: &[u8]) -> Result<Fingerprint, KeyFileError>;
}

trait TypedPublic {
    fn read(data: &[u8]) -> Result<Fingerprint, KeyFileError>;
}

impl<R: streha_crypto::Ed25519Role> TypedSecret for streha_crypto::Ed25519SecretKey<R> {
    fn read(data: &[u8]) -> Result<Fingerprint, KeyFileError> {
        Self::from_key_file_bytes(data).map(|k| k.fingerprint())
    }
}

impl<R: streha_crypto::Ed25519Role> TypedPublic for streha_crypto::Ed25519PublicKey<R> {
    fn read(data: &[u8]) -> Result<Fingerprint, KeyFileError> {
        Self::from_key_file_bytes(data).map(|k| k.fingerprint())
    }
}

/// The file without its final newline, with the hex lines lower-cased.
fn normalise(text: &str) -> String {
    let body = text.strip_suffix('\n').unwrap_or(text);
    body.split('\n')
        .map(|line| {
            if line.starts_with("public: ") || line.starts_with("fingerprint: ") {
                line.to_ascii_lowercase()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value of the `key: ` line (the fourth), if it is long enough and base64-like enough
/// to be recognisable: no message word is 20 characters of the base64 alphabet.
fn key_value(text: &str) -> Option<&str> {
    text.split('\n')
        .nth(3)
        .and_then(|line| line.strip_prefix("key: "))
        .filter(|value| {
            value.len() >= 20
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        })
}
