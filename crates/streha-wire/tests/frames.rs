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

/// The payload of `message` with its one list (the last field, empty in `message`)
/// announcing `len` elements, each one zero byte (an empty string or byte string).
fn with_announced_list<T: serde::Serialize>(message: &T, len: usize) -> Vec<u8> {
    let empty = frame::encode(message).unwrap();
    assert_eq!(*empty.last().unwrap(), 0, "the list is the last field");
    let mut payload = empty[4..empty.len() - 1].to_vec();
    let mut n = len;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            payload.push(byte);
            break;
        }
        payload.push(byte | 0x80);
    }
    payload.resize(payload.len() + len, 0);
    payload
}

#[test]
fn over_long_lists_are_refused_with_their_limit() {
    use streha_core::RepresentativeId;
    use streha_wire::limits::{MAX_GOSSIP_NOTES, MAX_PAGE_ITEMS, MAX_REPRESENTATIVES};

    // At the cap: accepted. One more: refused, naming the list and the cap.
    let entries = |n| AppResponse::Entries(vec![vec![]; n]);
    let bytes = frame::encode(&entries(MAX_PAGE_ITEMS)).unwrap();
    assert_eq!(
        frame::decode::<AppResponse>(&bytes, MAX_FRAME_LEN),
        Ok(entries(MAX_PAGE_ITEMS))
    );
    let bytes = frame::encode(&entries(MAX_PAGE_ITEMS + 1)).unwrap();
    assert_eq!(
        frame::decode::<AppResponse>(&bytes, MAX_FRAME_LEN),
        Err(FrameError::TooManyItems {
            what: "log entries",
            len: MAX_PAGE_ITEMS as u64 + 1,
            max: MAX_PAGE_ITEMS,
        })
    );
    let bytes = frame::encode(&AppResponse::Checkpoints(vec![String::new(); 300])).unwrap();
    assert_eq!(
        frame::decode::<AppResponse>(&bytes, MAX_FRAME_LEN),
        Err(FrameError::TooManyItems {
            what: "checkpoints",
            len: 300,
            max: MAX_PAGE_ITEMS,
        })
    );
    let bytes = frame::encode(&PeerRequest::Gossip(vec![String::new(); 257])).unwrap();
    assert_eq!(
        frame::decode::<PeerRequest>(&bytes, MAX_FRAME_LEN),
        Err(FrameError::TooManyItems {
            what: "gossip checkpoints",
            len: MAX_GOSSIP_NOTES as u64 + 1,
            max: MAX_GOSSIP_NOTES,
        })
    );
    let register = |n: usize| AppRequest::RegisterSubject {
        subject: SubjectId::from_bytes([1; 16]),
        age_status: streha_core::AgeStatus::Adult,
        representatives: (0..n)
            .map(|i| RepresentativeId::new(format!("rep-{i}")).unwrap())
            .collect(),
    };
    let bytes = frame::encode(&register(MAX_REPRESENTATIVES)).unwrap();
    assert_eq!(
        frame::decode::<AppRequest>(&bytes, MAX_FRAME_LEN),
        Ok(register(MAX_REPRESENTATIVES))
    );
    let bytes = frame::encode(&register(MAX_REPRESENTATIVES + 1)).unwrap();
    assert_eq!(
        frame::decode::<AppRequest>(&bytes, MAX_FRAME_LEN),
        Err(FrameError::TooManyItems {
            what: "representatives",
            len: MAX_REPRESENTATIVES as u64 + 1,
            max: MAX_REPRESENTATIVES,
        })
    );
}

/// Issue 18.10: the roster exchange messages round-trip, and a carried roster is bounded by
/// `MAX_ROSTER_LEN`, refused while decoding beyond it.
#[test]
fn roster_exchange_messages_are_bounded() {
    use streha_wire::peer::{RosterAnswer, RosterOffer};
    use streha_wire::roster::MAX_ROSTER_LEN;

    let offer = PeerRequest::RosterVersion(RosterOffer {
        version: 7,
        hash: [3; 32],
    });
    let bytes = frame::encode(&offer).unwrap();
    assert_eq!(
        frame::decode::<PeerRequest>(&bytes, MAX_FRAME_LEN),
        Ok(offer)
    );
    let answer = |note: Option<String>| {
        PeerResponse::Roster(Box::new(RosterAnswer {
            version: 8,
            hash: [4; 32],
            note,
        }))
    };
    for note in [None, Some("x".repeat(MAX_ROSTER_LEN))] {
        let bytes = frame::encode(&answer(note.clone())).unwrap();
        assert_eq!(
            frame::decode::<PeerResponse>(&bytes, MAX_FRAME_LEN),
            Ok(answer(note))
        );
    }
    let bytes = frame::encode(&answer(Some("x".repeat(MAX_ROSTER_LEN + 1)))).unwrap();
    assert_eq!(
        frame::decode::<PeerResponse>(&bytes, MAX_FRAME_LEN),
        Err(FrameError::TooManyItems {
            what: "roster note bytes",
            len: MAX_ROSTER_LEN as u64 + 1,
            max: MAX_ROSTER_LEN,
        })
    );
}

