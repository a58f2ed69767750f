//! The plaintext the phone decrypts on the Web Push road (a "frame", version 1): which app
//! instance a push is for, uprelay's message id, and the body bytes the FCM v1 road puts in
//! `b`. Google sees only the ciphertext of a frame, never these fields.
//!
//! ```text
//! byte 0      version = 1
//! byte 1      part: 0 = whole, 1 = first half, 2 = second half
//! byte 2      n = length of the message id, then its n ASCII bytes
//! next byte   k = length of the instance name in UTF-8 bytes, then its k bytes
//! rest        this part's body bytes
//! ```
//!
//! A frame must fit one aes128gcm record of a 4096-byte Web Push body: 4096 − 86 (header
//! with a 65-byte key id) − 16 (tag) − 1 (padding delimiter) = [`MAX_FRAME`] bytes. A larger
//! one is split into two parts at the body's midpoint, each with the whole header; the
//! phone rejoins them by message id, as it does the halves of the FCM v1 road.

/// The frame format this relay writes.
pub const VERSION: u8 = 1;
/// The largest frame one Web Push message carries.
pub const MAX_FRAME: usize = 4096 - 86 - 16 - 1;

/// Which part of a message a frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The whole body.
    Whole = 0,
    /// The first half of a split body.
    First = 1,
    /// The second half.
    Second = 2,
}

/// Why a push cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The message id or the instance name is longer than a length byte says.
    #[error("{0} longer than 255 bytes")]
    TooLong(&'static str),
    /// Even halves of the body do not fit a Web Push message.
    #[error("a body of {0} bytes does not fit two Web Push messages")]
    TooBig(usize),
}

/// Bytes of a frame's header for these names.
fn header_len(message_id: &str, instance: &str) -> usize {
    2 + 1 + message_id.len() + 1 + instance.len()
}

fn frame(part: Part, message_id: &str, instance: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header_len(message_id, instance) + body.len());
    out.push(VERSION);
    out.push(part as u8);
    out.push(message_id.len() as u8);
    out.extend_from_slice(message_id.as_bytes());
    out.push(instance.len() as u8);
    out.extend_from_slice(instance.as_bytes());
    out.extend_from_slice(body);
    out
}

/// The frames of one push: one whole frame, or two halves split at the body's midpoint
/// when the whole would exceed [`MAX_FRAME`].
pub fn frames(message_id: &str, instance: &str, body: &[u8]) -> Result<Vec<Vec<u8>>, FrameError> {
    if message_id.len() > 255 {
        return Err(FrameError::TooLong("message id"));
    }
    if instance.len() > 255 {
        return Err(FrameError::TooLong("instance name"));
    }
    let header = header_len(message_id, instance);
    if header + body.len() <= MAX_FRAME {
        return Ok(vec![frame(Part::Whole, message_id, instance, body)]);
    }
    let mid = body.len() / 2;
    if header + (body.len() - mid) > MAX_FRAME {
        return Err(FrameError::TooBig(body.len()));
    }
    Ok(vec![frame(Part::First, message_id, instance, &body[..mid]), frame(Part::Second, message_id, instance, &body[mid..])])
}

/// A frame read back, as the phone reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// 0 whole, 1 first half, 2 second half.
    pub part: u8,
    /// uprelay's message id.
    pub message_id: &'a str,
    /// The app instance the push is for.
    pub instance: &'a str,
    /// This part's body bytes.
    pub body: &'a [u8],
}

/// Read a frame (the phone's side; the relay's tests check what it writes with it).
pub fn parse(bytes: &[u8]) -> Option<Parsed<'_>> {
    let (&version, rest) = bytes.split_first()?;
    if version != VERSION {
        return None;
    }
    let (&part, rest) = rest.split_first()?;
    let (&n, rest) = rest.split_first()?;
    let (id, rest) = rest.split_at_checked(n as usize)?;
    let (&k, rest) = rest.split_first()?;
    let (instance, body) = rest.split_at_checked(k as usize)?;
    (part <= 2).then_some(())?;
    Some(Parsed { part, message_id: std::str::from_utf8(id).ok()?, instance: std::str::from_utf8(instance).ok()?, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_push_is_one_whole_frame() {
        let f = frames("m1", "org.example.app", b"hello").unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0], b"\x01\x00\x02m1\x0forg.example.apphello");
        let p = parse(&f[0]).unwrap();
        assert_eq!((p.part, p.message_id, p.instance, p.body), (0, "m1", "org.example.app", &b"hello"[..]));
    }

    #[test]
    fn splits_exactly_past_the_limit_and_halves_rejoin() {
        let (id, instance) = ("0123456789abcdefghijkl", "app");
        let header = header_len(id, instance);
        let fits: Vec<u8> = (0..MAX_FRAME - header).map(|i| i as u8).collect();
        let whole = frames(id, instance, &fits).unwrap();
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].len(), MAX_FRAME, "the largest whole frame is 3993 bytes");

        let over: Vec<u8> = (0..MAX_FRAME - header + 1).map(|i| (i * 7) as u8).collect();
        let halves = frames(id, instance, &over).unwrap();
        assert_eq!(halves.len(), 2, "one byte more is split");
        let (a, b) = (parse(&halves[0]).unwrap(), parse(&halves[1]).unwrap());
        assert_eq!((a.part, b.part), (1, 2));
        assert_eq!((a.message_id, b.message_id, a.instance, b.instance), (id, id, instance, instance));
        assert_eq!(a.body.len(), over.len() / 2, "split at the midpoint");
        assert_eq!([a.body, b.body].concat(), over);
        assert!(halves.iter().all(|h| h.len() <= MAX_FRAME));
    }

    #[test]
    fn the_largest_push_fits_in_two() {
        // A 4096-byte aesgcm body behind its header lines, as the relay forwards it.
        let body = vec![9u8; 4096 + 200];
        let halves = frames(&"m".repeat(32), &"i".repeat(128), &body).unwrap();
        assert_eq!(halves.len(), 2);
        assert_eq!(frames("m", "i", &vec![0; 2 * MAX_FRAME]), Err(FrameError::TooBig(2 * MAX_FRAME)));
        assert_eq!(frames(&"m".repeat(256), "i", b"x"), Err(FrameError::TooLong("message id")));
    }

    #[test]
    fn malformed_frames_are_refused() {
        for bad in [&b""[..], b"\x02\x00\x00\x00", b"\x01\x03\x00\x00", b"\x01\x00\x05ab", b"\x01\x00\x00\x04ab"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        assert!(parse(b"\x01\x00\x00\x00").is_some(), "empty id, instance and body still parse");
    }
}
