//! Who may call: per-caller bearer tokens, stored only as their SHA-256, and scopes.
//!
//! A token is 256 random bits from the operating system, written `streha_` followed by 43
//! characters of unpadded base64url. `streha api token add` prints it once and stores only
//! its SHA-256 in the configuration: a token is as strong as a key, so one hash is enough
//! (no slow password hash is needed), and a copy of the configuration lets nobody call. A
//! presented token is hashed and compared with every caller's hash in constant time.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::limits::{MAX_CALLER_NAME_LEN, MAX_TOKEN_LEN};

/// The prefix of every token (so that a leaked token is recognisable by secret scanners).
pub const TOKEN_PREFIX: &str = "streha_";

/// What a caller may do. Each endpoint needs exactly one scope (the OpenAPI document names
/// it per operation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Scope {
    /// Register subjects, add representatives, record age status.
    Subjects,
    /// Grant, revoke and list consents (Art. 18.3).
    Consent,
    /// Submit disclosures.
    Disclose,
    /// Read the delivery state of disclosures and the held deliveries.
    Delivery,
    /// List the inbox: header facts only (sender, subject, categories, purpose).
    Inbox,
    /// Open received records: their content. Give it only to the callers that must read
    /// records.
    InboxOpen,
    /// Read the audit log: checkpoint, inclusion proofs, export.
    Audit,
}

impl Scope {
    /// Every scope, in a fixed order.
    pub const ALL: &'static [Scope] = &[
        Scope::Subjects,
        Scope::Consent,
        Scope::Disclose,
        Scope::Delivery,
        Scope::Inbox,
        Scope::InboxOpen,
        Scope::Audit,
    ];

    /// The stable name used in the configuration and in errors.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Subjects => "subjects",
            Scope::Consent => "consent",
            Scope::Disclose => "disclose",
            Scope::Delivery => "delivery",
            Scope::Inbox => "inbox",
            Scope::InboxOpen => "inbox:open",
            Scope::Audit => "audit",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is not one of [`Scope::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope `{0}`; the scopes are {list}", list = scope_list())]
pub struct UnknownScope(pub String);

fn scope_list() -> String {
    Scope::ALL
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Scope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Self, UnknownScope> {
        Scope::ALL
            .iter()
            .copied()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.chars().take(64).collect()))
    }
}

/// A caller name: 1 to 64 of `a-z 0-9 - _ .`, starting with a letter. It appears in the
/// service's logs and in the idempotency store, never a token.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallerName(String);

/// A caller name that breaks the rule of [`CallerName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a caller name is 1 to {MAX_CALLER_NAME_LEN} of a-z 0-9 - _ . starting with a letter, e.g. `intake`"
)]
pub struct InvalidCallerName;

impl CallerName {
    /// Checks `name`.
    ///
    /// # Errors
    /// [`InvalidCallerName`].
    pub fn new(name: &str) -> Result<Self, InvalidCallerName> {
        let ok = !name.is_empty()
            && name.len() <= MAX_CALLER_NAME_LEN
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidCallerName)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new bearer token, shown once. Zeroized on drop; `Debug` does not print it.
pub struct NewToken(Zeroizing<String>);

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewToken(…)")
    }
}

impl NewToken {
    /// 256 random bits from the operating system.
    ///
    /// # Errors
    /// The operating system's random number generator failed.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut())?;
        let mut text = Zeroizing::new(String::with_capacity(TOKEN_PREFIX.len() + 43));
        text.push_str(TOKEN_PREFIX);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes.as_ref(), &mut text);
        Ok(Self(text))
    }

    /// The token, to give to the caller once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the configuration stores.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

/// The SHA-256 of a token: all the configuration keeps.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({})", self.to_hex())
    }
}

impl TokenHash {
    /// The hash of a presented token.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// From the 64 lowercase hex digits of the configuration.
    pub fn from_hex(hex_text: &str) -> Option<Self> {
        if hex_text.len() != 64 || hex_text.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_text, &mut out).ok()?;
        Some(Self(out))
    }

    /// The 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// One caller of the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Its name (in logs and errors).
    pub name: CallerName,
    /// The hash of its token.
    pub token: TokenHash,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