#[test]
fn a_full_frame_of_tiny_list_elements_is_refused_before_allocating() {
    // A frame of exactly the maximum size whose list announces one empty element per byte:
    // decoded, it would take 24 bytes of memory per byte of frame.
    let header = with_announced_list(&AppResponse::Entries(vec![]), 0).len();
    let len = MAX_FRAME_LEN - header - 3;
    let payload = with_announced_list(&AppResponse::Entries(vec![]), len);
    assert_eq!(payload.len(), MAX_FRAME_LEN);
    assert_eq!(
        frame::decode_payload::<AppResponse>(&payload),
        Err(FrameError::TooManyItems {
            what: "log entries",
            len: len as u64,
            max: streha_wire::limits::MAX_PAGE_ITEMS,
        })
    );
    let payload = with_announced_list(&PeerRequest::Gossip(vec![]), 100_000);
    assert!(matches!(
        frame::decode_payload::<PeerRequest>(&payload),
        Err(FrameError::TooManyItems {
            what: "gossip checkpoints",
            len: 100_000,
            ..
        })
    ));
    // The refusal does not leak into the next decoding.
    let ok = frame::encode(&AppResponse::Entries(vec![vec![1]])).unwrap();
    assert_eq!(
        frame::decode::<AppResponse>(&ok, MAX_FRAME_LEN),
        Ok(AppResponse::Entries(vec![vec![1]]))
    );
    let bad = frame::encode(&AppRequest::Checkpoint).unwrap()[4..].to_vec();
    let mut bad = bad;
    bad.push(0xff);
    bad.push(0xff);
    assert!(matches!(
        frame::decode_payload::<AppRequest>(&bad),
        Err(FrameError::TrailingBytes(_) | FrameError::Malformed(_))
    ));
}

#[test]
fn held_and_evidence_pages_are_capped_from_their_announced_length() {
    use streha_wire::limits::MAX_PAGE_ITEMS;
    for (message, what) in [
        (AppResponse::Held(vec![]), "held deliveries"),
        (AppResponse::Evidence(vec![]), "witness evidence records"),
    ] {
        let payload = with_announced_list(&message, MAX_PAGE_ITEMS + 1);
        assert_eq!(
            frame::decode_payload::<AppResponse>(&payload),
            Err(FrameError::TooManyItems {
                what,
                len: MAX_PAGE_ITEMS as u64 + 1,
                max: MAX_PAGE_ITEMS,
            })
        );
    }
    // A page within the cap round-trips.
    let page = AppResponse::Evidence(vec![streha_wire::app::WitnessEvidence {
        origin: "f.example/streha/police".into(),
        kind: streha_core::WitnessAlarmKind::Fork,
        first: "a\n".into(),
        second: "b\n".into(),
        at: streha_core::Timestamp(1),
    }]);
    let bytes = frame::encode(&page).unwrap();
    assert_eq!(
        frame::decode::<AppResponse>(&bytes, MAX_FRAME_LEN),
        Ok(page)
    );
}

#[test]
fn roster_pages_are_capped_from_their_announced_length() {
    use streha_wire::limits::MAX_ROSTERS_PAGE;
    let rosters = |n| AppResponse::Rosters(vec![String::from("note"); n]);
    let bytes = frame::encode(&rosters(MAX_ROSTERS_PAGE)).unwrap();
    assert_eq!(
        frame::decode::<AppResponse>(&bytes, MAX_FRAME_LEN),
        Ok(rosters(MAX_ROSTERS_PAGE))
    );
    let payload = with_announced_list(&AppResponse::Rosters(vec![]), MAX_ROSTERS_PAGE + 1);
    assert_eq!(
        frame::decode_payload::<AppResponse>(&payload),
        Err(FrameError::TooManyItems {
            what: "roster notes",
            len: MAX_ROSTERS_PAGE as u64 + 1,
            max: MAX_ROSTERS_PAGE,
        })
    );
}

/// A `RemoteError` as a hostile peer would encode it: bypassing `RemoteError::new`, which
/// cuts the message.
fn raw_remote_error(message: String) -> RemoteError {
    RemoteError {
        code: ErrorCode::BadRequest,
        message,
    }
}

