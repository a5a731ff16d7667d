//! `strehad`: the Streha node daemon. See `strehad --help`.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    streha_node::daemon_main()
}
