//! libFuzzer entry point of the `policy_decide` target: see
//! `streha_fuzz_targets::policy_decide` for what it feeds and asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| streha_fuzz_targets::policy_decide(data));
