//! Usage errors: a clear message on stderr and exit status 2, before any
//! sequencer is opened (so these run anywhere).

use std::process::{Command, Output};

fn phasorsync(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_phasorsync"))
        .args(args)
        .output()
        .expect("running phasorsync")
}

fn assert_usage_error(args: &[&str], says: &str) {
    let out = phasorsync(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(says),
        "{args:?}: stderr {stderr:?} lacks {says:?}"
    );
    assert!(
        out.stdout.is_empty(),
        "{args:?}: usage errors print nothing on stdout"
    );
}

#[test]
fn an_unknown_subcommand_is_a_usage_error() {
    assert_usage_error(&["bogus"], "unrecognized subcommand 'bogus'");
}

#[test]
fn a_duration_that_is_not_a_number_is_a_usage_error() {
    assert_usage_error(&["monitor", "--duration", "abc"], "not a number of seconds");
}

#[test]
fn a_negative_duration_is_a_usage_error() {
    assert_usage_error(&["monitor", "--duration=-1"], "0 or more");
}

#[test]
fn an_unknown_option_is_a_usage_error() {
    assert_usage_error(&["ports", "--jsn"], "unexpected argument '--jsn'");
}

#[test]
fn no_subcommand_shows_the_usage_and_is_a_usage_error() {
    assert_usage_error(&[], "Usage: phasorsync");
}