impl Caller {
    /// Whether it holds `scope`.
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer …` header.
    Missing,
    /// A header that is not `Bearer <token>`, or a token over [`MAX_TOKEN_LEN`].
    Malformed,
    /// A well-formed token that belongs to no caller.
    Unknown,
}

/// The callers, looked up by token.
#[derive(Debug, Clone, Default)]
pub struct Callers(Vec<Caller>);

impl Callers {
    /// These callers.
    pub fn new(callers: Vec<Caller>) -> Self {
        Self(callers)
    }

    /// Every caller.
    pub fn iter(&self) -> impl Iterator<Item = &Caller> {
        self.0.iter()
    }

    /// The caller of an `Authorization` header value.
    ///
    /// Every caller's hash is compared, in constant time each, so the time taken tells
    /// nothing about how close a guess came.
    ///
    /// # Errors
    /// [`AuthFailure`].
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Result<&Caller, AuthFailure> {
        let value = authorization.ok_or(AuthFailure::Missing)?;
        if value.len() > MAX_TOKEN_LEN + "Bearer ".len() {
            return Err(AuthFailure::Malformed);
        }
        let value = std::str::from_utf8(value).map_err(|_| AuthFailure::Malformed)?;
        let (scheme, token) = value.split_once(' ').ok_or(AuthFailure::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthFailure::Malformed);
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthFailure::Malformed);
        }
        let presented = TokenHash::of(token);
        let mut found = None;
        for caller in &self.0 {
            if bool::from(caller.token.0.ct_eq(&presented.0)) {
                found = Some(caller);
            }
        }
        found.ok_or(AuthFailure::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(name: &str, token: &NewToken, scopes: &[Scope]) -> Caller {
        Caller {
            name: CallerName::new(name).unwrap(),
            token: token.hash(),
            scopes: scopes.to_vec(),
        }
    }

    #[test]
    fn tokens_authenticate_their_caller_only() {
        let intake = NewToken::generate().unwrap();
        let records = NewToken::generate().unwrap();
        assert_ne!(intake.expose(), records.expose());
        assert!(intake.expose().starts_with(TOKEN_PREFIX));
        assert_eq!(intake.expose().len(), TOKEN_PREFIX.len() + 43);
        let callers = Callers::new(vec![
            caller("intake", &intake, &[Scope::Subjects, Scope::Consent]),
            caller("records", &records, &[Scope::InboxOpen]),
        ]);
        let header = |t: &str| format!("Bearer {t}");
        let who = callers
            .authenticate(Some(header(intake.expose()).as_bytes()))
            .unwrap();
        assert_eq!(who.name.as_str(), "intake");
        assert!(who.may(Scope::Consent) && !who.may(Scope::InboxOpen));
        assert_eq!(
            callers
                .authenticate(Some(header(records.expose()).as_bytes()))
                .unwrap()
                .name
                .as_str(),
            "records"
        );
        assert_eq!(callers.authenticate(None), Err(AuthFailure::Missing));
        assert_eq!(
            callers.authenticate(Some(b"Basic abc")),
            Err(AuthFailure::Malformed)
        );
        assert_eq!(
            callers.authenticate(Some(b"Bearer ")),
            Err(AuthFailure::Malformed)
        );
        let mut wrong = intake.expose().to_owned();
        wrong.pop();
        wrong.push('x');
        assert_eq!(
            callers.authenticate(Some(header(&wrong).as_bytes())),
            Err(AuthFailure::Unknown)
        );
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        assert_eq!(
            callers.authenticate(Some(long.as_bytes())),
            Err(AuthFailure::Malformed)
        );
        // The debug form never shows the token.
        assert!(!format!("{intake:?}").contains(intake.expose()));
    }

    #[test]
    fn hashes_and_names_round_trip_and_are_checked() {
        let token = NewToken::generate().unwrap();
        let hash = token.hash();
        assert_eq!(TokenHash::from_hex(&hash.to_hex()), Some(hash));
        assert_eq!(TokenHash::from_hex(&hash.to_hex().to_uppercase()), None);
        assert_eq!(TokenHash::from_hex("00"), None);
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>().unwrap(), *scope);
        }
        assert!("everything".parse::<Scope>().is_err());
        assert!(CallerName::new("intake-7").is_ok());
        for bad in ["", "Intake", "7up", "a b", &"a".repeat(65)] {
            assert!(CallerName::new(bad).is_err(), "{bad}");
        }
    }
}
