//! Who is on the other end of a connection and what serves them: shared
//! by the connection's life (`conn.rs`) and its HTTP/1 exchange
//! (`http1/`), so neither has to name the other.

use std::net::SocketAddr;
use std::sync::Arc;

use super::Ctx;
use super::drain::Drain;

/// Where a connection came from and what it serves.
pub struct Client {
    /// The configured listen address it arrived on.
    pub listen: SocketAddr,
    /// The client.
    pub peer: SocketAddr,
    /// The worker's shared state.
    pub ctx: Arc<Ctx>,
    /// The worker's drain.
    pub drain: Drain,
}
