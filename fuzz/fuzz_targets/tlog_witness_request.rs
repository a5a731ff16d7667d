//! libFuzzer entry point of the `tlog_witness_request` target: see
//! `streha_fuzz_targets::tlog_witness_request` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streha_fuzz_targets::tlog_witness_request(data));
