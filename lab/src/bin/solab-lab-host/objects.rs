//! The objects loaded in this process (dl_iterate_phdr(3)) and their pages.

use std::ffi::{CStr, c_void};

/// One loaded object: its name, load base and the page ranges of its PT_LOAD segments.
pub struct Loaded {
    pub name: String,
    pub base: usize,
    pub ranges: Vec<(usize, usize)>,
}

/// Every object loaded in this process (dl_iterate_phdr(3)).
pub fn loaded_objects() -> Vec<Loaded> {
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        data: *mut c_void,
    ) -> libc::c_int {
        // SAFETY: called by dl_iterate_phdr with a valid info and our Vec.
        let (info, all) = unsafe { (&*info, &mut *(data as *mut Vec<Loaded>)) };
        // SAFETY: dlpi_phdr points at dlpi_phnum program headers.
        let phdrs = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize) };
        let base = info.dlpi_addr as usize;
        let ranges = phdrs
            .iter()
            .filter(|p| p.p_type == libc::PT_LOAD)
            .map(|p| {
                let start = (base + p.p_vaddr as usize) & !4095;
                let end = (base + (p.p_vaddr + p.p_memsz) as usize + 4095) & !4095;
                (start, end)
            })
            .collect();
        let name = if info.dlpi_name.is_null() {
            String::new()
        } else {
            // SAFETY: a NUL-terminated name owned by the loader.
            unsafe { CStr::from_ptr(info.dlpi_name) }
                .to_string_lossy()
                .into_owned()
        };
        all.push(Loaded { name, base, ranges });
        0
    }
    let mut all: Vec<Loaded> = Vec::new();
    // SAFETY: visit only reads the headers and pushes to our Vec.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut all as *mut Vec<Loaded> as *mut c_void) };
    all
}

/// The loaded object containing `addr`.
pub fn object_at(addr: usize) -> Option<Loaded> {
    loaded_objects()
        .into_iter()
        .find(|o| o.ranges.iter().any(|&(s, e)| (s..e).contains(&addr)))
}

/// Reads one byte of every page, so that every page has a frame.
pub fn touch(ranges: &[(usize, usize)]) -> usize {
    let mut pages = 0;
    for &(start, end) in ranges {
        for page in (start..end).step_by(4096) {
            // SAFETY: every page of a PT_LOAD segment is mapped readable.
            unsafe { std::ptr::read_volatile(page as *const u8) };
            pages += 1;
        }
    }
    pages
}
