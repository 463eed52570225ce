//! A worker's spare input buffers. Every exchange needs one to read a
//! request into and gives it up when the connection goes idle or closes;
//! with one new connection per request, allocating a fresh one each time
//! was a page-sized `malloc` (and with it a consolidation of the
//! allocator's small free chunks) plus a `free` per request. A few are kept
//! per worker thread, so idle connections still hold none.

use std::cell::RefCell;

use bytes::BytesMut;

/// The size an exchange's input buffer starts with.
pub const SIZE: usize = 4096;

/// Buffers kept at most: enough for the connections one wake-up of the
/// worker serves, little next to what the connections themselves hold.
const KEEP: usize = 16;

/// A buffer that grew past this (a long head) is not kept: the next
/// requests would pin its memory for nothing.
const MAX_KEPT: usize = 4 * SIZE;

thread_local! {
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least [`SIZE`] bytes.
pub fn take() -> BytesMut {
    SPARE
        .with_borrow_mut(|s| s.pop())
        .unwrap_or_else(|| BytesMut::with_capacity(SIZE))
}

/// Gives `buf` back for a later exchange. Kept only when nothing else
/// holds a part of its memory (the bytes of a request head still
/// referenced elsewhere) and it did not grow large; otherwise dropped.
pub fn give(mut buf: BytesMut) {
    buf.clear();
    if !buf.try_reclaim(SIZE) || buf.capacity() > MAX_KEPT {
        return;
    }
    SPARE.with_borrow_mut(|s| {
        if s.len() < KEEP {
            s.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_once_no_part_of_it_is_held() {
        let mut buf = take();
        buf.extend_from_slice(b"GET / HTTP/1.1\r\n\r\nrest");
        let head = buf.split_to(18).freeze();
        // The head still holds the memory: not kept.
        give(buf);
        let mut other = take();
        assert_ne!(other.as_ptr(), head.as_ptr());

        other.extend_from_slice(b"GET / HTTP/1.1\r\n\r\nrest");
        let start = other.as_ptr();
        drop(other.split_to(18).freeze());
        give(other);
        let again = take();
        assert!(again.is_empty());
        assert!(again.capacity() >= SIZE);
        assert_eq!(again.as_ptr(), start, "the same memory, from its start");
    }

    #[test]
    fn a_grown_buffer_is_not_kept() {
        let mut big = BytesMut::with_capacity(MAX_KEPT + 1);
        big.extend_from_slice(b"x");
        give(big);
        assert!(
            take().capacity() <= MAX_KEPT,
            "a fresh buffer, not the big one"
        );
    }
}
