//! One integration-test binary (see ../STYLE notes in the README): every test starts real
//! processes through `util`, which waits for readiness and kills them on Drop.

mod util;

mod analyzer;
mod churn;
mod lab;
mod odd_maps;
mod props;
mod solib;
