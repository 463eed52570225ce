//! The only place with `unsafe`: fork, fd flags, process title, environment,
//! signal masks, privileges, the parent-death signal, shared counters, reading a socket
//! (or a directory's entries) into a buffer's uninitialised tail, and accepting and
//! registering connections with the event loop (`wire.rs`).
//!
//! `sys` is mechanism without policy: it never reads configuration and never
//! decides when to act. `master/` decides when to fork, `worker/` when to drop
//! privileges. Every `unsafe` block carries a `// SAFETY:` comment naming the
//! invariant it relies on.

pub mod dirents;
pub mod env;
pub mod fd;
pub mod fork;
pub mod io;
pub mod pdeathsig;
pub mod privs;
pub mod shm;
pub mod signals;
pub mod title;
pub mod wire;
