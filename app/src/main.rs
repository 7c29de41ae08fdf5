//! `tributary`: opens the designer, or runs a headless command (`crawl`, `query`, `run`,
//! `validate`, `catalog`) when the first argument names one.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let first = args.get(1).map(String::as_str).unwrap_or("");
    let is_cli = tributary_engine::cli::SUBCOMMANDS.contains(&first)
        || matches!(first, "-h" | "--help" | "-V" | "--version");
    if is_cli {
        std::process::exit(tributary_engine::cli::main_with_args(args));
    }
    env_logger::init();
    let project = args.get(1).map(std::path::PathBuf::from);
    if let Err(e) = tributary::run_native(project) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
