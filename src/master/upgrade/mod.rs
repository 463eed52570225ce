//! The binary upgrade, both sides, in one place (docs/architecture.md §4):
//! the handover variables a new master is started with and reads back
//! (`handover.rs`: one parser, one serializer), the old master's exec of
//! the binary on disk (`exec.rs`), the readiness pipe between the two
//! (`ready_pipe.rs`), and how a new master knows its old one
//! (`ancestry.rs`). `listen.rs` only binds and adopts sockets by address.

mod ancestry;
mod exec;
mod handover;
mod ready_pipe;

pub use ancestry::{is_ancestor, is_ancestor_master};
pub use exec::{UpgradeError, exec_new_binary, resolve_exe};
pub use handover::{
    HANDOVER_VAR, Handover, METRICS_VAR, PARENT_VAR, READY_VAR, handover_value, parse_handover,
};
pub use ready_pipe::{read_ready_byte, read_report, report_failure, report_ready};
