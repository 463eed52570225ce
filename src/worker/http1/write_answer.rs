//! Writing an answer: its head rendered (or a kept one spliced) and kept
//! for replay where asked, then head and body sent, and whether the
//! connection closes, lingers or goes on after it.

use bytes::{Bytes, BytesMut};
use socket2::SockRef;

use super::super::client::Client;
use super::super::io::{Activity, has_pending_input};
use super::keep_alive::{self, After};
use super::{Answer, End, response_head, send};
use crate::http::Body;

/// An answer whose head is rendered: what is left to send, and what the
/// connection does after it.
pub(super) struct Outgoing {
    body: Body,
    after: After,
    /// Refused or rejected (see [`Answer::refused`]).
    refused: bool,
    keep_alive: bool,
}

/// Renders `a`'s head into `head` (or splices its kept one), keeping it
/// for replay where the pipeline left a slot.
pub(super) fn outgoing(
    mut a: Answer,
    c: &Client,
    activity: &Activity,
    head: &mut Vec<u8>,
) -> Outgoing {
    // `keepalive_requests`: the last request allowed is told so.
    a.keep_alive &= u64::from(activity.requests()) < c.ctx.limits().keepalive_requests;
    let site = &c.ctx.site;
    head.clear();
    head.reserve(512);
    let after = match a.kept.take() {
        Some((kept, date_at)) => {
            response_head::splice_date(&kept, date_at, head);
            keep_alive::after(a.keep_alive, false)
        }
        None => {
            let (after, date) = response_head::render_dated(&a.resp, a.version, a.keep_alive, head);
            if let (Some(slot), Some(date)) = (a.slot.take(), date) {
                let mut kept = Vec::with_capacity(head.len() - date.len());
                kept.extend_from_slice(&head[..date.start]);
                kept.extend_from_slice(&head[date.end..]);
                slot.keep(site, &a.resp, Bytes::from(kept), date.start);
            }
            after
        }
    };
    Outgoing {
        body: a.resp.into_body(),
        after,
        refused: a.refused,
        keep_alive: a.keep_alive,
    }
}

/// Writes `head` and `out`'s body; `Some` when the connection ends after
/// it. `read`: what is left of the input, and whether the socket was
/// drained (see the exchange's `Buffers::drained`).
pub(super) async fn write_answer(
    out: &mut Outgoing,
    head: &[u8],
    (buf, drained): (&BytesMut, bool),
    stream: &crate::sys::wire::Wire,
    activity: &Activity,
) -> Option<End> {
    let then = match out.after {
        After::Close => send::Then::Close,
        After::KeepAlive => send::Then::Open,
    };
    let sent = send::send(stream, activity, head, &mut out.body, then).await;
    // Dropping the body writes the access-log line.
    drop(std::mem::take(&mut out.body));
    if sent.is_err() {
        return Some(End::Broken);
    }
    if out.after == After::Close {
        // A client that asked to close sends nothing more: closing at
        // once (as nginx does) spares a shutdown, a wake-up and a read.
        // Anything unread (a refused request's body), and we linger so
        // the close cannot turn into a reset. The socket is peeked only
        // when the last read may have left bytes in it (it filled its
        // buffer, or a body was read): one syscall less per connection.
        if !out.refused
            && !out.keep_alive
            && buf.is_empty()
            && (drained || !has_pending_input(stream))
        {
            return Some(End::Close);
        }
        let _ = SockRef::from(stream).shutdown(std::net::Shutdown::Write);
        return Some(End::Done);
    }
    None
}
