//! The one integration-test binary: every test starts real processes through `util`, which
//! waits for their readiness line and kills them on Drop.

mod util;

mod analyzer;
mod book_facts;
mod checkout;
mod churn;
mod cli;
mod difftest;
mod docs;
mod elf_caps;
mod exact;
mod exporter;
mod family;
mod hostile;
mod hostile_prove;
mod hostile_scale;
mod hostile_scale_prove;
mod install;
mod lab;
mod layers;
mod libs;
mod nginx;
mod odd_maps;
mod pagemap;
mod parallel;
mod patterns;
mod procmap;
mod props;
mod ps;
mod record;
mod soak;
mod solib;
mod sre;
mod svg;
mod unread;
