//! libFuzzer entry point of the `merkle_proof` target: see
//! `streha_fuzz_targets::merkle_proof` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streha_fuzz_targets::merkle_proof(data));
