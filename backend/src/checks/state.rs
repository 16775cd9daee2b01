//! Soft and hard states, as Icinga counts them with max_check_attempts: a problem
//! is soft (retrying) until it has been seen `max_attempts` times in a row, then hard.
//! Only hard changes notify or fail over, so one lost packet does not move a PBX.

use chrono::{DateTime, Utc};
use pequod_api::checks::CheckState;
use serde::{Deserialize, Serialize};

use super::result::CheckResult;

/// Where one check stands after the results so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckStatus {
    /// The latest result's state, soft or hard.
    pub state: CheckState,
    pub hard: bool,
    /// The last state that was hard; what notifications and failover act on.
    pub hard_state: CheckState,
    /// 1 while OK; counts consecutive problem results up to `max_attempts`.
    pub attempt: u32,
    pub last_check: Option<DateTime<Utc>>,
    /// When the hard state last changed.
    pub last_change: Option<DateTime<Utc>>,
}

impl Default for CheckStatus {
    /// A check that has not run yet is taken to be hard OK, as Icinga assumes for a
    /// pending service: so the first OK result is no "recovery" and a failing one has
    /// to go through its retries before it counts.
    fn default() -> Self {
        Self {
            state: CheckState::Ok,
            hard: true,
            hard_state: CheckState::Ok,
            attempt: 1,
            last_check: None,
            last_change: None,
        }
    }
}

/// What a result did to the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Same state, same kind: OK again, or a hard problem seen again.
    Unchanged,
    /// A problem not yet confirmed: attempt `attempt` of `max_attempts`.
    Soft {
        state: CheckState,
        attempt: u32,
        max_attempts: u32,
    },
    /// A soft problem went away before it became hard; nobody was told, nobody is.
    SoftRecovery { from: CheckState },
    /// The hard state changed: notify, and for a failover check on CRITICAL, fail over.
    Hard { from: CheckState, to: CheckState },
}

impl Transition {
    pub fn is_hard_change(&self) -> bool {
        matches!(self, Transition::Hard { .. })
    }

    /// A hard problem that turned OK.
    pub fn is_recovery(&self) -> bool {
        matches!(
            self,
            Transition::Hard {
                to: CheckState::Ok,
                ..
            }
        )
    }
}

