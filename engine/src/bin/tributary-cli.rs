//! `tributary-cli`: the headless command line alone, with no GUI linked in.

fn main() {
    std::process::exit(tributary_engine::cli::main_with_args(std::env::args()));
}
