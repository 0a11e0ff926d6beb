//! The task behind each operator node: events in, events out, barriers passed on once every input has sent
//! them (aligned: see `barriers`), one operator instance per input partition (see `partition_operators`).
//! With operator state kept, the node hands each partition's state to the checkpoint coordinator at each
//! barrier (before passing it on) and at the end.

use tokio::sync::mpsc;

use super::barriers::{Aligner, Step};
use super::partition_operators::PartitionOperators;
use super::{Batch, FINAL_CHECKPOINT, Inbound, Message, Outputs};
use crate::Error;
use crate::checkpoint::Report;
use crate::pipeline::OperatorSpec;

/// A running operator.
#[derive(Debug)]
pub struct OperatorTask {
    operators: PartitionOperators,
}

impl OperatorTask {
    pub fn build(spec: &OperatorSpec, node: &str) -> Result<OperatorTask, Error> {
        Ok(OperatorTask {
            operators: PartitionOperators::new(spec, node)?,
        })
    }

    /// True for operators whose output depends on what they saw before (bars, indicators, signals).
    pub fn is_stateful(&self) -> bool {
        self.operators.is_stateful()
    }

    /// The partitions' states at `checkpoint` for the coordinator, when state is kept (`reports` given)
    /// and the operator has one.
    fn state_report(
        &self,
        checkpoint: u64,
        reports: Option<&(String, mpsc::Sender<Report>)>,
    ) -> Result<Option<(Report, mpsc::Sender<Report>)>, Error> {
        let Some((node, to)) = reports.filter(|_| self.is_stateful()) else {
            return Ok(None);
        };
        let report = Report::State {
            checkpoint,
            node: node.clone(),
            states: self.operators.save_states()?,
        };
        Ok(Some((report, to.clone())))
    }

    /// Transforms batches until every input has ended. Returns the events emitted. With `reports` (the
    /// node's name and the coordinator's inbox), the partitions' states go to the coordinator at every
    /// barrier and at the end.
    pub async fn run(
        mut self,
        mut inbound: Inbound,
        mut aligner: Aligner,
        outputs: Outputs,
        reports: Option<(String, mpsc::Sender<Report>)>,
    ) -> Result<u64, Error> {
        let mut emitted = 0u64;
        let mut out = Vec::new();
        let mut last_idle = None;
        'run: loop {
            while let Some(step) = aligner.next() {
                match step {
                    Step::Batch(input, batch) => {
                        self.operators.on_batch(input, &batch, &mut out)?;
                        if !out.is_empty() {
                            emitted += out.len() as u64;
                            let events = std::mem::take(&mut out);
                            let batch = Batch::of(batch.partition.clone(), events);
                            outputs.send(Message::Batch(batch)).await?;
                        }
                    }
                    Step::Partition(input, message) => {
                        let pass_on = match &message {
                            Message::Restore(restored) => {
                                self.operators.on_restore(input, restored)?
                            }
                            Message::Revoke(partition, generation) => {
                                self.operators.on_revoke(input, partition, *generation)
                            }
                            Message::Idle(partitions, now) => {
                                for (partition, events) in self.operators.on_idle(partitions, *now)
                                {
                                    emitted += events.len() as u64;
                                    let batch = Batch::of(Some(partition), events);
                                    outputs.send(Message::Batch(batch)).await?;
                                }
                                // Passed on once per clock reading, whichever input brought it first.
                                last_idle.replace(*now) < Some(*now)
                            }
                            _ => false,
                        };
                        if pass_on {
                            outputs.send(message).await?;
                        }
                    }
                    Step::Barrier(n) => {
                        let report = self.state_report(n, reports.as_ref())?;
                        send_report(report).await?;
                        outputs.send(Message::Barrier(n)).await?
                    }
                    Step::Complete => {
                        for (partition, events) in self.operators.finish() {
                            emitted += events.len() as u64;
                            outputs
                                .send(Message::Batch(Batch::of(partition, events)))
                                .await?;
                        }
                        outputs.send(Message::Complete).await?;
                    }
                    Step::End => break 'run,
                }
            }
            match inbound.recv().await {
                Some((input, message)) => aligner.push(input, message),
                None => break,
            }
        }
        let report = self.state_report(FINAL_CHECKPOINT, reports.as_ref())?;
        send_report(report).await?;
        outputs.send(Message::End).await?;
        Ok(emitted)
    }
}

/// Hands a state report to the checkpoint coordinator.
async fn send_report(report: Option<(Report, mpsc::Sender<Report>)>) -> Result<(), Error> {
    let Some((report, to)) = report else {
        return Ok(());
    };
    to.send(report)
        .await
        .map_err(|_| Error::Stopped("the checkpoint coordinator"))
}
