//! Records: the plaintext sealed in an envelope, a set of typed fields each tagged with a
//! [`DisclosableCategory`] — so protection data (Art. 18.4) cannot be put in a record at all.

use serde::{Deserialize, Deserializer, Serialize};

use crate::category::{CategorySet, DisclosableCategory};
use crate::codec::{self, DecodeError};

/// The version byte that starts an encoded [`Record`].
pub const RECORD_VERSION: u8 = 1;
/// The largest encoded record, in bytes (1 MiB).
pub const MAX_RECORD_LEN: usize = 1 << 20;
/// The most fields in one record.
pub const MAX_FIELDS: usize = 256;
/// The longest field value (text in bytes, or bytes), 256 KiB.
pub const MAX_FIELD_VALUE_LEN: usize = 256 << 10;
/// The longest field name.
pub const MAX_FIELD_NAME_LEN: usize = 64;

/// Why a field or record could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The field name broke the rule.
    #[error(
        "invalid field name: use 1 to 64 characters of a-z, 0-9, '_', '.' and '-', starting with a letter"
    )]
    InvalidFieldName,
    /// The field value is longer than [`MAX_FIELD_VALUE_LEN`].
    #[error("field value of {len} bytes is more than the limit of {max} bytes")]
    ValueTooLong {
        /// The value length.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The record already has a field with this category and name.
    #[error("the record already has a field `{name}` in category `{category}`")]
    DuplicateField {
        /// The category.
        category: DisclosableCategory,
        /// The field name.
        name: String,
    },
    /// The record already has [`MAX_FIELDS`] fields.
    #[error("the record already has the maximum of {max} fields")]
    TooManyFields {
        /// The cap.
        max: usize,
    },
    /// Adding the field would make the encoded record longer than [`MAX_RECORD_LEN`].
    #[error("the encoded record would be {len} bytes, more than the limit of {max} bytes")]
    TooLarge {
        /// The length it would have.
        len: usize,
        /// The cap.
        max: usize,
    },
}

/// A field's value: text or raw bytes (e.g. a scanned document).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldValue {
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Bytes(#[serde(with = "crate::codec::byte_string")] Vec<u8>),
}

impl FieldValue {
    fn len(&self) -> usize {
        match self {
            FieldValue::Text(s) => s.len(),
            FieldValue::Bytes(b) => b.len(),
        }
    }
}

/// Never prints record content: only the kind and length.
impl std::fmt::Debug for FieldValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldValue::Text(s) => write!(f, "Text(<{} bytes>)", s.len()),
            FieldValue::Bytes(b) => write!(f, "Bytes(<{} bytes>)", b.len()),
        }
    }
}

/// One typed field of a record: a category, a name (e.g. `date_of_birth`) and a value.
///
/// Encoded as: category tag (1 byte), name (postcard string), value (variant index 0 = text
/// as a postcard string, 1 = bytes as a postcard byte sequence).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Field {
    category: DisclosableCategory,
    name: String,
    value: FieldValue,
}

fn check_field_name(name: &str) -> Result<(), RecordError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_FIELD_NAME_LEN
        && name.as_bytes()[0].is_ascii_lowercase()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(RecordError::InvalidFieldName)
    }
}

impl Field {
    /// A field from its parts, validated.
    ///
    /// # Errors
    /// [`RecordError::InvalidFieldName`] or [`RecordError::ValueTooLong`].
    pub fn new(
        category: DisclosableCategory,
        name: impl Into<String>,
        value: FieldValue,
    ) -> Result<Self, RecordError> {
        let name = name.into();
        check_field_name(&name)?;
        if value.len() > MAX_FIELD_VALUE_LEN {
            return Err(RecordError::ValueTooLong {
                len: value.len(),
                max: MAX_FIELD_VALUE_LEN,
            });
        }
        Ok(Field {
            category,
            name,
            value,
        })
    }

