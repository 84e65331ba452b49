fn main() -> std::process::ExitCode {
    mvk_build::main()
}
