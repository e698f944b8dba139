#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rechain_server::fuzzing::state_resolve(data));
