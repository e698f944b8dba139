#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rechain_server::fuzzing::pdu(data));
