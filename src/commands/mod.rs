//! The commands: each turns options into a report, reading its evidence through
//! [`crate::scan`] and deciding with [`crate::sharing`]. Printing is [`crate::output`].

pub mod elf;
pub mod exporter;
pub mod family;
pub mod group_key;
pub mod inspect;
pub mod libs;
pub mod prove;
pub mod ps;
pub mod record;
