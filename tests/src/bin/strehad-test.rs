//! `strehad` built inside the test package, so its integration tests can start it.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    streha_node::daemon_main()
}
