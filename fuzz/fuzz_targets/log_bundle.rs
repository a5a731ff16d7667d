//! libFuzzer entry point of the `log_bundle` target: see
//! `streha_fuzz_targets::log_bundle` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streha_fuzz_targets::log_bundle(data));
