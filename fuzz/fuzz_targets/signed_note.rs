//! libFuzzer entry point of the `signed_note` target: see
//! `streha_fuzz_targets::signed_note` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streha_fuzz_targets::signed_note(data));