    /// A text field.
    ///
    /// # Errors
    /// As [`Field::new`].
    pub fn text(
        category: DisclosableCategory,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, RecordError> {
        Field::new(category, name, FieldValue::Text(value.into()))
    }

    /// A bytes field.
    ///
    /// # Errors
    /// As [`Field::new`].
    pub fn bytes(
        category: DisclosableCategory,
        name: impl Into<String>,
        value: impl Into<Vec<u8>>,
    ) -> Result<Self, RecordError> {
        Field::new(category, name, FieldValue::Bytes(value.into()))
    }

    /// The field's category.
    pub fn category(&self) -> DisclosableCategory {
        self.category
    }

    /// The field's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The field's value.
    pub fn value(&self) -> &FieldValue {
        &self.value
    }

    fn key(&self) -> (DisclosableCategory, &str) {
        (self.category, &self.name)
    }

    fn encoded_len(&self) -> usize {
        1 + varint_len(self.name.len())
            + self.name.len()
            + 1
            + varint_len(self.value.len())
            + self.value.len()
    }
}

#[derive(Deserialize)]
struct RawField {
    category: DisclosableCategory,
    name: String,
    value: FieldValue,
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawField::deserialize(d)?;
        Field::new(raw.category, raw.name, raw.value).map_err(serde::de::Error::custom)
    }
}

fn varint_len(n: usize) -> usize {
    let mut n = n;
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// A record: the plaintext of a disclosure. Fields are kept sorted by (category tag, name),
/// each (category, name) at most once, so every record has one canonical encoding.
///
/// Encoded ([`Record::encode`]) as the byte [`RECORD_VERSION`], then the postcard sequence of
/// fields; at most [`MAX_RECORD_LEN`] bytes. `Debug` never prints field values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Record {
    fields: Vec<Field>,
    #[serde(skip)]
    encoded_len: usize,
}

impl Default for Record {
    fn default() -> Self {
        Record::new()
    }
}

impl Record {
    /// An empty record.
    pub fn new() -> Self {
        Record {
            fields: Vec::new(),
            encoded_len: 1 + varint_len(0),
        }
    }

    /// Adds a field.
    ///
    /// # Errors
    /// [`RecordError::DuplicateField`], [`RecordError::TooManyFields`],
    /// [`RecordError::TooLarge`].
    pub fn insert(&mut self, field: Field) -> Result<(), RecordError> {
        let pos = match self.fields.binary_search_by(|f| f.key().cmp(&field.key())) {
            Ok(_) => {
                return Err(RecordError::DuplicateField {
                    category: field.category,
                    name: field.name,
                });
            }
            Err(pos) => pos,
        };
        if self.fields.len() >= MAX_FIELDS {
            return Err(RecordError::TooManyFields { max: MAX_FIELDS });
        }
        let n = self.fields.len();
        let len = self.encoded_len - varint_len(n) + varint_len(n + 1) + field.encoded_len();
        if len > MAX_RECORD_LEN {
            return Err(RecordError::TooLarge {
                len,
                max: MAX_RECORD_LEN,
            });
        }
        self.fields.insert(pos, field);
        self.encoded_len = len;
        Ok(())
    }

    /// Adds a field, builder style.
    ///
    /// # Errors
    /// As [`Record::insert`].
    pub fn with(mut self, field: Field) -> Result<Self, RecordError> {
        self.insert(field)?;
        Ok(self)
    }

    /// The fields, sorted by (category tag, name).
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The categories the record carries: what its disclosure header must declare, exactly.
    /// Never holds a protection category (by type).
    pub fn categories(&self) -> CategorySet {
        self.fields.iter().map(|f| f.category).collect()
    }

    /// The canonical encoding: `RECORD_VERSION ‖ postcard(fields)`.
    pub fn encode(&self) -> Vec<u8> {
        codec::encode_versioned(RECORD_VERSION, self)
    }

