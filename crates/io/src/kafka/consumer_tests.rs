//! Tests of the Kafka source's assignment bookkeeping and checkpoint metadata.

use super::*;

fn list(partitions: &[i32]) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    for partition in partitions {
        list.add_partition("t.trades.v1", *partition);
    }
    list
}

#[test]
fn revoke_commits_only_confirmed_uncommitted_offsets_and_reassign_starts_a_new_epoch() {
    let mut assignment = Assignment::default();
    assignment.assign(&list(&[0, 1, 2]), false);
    let first_epoch = assignment.get_mut("t.trades.v1", 0).unwrap().epoch;
    let p0 = assignment.get_mut("t.trades.v1", 0).unwrap();
    (p0.handed_out, p0.confirmed, p0.committed) = (Some(9), Some(5), Some(3));
    p0.confirmed_checkpoint = Some(4);
    let p1 = assignment.get_mut("t.trades.v1", 1).unwrap();
    (p1.handed_out, p1.confirmed, p1.committed) = (Some(7), Some(7), Some(7));
    assignment.get_mut("t.trades.v1", 2).unwrap().handed_out = Some(4);

    let to_commit = assignment.revoke(&list(&[0, 1, 2]), false);
    let committed: Vec<(i32, Offset, String)> = to_commit
        .elements()
        .iter()
        .map(|e| (e.partition(), e.offset(), e.metadata().to_owned()))
        .collect();
    assert_eq!(
        committed,
        [(0, Offset::Offset(5), "tickstream.checkpoint=4".to_owned())]
    );
    assert!(assignment.partitions.is_empty());

    assignment.assign(&list(&[0]), false);
    let state = assignment.get_mut("t.trades.v1", 0).unwrap();
    assert_ne!(state.epoch, first_epoch);
    assert_eq!(state.handed_out, None);
}

#[test]
fn checkpoint_metadata_round_trips_and_ignores_other_text() {
    assert_eq!(
        parse_checkpoint_metadata(&checkpoint_metadata(42)),
        Some(42)
    );
    assert_eq!(parse_checkpoint_metadata(""), None);
    assert_eq!(parse_checkpoint_metadata("tickstream.checkpoint=x"), None);
    assert_eq!(parse_checkpoint_metadata("something else"), None);
}

#[test]
fn a_partition_given_back_remembers_where_this_member_left_off() {
    let mut assignment = Assignment::default();
    assignment.assign(&list(&[0, 1]), false);
    assignment.get_mut("t.trades.v1", 0).unwrap().handed_out = Some(12);
    assignment.revoke(&list(&[0, 1]), false);
    assignment.assign(&list(&[0, 1]), false);
    let p0 = assignment.get_mut("t.trades.v1", 0).unwrap();
    assert_eq!((p0.seen_below, p0.handed_out), (Some(12), None));
    assert_eq!(
        assignment.get_mut("t.trades.v1", 1).unwrap().seen_below,
        None
    );
    assert!(assignment.left_at.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_partition_is_idle_only_when_caught_up_and_quiet_for_the_timeout() {
    let timeout = Duration::from_secs(5);
    let mut assignment = Assignment::default();
    assignment.assign(&list(&[0, 1, 2]), true);
    let idle = |a: &Assignment| -> Vec<i32> {
        a.idle(tokio::time::Instant::now(), timeout)
            .into_iter()
            .map(|p| p.partition)
            .collect()
    };
    // Not fetched yet: never idle, however long it waits.
    tokio::time::advance(Duration::from_secs(60)).await;
    assert!(idle(&assignment).is_empty());
    // Partition 0 has read everything, partition 1 has a backlog, partition 2 is empty.
    for (partition, end, read) in [(0, 100, Some(100)), (1, 100, Some(60)), (2, 0, None)] {
        let state = assignment.get_mut("t.trades.v1", partition).unwrap();
        (state.high_watermark, state.handed_out) = (Some(end), read);
        state.last_activity = tokio::time::Instant::now();
    }
    tokio::time::advance(Duration::from_secs(4)).await;
    assert!(
        idle(&assignment).is_empty(),
        "quiet for less than the timeout"
    );
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(idle(&assignment), [0, 2]);
    // A new message makes it busy again for another timeout.
    let state = assignment.get_mut("t.trades.v1", 0).unwrap();
    (state.high_watermark, state.handed_out) = (Some(101), Some(101));
    state.last_activity = tokio::time::Instant::now();
    assert_eq!(idle(&assignment), [2]);
}

#[test]
fn with_state_kept_a_revoke_is_remembered_for_the_operators_with_its_generation() {
    let mut assignment = Assignment::default();
    assignment.assign(&list(&[0, 1]), true);
    assignment.revoke(&list(&[1]), true);
    let revoked: Vec<(i32, u64)> = assignment
        .revoked
        .iter()
        .map(|(p, generation)| (p.partition, *generation))
        .collect();
    assert_eq!(revoked, [(1, 1)]);
    assignment.revoke(&list(&[0]), false);
    assert_eq!(assignment.revoked.len(), 1, "not remembered without state");
}
