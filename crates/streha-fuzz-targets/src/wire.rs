//! Target `wire_frame`: a frame as it arrives on a QUIC stream, decoded as each of the four
//! message enums.

use serde::Serialize;
use serde::de::DeserializeOwned;
use streha_audit::{open_checkpoint, verify_inclusion};
use streha_core::AuditEntry;
use streha_crypto::{Envelope, MAX_CIPHERTEXT_LEN, MAX_CONTEXT_LEN};
use streha_wire::app::{AppRequest, AppResponse};
use streha_wire::frame::{self, MAX_FRAME_LEN};
use streha_wire::peer::{PeerRequest, PeerResponse, ProvenEntry};

use crate::fixed;

/// A smaller reader limit, as an endpoint that reads small requests would set.
const SMALL_LIMIT: usize = 1024;

/// Feeds `data` to a [`frame::FrameReader`] in pieces of 1, 7 and 1200 bytes and in one:
/// asserts that the reader never holds more than twice the payload bytes it took (or its
/// first 16 KiB), never more than the announced length, takes bytes only up to the frame's
/// end, and decodes exactly what `frame::decode` decodes from the frame's bytes.
fn read_incrementally(data: &[u8]) {
    for piece in [1, 7, 1200, data.len().max(1)] {
        let mut reader = frame::FrameReader::new(MAX_FRAME_LEN);
        let mut taken = 0;
        for chunk in data.chunks(piece) {
            match reader.push(chunk) {
                Ok(n) => {
                    assert!(n <= chunk.len());
                    taken += n;
                    if n < chunk.len() {
                        assert!(reader.is_complete(), "bytes left before the frame's end");
                        break;
                    }
                }
                Err(_) => {
                    assert!(reader.announced().is_none(), "refused after the prefix");
                    return;
                }
            }
            let payload = taken.saturating_sub(frame::PREFIX_LEN);
            assert!(
                reader.held() <= (2 * payload).max(16 * 1024),
                "held beyond what arrived"
            );
            if let Some(len) = reader.announced() {
                assert!(reader.held() <= len, "held beyond the announced length");
            }
        }
        if reader.is_complete() {
            let whole = frame::decode::<AppRequest>(&data[..taken], MAX_FRAME_LEN);
            assert_eq!(reader.decode::<AppRequest>(), whole);
        }
    }
}

/// Feeds `data` to `frame::payload_len` and `frame::decode` (for [`AppRequest`],
/// [`AppResponse`], [`PeerRequest`] and [`PeerResponse`], under the full and a small limit).
///
/// Asserts: a length prefix is accepted only within the limit and never zero; a decoded
/// message came from a frame within the limit; it re-encodes into a frame that decodes to
/// the same message and is no longer than the input (postcard may accept an over-long
/// varint, never a shorter form); an embedded envelope respects its size limits and goes
/// through the envelope checks with the fixed keys; an embedded proven entry and checkpoint
/// go through the entry decoder, the checkpoint verifier and the inclusion verifier, as the
/// receiving node would run them.
pub fn wire_frame(data: &[u8]) {
    read_incrementally(data);
    if let Some(prefix) = data.get(..4) {
        let prefix: [u8; 4] = prefix.try_into().expect("4 bytes");
        for limit in [0, 1, SMALL_LIMIT, MAX_FRAME_LEN, usize::MAX] {
            if let Ok(len) = frame::payload_len(prefix, limit) {
                assert!(len > 0, "an empty frame was accepted");
                assert!(len <= limit.min(MAX_FRAME_LEN), "a frame over the limit");
                assert_eq!(len as u64, u64::from(u32::from_be_bytes(prefix)));
            }
        }
    }

    if let Some(m) = decode_checked::<AppRequest>(data) {
        match m {
            AppRequest::Submit(envelope) => check_envelope(&envelope),
            AppRequest::GrantConsent(grant) => {
                let entry = AuditEntry::ConsentGranted { grant: *grant };
                assert_eq!(AuditEntry::decode(&entry.encode()).as_ref(), Ok(&entry));
            }
            _ => {}
        }
    }
    if let Some(m) = decode_checked::<AppResponse>(data) {
        match m {
            AppResponse::Envelope(envelope) => check_envelope(&envelope),
            AppResponse::Entry(proven) => check_proven_entry(&proven),
            AppResponse::Note(text) => {
                let _ = open_checkpoint(&text, fixed::note_verifiers());
            }
            _ => {}
        }
    }
    if let Some(PeerRequest::Deliver(delivery)) = decode_checked::<PeerRequest>(data) {
        check_envelope(&delivery.envelope);
        if let Some(proven) = &delivery.consent {
            check_proven_entry(proven);
        }
    }
    if let Some(PeerResponse::Receipt(receipt)) = decode_checked::<PeerResponse>(data) {
        check_proven_entry(&receipt.received);
    }
}

/// Decodes `data` as a frame of `T` under both limits and checks the re-encoding.
fn decode_checked<T>(data: &[u8]) -> Option<T>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let small = frame::decode::<T>(data, SMALL_LIMIT);
    let message = frame::decode::<T>(data, MAX_FRAME_LEN);
    if let Ok(small) = &small {
        assert!(
            data.len() - 4 <= SMALL_LIMIT,
            "decoded a frame over the limit"
        );
        assert_eq!(Ok(small), message.as_ref(), "the limit changed the message");
    }
    let message = message.ok()?;
    assert!(data.len() - 4 <= MAX_FRAME_LEN);
    let again = frame::encode(&message).expect("a decoded message re-encodes");
    assert!(
        again.len() <= data.len(),
        "re-encoding is longer than the input ({} > {})",
        again.len(),
        data.len()
    );
    let back: T = frame::decode(&again, MAX_FRAME_LEN).expect("a re-encoded frame decodes");
    assert_eq!(back, message, "re-encoding changed the message");
    Some(message)
}

/// What a node checks of an envelope it receives.
fn check_envelope(envelope: &Envelope) {
    assert!(envelope.header.context.len() <= MAX_CONTEXT_LEN);
    assert!(envelope.ciphertext.len() <= MAX_CIPHERTEXT_LEN);
    // Inside a frame, serde reads any version byte (`Envelope::from_bytes` refuses all but
    // version 1 up front); verification must then refuse it.
    let bytes = envelope.to_bytes();
    if envelope.header.version == streha_crypto::ENVELOPE_VERSION {
        assert_eq!(
            Envelope::from_bytes(&bytes).as_ref(),
            Ok(envelope),
            "an envelope decoded inside a frame does not round-trip through its own encoding"
        );
    } else {
        assert_eq!(
            envelope.verify_signature(&envelope.header.sender),
            Err(streha_crypto::EnvelopeError::UnsupportedVersion(
                envelope.header.version
            )),
            "an envelope of another version was not refused first"
        );
    }
    crate::envelope::check_decoded(envelope);
}

/// What a node checks of a proven entry: the entry decodes, the checkpoint verifies, the
/// entry is included.
fn check_proven_entry(proven: &ProvenEntry) {
    let _ = AuditEntry::decode(&proven.entry);
    let Ok((checkpoint, _)) = open_checkpoint(&proven.checkpoint, fixed::note_verifiers()) else {
        return;
    };
    let leaf = streha_audit::leaf_hash(&proven.entry);
    if verify_inclusion(
        &leaf,
        proven.index,
        checkpoint.size(),
        &proven.proof,
        checkpoint.root(),
    )
    .is_ok()
    {
        assert!(proven.index < checkpoint.size());
    }
}
