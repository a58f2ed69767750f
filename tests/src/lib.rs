//! Shared harness of uprelay's end-to-end tests: child processes of the real binaries, free
//! ports, temporary directories, Redis servers, the relay process and its clients, a client
//! of the FCM emulator, and the ledger the reliability tests check deliveries with.
//!
//! Build the binary before running the tests: `cargo build -p uprelay && cargo test -p uprelay-tests`.

pub mod browser;
pub mod emulator;
pub mod fake_http;
pub mod ledger;
pub mod process;
pub mod redis;
pub mod relay;
pub mod webpush;

pub use process::{bin_path, eventually, free_port, python, wait_for_http, workspace_root, ChildGuard, TempDir};
