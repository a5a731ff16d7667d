//! libFuzzer entry point of the `tlog_proof` target: see
//! `streha_fuzz_targets::tlog_proof` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streha_fuzz_targets::tlog_proof(data));
