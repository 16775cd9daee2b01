//! The audit log in SQLite: one row per recorded action, purged after the kept period.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use pequod_api::audit::{AuditEntry, AuditOutcome};
use sqlx::{FromRow, QueryBuilder, Sqlite};

use super::sqlite::SqliteStore;
use super::{AuditFilter, AuditRepository, NewAuditEntry, StorageError};

#[derive(FromRow)]
struct AuditRow {
    id: i64,
    at_ms: i64,
    username: Option<String>,
    client: Option<String>,
    action: String,
    target: String,
    outcome: String,
    status: Option<i64>,
    detail: Option<String>,
}

impl AuditRow {
    fn entry(self) -> Result<AuditEntry, StorageError> {
        let outcome = match self.outcome.as_str() {
            "success" => AuditOutcome::Success,
            "failure" => AuditOutcome::Failure,
            other => return Err(StorageError::Corrupt(format!("audit outcome {other:?}"))),
        };
        Ok(AuditEntry {
            id: self.id,
            at: Utc
                .timestamp_millis_opt(self.at_ms)
                .single()
                .unwrap_or_default(),
            user: self.username,
            client: self.client,
            action: self.action,
            target: self.target,
            outcome,
            status: self.status.and_then(|s| u16::try_from(s).ok()),
            detail: self.detail,
        })
    }
}

/// `WHERE …` for a filter; every value is bound, never spliced.
fn push_filter<'a>(query: &mut QueryBuilder<'a, Sqlite>, filter: &'a AuditFilter) {
    query.push(" WHERE 1 = 1");
    if let Some(user) = &filter.user {
        query.push(" AND username = ").push_bind(user);
    }
    if let Some(action) = &filter.action {
        // A prefix (`failover` finds every kind of failover), compared as text so `%`
        // and `_` in the filter are literal.
        query
            .push(" AND substr(action, 1, length(")
            .push_bind(action)
            .push(")) = ")
            .push_bind(action);
    }
    if let Some(outcome) = filter.outcome {
        query.push(" AND outcome = ").push_bind(outcome.as_str());
    }
}

#[async_trait]
impl AuditRepository for SqliteStore {
    async fn record_audit(&self, entry: &NewAuditEntry) -> Result<i64, StorageError> {
        let result = sqlx::query(
            "INSERT INTO audit (at_ms, username, client, action, target, outcome, status, detail) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(entry.at.timestamp_millis())
        .bind(&entry.user)
        .bind(&entry.client)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(entry.outcome.as_str())
        .bind(entry.status.map(i64::from))
        .bind(&entry.detail)
        .execute(self.pool())
        .await?;
        Ok(result.last_insert_rowid())
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: u32,
        per_page: u32,
    ) -> Result<(Vec<AuditEntry>, u64), StorageError> {
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM audit");
        push_filter(&mut count, filter);
        let (total,): (i64,) = count.build_query_as().fetch_one(self.pool()).await?;
        let mut select = QueryBuilder::<Sqlite>::new(
            "SELECT id, at_ms, username, client, action, target, outcome, status, detail FROM audit",
        );
        push_filter(&mut select, filter);
        let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
        select
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(per_page))
            .push(" OFFSET ")
            .push_bind(offset);
        let rows: Vec<AuditRow> = select.build_query_as().fetch_all(self.pool()).await?;
        let items = rows
            .into_iter()
            .map(AuditRow::entry)
            .collect::<Result<_, _>>()?;
        Ok((items, u64::try_from(total).unwrap_or(0)))
    }

    async fn trim_audit(&self, keep: u64) -> Result<u64, StorageError> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let result = sqlx::query("DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?")
            .bind(keep)
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected())
    }

    async fn purge_audit(&self, before: DateTime<Utc>) -> Result<u64, StorageError> {
        let result = sqlx::query("DELETE FROM audit WHERE at_ms < ?")
            .bind(before.timestamp_millis())
            .execute(self.pool())
            .await?;
        Ok(result.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn entry(
        action: &str,
        user: Option<&str>,
        outcome: AuditOutcome,
        at: DateTime<Utc>,
    ) -> NewAuditEntry {
        NewAuditEntry {
            at,
            user: user.map(str::to_string),
            client: Some("127.0.0.1".into()),
            action: action.into(),
            target: "/api/v1/cluster".into(),
            outcome,
            status: Some(202),
            detail: None,
        }
    }

    #[tokio::test]
    async fn entries_are_listed_newest_first_filtered_and_purged_after_their_period() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).await.unwrap();
        let now = Utc::now();
        let old = now - chrono::Duration::days(400);
        store
            .record_audit(&entry("login", Some("admin"), AuditOutcome::Failure, old))
            .await
            .unwrap();
        store
            .record_audit(&entry(
                "failover.manual",
                Some("admin"),
                AuditOutcome::Success,
                now,
            ))
            .await
            .unwrap();
        store
            .record_audit(&entry(
                "failover.takeover",
                None,
                AuditOutcome::Success,
                now,
            ))
            .await
            .unwrap();
        store
            .record_audit(&entry("fail%", Some("ops"), AuditOutcome::Success, now))
            .await
            .unwrap();

        let (all, total) = store
            .list_audit(&AuditFilter::default(), 1, 2)
            .await
            .unwrap();
        assert_eq!(total, 4);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].action, "fail%", "newest first");
        let (second, _) = store
            .list_audit(&AuditFilter::default(), 2, 2)
            .await
            .unwrap();
        assert_eq!(second[1].action, "login");
        assert_eq!(second[1].outcome, AuditOutcome::Failure);
        assert_eq!(second[1].at.timestamp_millis(), old.timestamp_millis());

        let failovers = AuditFilter {
            action: Some("failover".into()),
            ..AuditFilter::default()
        };
        let (items, total) = store.list_audit(&failovers, 1, 20).await.unwrap();
        assert_eq!(total, 2, "{items:?}");
        let literal = AuditFilter {
            action: Some("fail%".into()),
            ..AuditFilter::default()
        };
        assert_eq!(
            store.list_audit(&literal, 1, 20).await.unwrap().1,
            1,
            "no wildcards"
        );
        let by_admin = AuditFilter {
            user: Some("admin".into()),
            outcome: Some(AuditOutcome::Success),
            ..AuditFilter::default()
        };
        let (items, _) = store.list_audit(&by_admin, 1, 20).await.unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].action, "failover.manual");

        // Fewer than the kept number: nothing goes.
        assert_eq!(store.trim_audit(10).await.unwrap(), 0);
        let (kept, _) = store
            .list_audit(&AuditFilter::default(), 1, 20)
            .await
            .unwrap();
        assert_eq!(kept.len(), 4);
        let purged = store
            .purge_audit(now - chrono::Duration::days(365))
            .await
            .unwrap();
        assert_eq!(purged, 1);
        assert_eq!(
            store
                .list_audit(&AuditFilter::default(), 1, 20)
                .await
                .unwrap()
                .1,
            3
        );
        // Trimmed to the newest two: the oldest of the three left goes.
        assert_eq!(store.trim_audit(2).await.unwrap(), 1);
        let (kept, total) = store
            .list_audit(&AuditFilter::default(), 1, 20)
            .await
            .unwrap();
        assert_eq!(total, 2);
        assert_eq!(kept[1].action, "failover.takeover", "the newest stay");
    }
}