#[test]
fn over_long_texts_are_refused_with_their_limit() {
    use streha_wire::app::{DeliveryState, HeldDelivery, HoldReason};
    use streha_wire::limits::MAX_TEXT_LEN;

    // At the cap: accepted, for peers and applications alike.
    let at_cap = raw_remote_error("x".repeat(MAX_TEXT_LEN));
    let bytes = frame::encode(&PeerResponse::Error(at_cap.clone())).unwrap();
    assert_eq!(
        frame::decode::<PeerResponse>(&bytes, MAX_FRAME_LEN),
        Ok(PeerResponse::Error(at_cap))
    );
    // A 4 MB message (what a hostile receiver sent): refused before it is copied.
    let huge = raw_remote_error("y".repeat(4_000_000));
    let bytes = frame::encode(&PeerResponse::Error(huge)).unwrap();
    assert_eq!(
        frame::decode::<PeerResponse>(&bytes, MAX_FRAME_LEN),
        Err(FrameError::TooLong {
            what: "error message",
            len: 4_000_000,
            max: MAX_TEXT_LEN,
        })
    );
    let bytes = frame::encode(&AppResponse::Error(raw_remote_error(
        "z".repeat(MAX_TEXT_LEN + 1),
    )))
    .unwrap();
    assert!(matches!(
        frame::decode::<AppResponse>(&bytes, MAX_FRAME_LEN),
        Err(FrameError::TooLong {
            what: "error message",
            ..
        })
    ));
    // Hold reasons and a delivery's last error too.
    let long = "r".repeat(MAX_TEXT_LEN + 1);
    for (message, what) in [
        (
            AppResponse::Delivery(DeliveryState::Held {
                reason: long.clone(),
            }),
            "hold reason",
        ),
        (
            AppResponse::Delivery(DeliveryState::Queued {
                attempts: 3,
                last_error: Some(long.clone()),
            }),
            "last delivery error",
        ),
        (
            AppResponse::Held(vec![HeldDelivery {
                envelope: EnvelopeId::from_bytes([1; 16]),
                recipient: streha_core::AgencyId::new("shelter").unwrap(),
                class: HoldReason::Other,
                reason: long.clone(),
                since: streha_core::Timestamp(1),
            }]),
            "hold reason",
        ),
    ] {
        let bytes = frame::encode(&message).unwrap();
        assert_eq!(
            frame::decode::<AppResponse>(&bytes, MAX_FRAME_LEN),
            Err(FrameError::TooLong {
                what,
                len: long.len() as u64,
                max: MAX_TEXT_LEN,
            })
        );
    }
    // A witness evidence record's log origin: at most the longest log origin.
    let evidence = AppResponse::Evidence(vec![streha_wire::app::WitnessEvidence {
        origin: "o".repeat(streha_core::MAX_ORIGIN_LEN + 1),
        kind: streha_core::WitnessAlarmKind::Fork,
        first: String::new(),
        second: String::new(),
        at: streha_core::Timestamp(1),
    }]);
    let bytes = frame::encode(&evidence).unwrap();
    assert!(matches!(
        frame::decode::<AppResponse>(&bytes, MAX_FRAME_LEN),
        Err(FrameError::TooLong {
            what: "log origin",
            ..
        })
    ));
    let none = AppResponse::Delivery(DeliveryState::Queued {
        attempts: 0,
        last_error: None,
    });
    let bytes = frame::encode(&none).unwrap();
    assert_eq!(
        frame::decode::<AppResponse>(&bytes, MAX_FRAME_LEN),
        Ok(none)
    );
    // The refusal does not leak into the next decoding.
    let ok = frame::encode(&AppResponse::Entries(vec![vec![1]])).unwrap();
    assert!(frame::decode::<AppResponse>(&ok, MAX_FRAME_LEN).is_ok());
}

#[test]
fn a_remote_error_is_built_within_its_cap_and_shown_escaped() {
    use streha_wire::limits::MAX_TEXT_LEN;
    let built = RemoteError::new(ErrorCode::Internal, "é".repeat(MAX_TEXT_LEN));
    assert!(built.message.len() <= MAX_TEXT_LEN);
    let bytes = frame::encode(&PeerResponse::Error(built.clone())).unwrap();
    assert_eq!(
        frame::decode::<PeerResponse>(&bytes, MAX_FRAME_LEN),
        Ok(PeerResponse::Error(built))
    );
    let forged = RemoteError::new(
        ErrorCode::BadRequest,
        "no\n2031-01-01T00:00:00Z ERROR forged \u{1b}[2Jline",
    );
    let shown = forged.to_string();
    assert_eq!(
        shown,
        r"BadRequest: no\n2031-01-01T00:00:00Z ERROR forged \u{1b}[2Jline"
    );
    assert!(!shown.contains('\n') && !shown.contains('\u{1b}'));
}

