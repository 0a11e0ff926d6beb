//! Helpers shared by the binary's end-to-end tests: paths, scratch directories, free ports, the
//! environment the suite script provides, and (in submodules) running `tickstream`, writing events and
//! reading what a processor wrote.
// Each test file is its own crate and uses only some of these helpers.
#![allow(dead_code)]

pub mod events;
pub mod pipeline;
pub mod process;
pub mod processed;

use std::path::{Path, PathBuf};

// Re-exported for the files that use them; the others would see unused imports.
#[allow(unused_imports)]
pub use events::*;
#[allow(unused_imports)]
pub use process::*;
#[allow(unused_imports)]
pub use processed::*;

/// The workspace root: this crate lives in `crates/tickstream`.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `relative` under the workspace root.
pub fn repo_path(relative: &str) -> PathBuf {
    repo().join(relative)
}

/// `tickstream-<name>` under the system's temporary directory, created if missing.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickstream-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A directory for one test of this process: `tickstream-<name>-<pid>`, created if missing.
pub fn test_dir(name: &str) -> PathBuf {
    scratch_dir(&format!("{name}-{}", std::process::id()))
}

/// As [`test_dir`], emptied first of whatever an earlier run left there.
pub fn fresh_test_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tickstream-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    test_dir(name)
}

/// Writes `text` to `dir/name` and returns the file's path.
pub fn write_file(dir: &Path, name: &str, text: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A TCP port free on 127.0.0.1 at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An environment variable that `tests/run` sets for the tests that need a service.
pub fn needs(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run this test through tests/run"))
}

/// Every file under `dir`, recursively; none when `dir` does not exist.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}
