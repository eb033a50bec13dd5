//! solab: see and prove how Linux shares an ELF shared object between processes.
