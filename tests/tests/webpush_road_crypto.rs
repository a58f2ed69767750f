//! The Web Push road's encryption against an independent decryptor: what the relay
//! encrypts (RFC 8291 aes128gcm, with and without a device's ECDH result reused) for a
//! phone's keys made by Python's `cryptography`, http_ece decrypts to the very frame, and
//! the frame reads back as the instance, the message id and the sender's bytes.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use uprelay::road::webpush::ece::{Encryptor, Recipient};
use uprelay::road::webpush::frame::{frames, parse, MAX_FRAME};
use uprelay_tests::relay::random_body;
use uprelay_tests::webpush::Keys;
use uprelay_tests::TempDir;

fn recipient_keys(keys: &Keys) -> ([u8; 65], [u8; 16]) {
    let p256dh = URL_SAFE_NO_PAD.decode(keys.get("p256dh")).unwrap().try_into().unwrap();
    let auth = URL_SAFE_NO_PAD.decode(keys.get("auth")).unwrap().try_into().unwrap();
    (p256dh, auth)
}

#[test]
fn http_ece_decrypts_what_the_road_encrypts() {
    let dir = TempDir::new("webpush-crypto");
    let phone = Keys::new(dir.path(), "phone");
    let (p256dh, auth) = recipient_keys(&phone);
    let to = Recipient { p256dh: &p256dh, auth: &auth };
    for reuse in [Duration::ZERO, Duration::from_secs(60)] {
        let encryptor = Encryptor::new(reuse);
        for body in [b"{\"room\":\"!a:b\"}".to_vec(), random_body(1000)] {
            let frame = frames("m-123", "org.example.app", &body).unwrap().remove(0);
            // Twice: with reuse, the second message takes the kept ECDH result.
            for _ in 0..2 {
                let sealed = encryptor.encrypt(to, &frame).unwrap();
                assert_eq!(phone.decrypt(&sealed, "aes128gcm"), frame, "reuse {reuse:?}");
            }
            let read = parse(&frame).unwrap();
            assert_eq!((read.part, read.message_id, read.instance, read.body), (0, "m-123", "org.example.app", &body[..]));
        }
    }
}

#[test]
fn split_frames_each_fit_one_web_push_message_and_rejoin() {
    let dir = TempDir::new("webpush-crypto-split");
    let phone = Keys::new(dir.path(), "phone");
    let (p256dh, auth) = recipient_keys(&phone);
    let encryptor = Encryptor::new(Duration::from_secs(60));
    let body = random_body(4096);
    let parts = frames("m-9", "app", &body).unwrap();
    assert_eq!(parts.len(), 2);
    let mut rejoined = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        assert!(part.len() <= MAX_FRAME);
        let sealed = encryptor.encrypt(Recipient { p256dh: &p256dh, auth: &auth }, part).unwrap();
        assert!(sealed.len() <= 4096, "a Web Push body is at most 4096 bytes: {}", sealed.len());
        let plain = phone.decrypt(&sealed, "aes128gcm");
        let read = parse(&plain).unwrap();
        assert_eq!(read.part as usize, i + 1);
        rejoined.extend_from_slice(read.body);
    }
    assert_eq!(rejoined, body);
}
