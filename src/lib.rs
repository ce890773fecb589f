#![doc = include_str!("../docs/architecture.md")]

pub mod backend;
pub mod counting;
pub mod engine;
pub mod gui;
pub mod midi_clock;
pub mod plugin;
pub mod protocol;
pub mod ring;
pub mod timeline;
