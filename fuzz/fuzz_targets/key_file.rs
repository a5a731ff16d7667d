//! libFuzzer entry point of the `key_file` target: see
//! `streha_fuzz_targets::key_file` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streha_fuzz_targets::key_file(data));
