//! Gives libsolib.so a versioned DT_SONAME, libsolib.so.0, so C programs linked with
//! `-lsolib` record `libsolib.so.0` in DT_NEEDED (rust-lld sets no SONAME unless asked) and
//! an installed library can follow the usual scheme: libsolib.so.0.1.0 the file,
//! libsolib.so.0 the link the loader finds, libsolib.so the link the linker finds.
//! The 0 is the ABI's major version: bump it when solib.h changes incompatibly.
//! `make build` puts the libsolib.so.0 link beside libsolib.so; `make install` reads the
//! name back with readelf.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsolib.so.0");
}
