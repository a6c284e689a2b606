//! Fuzz target: the 16-bit PNG slice decoder must never panic and must return consistent sizes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = deeplesion::data::slice::decode_slice(data, "fuzz", None) {
        assert_eq!(s.hu.len(), s.width * s.height);
    }
    let _ = deeplesion::data::slice::decode_slice(data, "fuzz", Some([512, 512]));
});
