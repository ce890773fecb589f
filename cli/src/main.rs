//! `phasorsync`: check a MIDI rig before opening the DAW.
//!
//! - `phasorsync ports`: the sequencer's clients and ports, their direction
//!   and whether PhasorSync's connect patterns would connect them;
//! - `phasorsync monitor [PATTERN…]`: PhasorSync's own input path (its ALSA
//!   engine, parser and ring) without the plugin, printing each message as
//!   the plugin would receive it.
//!
//! Usage errors exit with status 2 (clap's), failures at run time with 1.

mod describe;
mod monitor;
mod ports;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use phasorsync::backend::alsa_seq::connect::{
    patterns_from_environment, patterns_from_environment_text,
};
use phasorsync::backend::alsa_seq::Patterns;

/// Check a MIDI rig before opening the DAW: which ports PhasorSync would
/// connect, and what it receives from them.
#[derive(Debug, Parser)]
#[command(name = "phasorsync", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the sequencer's clients and ports, with their direction and
    /// whether PhasorSync's patterns would connect them, then the raw MIDI
    /// devices and which one the raw: patterns pick.
    Ports {
        /// Connect patterns, added to those of PHASORSYNC_CONNECT and
        /// ~/.config/phasorsync/connect (`out:` for destinations).
        patterns: Vec<String>,
        /// Ignore PHASORSYNC_CONNECT and the config file.
        #[arg(long)]
        no_env: bool,
    },
    /// Connect like the plugin does and print every message it receives.
    Monitor(monitor::Args),
}

/// The patterns the plugin would use: the environment's and config file's
/// (unless `no_env`) and `extra`, one per argument.
fn patterns(extra: &[String], no_env: bool) -> Patterns {
    let mut p = if no_env {
        Patterns::default()
    } else {
        patterns_from_environment()
    };
    for e in extra {
        p.extend_from(e);
    }
    p
}

/// The same patterns as text (what the raw MIDI backend reads its `raw:`
/// entries from): the environment's and config file's, then `extra`.
fn pattern_text(extra: &[String], no_env: bool) -> String {
    let mut text = if no_env {
        String::new()
    } else {
        patterns_from_environment_text()
    };
    for e in extra {
        text.push('\n');
        text.push_str(e);
    }
    text
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ports {
            patterns: p,
            no_env,
        } => ports::run(&patterns(&p, no_env), &pattern_text(&p, no_env)),
        Command::Monitor(args) => monitor::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("phasorsync: {e}");
            ExitCode::FAILURE
        }
    }
}
