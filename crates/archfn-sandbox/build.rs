//! Builds `init/env-init.c` into a static program for the host: the first process of every
//! execution environment (see `src/isa.rs`).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "init/env-init.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CC");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("env-init");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-static", "-O2", "-Wall", "-o"])
        .arg(&out)
        .arg(src)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "{cc} -static {src} failed ({s}): install a C compiler and static libc (build-essential)"
        ),
        Err(e) => panic!("{cc} could not be started ({e}): install build-essential"),
    }
}
