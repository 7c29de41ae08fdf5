//! `tributary`: opens the designer on a project file, or runs a headless command (`crawl`,
//! `query`, `run`, `validate`, `catalog`, …). Anything else is a command-line error with
//! exit code 2: a mistyped subcommand never opens a window.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match tributary::launch(&args) {
        tributary::Launch::Cli => {
            std::process::exit(tributary_engine::cli::main_with_args(args));
        }
        tributary::Launch::Window(project) => {
            env_logger::init();
            if let Err(e) = tributary::run_native(project) {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
}
