//! Plain HTTP sent to an `ssl` listen (`http://host:443/`, a link with
//! the wrong scheme): answered with a readable 400 from the listen's
//! default server, logged as nginx logs it, instead of a TLS alert a
//! browser shows as garbage. A TLS client's first byte starts a handshake
//! record (0x16); a plain client's is the capital letter of a method.

use std::sync::Arc;

use hyper::{StatusCode, Version};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::client::Client;
use super::http1::{respond, response_head};
use super::io::Activity;

/// Whether `stream` speaks plain HTTP (it has been answered and is to be
/// closed), or else is left as it is, its first byte unread.
pub async fn answered(stream: &mut TcpStream, c: &Client) -> bool {
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(1) if first[0].is_ascii_uppercase() => {}
        _ => return false,
    }
    // What the client sent so far is read, so the close after the answer
    // does not become a reset that destroys it.
    let mut sent = [0u8; 16 * 1024];
    let _ = stream.try_read(&mut sent);
    let activity = Arc::new(Activity::new());
    let mut resp = respond::reject(c, StatusCode::BAD_REQUEST, &activity);
    let mut out = Vec::with_capacity(1024);
    response_head::render_head(&resp, Version::HTTP_11, false, &mut out);
    let head = out.len();
    // The page whole, however large its `error_page` file (one that
    // cannot be read leaves the head alone, and the close ends it).
    let body = resp.body_mut().read_all().unwrap_or_default();
    out.extend_from_slice(&body);
    if stream.write_all(&out).await.is_ok() {
        // The access log's `$body_bytes_sent`, as for any answer.
        resp.body_mut().count_sent((out.len() - head) as u64);
    }
    let _ = stream.shutdown().await;
    true
}
