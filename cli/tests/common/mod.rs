//! The root crate's test support this crate's kernel tests use, included
//! from `tests/common/` rather than copied.
// Each test binary uses part of it.
#![allow(dead_code)]

#[path = "../../../tests/common/aplaymidi.rs"]
pub mod aplaymidi;
#[path = "../../../tests/common/smf.rs"]
pub mod smf;
#[path = "../../../tests/common/temp.rs"]
pub mod temp;
#[path = "../../../tests/common/tool.rs"]
pub mod tool;
