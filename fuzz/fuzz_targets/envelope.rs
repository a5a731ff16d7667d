//! libFuzzer entry point of the `envelope` target: see
//! `streha_fuzz_targets::envelope` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streha_fuzz_targets::envelope(data));
