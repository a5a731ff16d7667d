//! libFuzzer entry point of the `wire_frame` target: see
//! `streha_fuzz_targets::wire_frame` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streha_fuzz_targets::wire_frame(data));