#[test]
fn consent_pages_are_capped_from_their_announced_length() {
    use streha_wire::limits::MAX_PAGE_ITEMS;
    let payload = with_announced_list(&AppResponse::Consents(vec![]), MAX_PAGE_ITEMS + 1);
    assert_eq!(
        frame::decode_payload::<AppResponse>(&payload),
        Err(FrameError::TooManyItems {
            what: "consents",
            len: MAX_PAGE_ITEMS as u64 + 1,
            max: MAX_PAGE_ITEMS,
        })
    );
    let request = AppRequest::ConsentsPage {
        subject: SubjectId::from_bytes([2; 16]),
        after: Some(streha_core::ConsentId::from_bytes([3; 16])),
        limit: 256,
    };
    let bytes = frame::encode(&request).unwrap();
    assert_eq!(frame::decode(&bytes, MAX_FRAME_LEN), Ok(request));
    let request = AppRequest::CheckpointsAfter {
        after: 17,
        limit: 10,
    };
    let bytes = frame::encode(&request).unwrap();
    assert_eq!(frame::decode(&bytes, MAX_FRAME_LEN), Ok(request));
}

/// Issue 19.1: a delivery batch and its receipt carry at most `MAX_BATCH_ENVELOPES`
/// deliveries and outcomes, refused from the announced length before any is decoded.
#[test]
fn delivery_batches_and_their_receipts_are_capped_from_their_announced_length() {
    use streha_wire::limits::MAX_BATCH_ENVELOPES;
    use streha_wire::peer::{BatchOutcome, BatchReceipt, DeliveryBatch};

    let receipt = |n: usize| {
        PeerResponse::BatchReceipt(Box::new(BatchReceipt {
            checkpoint: String::new(),
            outcomes: vec![BatchOutcome::Refused(streha_core::RefusalReason::EmptyCategories); n],
        }))
    };
    let bytes = frame::encode(&receipt(MAX_BATCH_ENVELOPES)).unwrap();
    assert_eq!(
        frame::decode::<PeerResponse>(&bytes, MAX_FRAME_LEN),
        Ok(receipt(MAX_BATCH_ENVELOPES))
    );
    let bytes = frame::encode(&receipt(MAX_BATCH_ENVELOPES + 1)).unwrap();
    assert_eq!(
        frame::decode::<PeerResponse>(&bytes, MAX_FRAME_LEN),
        Err(FrameError::TooManyItems {
            what: "envelopes of a delivery batch",
            len: MAX_BATCH_ENVELOPES as u64 + 1,
            max: MAX_BATCH_ENVELOPES,
        })
    );
    let empty = PeerRequest::DeliverBatch(Box::new(DeliveryBatch {
        checkpoint: String::new(),
        deliveries: vec![],
    }));
    let payload = with_announced_list(&empty, 100_000);
    assert_eq!(
        frame::decode_payload::<PeerRequest>(&payload),
        Err(FrameError::TooManyItems {
            what: "envelopes of a delivery batch",
            len: 100_000,
            max: MAX_BATCH_ENVELOPES,
        })
    );
}

/// Issue 18.18: a new epoch's witnessing request is variant 6 of `PeerRequest`; its
/// checkpoint is capped at `MAX_NEW_EPOCH_NOTE_LEN` bytes and its declaration at
/// `MAX_ENTRY_LEN`, both refused while decoding.
#[test]
fn new_epoch_requests_are_variant_6_and_capped() {
    use streha_wire::limits::MAX_NEW_EPOCH_NOTE_LEN;
    use streha_wire::peer::NewEpochRequest;

    let request = |note: usize, declaration: usize| {
        PeerRequest::WitnessNewEpoch(Box::new(NewEpochRequest {
            checkpoint: "c".repeat(note),
            declaration: vec![7; declaration],
            proof: streha_audit::InclusionProof::new(vec![streha_audit::Hash::from([9; 32])])
                .unwrap(),
        }))
    };
    let fits = request(MAX_NEW_EPOCH_NOTE_LEN, streha_core::MAX_ENTRY_LEN);
    let bytes = frame::encode(&fits).unwrap();
    assert_eq!(
        frame::decode::<PeerRequest>(&bytes, MAX_FRAME_LEN),
        Ok(fits)
    );
    // The variant number, after the frame's length prefix and version byte.
    let small = frame::encode(&request(0, 0)).unwrap();
    assert_eq!(small[4], PROTOCOL_VERSION);
    assert_eq!(small[5], 6, "{small:?}");
    assert!(matches!(
        frame::decode::<PeerRequest>(
            &frame::encode(&request(MAX_NEW_EPOCH_NOTE_LEN + 1, 0)).unwrap(),
            MAX_FRAME_LEN
        ),
        Err(FrameError::TooLong {
            what: "new epoch checkpoint",
            ..
        })
    ));
    assert!(matches!(
        frame::decode::<PeerRequest>(
            &frame::encode(&request(0, streha_core::MAX_ENTRY_LEN + 1)).unwrap(),
            MAX_FRAME_LEN
        ),
        Err(FrameError::TooManyItems {
            what: "declaration bytes",
            ..
        })
    ));
}