    /// Decodes a record from untrusted bytes; never panics.
    ///
    /// # Errors
    /// [`DecodeError`] when the input is over [`MAX_RECORD_LEN`], of another version, malformed
    /// (including a protection category tag, an invalid name, fields out of order or
    /// duplicated), followed by trailing bytes, or not canonical.
    pub fn decode(bytes: &[u8]) -> Result<Record, DecodeError> {
        codec::decode_versioned("record", RECORD_VERSION, MAX_RECORD_LEN, bytes)
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        #[derive(Deserialize)]
        struct RawRecord {
            fields: Vec<Field>,
        }
        let raw = RawRecord::deserialize(d)?;
        if raw.fields.len() > MAX_FIELDS {
            return Err(D::Error::custom("too many fields"));
        }
        let mut record = Record::new();
        let mut last: Option<(DisclosableCategory, String)> = None;
        for field in raw.fields {
            if last
                .as_ref()
                .is_some_and(|(c, n)| (*c, n.as_str()) >= field.key())
            {
                return Err(D::Error::custom("fields not in strictly ascending order"));
            }
            last = Some((field.category, field.name.clone()));
            record.insert(field).map_err(D::Error::custom)?;
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::category::Category;

    #[test]
    fn record_round_trip_and_categories() {
        let record = Record::new()
            .with(Field::text(DisclosableCategory::Medical, "diagnosis", "…").unwrap())
            .unwrap()
            .with(Field::text(DisclosableCategory::Identity, "given_name", "A").unwrap())
            .unwrap()
            .with(
                Field::bytes(
                    DisclosableCategory::IdentityDocuments,
                    "passport_scan",
                    vec![1, 2, 3],
                )
                .unwrap(),
            )
            .unwrap();
        assert_eq!(
            record.categories(),
            CategorySet::of(&[
                Category::Identity,
                Category::IdentityDocuments,
                Category::Medical
            ])
        );
        let bytes = record.encode();
        assert_eq!(bytes.len(), record.encoded_len);
        assert_eq!(Record::decode(&bytes).unwrap(), record);
        assert!(!format!("{record:?}").contains("given_name\", value: Text(\"A\")"));
    }

    #[test]
    fn record_rejects_duplicates_and_bad_names() {
        let mut r = Record::new();
        r.insert(Field::text(DisclosableCategory::Contact, "phone", "1").unwrap())
            .unwrap();
        assert!(matches!(
            r.insert(Field::text(DisclosableCategory::Contact, "phone", "2").unwrap()),
            Err(RecordError::DuplicateField { .. })
        ));
        assert!(Field::text(DisclosableCategory::Contact, "Phone", "1").is_err());
        assert!(Field::text(DisclosableCategory::Contact, "", "1").is_err());
        assert!(
            Field::bytes(
                DisclosableCategory::Contact,
                "x",
                vec![0; MAX_FIELD_VALUE_LEN + 1]
            )
            .is_err()
        );
    }

    #[test]
    fn record_size_is_bounded() {
        let mut r = Record::new();
        let mut i = 0;
        loop {
            let f = Field::bytes(
                DisclosableCategory::CaseSummary,
                format!("part-{i}"),
                vec![0; MAX_FIELD_VALUE_LEN],
            )
            .unwrap();
            match r.insert(f) {
                Ok(()) => i += 1,
                Err(RecordError::TooLarge { .. }) => break,
                Err(e) => panic!("{e}"),
            }
        }
        let bytes = r.encode();
        assert!(bytes.len() <= MAX_RECORD_LEN);
        assert_eq!(bytes.len(), r.encoded_len);
        assert_eq!(Record::decode(&bytes).unwrap(), r);
    }

    #[test]
    fn record_decode_refuses_protection_tag() {
        // version 1, one field: category 0x33 (shelter_location), name "x", text "y".
        let bytes = [1, 1, 0x33, 1, b'x', 0, 1, b'y'];
        assert!(matches!(
            Record::decode(&bytes),
            Err(DecodeError::Malformed { .. })
        ));
        let ok = [1, 1, 0x20, 1, b'x', 0, 1, b'y'];
        assert!(Record::decode(&ok).is_ok());
    }
}
