//! Parameters: the table ([`table`]), their current values ([`values`]) and
//! the CLAP extension that shows them to the host (`clap.rs`).

mod clap;
pub mod edits;
pub mod table;
pub mod values;

pub use table::{index, Kind, Param, PARAMS};
pub use values::ParamValues;
