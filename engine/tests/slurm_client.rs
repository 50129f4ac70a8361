//! The Slurm client against a real cluster (`scripts/slurm-up.sh` starts one on this machine).
//! Without a cluster that answers `sinfo`, every test says loudly that it is skipped, unless
//! `WF_REQUIRE_SLURM=1`, which turns that into a failure.

use std::path::Path;
use std::time::{Duration, Instant};

use wf_engine::exec::slurm::submit::job_name;
use wf_engine::exec::slurm::{
    BatchScript, Export, Finished, JobEnd, JobId, JobOptions, JobState, JobTracker, PollInterval,
    SlurmClient, SlurmError, SubmitRequest, Tools,
};

/// A client for the cluster, or `None` (after saying so) if there is none to test against.
/// The first test asks the cluster; the others reuse its answer (`sinfo` takes about 10 s to
/// give up on a controller that is down).
fn cluster() -> Option<SlurmClient> {
    static ANSWER: std::sync::OnceLock<Result<(), SlurmError>> = std::sync::OnceLock::new();
    let client = SlurmClient::new(Tools::default());
    match ANSWER.get_or_init(|| client.partitions().map(drop)) {
        Ok(()) => Some(client),
        Err(err) if std::env::var("WF_REQUIRE_SLURM").as_deref() == Ok("1") => {
            panic!("WF_REQUIRE_SLURM=1 but no Slurm cluster answers: {err}")
        }
        Err(err) => {
            // Straight to stderr, past the test harness's capture, so the skip is always seen.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPED: no Slurm cluster ({err}); run scripts/slurm-up.sh, \
                 or set WF_REQUIRE_SLURM=1 to make this a failure ***\n"
            );
            None
        }
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Submits `argv` in `dir`, logging to `dir/task.log`.
fn submit(
    client: &SlurmClient,
    dir: &Path,
    argv: &[&str],
    env: &[(&str, &str)],
    options: &JobOptions,
) -> Result<JobId, SlurmError> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let script = BatchScript::new(&strings(argv), dir, &env)?;
    let log = dir.join("task.log");
    let request = SubmitRequest {
        job_name: job_name("slurm-client-test", "task"),
        cwd: dir,
        log: &log,
        cpus: 1,
        export: Export::All,
        options,
        script: &script,
    };
    client.submit(&request).map(|s| s.id)
}

/// Polls `ids` with a tracker until all ended (at most `limit`); returns them in id order and
/// the number of polls.
fn run_to_end(client: &SlurmClient, ids: &[JobId], limit: Duration) -> (Vec<Finished>, u32) {
    let mut tracker = JobTracker::new(PollInterval::default());
    for id in ids {
        tracker.watch(*id);
    }
    let deadline = Instant::now() + limit;
    let mut done = Vec::new();
    let mut polls = 0;
    while !tracker.is_empty() {
        assert!(
            Instant::now() < deadline,
            "jobs {:?} still running after {limit:?}",
            tracker.in_flight()
        );
        std::thread::sleep(tracker.next_wait());
        done.extend(tracker.poll(client).expect("poll"));
        polls += 1;
    }
    done.sort_by_key(|f| f.info.id);
    (done, polls)
}

/// Waits until `id` runs.
fn wait_running(client: &SlurmClient, id: JobId) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = client.poll(&[id]).expect("poll").remove(0);
        if info.state == JobState::Running {
            return;
        }
        assert!(!info.state.is_final(), "job ended early: {info:?}");
        assert!(Instant::now() < deadline, "job never ran: {info:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn jobs_complete_with_their_exit_codes_and_append_to_the_log() {
    let Some(client) = cluster() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("task.log"), "header\n").expect("log");
    let options = JobOptions::default();
    let ok = submit(
        &client,
        dir.path(),
        &[
            "sh",
            "-c",
            "echo \"out $WF_TASK $WF_MATRIX_LR\"; echo err >&2",
        ],
        &[("WF_TASK", "train"), ("WF_MATRIX_LR", "0.1")],
        &options,
    )
    .expect("submitted");
    let failing = submit(
        &client,
        dir.path(),
        &["sh", "-c", "exit 3"],
        &[],
        &JobOptions {
            partition: Some("other".into()),
            ..JobOptions::default()
        },
    )
    .expect("submitted");
    let signalled = submit(
        &client,
        dir.path(),
        &["sh", "-c", "kill -9 $$"],
        &[],
        &options,
    )
    .expect("submitted");
    let (done, _) = run_to_end(&client, &[ok, failing, signalled], Duration::from_secs(60));
    let ends: Vec<&JobEnd> = done.iter().map(|f| &f.end).collect();
    assert_eq!(
        ends,
        [
            &JobEnd::Exited(0),
            &JobEnd::Exited(3),
            &JobEnd::Signalled(9)
        ]
    );
    assert_eq!(done[0].info.nodes.as_deref(), Some("localhost"));
    assert!(done.iter().all(|f| f.started_at.is_some()));
    let log = std::fs::read_to_string(dir.path().join("task.log")).expect("log");
    assert!(log.starts_with("header\n"), "{log}");
    assert!(
        log.contains("out train 0.1\n") && log.contains("err\n"),
        "{log}"
    );
}

