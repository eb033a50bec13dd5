//! Gives libsolib.so a DT_SONAME, so C programs linked with `-lsolib` record the name
//! `libsolib.so` in DT_NEEDED (rust-lld sets no SONAME unless asked).
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsolib.so");
}
