//! Webhook requests: a JSON POST of `{"event": NAME, "data": {...}}`,
//! signed, to the addresses [`crate::ssrf`] checked.
//!
//! # Headers
//!
//! * `Content-Type: application/json`
//! * `X-Facet-Event: <event name>`
//! * `X-Facet-Delivery: <outbox id>` — the same for every retry of one
//!   delivery, so a receiver can drop duplicates (delivery is at least once:
//!   a crash between the receiver's 2xx and the outbox's commit sends again);
//! * `X-Facet-Timestamp: <unix seconds>` at sending;
//! * `X-Facet-Signature: sha256=<hex>` — HMAC-SHA256, keyed with the
//!   webhook's secret, of `<timestamp>.<body>` (the timestamp header's
//!   value, a dot, the body's bytes). Absent when the webhook has no secret.
//!
//! A receiver checks the signature (constant-time) and that the timestamp is
//! recent, which stops replays of a captured request.
//!
//! # The connection
//!
//! ureq with a resolver pinned to the checked addresses (it answers only for
//! the URL's host and port), no proxy, no redirects followed
//! (`max_redirects(0)`: a 3xx is a failed delivery), statuses returned as
//! they are, one time limit for the whole exchange.

use std::net::SocketAddr;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use ureq::config::Config;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::Error;
use crate::ssrf::{Target, resolve_checked};

/// What one request sends.
pub struct Request<'a> {
    pub target: &'a Target,
    pub event: &'a str,
    /// The outbox id (`X-Facet-Delivery`).
    pub delivery: &'a str,
    /// The event's data as JSON text.
    pub payload: &'a str,
    pub secret: Option<&'a str>,
    pub timeout: Duration,
    /// `plugins.allow_private`.
    pub allow: &'a [SocketAddr],
}

/// The body: `{"event":"<name>","data":<payload>}`.
pub fn body(event: &str, payload: &str) -> Result<String, Error> {
    let data: serde_json::Value = serde_json::from_str(payload)
        .map_err(|e| Error::Internal(format!("stored payload is not JSON: {e}")))?;
    Ok(format!(
        "{{\"event\":{},\"data\":{}}}",
        serde_json::Value::from(event),
        data
    ))
}

/// `sha256=<hex>` of `<timestamp>.<body>` keyed with `secret`.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Sends the request (blocking); returns the HTTP status. Refused
/// addresses are [`Error::Blocked`] (nothing was connected), network
/// failures [`Error::Unreachable`].
pub fn send(req: &Request<'_>) -> Result<u16, Error> {
    let addrs = resolve_checked(req.target, req.allow)?;
    let body = body(req.event, req.payload)?;
    let config = Config::builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .timeout_global(Some(req.timeout))
        .user_agent(concat!("facet/", env!("CARGO_PKG_VERSION")))
        .build();
    let agent = ureq::Agent::with_parts(
        config,
        DefaultConnector::new(),
        Pinned {
            host: req.target.host.clone(),
            port: req.target.port,
            addrs,
        },
    );
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        .to_string();
    let mut post = agent
        .post(&req.target.url)
        .header("Content-Type", "application/json")
        .header("X-Facet-Event", req.event)
        .header("X-Facet-Delivery", req.delivery)
        .header("X-Facet-Timestamp", &timestamp);
    if let Some(secret) = req.secret {
        post = post.header(
            "X-Facet-Signature",
            signature(secret, &timestamp, body.as_bytes()),
        );
    }
    let response = post
        .send(body.as_bytes())
        .map_err(|e| Error::Unreachable(format!("POST to {}: {e}", req.target.authority())))?;
    Ok(response.status().as_u16())
}

/// The resolver of one request: the checked addresses, for the URL's host
/// and port only (anything else would be a connection nobody checked).
#[derive(Debug)]
struct Pinned {
    host: String,
    port: u16,
    addrs: Vec<SocketAddr>,
}

impl Resolver for Pinned {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if !host.eq_ignore_ascii_case(&self.host) || port != self.port {
            return Err(ureq::Error::HostNotFound);
        }
        let mut out = self.empty();
        for a in &self.addrs {
            if out.try_push(*a).is_err() {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_the_references_envelope() {
        let b = body("on_high_score", r#"{"aggregate":9.2,"path":"/p.jpg"}"#).unwrap();
        assert_eq!(
            b,
            r#"{"event":"on_high_score","data":{"aggregate":9.2,"path":"/p.jpg"}}"#
        );
        assert!(body("x", "not json").is_err());
    }

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231-style check against an independent computation.
        let s = signature("key", "1700000000", b"{}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"1700000000.{}");
        assert_eq!(
            s,
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
        assert_ne!(s, signature("other", "1700000000", b"{}"));
        assert_ne!(s, signature("key", "1700000001", b"{}"));
    }
}
