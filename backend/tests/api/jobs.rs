use pequod_api::cluster::{Cluster, Lamp};
use pequod_api::jobs::{Job, JobKind, JobPage, JobState, StepState};
use reqwest::StatusCode;
use tokio::sync::oneshot;

use crate::helpers::{DEADLINE, TestApp, eventually, read_problem, spawn_app};

async fn wait_for_state(app: &TestApp, token: &str, id: i64, state: JobState) -> Job {
    eventually(DEADLINE, || async {
        let job: Job = app.get_json(&format!("/api/v1/jobs/{id}"), token).await;
        (job.summary.state == state).then_some(job)
    })
    .await
}

#[tokio::test]
async fn a_job_runs_its_steps_in_order_and_succeeds() {
    let app = spawn_app().await;
    let token = app.token().await;
    let job = app
        .state
        .jobs
        .submit(
            JobKind::Maintenance,
            "Tidy up",
            &["Look around", "Tidy"],
            |ctx| async move {
                ctx.step(0).await;
                ctx.log("found 3 things").await;
                ctx.step(1).await;
                ctx.log("tidied 3 things").await;
                Ok(())
            },
        )
        .await
        .expect("submitted");
    let job = wait_for_state(&app, &token, job.id, JobState::Succeeded).await;
    assert_eq!(job.summary.progress, 100);
    assert_eq!(job.summary.kind, JobKind::Maintenance);
    assert!(job.summary.started_at.is_some() && job.summary.finished_at >= job.summary.started_at);
    assert_eq!(job.summary.error, None);
    let names: Vec<&str> = job.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["Look around", "Tidy"]);
    assert!(job.steps.iter().all(|s| s.state == StepState::Succeeded));
    assert_eq!(
        job.steps[0].log.last().map(|l| l.message.as_str()),
        Some("found 3 things")
    );
    assert_eq!(
        job.steps[1].log.last().map(|l| l.message.as_str()),
        Some("tidied 3 things")
    );
}

#[tokio::test]
async fn a_failed_job_records_why_turns_the_lamp_yellow_until_acknowledged() {
    let app = spawn_app().await;
    let token = app.token().await;
    let job = app
        .state
        .jobs
        .submit(
            JobKind::AddSlave,
            "Add slave node2",
            &["Connect", "Push config"],
            |ctx| async move {
                ctx.step(0).await;
                anyhow::bail!("node2 did not answer on 10.0.0.2:2222")
            },
        )
        .await
        .expect("submitted");
    let job = wait_for_state(&app, &token, job.id, JobState::Failed).await;
    assert_eq!(
        job.summary.error.as_deref(),
        Some("node2 did not answer on 10.0.0.2:2222")
    );
    assert_eq!(job.steps[0].state, StepState::Failed);
    assert_eq!(job.steps[1].state, StepState::Skipped);

    let cluster: Cluster = app.get_json("/api/v1/cluster", &token).await;
    assert_eq!(cluster.lamp, Lamp::Yellow);
    assert!(
        cluster.lamp_reasons[0].contains("did not answer"),
        "{:?}",
        cluster.lamp_reasons
    );

    let response = app
        .client
        .post(app.url(&format!("/api/v1/jobs/{}/acknowledge", job.summary.id)))
        .bearer_auth(&token)
        .send()
        .await
        .expect("acknowledge");
    assert_eq!(response.status(), StatusCode::OK);
    let cluster: Cluster = app.get_json("/api/v1/cluster", &token).await;
    assert_eq!(cluster.lamp, Lamp::Green);
}

