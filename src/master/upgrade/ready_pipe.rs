//! The readiness pipe between an old master and the new binary it
//! started, both ends.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use crate::master::state::Report;

/// The readiness pipe, both ends of the protocol: the new master writes
/// `1` once its workers serve, or the reason it could not start (one
/// write of at most `PIPE_BUF` bytes, so it arrives whole), and closes it.
/// The old master reads once.
pub fn report_ready(mut pipe: File) {
    let _ = pipe.write_all(b"1");
}

/// The new master's side of a failed start: the reason, so it lands in
/// the old master's log even when this one could not open its own.
pub fn report_failure(mut pipe: File, msg: &str) {
    let bytes = msg.as_bytes();
    let _ = pipe.write_all(&bytes[..bytes.len().min(PIPE_BUF)]);
}

/// Longest report that arrives in one piece.
const PIPE_BUF: usize = 4096;

/// The old master's side: what the new binary said, if anything (nothing:
/// it closed the pipe without a word).
pub fn read_report(pipe: OwnedFd) -> Option<Report> {
    // One read: the master must not block on a child.
    let mut buf = [0u8; PIPE_BUF];
    let n = File::from(pipe).read(&mut buf).unwrap_or(0);
    match &buf[..n] {
        [] => None,
        b"1" => Some(Report::Ready),
        msg => Some(Report::Failed(
            String::from_utf8_lossy(msg).trim_end().to_string(),
        )),
    }
}

/// A worker's ready pipe: one byte once it accepts.
pub fn read_ready_byte(pipe: OwnedFd) -> bool {
    let mut byte = [0u8; 1];
    matches!(File::from(pipe).read(&mut byte), Ok(1))
}
