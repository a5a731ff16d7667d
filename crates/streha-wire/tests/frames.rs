//! Frames and messages: round trips, limits checked before allocation, and no panic on any
//! input.

use proptest::prelude::*;
use streha_core::{EnvelopeId, SubjectId};
use streha_wire::app::{AppRequest, AppResponse};
use streha_wire::peer::{PeerRequest, PeerResponse};
use streha_wire::{ErrorCode, FrameError, MAX_FRAME_LEN, PROTOCOL_VERSION, RemoteError, frame};

fn sample_requests() -> Vec<AppRequest> {
    vec![
        AppRequest::Checkpoint,
        AppRequest::Roster,
        AppRequest::Inbox {
            after: Some(EnvelopeId::from_bytes([7; 16])),
            limit: 10,
        },
        AppRequest::RegisterSubject {
            subject: SubjectId::from_bytes([1; 16]),
            age_status: streha_core::AgeStatus::PresumedChild,
            representatives: vec![],
        },
        AppRequest::ProveEntry { index: 42 },
    ]
}

#[test]
fn app_messages_round_trip() {
    for request in sample_requests() {
        let bytes = frame::encode(&request).unwrap();
        assert_eq!(bytes[4], PROTOCOL_VERSION);
        let back: AppRequest = frame::decode(&bytes, MAX_FRAME_LEN).unwrap();
        assert_eq!(back, request);
    }
    let response = AppResponse::Error(RemoteError::new(ErrorCode::NotFound, "no such subject"));
    let bytes = frame::encode(&response).unwrap();
    assert_eq!(
        frame::decode::<AppResponse>(&bytes, MAX_FRAME_LEN).unwrap(),
        response
    );
}

#[test]
fn oversized_frames_are_refused_from_the_prefix() {
    let prefix = (u32::try_from(MAX_FRAME_LEN).unwrap() + 1).to_be_bytes();
    assert!(matches!(
        frame::payload_len(prefix, MAX_FRAME_LEN),
        Err(FrameError::TooLarge { .. })
    ));
    // A reader's own, smaller limit applies too.
    assert!(matches!(
        frame::payload_len(1000u32.to_be_bytes(), 999),
        Err(FrameError::TooLarge { max: 999, .. })
    ));
    assert_eq!(frame::payload_len(999u32.to_be_bytes(), 999), Ok(999));
    assert!(matches!(
        frame::payload_len(u32::MAX.to_be_bytes(), usize::MAX),
        Err(FrameError::TooLarge { .. })
    ));
    assert_eq!(frame::payload_len([0; 4], 10), Err(FrameError::Empty));
}

#[test]
fn wrong_version_and_trailing_bytes_are_refused() {
    let mut bytes = frame::encode(&AppRequest::Checkpoint).unwrap();
    bytes[4] = 9;
    assert_eq!(
        frame::decode::<AppRequest>(&bytes, MAX_FRAME_LEN),
        Err(FrameError::UnsupportedVersion(9))
    );
    let mut payload = frame::encode(&AppRequest::Checkpoint).unwrap()[4..].to_vec();
    payload.push(0);
    assert_eq!(
        frame::decode_payload::<AppRequest>(&payload),
        Err(FrameError::TrailingBytes(1))
    );
}

#[test]
fn every_truncation_of_a_frame_is_an_error() {
    for request in sample_requests() {
        let bytes = frame::encode(&request).unwrap();
        for cut in 0..bytes.len() {
            assert!(frame::decode::<AppRequest>(&bytes[..cut], MAX_FRAME_LEN).is_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = frame::decode_payload::<AppRequest>(&bytes);
        let _ = frame::decode_payload::<AppResponse>(&bytes);
        let _ = frame::decode_payload::<PeerRequest>(&bytes);
        let _ = frame::decode_payload::<PeerResponse>(&bytes);
        let _ = frame::decode::<PeerRequest>(&bytes, MAX_FRAME_LEN);
    }

    #[test]
    fn versioned_arbitrary_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut payload = vec![PROTOCOL_VERSION];
        payload.extend_from_slice(&bytes);
        let _ = frame::decode_payload::<AppRequest>(&payload);
        let _ = frame::decode_payload::<AppResponse>(&payload);
        let _ = frame::decode_payload::<PeerRequest>(&payload);
        let _ = frame::decode_payload::<PeerResponse>(&payload);
    }

    #[test]
    fn flipped_bytes_of_valid_frames_never_panic(index in any::<prop::sample::Index>(), mask in 1u8..) {
        for request in sample_requests() {
            let mut bytes = frame::encode(&request).unwrap();
            let i = index.index(bytes.len());
            bytes[i] ^= mask;
            let _ = frame::decode::<AppRequest>(&bytes, MAX_FRAME_LEN);
        }
    }
}
