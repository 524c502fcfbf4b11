fn main() {
    napi_build::setup();
    // rav1d's x86-64 assembly addresses Rust statics (dav1d_mc_subpel_filters…) PC-relative. In a
    // shared object those exported symbols are preemptible, and the linker refuses such
    // relocations ("recompile with -fPIC"); binding them inside the .node makes them legal.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-Bsymbolic");
    }
}
