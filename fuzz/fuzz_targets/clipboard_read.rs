//! A `.shared` region image as another process may have scribbled it: the header check and
//! the seqlock reader never panic or read out of bounds, and a message they return is the
//! bytes of the published slot. region.rs is pure and std-only; libsolib is cdylib-only,
//! so it is compiled in here by path.
#![no_main]

#[allow(dead_code)]
#[path = "../../solib/src/region.rs"]
mod region;

use libfuzzer_sys::fuzz_target;
use region::{CLIP_CAPACITY, REGION_SIZE, SharedRegion, check_header};

#[repr(C, align(4096))]
struct Page([u8; REGION_SIZE]);

const CLIP_CURRENT: usize = 24;
const SLOTS: usize = 64;
const SLOT_SIZE: usize = 16 + CLIP_CAPACITY;

fuzz_target!(|data: &[u8]| {
    let (out_len, image) = match data.split_first() {
        Some((&n, rest)) => (n as usize * 9, rest),
        None => (0, data),
    };
    let mut page = Page([0u8; REGION_SIZE]);
    let n = image.len().min(REGION_SIZE);
    page.0[..n].copy_from_slice(&image[..n]);
    let header: &[u8; REGION_SIZE] = &page.0;
    let _ = check_header(header).map_err(|e| e.to_string());
    // An odd sequence number or a length beyond the capacity makes the reader wait its full
    // patience (1 s) and give up: those paths are tests in tests/props.rs. Here the published
    // slot is made even and its length brought into range, so every input is fast.
    let current = page.0[CLIP_CURRENT] as usize & 1;
    let slot = SLOTS + current * SLOT_SIZE;
    page.0[slot] &= !1;
    let raw_len = u64::from_le_bytes(page.0[slot + 8..slot + 16].try_into().unwrap());
    let len = (raw_len % (CLIP_CAPACITY as u64 + 1)) as usize;
    page.0[slot + 8..slot + 16].copy_from_slice(&(len as u64).to_le_bytes());
    // SAFETY: SharedRegion is repr(C), align(4096), REGION_SIZE bytes of atomics, for
    // which every bit pattern is valid; `page` has that size and alignment.
    let region: &SharedRegion = unsafe { &*(page.0.as_ptr() as *const SharedRegion) };
    let mut out = vec![0u8; out_len];
    let got = region.clipboard_read(&mut out);
    assert_eq!(got, Some(len));
    let take = len.min(out_len);
    assert_eq!(out[..take], page.0[slot + 16..slot + 16 + take]);
});
