//! `streha witness serve --config FILE` built inside the test package (the same library
//! entry point the `streha` binary dispatches to), so its integration tests can start it.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let config = match args.as_slice() {
        [_, flag, path] if flag == "--config" => std::path::PathBuf::from(path),
        _ => {
            eprintln!("usage: streha-witness-test --config FILE");
            return std::process::ExitCode::from(2);
        }
    };
    let code = streha_witness::server::main_with_config(&config);
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