#[tokio::test]
async fn jobs_run_one_at_a_time_and_queue_behind_each_other() {
    let app = spawn_app().await;
    let token = app.token().await;
    let (release, released) = oneshot::channel::<()>();
    let first = app
        .state
        .jobs
        .submit(JobKind::Maintenance, "first", &["wait"], |ctx| async move {
            ctx.step(0).await;
            released.await?;
            Ok(())
        })
        .await
        .expect("submitted");
    wait_for_state(&app, &token, first.id, JobState::Running).await;
    let second = app
        .state
        .jobs
        .submit(JobKind::Maintenance, "second", &["go"], |_| async {
            Ok(())
        })
        .await
        .expect("submitted");
    let job: Job = app
        .get_json(&format!("/api/v1/jobs/{}", second.id), &token)
        .await;
    assert_eq!(job.summary.state, JobState::Queued);
    assert!(job.summary.started_at.is_none());

    let response = app
        .client
        .post(app.url(&format!("/api/v1/jobs/{}/acknowledge", first.id)))
        .bearer_auth(&token)
        .send()
        .await
        .expect("acknowledge");
    read_problem(response, StatusCode::CONFLICT).await;

    release.send(()).expect("first job is waiting");
    wait_for_state(&app, &token, second.id, JobState::Succeeded).await;
    let first = wait_for_state(&app, &token, first.id, JobState::Succeeded).await;
    let second: Job = app
        .get_json(&format!("/api/v1/jobs/{}", second.id), &token)
        .await;
    assert!(second.summary.started_at >= first.summary.finished_at);
}

#[tokio::test]
async fn jobs_running_when_the_process_stops_are_interrupted_at_the_next_start() {
    let app = spawn_app().await;
    let token = app.token().await;
    let (_never, forever) = oneshot::channel::<()>();
    let running = app
        .state
        .jobs
        .submit(
            JobKind::ConfigureMaster,
            "Configure master",
            &["Validate", "Claim the cluster IP", "Start services"],
            |ctx| async move {
                ctx.step(0).await;
                ctx.step(1).await;
                forever.await?;
                Ok(())
            },
        )
        .await
        .expect("submitted");
    eventually(DEADLINE, || async {
        let job: Job = app
            .get_json(&format!("/api/v1/jobs/{}", running.id), &token)
            .await;
        (job.steps[1].state == StepState::Running).then_some(())
    })
    .await;
    let queued = app
        .state
        .jobs
        .submit(JobKind::Maintenance, "behind it", &["x"], |_| async {
            Ok(())
        })
        .await
        .expect("submitted");

    // Stop the node with the job mid-way, as a crash or reboot would.
    let app = app.restart().await;
    let job: Job = app
        .get_json(&format!("/api/v1/jobs/{}", running.id), &token)
        .await;
    assert_eq!(job.summary.state, JobState::Interrupted);
    assert!(job.summary.finished_at.is_some());
    let states: Vec<StepState> = job.steps.iter().map(|s| s.state).collect();
    assert_eq!(
        states,
        [StepState::Succeeded, StepState::Failed, StepState::Skipped]
    );
    let job: Job = app
        .get_json(&format!("/api/v1/jobs/{}", queued.id), &token)
        .await;
    assert_eq!(job.summary.state, JobState::Interrupted);
    let cluster: Cluster = app.get_json("/api/v1/cluster", &token).await;
    assert_eq!(cluster.lamp, Lamp::Yellow);
}

#[tokio::test]
async fn the_job_log_is_paged_newest_first_and_kept_across_restarts() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut ids = Vec::new();
    for title in ["one", "two", "three"] {
        let job = app
            .state
            .jobs
            .submit(JobKind::Maintenance, title, &["x"], |_| async { Ok(()) })
            .await
            .expect("submitted");
        ids.push(job.id);
    }
    let last = *ids.last().expect("three jobs");
    wait_for_state(&app, &token, last, JobState::Succeeded).await;
    let app = app.restart().await;
    let page: JobPage = app.get_json("/api/v1/jobs?page=1&per_page=2", &token).await;
    assert_eq!(page.total, 3);
    let titles: Vec<&str> = page.items.iter().map(|j| j.title.as_str()).collect();
    assert_eq!(titles, ["three", "two"]);
    let page: JobPage = app.get_json("/api/v1/jobs?page=2&per_page=2", &token).await;
    let titles: Vec<&str> = page.items.iter().map(|j| j.title.as_str()).collect();
    assert_eq!(titles, ["one"]);

    for (query, field) in [
        ("page=0", "page"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
    ] {
        let problem = read_problem(
            app.get(&format!("/api/v1/jobs?{query}"), &token).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert!(problem.field_error(field).is_some(), "{query}: {problem:?}");
    }
    read_problem(
        app.get("/api/v1/jobs?page=abc", &token).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    read_problem(
        app.get("/api/v1/jobs/999", &token).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    read_problem(
        app.get("/api/v1/jobs/abc", &token).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
}
