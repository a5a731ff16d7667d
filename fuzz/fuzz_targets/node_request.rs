//! libFuzzer entry point of the `node_request` target: see
//! `streha_fuzz_targets::node_request` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streha_fuzz_targets::node_request(data));
