//! What the master's heartbeats say about its database, and whether the slave may be
//! promoted given what it has received: pure, so `decide()` can take it as input.

/// Whether commits wait for the slave now, and the WAL position up to which commits
/// have been acknowledged to clients (with sync on, what the slave has confirmed;
/// without, what the master has flushed). A slave that has received less is behind an
/// acknowledged commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DatabaseAdvert {
    pub waits_for_slave: bool,
    pub acknowledged: u64,
}

/// How the slave's database stands against the master's last advert.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Readiness {
    /// No database is managed here, or the master advertised none.
    #[default]
    NotManaged,
    /// It has every acknowledged commit the master told of.
    CaughtUp,
    /// It lacks `bytes` of WAL that held acknowledged commits.
    Behind { bytes: u64 },
    /// Its own position cannot be read.
    Unknown(String),
}

/// Whether a slave that received WAL up to `received` has every commit the master's
/// last `advert` acknowledged.
pub fn readiness(
    advert: Option<&DatabaseAdvert>,
    received: Option<&Result<u64, String>>,
) -> Readiness {
    let Some(advert) = advert else {
        return Readiness::NotManaged;
    };
    match received {
        None => Readiness::Unknown("the standby has not reported its position yet".into()),
        Some(Err(why)) => Readiness::Unknown(why.clone()),
        Some(Ok(received)) if *received >= advert.acknowledged => Readiness::CaughtUp,
        Some(Ok(received)) => Readiness::Behind {
            bytes: advert.acknowledged - received,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slave_is_promotable_only_with_every_acknowledged_commit() {
        let advert = DatabaseAdvert {
            waits_for_slave: false,
            acknowledged: 1000,
        };
        assert_eq!(readiness(None, None), Readiness::NotManaged);
        assert_eq!(
            readiness(Some(&advert), Some(&Ok(1000))),
            Readiness::CaughtUp
        );
        assert_eq!(
            readiness(Some(&advert), Some(&Ok(1200))),
            Readiness::CaughtUp
        );
        assert_eq!(
            readiness(Some(&advert), Some(&Ok(400))),
            Readiness::Behind { bytes: 600 }
        );
        assert!(matches!(
            readiness(Some(&advert), None),
            Readiness::Unknown(_)
        ));
        assert!(matches!(
            readiness(Some(&advert), Some(&Err("down".into()))),
            Readiness::Unknown(_)
        ));
    }
}