impl CheckStatus {
    /// Folds one result in. `max_attempts` below 1 counts as 1 (hard at once).
    pub fn apply(
        &mut self,
        result: &CheckResult,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Transition {
        self.apply_state(result.state, now, max_attempts)
    }

    pub fn apply_state(
        &mut self,
        state: CheckState,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> Transition {
        let max_attempts = max_attempts.max(1);
        let previous = self.state;
        let previous_hard = self.hard_state;
        let was_hard = self.hard;
        self.last_check = Some(now);

        let transition = if state == CheckState::Ok {
            // Recovery is never delayed: an OK result is hard immediately.
            self.hard = true;
            self.attempt = 1;
            if previous_hard != CheckState::Ok {
                Transition::Hard {
                    from: previous_hard,
                    to: CheckState::Ok,
                }
            } else if previous != CheckState::Ok {
                Transition::SoftRecovery { from: previous }
            } else {
                Transition::Unchanged
            }
        } else if was_hard && previous != CheckState::Ok {
            // Already a confirmed problem: stays hard; WARNING → CRITICAL is a new
            // hard state and is reported as such.
            self.attempt = max_attempts;
            if state != previous_hard {
                Transition::Hard {
                    from: previous_hard,
                    to: state,
                }
            } else {
                Transition::Unchanged
            }
        } else {
            self.attempt = if previous == CheckState::Ok {
                1
            } else {
                self.attempt.saturating_add(1)
            };
            if self.attempt >= max_attempts {
                self.attempt = max_attempts;
                self.hard = true;
                Transition::Hard {
                    from: previous_hard,
                    to: state,
                }
            } else {
                self.hard = false;
                Transition::Soft {
                    state,
                    attempt: self.attempt,
                    max_attempts,
                }
            }
        };

        self.state = state;
        if let Transition::Hard { to, .. } = transition {
            self.hard_state = to;
            self.last_change = Some(now);
        }
        transition
    }

    /// A soft problem is being retried; schedulers check it again at the retry
    /// interval rather than the normal one, as Icinga does.
    pub fn is_retrying(&self) -> bool {
        !self.hard && self.state != CheckState::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CheckState::{Critical as C, Ok as O, Unknown as U, Warning as W};
    use chrono::TimeZone;

    fn at(second: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + second, 0)
            .single()
            .unwrap()
    }

    fn soft(state: CheckState, attempt: u32, max_attempts: u32) -> Transition {
        Transition::Soft {
            state,
            attempt,
            max_attempts,
        }
    }

    fn hard(from: CheckState, to: CheckState) -> Transition {
        Transition::Hard { from, to }
    }

    /// Each row: max_attempts, then the results in order with the expected
    /// transition, state, hard flag and attempt after each.
    #[test]
    fn state_machine_table() {
        use Transition::{SoftRecovery, Unchanged};
        type Step = (CheckState, Transition, bool, u32);
        let table: Vec<(&str, u32, Vec<Step>)> = vec![
            (
                "ok stays ok",
                3,
                vec![(O, Unchanged, true, 1), (O, Unchanged, true, 1)],
            ),
            (
                "critical becomes hard on the third attempt",
                3,
                vec![
                    (C, soft(C, 1, 3), false, 1),
                    (C, soft(C, 2, 3), false, 2),
                    (C, hard(O, C), true, 3),
                    (C, Unchanged, true, 3),
                ],
            ),
            (
                "one attempt is hard at once",
                1,
                vec![(C, hard(O, C), true, 1), (O, hard(C, O), true, 1)],
            ),
            (
                "zero attempts behaves as one",
                0,
                vec![(W, hard(O, W), true, 1)],
            ),
            (
                "soft problem clears without a hard change",
                3,
                vec![
                    (C, soft(C, 1, 3), false, 1),
                    (C, soft(C, 2, 3), false, 2),
                    (O, SoftRecovery { from: C }, true, 1),
                    (C, soft(C, 1, 3), false, 1),
                ],
            ),
            (
                "recovery from hard is immediate",
                3,
                vec![
                    (C, soft(C, 1, 3), false, 1),
                    (C, soft(C, 2, 3), false, 2),
                    (C, hard(O, C), true, 3),
                    (O, hard(C, O), true, 1),
                    (O, Unchanged, true, 1),
                ],
            ),
            (
                "attempts count across problem states",
                3,
                vec![
                    (W, soft(W, 1, 3), false, 1),
                    (C, soft(C, 2, 3), false, 2),
                    (U, hard(O, U), true, 3),
                ],
            ),
            (
                "a hard problem changing severity is a hard change",
                2,
                vec![
                    (W, soft(W, 1, 2), false, 1),
                    (W, hard(O, W), true, 2),
                    (C, hard(W, C), true, 2),
                    (C, Unchanged, true, 2),
                    (W, hard(C, W), true, 2),
                ],
            ),
            (
                "flapping below the limit never goes hard",
                2,
                vec![
                    (C, soft(C, 1, 2), false, 1),
                    (O, SoftRecovery { from: C }, true, 1),
                    (C, soft(C, 1, 2), false, 1),
                    (O, SoftRecovery { from: C }, true, 1),
                ],
            ),
        ];

        for (name, max_attempts, steps) in table {
            let mut status = CheckStatus::default();
            for (i, (state, transition, is_hard, attempt)) in steps.into_iter().enumerate() {
                let got = status.apply_state(state, at(i as i64), max_attempts);
                let row = format!("{name}, step {i}");
                assert_eq!(got, transition, "{row}");
                assert_eq!(status.state, state, "{row}");
                assert_eq!(status.hard, is_hard, "{row}");
                assert_eq!(status.attempt, attempt, "{row}");
                assert_eq!(status.last_check, Some(at(i as i64)), "{row}");
            }
        }
    }

    #[test]
    fn last_change_moves_only_on_hard_changes() {
        let mut status = CheckStatus::default();
        assert_eq!(status.last_change, None);
        status.apply_state(C, at(1), 2);
        assert_eq!(status.last_change, None, "soft problem");
        status.apply_state(C, at(2), 2);
        assert_eq!(status.last_change, Some(at(2)), "hard critical");
        assert_eq!(status.hard_state, C);
        status.apply_state(C, at(3), 2);
        assert_eq!(status.last_change, Some(at(2)), "same hard state");
        let t = status.apply(&CheckResult::ok("fine"), at(4), 2);
        assert!(t.is_hard_change() && t.is_recovery());
        assert_eq!(status.last_change, Some(at(4)));
        assert_eq!(status.hard_state, O);
    }

    #[test]
    fn retrying_only_while_soft_problem() {
        let mut status = CheckStatus::default();
        assert!(!status.is_retrying());
        status.apply_state(W, at(0), 3);
        assert!(status.is_retrying());
        status.apply_state(W, at(1), 3);
        status.apply_state(W, at(2), 3);
        assert!(
            !status.is_retrying(),
            "hard now: back to the normal interval"
        );
        assert!(!hard(O, W).is_recovery());
        assert!(!soft(W, 1, 3).is_hard_change());
    }
}
