//! Integration tests: each runs the real `moltd` binary in a temporary
//! prefix on free loopback ports and checks what an operator would see.

mod support;

/// Connections answered where they are accepted (deferred accept, no
/// registration until a wait): late speakers, big answers, keep-alive.
mod accept_inline;
/// The access log: combined format, buffering, `off`, rotation + USR1.
mod access_log;
/// Import boundaries between the layers, and `unsafe` only in `sys`.
mod architecture;
/// Sharing connections between workers: a stopped or killed worker,
/// `worker_processes` changed on HUP.
mod balance;
/// `-t`, `-T`, `-s`, `-v`, `-V` and bad flags.
mod cli;
/// `-T`'s effective configuration, read back by `-t -c`.
mod dump;
/// Process faults: back-to-back signals, wrapper and hung binaries, fd
/// exhaustion.
mod faults;
/// Docroot writers: symlink races, links out in listings, index files and
/// error pages, coarse timestamps, deleted files held open.
mod hostile_docroot;
/// Handover variables and pid-file temp names an attacker controls.
mod hostile_env;
/// Log-directory writers: planted symlinks and hard links, rotation with a
/// worker user.
mod hostile_logs;
/// GET/HEAD, index, 404/403/405, directory redirect, drain semantics.
mod http_basic;
/// Edge cases: huge range positions, IP-literal hosts, non-UTF-8 paths,
/// access-log fields.
mod http_edge;
/// Conditionals, ranges, precompressed siblings, headers, error pages,
/// symlinks and traversal attempts.
mod http_files;
/// Odd paths on a miss that opens the file first: directories, links,
/// a FIFO, unreadable files and directories, links out of the root.
mod http_first_open;
/// On-the-fly compression: coding choice, Vary, ETag and 304 per form,
/// HEAD, ranges, files rewritten on disk, precompressed siblings.
mod http_gzip;
/// Listings in HTML and JSON.
mod http_listing;
/// The early look that answers from a kept head before a request is
/// built: what it leaves gets the full answer; keep-alive and the log.
mod http_quick;
/// Kept response heads: replayed byte for byte, per settings, method,
/// version and keep-alive; never for conditionals, ranges or a changed file.
mod http_replay;
/// Virtual hosts and locations.
mod http_vhosts;
/// The plain path's writer: sendfile bodies, HTTP/1.0, pipelining across
/// the hand-over to hyper, split heads, a file shrinking mid-send.
mod http_wire;
/// `MOLTD` handover values that are garbage or name non-listening fds.
mod inherit;
/// Start and stop in the foreground and as a daemon: process tree, titles,
/// pid file, exit codes, startup errors.
mod lifecycle;
/// Limits and timeouts: framing, sizes, slow clients, connection caps.
mod limits;
/// Status pages: stub_status, Prometheus (checked by promtool), `allow`,
/// counters across reloads and upgrades.
mod metrics;
/// Readiness for load balancers: `health` locations and `shutdown_delay`.
mod readiness;
/// HUP: good and bad configs, listens added and removed.
mod reload;
/// `keepalive_requests` over HTTP/1.1, HTTPS and HTTP/2.
mod request_cap;
/// QUIT, TERM, INT, USR1, WINCH, CHLD (respawn), kill -9 of the master.
mod signals;
/// systemd: `sd_notify` messages through start, HUP, upgrade, rollback
/// and stop; socket activation.
mod systemd;
/// HTTPS: HTTP/1.1 and HTTP/2 by ALPN, SNI, bad certificates.
mod tls;
/// SNI picks the certificate of the server that answers (one matcher).
mod tls_sni;
/// HTTP/2 and HTTPS/1.1 clients through an upgrade and a rollback.
mod tls_upgrade;
/// USR2 binary upgrade: commit, rollback, failed binaries, refusals.
mod upgrade;
/// `moltd -s upgrade`: commit, rollback at each step, a concurrent run,
/// Ctrl-C, all under a keep-alive load.
mod upgrade_cmd;
/// Keep-alive clients through USR2 -> WINCH -> QUIT: every request a 200.
mod upgrade_load;
/// The workers' user when none is set: nobody, or root (with a warning)
/// where nobody could not list the document root.
mod worker_user;
