//! `streha api` as a binary of its own, for the integration tests (`api.rs`): the same entry
//! point the `streha` command dispatches `streha api …` to.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    streha_api::command::main_entry()
}
