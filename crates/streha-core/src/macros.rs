//! Macros for the closed vocabularies (categories, roles, purposes, age statuses) and the
//! canonical sets over them.

/// A closed vocabulary: a field-less enum whose wire tag is an explicit `u8` discriminant
/// (stable forever; never reuse a tag), with a stable snake_case name.
///
/// Generated: `ALL`, `tag()`, `from_tag()`, `as_str()`, `Display` (the name), `FromStr`
/// (the name), and serde: one raw byte (the tag) in binary formats, the name in
/// human-readable formats. An unknown tag or name is an error.
macro_rules! vocabulary {
    (
        $(#[$doc:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vdoc:meta])* $variant:ident = $tag:literal, $str:literal; )+
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum $name {
            $( $(#[$vdoc])* $variant = $tag, )+
        }

        impl $name {
            /// Every value, in ascending tag order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable wire tag.
            pub const fn tag(self) -> u8 {
                self as u8
            }

            /// The value with wire tag `tag`, if any.
            pub const fn from_tag(tag: u8) -> Option<Self> {
                match tag {
                    $( $tag => Some($name::$variant), )+
                    _ => None,
                }
            }

            /// The stable snake_case name (used in configuration files and messages).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $str, )+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::UnknownName;
            fn from_str(s: &str) -> Result<Self, $crate::UnknownName> {
                match s {
                    $( $str => Ok($name::$variant), )+
                    _ => Err($crate::UnknownName { kind: $kind }),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(self.as_str())
                } else {
                    s.serialize_u8(self.tag())
                }
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                use ::serde::de::Error as _;
                if d.is_human_readable() {
                    // A person wrote it: name what they wrote and what they may write.
                    let s = String::deserialize(d)?;
                    s.parse().map_err(|_| {
                        let valid: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        D::Error::custom(format!(
                            concat!("unknown ", $kind, " `{}`; one of: {}"),
                            s.chars().take(64).collect::<String>(),
                            valid.join(", ")
                        ))
                    })
                } else {
                    let tag = u8::deserialize(d)?;
                    $name::from_tag(tag)
                        .ok_or_else(|| D::Error::custom(concat!("unknown ", $kind, " tag")))
                }
            }
        }
    };
}

/// A canonical set over a vocabulary, stored as a `u64` bit mask indexed by the wire tag
/// (every tag is below 64). Iterates in ascending tag order. Encoded as a postcard sequence
/// (varint count, then each tag as one byte) in strictly ascending order; decoding rejects
/// any other order or a duplicate, so each set has exactly one encoding. In human-readable
/// formats (a roster's TOML, JSON) a set is what a person writes: names in any order,
/// written back in ascending tag order; a name given twice is refused, naming it.
macro_rules! tag_set {
    ($(#[$doc:meta])* $set:ident of $item:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $set(u64);

        impl $set {
            /// The empty set.
            pub const fn new() -> Self {
                $set(0)
            }

            /// A set holding the given values.
            pub fn of(items: &[$item]) -> Self {
                items.iter().copied().collect()
            }

            /// Adds `item`; returns whether it was new.
            pub fn insert(&mut self, item: $item) -> bool {
                let bit = 1u64 << item.tag();
                let new = self.0 & bit == 0;
                self.0 |= bit;
                new
            }

            /// Removes `item`; returns whether it was present.
            pub fn remove(&mut self, item: $item) -> bool {
                let bit = 1u64 << item.tag();
                let had = self.0 & bit != 0;
                self.0 &= !bit;
                had
            }

            /// Whether `item` is in the set.
            pub const fn contains(&self, item: $item) -> bool {
                self.0 & (1u64 << (item as u8)) != 0
            }

            /// The number of values.
            pub const fn len(&self) -> usize {
                self.0.count_ones() as usize
            }

            /// Whether the set is empty.
            pub const fn is_empty(&self) -> bool {
                self.0 == 0
            }

            /// The values in both sets.
            pub const fn intersection(self, other: Self) -> Self {
                $set(self.0 & other.0)
            }

            /// The values in either set.
            pub const fn union(self, other: Self) -> Self {
                $set(self.0 | other.0)
            }

            /// The values of `self` not in `other`.
            pub const fn difference(self, other: Self) -> Self {
                $set(self.0 & !other.0)
            }

            /// Whether every value of `self` is in `other`.
            pub const fn is_subset(&self, other: &Self) -> bool {
                self.0 & !other.0 == 0
            }

            /// The values in ascending tag order.
            pub fn iter(&self) -> impl Iterator<Item = $item> + '_ {
                let mask = self.0;
                $item::ALL.iter().copied().filter(move |i| mask & (1u64 << i.tag()) != 0)
            }

            /// The first value (lowest tag), if any.
            pub fn first(&self) -> Option<$item> {
                self.iter().next()
            }
        }

        impl FromIterator<$item> for $set {
            fn from_iter<I: IntoIterator<Item = $item>>(iter: I) -> Self {
                let mut s = $set::new();
                for i in iter {
                    s.insert(i);
                }
                s
            }
        }

        impl From<$item> for $set {
            fn from(item: $item) -> Self {
                let mut s = $set::new();
                s.insert(item);
                s
            }
        }

        /// Lists the values by name in ascending tag order, e.g. `{identity, medical}`.
        impl ::std::fmt::Display for $set {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str("{")?;
                for (n, i) in self.iter().enumerate() {
                    if n > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(i.as_str())?;
                }
                f.write_str("}")
            }
        }

        impl ::std::fmt::Debug for $set {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, concat!(stringify!($set), "{}"), self)
            }
        }

        impl ::serde::Serialize for $set {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use ::serde::ser::SerializeSeq as _;
                let mut seq = s.serialize_seq(Some(self.len()))?;
                for i in self.iter() {
                    seq.serialize_element(&i)?;
                }
                seq.end()
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $set {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                /// `canonical`: the binary form, which has exactly one encoding per set.
                struct V {
                    canonical: bool,
                }
                impl<'de> ::serde::de::Visitor<'de> for V {
                    type Value = $set;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        if self.canonical {
                            f.write_str("a strictly ascending sequence of tags")
                        } else {
                            f.write_str("a list of names")
                        }
                    }
                    fn visit_seq<A: ::serde::de::SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> Result<$set, A::Error> {
                        use ::serde::de::Error as _;
                        let mut out = $set::new();
                        let mut last: Option<$item> = None;
                        let mut count = 0usize;
                        while let Some(i) = seq.next_element::<$item>()? {
                            count += 1;
                            if count > $item::ALL.len() {
                                return Err(A::Error::custom("too many values in set"));
                            }
                            if self.canonical && last.is_some_and(|l| l >= i) {
                                return Err(A::Error::custom(
                                    "set not in strictly ascending order",
                                ));
                            }
                            last = Some(i);
                            if !out.insert(i) {
                                return Err(A::Error::custom(format!(
                                    "`{}` is listed twice; list each once",
                                    i.as_str()
                                )));
                            }
                        }
                        Ok(out)
                    }
                }
                let canonical = !d.is_human_readable();
                d.deserialize_seq(V { canonical })
            }
        }
    };
}