#[test]
fn a_running_job_is_cancelled_and_a_stubborn_one_killed() {
    let Some(client) = cluster() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let options = JobOptions::default();
    let sleeper = submit(&client, dir.path(), &["sleep", "120"], &[], &options).expect("sleeper");
    let stubborn = submit(
        &client,
        dir.path(),
        &["sh", "-c", "trap '' TERM; while :; do sleep 1; done"],
        &[],
        &options,
    )
    .expect("stubborn");
    wait_running(&client, sleeper);
    wait_running(&client, stubborn);
    client.cancel(&[sleeper]).expect("scancel");
    let ended = client
        .wait_final(&[sleeper], Duration::from_secs(20))
        .expect("cancelled");
    assert_eq!(ended[0].state, JobState::Cancelled);
    assert!(matches!(
        ended[0].job_end(),
        Some(JobEnd::Cancelled(Some(_)))
    ));
    client.kill(&[stubborn]).expect("scancel -s KILL");
    let ended = client
        .wait_final(&[stubborn], Duration::from_secs(20))
        .expect("killed");
    assert!(ended[0].state.is_final(), "{:?}", ended[0]);
    // Cancelling jobs that already ended is not an error.
    client.cancel(&[sleeper, stubborn]).expect("no-op");
}

#[test]
fn an_invalid_partition_is_refused_with_slurms_message() {
    let Some(client) = cluster() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let options = JobOptions {
        partition: Some("nosuch".into()),
        ..JobOptions::default()
    };
    let started = Instant::now();
    let err = submit(&client, dir.path(), &["true"], &[], &options).expect_err("refused");
    assert!(started.elapsed() < Duration::from_secs(10));
    match err {
        SlurmError::InvalidPartition { stderr } => assert!(stderr.contains("nosuch"), "{stderr}"),
        other => panic!("expected InvalidPartition, got {other:?}"),
    }
    let bad_option = JobOptions {
        extra: vec!["--no-such-sbatch-option".into()],
        ..JobOptions::default()
    };
    let err = submit(&client, dir.path(), &["true"], &[], &bad_option).expect_err("refused");
    assert!(
        matches!(&err, SlurmError::Rejected { stderr, .. } if stderr.contains("no-such-sbatch-option")),
        "{err:?}"
    );
}

#[test]
fn hostile_values_reach_the_job_literally() {
    let Some(client) = cluster() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let hostile =
        "$(touch PWNED) `touch PWNED` '; touch PWNED; ' \"\n#SBATCH --partition=nosuch\r\n\\ *";
    let id = submit(
        &client,
        dir.path(),
        &[
            "sh",
            "-c",
            "printf '%s|%s' \"$1\" \"$HOSTILE\" > out.txt",
            "sh",
            hostile,
        ],
        &[("HOSTILE", hostile)],
        &JobOptions::default(),
    )
    .expect("submitted");
    let (done, _) = run_to_end(&client, &[id], Duration::from_secs(30));
    assert_eq!(done[0].end, JobEnd::Exited(0));
    let out = std::fs::read_to_string(dir.path().join("out.txt")).expect("written");
    assert_eq!(out, format!("{hostile}|{hostile}"));
    assert!(!dir.path().join("PWNED").exists());
}

#[test]
fn jobs_are_found_again_by_id_and_unknown_ids_end() {
    let Some(client) = cluster() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let id = submit(&client, dir.path(), &["true"], &[], &JobOptions::default()).expect("ok");
    client
        .wait_final(&[id], Duration::from_secs(30))
        .expect("ends");
    // A new client (as after a crash) knows the job by its id alone.
    let fresh = SlurmClient::new(Tools::default());
    let never = JobId(3_999_999_999);
    let infos = fresh.poll(&[id, never]).expect("poll");
    assert_eq!(infos[0].job_end(), Some(JobEnd::Exited(0)));
    assert_eq!(infos[1].state, JobState::Unknown);
    assert!(matches!(infos[1].job_end(), Some(JobEnd::Failed(_))));
    let alone = fresh.poll(&[never]).expect("poll of an unknown id alone");
    assert_eq!(alone[0].state, JobState::Unknown);
}

#[test]
fn two_hundred_jobs_are_polled_in_batches() {
    let Some(client) = cluster() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let options = JobOptions::default();
    let started = Instant::now();
    let ids: Vec<JobId> = (0..200)
        .map(|_| submit(&client, dir.path(), &["true"], &[], &options).expect("submitted"))
        .collect();
    let submitted = started.elapsed();
    let (done, polls) = run_to_end(&client, &ids, Duration::from_secs(180));
    let calls = client.calls();
    eprintln!(
        "200 jobs: submitted in {submitted:.2?}, all ended after {:.2?}; {polls} polls, \
         {} squeue, {} scontrol, {} sacct calls",
        started.elapsed(),
        calls.squeue,
        calls.scontrol,
        calls.sacct
    );
    assert_eq!(done.len(), 200);
    assert!(done.iter().all(|f| f.end == JobEnd::Exited(0)));
    assert_eq!(calls.sbatch, 200);
    assert_eq!(u64::from(polls), calls.squeue, "one squeue call per poll");
    // Batched: fewer calls than jobs however long the queue takes to drain (the count of polls
    // depends on the machine's load; one call per job would be 200 per poll).
    assert!(calls.squeue < 200, "{} squeue calls", calls.squeue);
}
