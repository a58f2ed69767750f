//! Files that hold secrets are private, and writing them cannot be turned against a user:
//! - the embedded store (FCM tokens, endpoint ids): its directory 0700, `uprelay.redb` 0600;
//! - `uprelay emulator --write-credentials PATH` (a private key): with a symlink to a victim
//!   file planted at the temporary name the old code used (`.NAME.tmp`) and a world-writable
//!   leftover, the victim is untouched and PATH is a regular 0600 file.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::process::{Command, Stdio};

use uprelay_tests::relay::{run_bounded, Relay, RelayConfig, StoreKind, TEST_LIMIT};
use uprelay_tests::{bin_path, TempDir};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_is_private() {
    run_bounded("the_embedded_store_is_private", TEST_LIMIT, async {
        let relay = Relay::start_with(RelayConfig::new(StoreKind::Embedded)).await;
        let dir = relay.dir.join("data");
        assert_eq!(mode(&dir), 0o700, "store directory {}", dir.display());
        assert_eq!(mode(&dir.join("uprelay.redb")), 0o600, "store file");
    })
    .await;
}

#[test]
fn write_credentials_never_writes_through_a_planted_file_or_link() {
    let dir = TempDir::new("uprelay-creds");
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let path = dir.join("creds.json");
    // The old temporary name, as a link to the victim; and a leftover the old code reused.
    symlink(&victim, dir.join(".creds.json.tmp")).unwrap();
    let leftover = dir.join(".other.json.tmp");
    std::fs::write(&leftover, "").unwrap();
    std::fs::set_permissions(&leftover, std::fs::Permissions::from_mode(0o666)).unwrap();
    for target in [path.clone(), dir.join("other.json")] {
        let mut child = Command::new(bin_path("uprelay"))
            .args(["emulator", "--listen", "127.0.0.1:0", "--write-credentials"])
            .arg(&target)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // One line once the credentials are written and it listens.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(line.contains("listening"), "{line}");
        let meta = std::fs::symlink_metadata(&target).unwrap();
        assert!(meta.file_type().is_file(), "{} is not a regular file", target.display());
        assert_eq!(mode(&target), 0o600, "{}", target.display());
        assert!(std::fs::read_to_string(&target).unwrap().contains("PRIVATE KEY"));
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n", "the victim was written through the planted link");
}
