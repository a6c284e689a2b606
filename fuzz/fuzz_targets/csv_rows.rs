//! Fuzz target: DL_info.csv parsing (header check and every row parser) must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Half the inputs get the real header so the row parser is reached often.
    let mut with_header = deeplesion::data::dl_info::HEADER.join(",").into_bytes();
    with_header.push(b'\n');
    with_header.extend_from_slice(data);
    for bytes in [data, &with_header[..]] {
        if let Ok((rows, _skipped)) = deeplesion::data::dl_info::parse_csv(bytes, "fuzz", false) {
            for r in rows {
                let _ = deeplesion::data::slice::relative_path(&r.file_name);
                let _ = deeplesion::data::recist::mine(&r);
            }
        }
        let _ = deeplesion::data::dl_info::parse_csv(bytes, "fuzz", true);
    }
});
