fn main() -> std::process::ExitCode {
    mvk_verify::main()
}
