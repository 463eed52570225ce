//! Tests of the state machine: each transition by hand, then every short
//! sequence of events against a simulated world (`sim.rs`).

use super::on_child::respawn_delay;
use super::*;

mod harness;
mod invariants;
mod shutdown;
mod sim;
mod transitions;
mod world;

#[test]
fn respawn_backs_off_and_caps() {
    assert_eq!(respawn_delay(0), Duration::ZERO);
    assert_eq!(respawn_delay(1), Duration::ZERO);
    assert_eq!(respawn_delay(2), Duration::from_millis(100));
    assert_eq!(respawn_delay(3), Duration::from_millis(200));
    assert_eq!(respawn_delay(7), Duration::from_millis(3200));
    assert_eq!(respawn_delay(8), MAX_RESPAWN_DELAY);
    assert_eq!(respawn_delay(u32::MAX), MAX_RESPAWN_DELAY);
}
