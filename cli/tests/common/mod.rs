//! The root crate's test support this crate's kernel tests use, included
//! from `tests/support/common/` rather than copied.
// Each test binary uses part of it.
#![allow(dead_code)]

#[path = "../../../tests/support/common/aplaymidi.rs"]
pub mod aplaymidi;
#[path = "../../../tests/support/common/smf.rs"]
pub mod smf;
#[path = "../../../tests/support/common/temp.rs"]
pub mod temp;
#[path = "../../../tests/support/common/tool.rs"]
pub mod tool;
