//! libFuzzer entry point of the `core_decode` target: see
//! `streha_fuzz_targets::core_decode` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streha_fuzz_targets::core_decode(data));
