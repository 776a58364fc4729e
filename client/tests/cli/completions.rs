//! Proves `ringrpc completions SHELL` prints a completion script naming every subcommand.

use crate::support::ringrpc;

#[test]
fn completion_scripts_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let out = ringrpc(&["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        for word in [
            "call",
            "list",
            "watch",
            "set-state",
            "set-weight",
            "--registry",
        ] {
            assert!(out.stdout.contains(word), "{shell} script lacks {word}");
        }
    }
    assert_eq!(ringrpc(&["completions", "tcsh"]).code, 2);
}
