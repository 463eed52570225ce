//! Stage one of the configuration: serde structs shaped like the TOML file.
//!
//! Unknown keys are rejected here (`deny_unknown_fields`); values that need
//! checking later keep their span so the error can name the line.

use serde::Deserialize;
use toml::Spanned;

/// The top level of `moltd.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Fork to the background like nginx's `daemon on`.
    pub daemon: Option<bool>,
    /// `"auto"` or a number.
    pub worker_processes: Option<Spanned<toml::Value>>,
    /// Pid file path, relative to the prefix.
    pub pid: Option<Spanned<String>>,
    /// Error log path, relative to the prefix, or `"stderr"`.
    pub error_log: Option<Spanned<String>>,
    /// Cap on a worker's graceful drain, e.g. `"30s"`.
    pub worker_shutdown_timeout: Option<Spanned<String>>,
    /// On QUIT, how long workers keep serving, with `health` locations
    /// answering 503, before they drain.
    pub shutdown_delay: Option<Spanned<String>>,
    /// How long a new binary may take to report ready on USR2.
    pub upgrade_ready_timeout: Option<Spanned<String>>,
    /// User the workers run as when the master runs as root.
    pub user: Option<Spanned<String>>,
    /// Group for the workers (default: the user's primary group).
    pub group: Option<Spanned<String>>,
    /// `Server: moltd/VERSION` instead of `Server: moltd`.
    pub server_tokens: Option<bool>,
    /// Listening sockets hand a connection over with its first bytes.
    pub deferred_accept: Option<bool>,
    /// Connections one worker serves at once; more wait in the backlog.
    pub worker_connections: Option<Spanned<i64>>,
    /// Idle keep-alive connections are closed after this.
    pub keepalive_timeout: Option<Spanned<String>>,
    /// Requests served on one connection before it is closed (HTTP/1) or
    /// sent GOAWAY (HTTP/2).
    pub keepalive_requests: Option<Spanned<i64>>,
    /// A client must send a request's headers within this.
    pub client_header_timeout: Option<Spanned<String>>,
    /// A connection where nothing moves for this long is closed.
    pub send_timeout: Option<Spanned<String>>,
    /// Largest request body accepted (and discarded); beyond it, 413.
    pub client_max_body_size: Option<Spanned<toml::Value>>,
    /// `"4 8k"`: a request line or header line longer than the size is
    /// refused (414 / 431), and so is a head larger than number x size.
    pub large_client_header_buffers: Option<Spanned<String>>,
    /// Entries in each worker's open-file cache (0 disables it).
    pub open_file_cache: Option<Spanned<i64>>,
    /// How long a cached stat is trusted (`"0"`: stat every request).
    pub open_file_cache_valid: Option<Spanned<String>>,
    /// Body bytes each worker's cache may hold.
    pub open_file_cache_max_size: Option<Spanned<toml::Value>>,
    /// Largest file whose body is cached.
    pub open_file_cache_max_file: Option<Spanned<toml::Value>>,
    /// Access-log buffer per file, e.g. `"64k"`; `"0"` writes each line.
    pub access_log_buffer: Option<Spanned<toml::Value>>,
    /// The `[[server]]` blocks.
    #[serde(default)]
    pub server: Vec<Spanned<RawServer>>,
}

/// Declares a struct with the settings that both `[[server]]` and
/// `[[server.location]]` accept, plus the fields given.
macro_rules! with_settings {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// Document root, relative to the prefix.
            pub root: Option<Spanned<String>>,
            /// Index file names, tried in order.
            pub index: Option<Spanned<Vec<String>>>,
            /// List directories without an index.
            pub autoindex: Option<bool>,
            /// `"html"` or `"json"`.
            pub autoindex_format: Option<Spanned<String>>,
            /// `"off"`, `"epoch"`, `"max"`, a time like `"7d"`, or a
            /// negative time (`"-1"`) for `no-cache`.
            pub expires: Option<Spanned<String>>,
            /// Headers added to successful responses: `{ "X-A" = "b" }`.
            pub add_header: Option<Spanned<toml::Table>>,
            /// Serve `FILE.gz` to clients that accept gzip.
            pub gzip_static: Option<bool>,
            /// Serve `FILE.br` to clients that accept br.
            pub brotli_static: Option<bool>,
            /// Compress responses of `gzip_types` on the fly (once per
            /// file version, kept in the open-file cache).
            pub gzip: Option<bool>,
            /// MIME types compressed; `"*"` for all (text/html always).
            pub gzip_types: Option<Spanned<Vec<String>>>,
            /// Files shorter than this are not compressed.
            pub gzip_min_length: Option<Spanned<toml::Value>>,
            /// Compression level, 1 to 9.
            pub gzip_comp_level: Option<Spanned<i64>>,
            /// Codings offered besides gzip: `["br", "zstd"]`.
            pub compress_extra: Option<Spanned<Vec<String>>>,
            /// `"utf-8"` (or another name) to add `; charset=...` to text
            /// types, `"off"` for none.
            pub charset: Option<Spanned<String>>,
            /// Content-Type for unknown extensions.
            pub default_type: Option<Spanned<String>>,
            /// Extra or overriding MIME types: `{ "md" = "text/markdown" }`.
            pub types: Option<Spanned<toml::Table>>,
            /// Error pages: `{ "404" = "/404.html" }`.
            pub error_page: Option<Spanned<toml::Table>>,
            /// Refuse symlinks whose target leaves the root.
            pub disable_symlinks: Option<bool>,
            /// Most ranges honoured in one request; beyond it the whole
            /// file is sent (0 disables ranges).
            pub max_ranges: Option<Spanned<i64>>,
            /// Answer readiness for load balancers here instead of files.
            pub health: Option<bool>,
            /// Serve a status page here: "stub", "prometheus" or "off".
            pub status: Option<Spanned<String>>,
            /// Client networks allowed here: `["127.0.0.1/8", "::1"]`.
            pub allow: Option<Spanned<Vec<String>>>,
        }
    };
}

with_settings! {
    /// One `[[server]]` block.
    RawServer {
        /// `"addr:port"` or a list of them.
        listen: Option<Spanned<toml::Value>>,
        /// Host names: exact, `*.example.com`, `.example.com`, `example.*`.
        server_name: Option<Spanned<toml::Value>>,
        /// This server is the default for its listens.
        default_server: Option<bool>,
        /// Access log path, or `"off"`.
        access_log: Option<Spanned<String>>,
        /// `[[server.location]]` blocks.
        location: Option<Vec<Spanned<RawLocation>>>,
        /// PEM certificate chain for this server's `ssl` listens.
        ssl_certificate: Option<Spanned<String>>,
        /// PEM private key of that certificate.
        ssl_certificate_key: Option<Spanned<String>>,
        /// Offer HTTP/2 (ALPN `h2`) on this server's `ssl` listens.
        http2: Option<bool>,
        /// Answer plain-HTTP requests with a 301 to HTTPS: `true` (port
        /// 443) or the HTTPS port.
        redirect_https: Option<Spanned<toml::Value>>,
    }
}

with_settings! {
    /// One `[[server.location]]` block.
    RawLocation {
        /// Matches request paths starting with this.
        prefix: Option<Spanned<String>>,
        /// Matches exactly this request path.
        exact: Option<Spanned<String>>,
    }
}

/// The only key `-s` needs, read leniently from a file that may be broken.
#[derive(Debug, Deserialize)]
pub struct RawPidOnly {
    /// Pid file path, if the file names one.
    pub pid: Option<String>,
}
