//! The `Retry-After` header of a push service's answer (RFC 9110): delta-seconds or an
//! HTTP-date, read the same way for every road.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

/// `Retry-After` as delta-seconds or an HTTP-date.
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let v = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        h.insert("retry-after", "120".parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(120)));
        h.insert("retry-after", httpdate::fmt_http_date(now + Duration::from_secs(30)).parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), Some(Duration::from_secs(30)));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(parse_retry_after(&h, now), None);
    }
}
