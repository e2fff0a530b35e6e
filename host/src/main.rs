//! `baton-confluence-datacenter`: the command line of the connector host.

fn main() -> std::process::ExitCode {
    baton_host::cli::main()
}
