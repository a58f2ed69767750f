//! Shared harness of uprelay's end-to-end tests: child processes of the real binaries, free
//! ports, temporary directories, and a client of the FCM emulator.
//!
//! Build the binary before running the tests: `cargo build -p uprelay && cargo test -p uprelay-tests`.

pub mod emulator;
pub mod fake_http;
pub mod process;

pub use process::{bin_path, free_port, python, wait_for_http, workspace_root, ChildGuard, TempDir};
pub mod chaos;
pub mod redis;
pub mod relay;
