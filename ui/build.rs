//! Compiles the kiosk screen (ui/main.slint) into Rust.
//!
//! Debug info is kept so the UI tests can find elements; it costs little at run time.

fn main() {
    let config = slint_build::CompilerConfiguration::new().with_debug_info(true);
    if let Err(e) = slint_build::compile_with_config("main.slint", config) {
        // Tell cargo why, with the file and line the Slint compiler reported.
        println!("cargo::error=compiling ui/main.slint failed: {e}");
        std::process::exit(1);
    }
}
