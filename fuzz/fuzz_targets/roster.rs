//! libFuzzer entry point of the `roster` target: see
//! `streha_fuzz_targets::roster` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streha_fuzz_targets::roster(data));
