//! /proc/PID/maps text: any bytes must parse to entries or a named bad line, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use solab::maps::{self, MapTarget, Perms};

fuzz_target!(|data: &[u8]| {
    match maps::parse_maps(data) {
        Ok(entries) => {
            for e in &entries {
                assert!(e.start <= e.end, "{e:?}");
                let _ = (e.len(), e.is_empty(), e.file_id(), e.map_files_name());
                // The permissions print back as the four letters they were parsed from.
                assert_eq!(Perms::parse(&e.perms.to_string()), Some(e.perms));
                if let MapTarget::File { path, .. } = &e.target {
                    assert!(!path.as_os_str().is_empty());
                }
            }
        }
        Err(bad) => {
            assert!(bad.line >= 1);
            assert!(!bad.reason.is_empty());
        }
    }
    for line in data.split(|&b| b == b'\n') {
        let _ = maps::parse_line(line);
    }
});
